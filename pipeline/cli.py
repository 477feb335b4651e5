"""The ``urbansound`` command: parse arguments, call one function, print.

Each subcommand handler imports what it needs lazily, so ``urbansound --help`` is fast.
A :class:`~pipeline.errors.UserError` anywhere becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys

from pipeline.config import Params, load_params
from pipeline.errors import UserError

MODEL_CHOICES = ("logreg", "ffnn", "rf", "xgb", "ensemble")


def _not_built(name: str) -> int:
    raise UserError(f"'urbansound {name}' is not available yet in this version")


# --- synth -----------------------------------------------------------------------------
def _cmd_synth(args: argparse.Namespace, params: Params) -> int:
    from pipeline.datasets.synth import generate

    clips = params.prepare.synth_clips if args.clips is None else args.clips
    seed = params.seed if args.seed is None else args.seed
    layout = args.layout or params.prepare.synth_layout
    s = generate(args.out, layout=layout, clips=clips, seed=seed)
    where = ", ".join(p for p in (s["us8k"], s["av"]) if p)
    print(
        f"wrote {s['clips']} clips (seed {seed}, layout {layout}) to {where} in "
        f"{s['seconds']:.1f} s ({s['clips'] / max(s['seconds'], 1e-9):.1f} clips/s)"
    )
    print("per class: " + ", ".join(f"{c} {k}" for c, k in s["per_class"].items()))
    print("per fold:  " + ", ".join(f"{f}:{k}" for f, k in s["per_fold"].items()))
    if s["av"]:
        print(f"AV split:  train {s['train']} (folds 1-6), test {s['test']} (folds 7-10)")
    print("rates:     " + ", ".join(f"{r}:{k}" for r, k in s["rates"].items()))
    print("subtypes:  " + ", ".join(f"{t}:{k}" for t, k in s["subtypes"].items()))
    print("channels:  " + ", ".join(f"{c}ch:{k}" for c, k in s["channels"].items()))
    return 0


# --- features --------------------------------------------------------------------------
def _cmd_features(args: argparse.Namespace, params: Params) -> int:
    return _not_built("features")


# --- train -----------------------------------------------------------------------------
def _cmd_train(args: argparse.Namespace, params: Params) -> int:
    return _not_built("train")


# --- evaluate --------------------------------------------------------------------------
def _cmd_evaluate(args: argparse.Namespace, params: Params) -> int:
    return _not_built("evaluate")


# --- tune ------------------------------------------------------------------------------
def _cmd_tune(args: argparse.Namespace, params: Params) -> int:
    return _not_built("tune")


# --- submit ----------------------------------------------------------------------------
def _cmd_submit(args: argparse.Namespace, params: Params) -> int:
    return _not_built("submit")


# --- predict ---------------------------------------------------------------------------
def _cmd_predict(args: argparse.Namespace, params: Params) -> int:
    return _not_built("predict")


# --- score -----------------------------------------------------------------------------
def _cmd_score(args: argparse.Namespace, params: Params) -> int:
    return _not_built("score")


# --- run -------------------------------------------------------------------------------
def _cmd_run(args: argparse.Namespace, params: Params) -> int:
    return _not_built("run")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand (the CLI contract of DESIGN.md)."""
    parser = argparse.ArgumentParser(
        prog="urbansound",
        description="Urban sound classification: dataset → features → models → submission.",
    )
    parser.add_argument(
        "--params", default=None, help="parameters file (default: ./params.yaml if present)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("synth", help="generate the embedded UrbanSound8K-shaped dataset")
    p.add_argument("out", help="output folder")
    p.add_argument("--layout", choices=("us8k", "av", "both"), default=None, help="default: params")
    p.add_argument("--clips", type=int, default=None, help="number of clips (default: params)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: params)")
    p.set_defaults(handler=_cmd_synth)

    p = sub.add_parser("features", help="extract features of a dataset into a Parquet store")
    p.add_argument("dataset", help="UrbanSound8K tree, Analytics Vidhya tree or folder of audio")
    p.add_argument("--out", default="data/features", help="feature store folder")
    p.add_argument("--scheduler", default=None, help="sync | threads | processes | tcp://HOST:PORT")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.set_defaults(handler=_cmd_features)

    p = sub.add_parser("train", help="fit final models on all labelled clips")
    p.add_argument("--features", default="data/features", help="feature store folder")
    p.add_argument("--model", choices=(*MODEL_CHOICES, "all"), default="all")
    p.add_argument("--out", default="models", help="models folder")
    p.set_defaults(handler=_cmd_train)

    p = sub.add_parser("evaluate", help="cross-validate models under the official folds")
    p.add_argument("--features", default="data/features", help="feature store folder")
    p.add_argument("--model", choices=(*MODEL_CHOICES, "all"), default="all")
    p.add_argument("--reports", default="reports", help="reports folder")
    p.add_argument("--scheduler", default=None, help="sync | threads | processes | tcp://HOST:PORT")
    p.add_argument("--workers", type=int, default=None)
    p.set_defaults(handler=_cmd_evaluate)

    p = sub.add_parser("tune", help="fold-aware hyper-parameter search")
    p.add_argument("--model", choices=MODEL_CHOICES, required=True)
    p.add_argument("--features", default="data/features", help="feature store folder")
    p.add_argument("--reports", default="reports", help="reports folder")
    p.add_argument("--scheduler", default=None, help="sync | threads | processes | tcp://HOST:PORT")
    p.add_argument("--workers", type=int, default=None)
    p.set_defaults(handler=_cmd_tune)

    p = sub.add_parser("submit", help="write the leaderboard submission (ID,Class)")
    p.add_argument("--model", default=None, help="model name or 'best' (default: params)")
    p.add_argument("--test", default=None, help="dataset with the test clips")
    p.add_argument("--models", default="models", help="models folder")
    p.add_argument("--out", default="data/submission.csv")
    p.set_defaults(handler=_cmd_submit)

    p = sub.add_parser("predict", help="classify audio files or folders")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--model", default="best", help="model name or 'best'")
    p.add_argument("--models", default="models", help="models folder")
    p.add_argument("--json", action="store_true", help="print JSON lines")
    p.set_defaults(handler=_cmd_predict)

    p = sub.add_parser("score", help="score a submission against an answer key")
    p.add_argument("submission")
    p.add_argument("--answers", required=True, help="answer key CSV (ID,Class)")
    p.set_defaults(handler=_cmd_score)

    p = sub.add_parser("run", help="every stage, no DVC needed")
    p.add_argument("--dataset", default=None, help="dataset folder (default: params / embedded)")
    p.add_argument("--workdir", default=None, help="output folder (default: the repository)")
    p.add_argument("--scheduler", default=None, help="sync | threads | processes | tcp://HOST:PORT")
    p.add_argument("--workers", type=int, default=None)
    p.set_defaults(handler=_cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``urbansound``; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
        return int(args.handler(args, params) or 0)
    except UserError as exc:
        print(f"urbansound {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"urbansound {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
