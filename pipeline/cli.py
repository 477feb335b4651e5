"""The ``urbansound`` command: parse arguments, call one function, print.

Each subcommand handler imports what it needs lazily, so ``urbansound --help`` is fast.
A :class:`~pipeline.errors.UserError` anywhere becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
    layout = args.layout
    workers = params.parallel.workers if args.workers is None else args.workers
    s = generate(args.out, layout=layout, clips=clips, seed=seed, workers=workers)
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


# --- prepare ---------------------------------------------------------------------------
def _cmd_prepare(args: argparse.Namespace, params: Params) -> int:
    from pipeline.datasets import describe
    from pipeline.prepare import prepare_dataset

    p = params.prepare
    manifest = prepare_dataset(
        args.out,
        dataset=args.dataset or p.dataset,
        test=args.test if args.test is not None else p.test,
        synth_clips=p.synth_clips,
        synth_test_clips=p.synth_test_clips,
        seed=params.seed,
        workers=params.parallel.workers,
    )
    print(describe(manifest))
    print(f"manifest written to {args.out}/manifest.csv")
    return 0


# --- features --------------------------------------------------------------------------
def _cmd_features(args: argparse.Namespace, params: Params) -> int:
    from pipeline.datasets import read_dataset
    from pipeline.parallel import parse_scheduler
    from pipeline.store import extract_to_store

    options = params.parallel
    scheduler = parse_scheduler(options.scheduler if args.scheduler is None else args.scheduler)
    workers = options.workers if args.workers is None else args.workers
    batch_size = options.batch_size if args.batch_size is None else args.batch_size
    manifest = read_dataset(args.dataset)
    summary = extract_to_store(
        manifest,
        args.out,
        params=params.features,
        scheduler=scheduler,
        workers=workers,
        batch_size=batch_size,
    )
    failed = sum(summary.failed.values())
    by_kind = ", ".join(f"{kind}: {n}" for kind, n in summary.failed.items())
    print(
        f"{summary.featurized} clips featurized, {failed} failed"
        + (f" ({by_kind})" if by_kind else "")
        + f"; {summary.processed} processed, {summary.reused} from cache"
        + f" [{scheduler}] -> {summary.folder}"
    )
    _write_inferred_groups(args.out)
    return 0


def _write_inferred_groups(folder: str) -> None:
    from pipeline.groups import write_inferred_groups

    written = write_inferred_groups(folder)
    if written:
        path, n_groups, n_clips = written
        print(f"{n_groups} recording groups inferred for {n_clips} labelled clips "
              f"(no folds or groups in the table) -> {path}")


# --- train -----------------------------------------------------------------------------
def _train_params(params: Params) -> dict:
    t = params.train
    return {"logreg": t.logreg, "ffnn": t.ffnn, "rf": t.rf, "xgb": t.xgb, "ensemble": t.ensemble}


def _read_store(folder: str):
    """Feature table and feature parameters of a feature store folder."""
    from pipeline.store import read_features, read_meta

    table = read_features(folder)
    return table, read_meta(folder).get("fingerprint", {}).get("params", {})


def _cv_metrics(reports: str, names: list[str]) -> dict | None:
    """CV metrics of ``names`` from the reports folder, or None before any evaluation."""
    from pipeline.evaluate import collect_reports

    try:
        return collect_reports(reports, names)
    except UserError:
        return None


def _cmd_train(args: argparse.Namespace, params: Params) -> int:
    from pipeline.estimators import resolve_names
    from pipeline.train import train_models

    names = resolve_names(args.model, params.train.models)
    table, feature_params = _read_store(args.features)
    index = train_models(table, names, _train_params(params), seed=params.seed,
                         out_dir=args.out, feature_params=feature_params,
                         cv_metrics=_cv_metrics(args.reports, names))
    for name in names:
        entry = index["models"][name]
        cv = entry.get("cv_accuracy")
        cv_text = f"CV accuracy {cv:.4f}" if cv is not None else "no CV accuracy yet"
        print(f"{name:9s} fitted on {index['n_train']} clips in {entry['fit_seconds']:.1f} s "
              f"({cv_text})")
    for name in index["removed"]:
        print(f"removed model {name}: it was fitted on other features than {args.features}")
    print(f"models saved to {args.out} (best: {index['best'] or 'unknown, run evaluate'})")
    return 0


# --- evaluate --------------------------------------------------------------------------
def _scheduler(args: argparse.Namespace, params: Params) -> tuple[str, int]:
    scheduler = args.scheduler or params.parallel.scheduler
    workers = args.workers if args.workers is not None else params.parallel.workers
    return scheduler, workers


def _cmd_evaluate(args: argparse.Namespace, params: Params) -> int:
    from pipeline.estimators import resolve_names
    from pipeline.evaluate import (
        collect_reports,
        cross_validate,
        report_text,
        write_model_reports,
        write_summary,
    )

    if args.no_summary and args.summary_only:
        raise UserError("--no-summary and --summary-only exclude each other")
    names = resolve_names(args.model, params.train.models)
    if not args.summary_only:
        table, _ = _read_store(args.features)
        scheduler, workers = _scheduler(args, params)
        metrics = cross_validate(table, names, _train_params(params), seed=params.seed,
                                 n_splits=params.evaluate.n_splits, scheduler=scheduler,
                                 workers=workers, progress=True)
        write_model_reports(metrics, args.reports)
        if args.no_summary:
            print(report_text(metrics))
            print(f"per-model reports written to {args.reports}/cv/")
            return 0
    # The comparison covers every configured model that has reports, not only those rerun.
    compared = list(dict.fromkeys([*resolve_names("all", params.train.models), *names]))
    metrics = collect_reports(args.reports, compared)
    write_summary(metrics, args.reports)
    print(report_text(metrics))
    print(f"reports written to {args.reports} (metrics.json, summary.md, folds.csv, cv/, plots)")
    return 0


# --- tune ------------------------------------------------------------------------------
def _cmd_tune(args: argparse.Namespace, params: Params) -> int:
    from pipeline.tune import tune

    space = params.tune.spaces.get(args.model)
    if not space:
        raise UserError(f"params: tune.spaces.{args.model} is not set (the search space)")
    table, _ = _read_store(args.features)
    scheduler, workers = _scheduler(args, params)
    out = tune(table, args.model, space, base_params=_train_params(params)[args.model],
               seed=params.seed, n_splits=params.evaluate.n_splits, search=params.tune.search,
               n_iter=params.tune.n_iter, heatmap=params.tune.heatmap.get(args.model),
               nested=params.tune.nested, inner_splits_count=params.tune.inner_splits,
               scheduler=scheduler, workers=workers, reports_dir=args.reports, progress=True)
    print("mean CV accuracy of each candidate (the top one is selection-biased):")
    for row in sorted(out["results"], key=lambda r: -r["accuracy_mean"]):
        print(f"{row['accuracy_mean']:.4f} ± {row['accuracy_std']:.4f}  {row['params']}")
    print(f"protocol: {out['protocol']}")
    print(f"best {args.model} parameters: {out['best_params']} "
          f"(accuracy {out['best_accuracy']:.4f}, selection-biased: optimistic)")
    if out["nested"]:
        n = out["nested"]
        print(f"nested CV estimate of the whole search: {n['accuracy_mean']:.4f} ± "
              f"{n['accuracy_std']:.4f} (unbiased: chosen on inner folds, scored on outer ones)")
    written = [f"{args.reports}/tune_{args.model}.{ext}" for ext in ("json", "png")]
    print("written: " + ", ".join(w for w in written if Path(w).is_file()))
    if args.apply:
        from pipeline.config import DEFAULT_PARAMS_FILE
        from pipeline.params_update import apply_params

        path = apply_params(args.params or DEFAULT_PARAMS_FILE, args.model, out["best_params"])
        print(f"{path}: train.{args.model} updated with {out['best_params']}")
    return 0


# --- submit ----------------------------------------------------------------------------
def _cmd_submit(args: argparse.Namespace, params: Params) -> int:
    from pipeline.datasets import read_dataset
    from pipeline.submission import make_submission

    test = args.test or params.submit.test or "data/prepared"
    manifest = read_dataset(test)
    rows = manifest[manifest["split"] == "test"].reset_index(drop=True)
    # Only the store's cache of these very files, with the models' feature parameters.
    result = make_submission(rows, args.models, args.out, model=args.model or params.submit.model,
                             store=args.features or None,
                             scheduler=params.parallel.scheduler, workers=params.parallel.workers)
    print(f"model {result['model']}: {result['n']} test clips → {result['out']}")
    print("predicted: " + ", ".join(f"{c} {k}" for c, k in result["counts"].items() if k))
    warnings = result["warnings"]
    if len(warnings):
        print(f"WARNING: {len(warnings)} test clip(s) could not be read and were given the most "
              f"frequent training class; listed in {result['warnings_file']}:")
        for row in warnings.head(10).itertuples():
            print(f"  {row.id}: {row.kind}: {row.message}")
        if len(warnings) > 10:
            print(f"  ... and {len(warnings) - 10} more")
    from pipeline.persist import atomic_write_json
    from pipeline.submission import score, score_text

    answers = Path(args.answers) if args.answers else Path(test) / "answers.csv"
    if args.answers and not answers.is_file():
        raise UserError(f"answer key not found: {answers}")
    # Always written, so the score is a stable DVC metric; null without an answer key.
    scored = {"accuracy": None, "n": result["n"], "answers": None}
    if answers.is_file():
        scored = {**score(result["out"], answers), "answers": str(answers)}
        print(f"scored against {answers}:")
        print(score_text(scored))
    atomic_write_json(score_path(args.out), {"model": result["model"], **scored})
    return 0


def score_path(submission: str) -> Path:
    """Where ``submit`` writes the score of ``submission`` when an answer key is known."""
    out = Path(submission)
    return out.with_name(f"{out.stem}_score.json")


# --- predict ---------------------------------------------------------------------------
def _cmd_predict(args: argparse.Namespace, params: Params) -> int:
    import json

    from pipeline.submission import predict_paths

    name, table = predict_paths(args.paths, args.models, model=args.model,
                                scheduler=params.parallel.scheduler,
                                workers=params.parallel.workers)
    for row in table.to_dict("records"):
        ok = isinstance(row["class"], str)
        if args.json:
            record = {"id": row["id"], "path": row["path"], "model": name,
                      "class": row["class"] if ok else None,
                      "probability": round(float(row["probability"]), 4) if ok else None}
            if not ok:
                record["error"] = row["error"]
            print(json.dumps(record))
        elif ok:
            print(f"{row['id']}\t{row['class']}\t{row['probability']:.4f}")
        else:
            print(f"{row['id']}\tERROR\t{row['error']}")
    return 0


# --- score -----------------------------------------------------------------------------
def _cmd_score(args: argparse.Namespace, params: Params) -> int:
    from pipeline.submission import score, score_text

    print(score_text(score(args.submission, args.answers)))
    return 0


# --- run -------------------------------------------------------------------------------
def workspace(workdir: str | None) -> dict[str, str]:
    """Output paths of every stage: under ``workdir``, or the repository layout by default
    (the one ``dvc.yaml`` uses)."""
    if workdir is None:
        return {"prepared": "data/prepared", "features": "data/features", "models": "models",
                "reports": "reports", "submission": "data/submission.csv"}
    root = Path(workdir)
    return {"prepared": str(root / "prepared"), "features": str(root / "features"),
            "models": str(root / "models"), "reports": str(root / "reports"),
            "submission": str(root / "submission.csv")}


def _stage(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 74 - len(title)), flush=True)


def _cmd_run(args: argparse.Namespace, params: Params) -> int:
    import time

    from pipeline.datasets import read_dataset

    ws = workspace(args.workdir)
    parallel = {"scheduler": args.scheduler, "workers": args.workers}
    timings: dict[str, float] = {}

    def stage(title: str, handler, **options) -> None:
        _stage(title)
        start = time.perf_counter()
        handler(argparse.Namespace(**options), params)
        timings[title] = time.perf_counter() - start

    stage("prepare", _cmd_prepare, out=ws["prepared"], dataset=args.dataset, test=None)
    stage("features", _cmd_features, dataset=ws["prepared"], out=ws["features"],
          batch_size=None, **parallel)
    stage("evaluate", _cmd_evaluate, features=ws["features"], model="all",
          reports=ws["reports"], no_summary=False, summary_only=False, **parallel)
    stage("train", _cmd_train, features=ws["features"], model="all", out=ws["models"],
          reports=ws["reports"])
    has_test = (read_dataset(ws["prepared"])["split"] == "test").any()
    if has_test:
        stage("submit", _cmd_submit, model=None, test=ws["prepared"], features=ws["features"],
              models=ws["models"], out=ws["submission"], answers=None)
    _stage("done")
    print("stage times: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    print(f"metrics:    {ws['reports']}/metrics.json (table: {ws['reports']}/summary.md)")
    print(f"models:     {ws['models']}/")
    if has_test:
        print(f"submission: {ws['submission']}")
    else:
        print("submission: none (the dataset has no test clips)")
    return 0


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
    p.add_argument("--layout", choices=("us8k", "av", "both"), default="both")
    p.add_argument("--workers", type=int, default=None, help="processes (default: params)")
    p.add_argument("--clips", type=int, default=None, help="number of clips (default: params)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: params)")
    p.set_defaults(handler=_cmd_synth)

    p = sub.add_parser("prepare", help="generate or validate the dataset, write its manifest")
    p.add_argument("--dataset", default=None, help="'synth' or a dataset folder (default: params)")
    p.add_argument("--test", default=None, help="folder with extra test clips (default: params)")
    p.add_argument("--out", default="data/prepared", help="folder of the manifest")
    p.set_defaults(handler=_cmd_prepare)

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
    p.add_argument("--reports", default="reports", help="reports folder (CV accuracy → best)")
    p.set_defaults(handler=_cmd_train)

    p = sub.add_parser("evaluate", help="cross-validate models under the official folds")
    p.add_argument("--features", default="data/features", help="feature store folder")
    p.add_argument("--model", choices=(*MODEL_CHOICES, "all"), default="all")
    p.add_argument("--reports", default="reports", help="reports folder")
    p.add_argument("--scheduler", default=None, help="sync | threads | processes | tcp://HOST:PORT")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--no-summary", action="store_true",
                   help="only write the per-model reports (cv/NAME/), not the comparison")
    p.add_argument("--summary-only", action="store_true",
                   help="only rebuild the comparison from existing per-model reports")
    p.set_defaults(handler=_cmd_evaluate)

    p = sub.add_parser("tune", help="fold-aware hyper-parameter search")
    p.add_argument("--model", choices=MODEL_CHOICES, required=True)
    p.add_argument("--features", default="data/features", help="feature store folder")
    p.add_argument("--reports", default="reports", help="reports folder")
    p.add_argument("--scheduler", default=None, help="sync | threads | processes | tcp://HOST:PORT")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--apply", action="store_true",
                   help="write best_params into train.MODEL of the params file")
    p.set_defaults(handler=_cmd_tune)

    p = sub.add_parser("submit", help="write the leaderboard submission (ID,Class)")
    p.add_argument("--model", default=None, help="model name or 'best' (default: params)")
    p.add_argument("--test", default=None, help="dataset with the test clips (default: params)")
    p.add_argument("--features", default="data/features", help="feature store to reuse")
    p.add_argument("--models", default="models", help="models folder")
    p.add_argument("--out", default="data/submission.csv")
    p.add_argument("--answers", default=None,
                   help="answer key to score against (default: answers.csv of the test folder)")
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
    finally:
        _end_worker_processes()


def _end_worker_processes() -> None:
    """End the worker processes a command started, so the program's exit never waits on one."""
    parallel = sys.modules.get("pipeline.parallel")  # imported only by commands that use it
    if parallel is not None:
        parallel.shutdown_pools()


if __name__ == "__main__":
    sys.exit(main())
