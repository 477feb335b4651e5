"""The ``urbansound`` command: parse arguments, call one function, print.

Each subcommand handler imports what it needs lazily, so ``urbansound --help`` is fast.
A :class:`~pipeline.errors.UserError` anywhere becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import threading
from pathlib import Path

from pipeline.config import Params, load_params
from pipeline.errors import InputError, UserError
from pipeline.io import check_output_dir, check_output_file
from pipeline.registry import MODEL_NAMES as MODEL_CHOICES


# --- synth -----------------------------------------------------------------------------
def _cmd_synth(args: argparse.Namespace, params: Params) -> int:
    from pipeline.datasets.synth import generate

    if args.scene is not None or args.out is None:
        return _synth_scene(args, params)
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


def _synth_scene(args: argparse.Namespace, params: Params) -> int:
    from pipeline.datasets.long_scenes import generate_scenes

    if args.scene is None:
        raise UserError("give an output folder: 'synth OUT' (clips) or 'synth --scene OUT'")
    if args.out is not None:
        raise UserError("give either OUT (clips) or --scene OUT (long recordings), not both")
    seed = params.seed if args.seed is None else args.seed
    s = generate_scenes(args.scene, minutes=args.minutes, files=args.files, seed=seed)
    print(f"wrote {len(s['files'])} scene(s) of {s['duration']:.0f} s (seed {seed}) with "
          f"{s['events']} events to {args.scene} in {s['seconds']:.1f} s")
    print("events per class: " + ", ".join(f"{c} {k}" for c, k in s["per_class"].items()))
    print(f"annotations: {s['annotations']}")
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
    from pipeline.store import extract_to_store

    options = params.parallel
    batch_size = options.batch_size if args.batch_size is None else args.batch_size
    manifest = read_dataset(args.dataset)
    with _engine(args, params) as engine:
        summary = extract_to_store(
            manifest,
            args.out,
            params=params.features,
            scheduler=engine,
            batch_size=batch_size,
        )
    failed = sum(summary.failed.values())
    by_kind = ", ".join(f"{kind}: {n}" for kind, n in summary.failed.items())
    print(
        f"{summary.featurized} clips featurized, {failed} failed"
        + (f" ({by_kind})" if by_kind else "")
        + f"; {summary.processed} processed, {summary.reused} from cache"
        + f" [{engine.scheduler}] -> {summary.folder}"
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
    return {k: v for k, v in dataclasses.asdict(params.train).items() if k != "models"}


def _cmd_models(args: argparse.Namespace, params: Params) -> int:
    from pipeline.registry import describe, markdown_table

    print(markdown_table() if args.markdown else describe(_train_params(params)))
    return 0


def _read_store(folder: str):
    """Feature table and feature parameters of a feature store folder."""
    from pipeline.store import read_feature_params, read_features

    table = read_features(folder)
    return table, read_feature_params(folder)


def _cv_metrics(reports: str, names: list[str], store_digest: str) -> dict | None:
    """CV metrics of ``names`` on the store of ``store_digest`` from the reports folder, or
    None before any evaluation of that store."""
    from pipeline.evaluate import collect_reports

    try:
        return collect_reports(reports, names, store_digest)
    except UserError:
        return None


def _cmd_train(args: argparse.Namespace, params: Params) -> int:
    from pipeline.estimators import check_model_params, resolve_names
    from pipeline.train import train_models

    names = resolve_names(args.model, params.train.models)
    check_model_params(names, _train_params(params), seed=params.seed)
    table, feature_params = _read_store(args.features)
    index = train_models(table, names, _train_params(params), seed=params.seed,
                         out_dir=args.out, feature_params=feature_params,
                         cv_metrics=_cv_metrics(args.reports, names,
                                                table.attrs["store_digest"]))
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


# --- where tasks run -------------------------------------------------------------------
def _engine(args: argparse.Namespace, params: Params):
    """The engine of a command (``--scheduler``, ``--workers``, ``--dashboard``, else params),
    or the one ``run`` opened for all its stages; a ``with`` block owns its workers."""
    from contextlib import nullcontext

    from pipeline.engine import Engine

    if getattr(args, "engine", None) is not None:
        return nullcontext(args.engine)
    options = params.parallel
    workers = getattr(args, "workers", None)
    return Engine(getattr(args, "scheduler", None) or options.scheduler,
                  options.workers if workers is None else workers,
                  dashboard=getattr(args, "dashboard", False) or options.dashboard)


# --- evaluate --------------------------------------------------------------------------
def _cmd_evaluate(args: argparse.Namespace, params: Params) -> int:
    from pipeline.estimators import check_model_params, resolve_names
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
    check_output_dir(args.reports, "reports folder")
    digest = None  # of the current store: reports of another one are left out
    if not args.summary_only:
        check_model_params(names, _train_params(params), seed=params.seed)
        table, _ = _read_store(args.features)
        digest = table.attrs["store_digest"]
        with _engine(args, params) as engine:
            metrics = cross_validate(table, names, _train_params(params), seed=params.seed,
                                     n_splits=params.evaluate.n_splits, scheduler=engine,
                                     progress=True)
        write_model_reports(metrics, args.reports)
        if args.no_summary:
            print(report_text(metrics))
            print(f"per-model reports written to {args.reports}/cv/")
            return 0
    # The comparison covers every configured model that has reports, not only those rerun.
    compared = list(dict.fromkeys([*resolve_names("all", params.train.models), *names]))
    if digest is None and (Path(args.features) / "features.parquet").is_file():
        digest = _read_store(args.features)[0].attrs["store_digest"]
    metrics = collect_reports(args.reports, compared, digest)
    write_summary(metrics, args.reports)
    print(report_text(metrics))
    print(f"reports written to {args.reports} (metrics.json, summary.md, folds.csv, cv/, plots)")
    return 0


# --- tune ------------------------------------------------------------------------------
def _cmd_tune(args: argparse.Namespace, params: Params) -> int:
    from pipeline.estimators import accepted_params, check_model_params
    from pipeline.tune import tune

    space = params.tune.spaces.get(args.model)
    if not space:
        raise UserError(f"params: tune.spaces.{args.model} is not set (the search space)")
    check_output_dir(args.reports, "reports folder")
    unknown = sorted(set(space) - accepted_params(args.model))
    if unknown:
        raise UserError(f"tune.spaces.{args.model}: unknown parameter(s) {', '.join(unknown)}; "
                        f"accepted: {', '.join(sorted(accepted_params(args.model)))}")
    check_model_params([args.model], _train_params(params), seed=params.seed)
    table, _ = _read_store(args.features)
    with _engine(args, params) as engine:
        out = tune(table, args.model, space, base_params=_train_params(params)[args.model],
                   seed=params.seed, n_splits=params.evaluate.n_splits,
                   search=params.tune.search, n_iter=params.tune.n_iter,
                   heatmap=params.tune.heatmap.get(args.model), nested=params.tune.nested,
                   inner_splits_count=params.tune.inner_splits, scheduler=engine,
                   reports_dir=args.reports, progress=True)
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
    check_output_file(args.out, "submission file")
    manifest = read_dataset(test)
    rows = manifest[manifest["split"] == "test"].reset_index(drop=True)
    # Only the store's cache of these very files, with the models' feature parameters.
    with _engine(args, params) as engine:
        result = make_submission(rows, args.models, args.out,
                                 model=args.model or params.submit.model,
                                 store=args.features or None, scheduler=engine)
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
    from pipeline.io import atomic_write_json
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

    with _engine(args, params) as engine:
        name, table = predict_paths(args.paths, args.models, model=args.model, scheduler=engine)
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


# --- detect ----------------------------------------------------------------------------
def _cmd_detect(args: argparse.Namespace, params: Params) -> int:
    import dataclasses

    from pipeline.detect import detect, summary_text
    from pipeline.detect.scores import scores_text

    overrides = {k: getattr(args, k) for k in ("model", "window", "hop", "threshold", "gate_db")
                 if getattr(args, k) is not None}
    options = dataclasses.replace(params.detect, **overrides)
    with _engine(args, params) as engine:
        result = detect(args.paths, args.models, params=options, out=args.out,
                        scheduler=engine, answers=args.answers)
    print(summary_text(result))
    print(f"written: {result.out}/windows.csv, {result.out}/events.csv, "
          f"{sum(f.timeline is not None for f in result.files)} timeline PNG(s)")
    if result.scores is not None:
        print(scores_text(result.scores))
        print(f"scores written to {result.out}/scores.json")
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
    timings: dict[str, float] = {}

    def stage(title: str, handler, **options) -> None:
        _stage(title)
        start = time.perf_counter()
        handler(argparse.Namespace(**options), params)
        timings[title] = time.perf_counter() - start

    with _engine(args, params) as engine:  # one engine, one local cluster, for every stage
        stage("prepare", _cmd_prepare, out=ws["prepared"], dataset=args.dataset, test=None)
        stage("features", _cmd_features, dataset=ws["prepared"], out=ws["features"],
              batch_size=None, engine=engine)
        stage("evaluate", _cmd_evaluate, features=ws["features"], model="all",
              reports=ws["reports"], no_summary=False, summary_only=False, engine=engine)
        stage("train", _cmd_train, features=ws["features"], model="all", out=ws["models"],
              reports=ws["reports"])
        has_test = (read_dataset(ws["prepared"])["split"] == "test").any()
        if has_test:
            stage("submit", _cmd_submit, model=None, test=ws["prepared"],
                  features=ws["features"], models=ws["models"], out=ws["submission"],
                  answers=None, engine=engine)
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
    """The argument parser of every subcommand (the commands listed in README.md)."""
    parser = argparse.ArgumentParser(
        prog="urbansound",
        description="Urban sound classification: dataset → features → models → submission.",
    )
    parser.add_argument(
        "--params", default=None, help="parameters file (default: ./params.yaml if present)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("synth", help="generate the embedded UrbanSound8K-shaped dataset")
    p.add_argument("out", nargs="?", default=None, help="output folder (clips)")
    p.add_argument("--scene", default=None, metavar="OUT",
                   help="write long recordings with annotated events to OUT instead of clips")
    p.add_argument("--minutes", type=float, default=10.0, help="length of each scene")
    p.add_argument("--files", type=int, default=1, help="number of scenes")
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
    p.add_argument("--dashboard", action="store_true", help="print the Dask dashboard's link")
    p.add_argument("--batch-size", type=int, default=None)
    p.set_defaults(handler=_cmd_features)

    p = sub.add_parser("train", help="fit final models on all labelled clips")
    p.add_argument("--features", default="data/features", help="feature store folder")
    p.add_argument("--model", choices=(*MODEL_CHOICES, "all"), default="all")
    p.add_argument("--out", default="models", help="models folder")
    p.add_argument("--reports", default="reports", help="reports folder (CV accuracy → best)")
    p.set_defaults(handler=_cmd_train)

    p = sub.add_parser("models", help="list the models and their parameters (defaults + params)")
    p.add_argument("--markdown", action="store_true", help="print the README's registry table")
    p.set_defaults(handler=_cmd_models)

    p = sub.add_parser("evaluate", help="cross-validate models under the official folds")
    p.add_argument("--features", default="data/features", help="feature store folder")
    p.add_argument("--model", choices=(*MODEL_CHOICES, "all"), default="all")
    p.add_argument("--reports", default="reports", help="reports folder")
    p.add_argument("--scheduler", default=None, help="sync | threads | processes | tcp://HOST:PORT")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--dashboard", action="store_true", help="print the Dask dashboard's link")
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
    p.add_argument("--dashboard", action="store_true", help="print the Dask dashboard's link")
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

    p = sub.add_parser("detect", help="find when each class sounds in long recordings")
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders")
    p.add_argument("--model", default=None, help="model name or 'best' (default: params)")
    p.add_argument("--models", default="models", help="models folder")
    p.add_argument("--window", type=float, default=None, help="window length, s (default: params)")
    p.add_argument("--hop", type=float, default=None,
                   help="hop between window starts, s (default: params)")
    p.add_argument("--threshold", type=float, default=None,
                   help="event threshold (default: params)")
    p.add_argument("--gate-db", type=float, default=None,
                   help="dB above the noise floor a frame needs to hold an event (default: params)")
    p.add_argument("--out", default="data/detect", help="output folder")
    p.add_argument("--answers", default=None, help="annotation CSV (file,start,end,class) to score")
    p.add_argument("--scheduler", default=None, help="sync | threads | processes | tcp://HOST:PORT")
    p.add_argument("--workers", type=int, default=None)
    p.set_defaults(handler=_cmd_detect)

    p = sub.add_parser("score", help="score a submission against an answer key")
    p.add_argument("submission")
    p.add_argument("--answers", required=True, help="answer key CSV (ID,Class)")
    p.set_defaults(handler=_cmd_score)

    p = sub.add_parser("run", help="every stage, no DVC needed")
    p.add_argument("--dataset", default=None, help="dataset folder (default: params / embedded)")
    p.add_argument("--workdir", default=None, help="output folder (default: the repository)")
    p.add_argument("--scheduler", default=None, help="sync | threads | processes | tcp://HOST:PORT")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--dashboard", action="store_true", help="print the Dask dashboard's link")
    p.set_defaults(handler=_cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``urbansound``; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # SIGTERM unwinds the command like Ctrl-C does, so the `with` blocks that own worker
    # processes end them (signal handlers can only be set from the main thread).
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    try:
        params = load_params(args.params)
        return int(args.handler(args, params) or 0)
    except (UserError, InputError) as exc:  # InputError: library code's refusal of values
        print(f"urbansound {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        stopped = "terminated" if isinstance(exc, Terminated) else "interrupted"
        print(f"urbansound {args.command}: {stopped}", file=sys.stderr)
        return 128 + (signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program stands like the KeyboardInterrupt of Ctrl-C."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


if __name__ == "__main__":
    sys.exit(main())
