"""Model comparison under the official folds, against the dataset paper's recipes measured in
the same run.

1. Every registered model and the ensemble with today's defaults: accuracy mean ± std over
   the official folds and fit seconds per fold (one thread each, two fits side by side).
2. The tutorial recipe (mean of 40 MFCCs + a 500-tree random forest) and the dataset paper's
   richer recipe (MFCC/delta summary statistics + temporal statistics, same forest), same
   folds, from the clips' audio (``--dataset``, or the generated set).
3. The goals: best model >= richer recipe + 8 points; ffnn >= logreg and within 2 points of
   the best model; the ensemble >= the best single model.
4. With ``--peer``: the from-scratch FFNN against scikit-learn's MLPClassifier with the same
   inputs (columns, scaling), architecture and optimiser settings, same folds.
5. With ``--model-seeds N``: the whole comparison again with the models' seeds seed+1 …
   seed+N−1 (``seed`` of the params; the folds stay the official ones), every model's mean
   and spread over the N seeds, and the goals on those means: whether a gap is larger than
   what the seed alone moves.

    PYTHONPATH=. python benchmarks/models.py [--clips 1000] [--seed 42] [--workdir DIR]
    PYTHONPATH=. python benchmarks/models.py --features STORE --dataset DIR/UrbanSound8K

Without ``--features`` a UrbanSound8K-shaped dataset of ``--clips`` clips (``--seed``) is
generated under ``--workdir`` and its features extracted with the pipeline's own stage.
Writes ``benchmarks/results/models.json`` and ``.md``; ``--quick``: 30 clips, small models,
10-tree recipes, in one process.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.neural_network import MLPClassifier

sys.path.insert(0, str(Path(__file__).resolve().parent))
from difficulty import recipes  # noqa: E402
from results import add_options, quick_folder, quick_params, quick_store, save  # noqa: E402

from pipeline.config import load_params  # noqa: E402
from pipeline.engine import Engine, threads_per_task  # noqa: E402
from pipeline.estimators import build_estimator, model_params, resolve_names  # noqa: E402
from pipeline.evaluate import CVData, FoldFit, cross_validate, fit_folds  # noqa: E402
from pipeline.splits import make_splits  # noqa: E402
from pipeline.train import feature_columns, labelled, xy  # noqa: E402


def feature_table(args) -> tuple[pd.DataFrame, Path | None]:
    """The feature table (``--features`` or generated and extracted) and the UrbanSound8K
    folder of its audio (``--dataset``, the generated one, or None)."""
    from pipeline.store import read_features

    if args.features:
        return read_features(args.features), Path(args.dataset) if args.dataset else None
    from pipeline.cli import main

    work = Path(args.workdir or f"data/bench_models-{args.clips}-{args.seed}")
    dataset = work / "synth"
    if not (dataset / "UrbanSound8K").is_dir():
        from pipeline.datasets.synth import generate

        generate(dataset, layout="us8k", clips=args.clips, seed=args.seed)
    store = work / "features"
    if not (store / "features.parquet").is_file():
        code = main(["--params", args.params, "features", str(dataset / "UrbanSound8K"),
                     "--out", str(store)])
        if code:
            sys.exit(code)
    return read_features(store), dataset / "UrbanSound8K"


def cv_accuracy(estimator, X, y, splits, *, scheduler: Engine, workers: int, groups=None):
    """Mean and std of the fold accuracies and the mean fit seconds of ``estimator``;
    ``groups`` (n,), the rows' recordings, reach the fits as in the pipeline's own CV."""
    fits = [FoldFit("peer", estimator, s, threads_per_task(scheduler, workers)) for s in splits]
    accs, secs = [], []
    for s, r in zip(splits, fit_folds(fits, CVData(X, y, groups), scheduler=scheduler,
                                          workers=workers),
                    strict=True):
        accs.append(float(np.mean(r.predicted == y[s.test])))
        secs.append(r.fit_seconds)
    return float(np.mean(accs)), float(np.std(accs)), float(np.mean(secs))


def mlp_peer(ffnn_params: dict, seed: int):
    """The ffnn's pipeline (column choice, scaler) ending in scikit-learn's MLPClassifier
    with the same architecture and optimiser settings."""
    shared = {k: ffnn_params[k] for k in (
        "hidden_layer_sizes", "activation", "alpha", "learning_rate_init", "batch_size",
        "max_iter", "early_stopping", "validation_fraction", "n_iter_no_change", "tol",
    ) if k in ffnn_params}
    shared["hidden_layer_sizes"] = tuple(shared.get("hidden_layer_sizes", (100,)))
    peer = clone(build_estimator("ffnn", ffnn_params, seed=seed))
    peer.steps[-1] = ("clf", MLPClassifier(solver="adam", random_state=seed, **shared))
    return peer


def goal(text: str, ok: bool) -> None:
    print(f"{text}: {'PASS' if ok else 'FAIL'}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=42, help="seed of the generated set")
    ap.add_argument("--features", default=None, help="existing feature store folder")
    ap.add_argument("--dataset", default=None,
                    help="UrbanSound8K folder of the store's audio (for the two recipes)")
    ap.add_argument("--workdir", default=None, help="default data/bench_models-CLIPS-SEED")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--scheduler", default="processes")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--peer", action="store_true", help="also scikit-learn's MLPClassifier")
    ap.add_argument("--model-seeds", type=int, default=1,
                    help="repeat the comparison with this many model seeds (default 1)")
    add_options(ap, "30 clips, small models, 10-tree recipes, in one process")
    args = ap.parse_args()
    trees = 500
    if args.quick:
        args.clips, args.scheduler, args.workers, trees = 30, "sync", 1, 10
        args.params = str(quick_params(quick_folder() / "models"))
        args.features = args.features or str(quick_store(Path(args.params)))
        args.dataset = args.dataset or str(quick_folder() / "synth-30" / "UrbanSound8K")
    params = load_params(args.params)
    table, audio = feature_table(args)
    table = labelled(table)
    X, y = xy(table, feature_columns(table))
    protocol, _, splits = make_splits(table, seed=params.seed)
    print(f"{len(y)} labelled clips, {X.shape[1]} features; protocol: {protocol}")

    figures: dict = {"clips": len(y), "features": X.shape[1], "protocol": protocol}
    with Engine(args.scheduler, args.workers) as engine:  # one cluster for every measure
        run = {"scheduler": engine, "workers": args.workers}
        scores = compare(args, params, table, run)
        figures["models"] = scores
        if args.model_seeds > 1:
            figures["seed_means"] = seed_spread(args, params, table, run, scores)
        if audio is not None:
            meta = pd.read_csv(audio / "metadata" / "UrbanSound8K.csv")
            figures["recipes"] = recipes(meta, audio, args.workers, trees)
            richer = figures["recipes"]["richer"][0]
            best = max(scores, key=scores.get)
            goal(f"best model {best} {scores[best]:.2f} vs richer recipe {richer:.2f} → "
                 f"{scores[best] - richer:+.1f} points (goal >= +8)", scores[best] >= richer + 8)
        else:
            print("recipes skipped: no --dataset with the store's audio")
        if args.peer:
            t = params.train
            peer = mlp_peer(model_params("ffnn", t.ffnn), params.seed)
            pm, ps, pf = cv_accuracy(peer, X, y, splits, **run)
            print(f"sklearn MLPClassifier (same inputs and architecture) {100 * pm:.2f} ± "
                  f"{100 * ps:.2f}  fit {pf:6.2f} s/fold")
            goal(f"ffnn {scores['ffnn']:.2f} vs MLPClassifier {100 * pm:.2f}",
                 scores["ffnn"] >= 100 * pm)
            figures["mlp_peer"] = 100 * pm
    best = max(scores, key=scores.get)
    rows = [[f"`{n}`", f"{a:.2f}"] for n, a in scores.items()]
    rows += [[f"recipe: {n}", f"{m:.1f}"] for n, (m, _) in figures.get("recipes", {}).items()]
    save(args, "models", figures,
         summary=f"{len(y)} clips, {X.shape[1]} features, {protocol} CV: best `{best}` "
                 f"{scores[best]:.2f} %.",
         table=[["model or recipe", "accuracy %"], *rows])
    return 0


def compare(args, params, table, run: dict, *, seed: int | None = None,
            quiet: bool = False) -> dict[str, float]:
    """Every model's CV (printed with the goals unless ``quiet``); name → mean accuracy in
    percent. ``seed`` is the models' seed (default: the params' one)."""
    train_params = dataclasses.asdict(params.train)
    names = resolve_names("all", params.train.models)  # as `evaluate`: with the ensemble
    start = time.perf_counter()
    metrics = cross_validate(table, names, train_params,
                             seed=params.seed if seed is None else seed, **run)
    scores = {name: 100 * m.accuracy_mean for name, m in metrics.models.items()}
    if quiet:
        return scores
    print(f"{len(names)} models, official folds: {time.perf_counter() - start:.0f} s wall "
          f"({args.scheduler}, {args.workers} workers)")
    for name, m in metrics.models.items():
        print(f"{name:9s} accuracy {100 * m.accuracy_mean:5.2f} ± {100 * m.accuracy_std:4.2f}  "
              f"fit {m.fit_seconds:6.2f} s/fold", flush=True)
    goals(scores)
    return scores


def seed_spread(args, params, table, run: dict, first: dict[str, float]) -> dict[str, float]:
    """The comparison with ``args.model_seeds`` model seeds (``first`` is that of the
    params' seed): per model the mean and the standard deviation over the seeds, and the
    goals on the means."""
    runs = [first] + [compare(args, params, table, run, seed=params.seed + k, quiet=True)
                      for k in range(1, args.model_seeds)]
    print(f"over {len(runs)} model seeds ({params.seed}..{params.seed + len(runs) - 1}), "
          "official folds fixed:")
    means = {}
    for name in first:
        values = np.array([r[name] for r in runs])
        means[name] = float(values.mean())
        print(f"{name:9s} accuracy {values.mean():5.2f}, spread over seeds {values.std():4.2f}"
              f" (min {values.min():5.2f}, max {values.max():5.2f})")
    goals(means)
    return means


def goals(scores: dict[str, float]) -> None:
    """Print the model issue's goals on ``scores`` (name → accuracy in percent)."""
    best = max(scores, key=scores.get)
    single = max((n for n in scores if n != "ensemble"), key=scores.get)
    if "ffnn" in scores and "logreg" in scores:
        goal(f"ffnn {scores['ffnn']:.2f} >= logreg {scores['logreg']:.2f}",
             scores["ffnn"] >= scores["logreg"])
    if "ffnn" in scores:
        goal(f"ffnn {scores['ffnn']:.2f} within 2 points of the best ({best} "
             f"{scores[best]:.2f})", scores["ffnn"] >= scores[best] - 2)
    if "ensemble" in scores:
        goal(f"ensemble {scores['ensemble']:.2f} >= best single model ({single} "
             f"{scores[single]:.2f})", scores["ensemble"] >= scores[single])


if __name__ == "__main__":
    sys.exit(main())
