"""Model comparison under the official folds, against two peers measured in the same run.

1. Every registered model: accuracy mean ± std over the official folds and fit time per fold.
2. The tutorial recipe (mean of 40 MFCCs + a 500-tree random forest), same folds: the best
   model should beat it by at least 15 points.
3. The from-scratch FFNN against scikit-learn's MLPClassifier with the same architecture,
   optimiser settings and input scaling, same folds.

    PYTHONPATH=. python benchmarks/models.py [--clips 2000] [--features DIR] [--workdir DIR]
        [--scheduler processes] [--workers 2]

Without ``--features`` a UrbanSound8K-shaped dataset of ``--clips`` clips is generated and its
features extracted with the pipeline's own feature stage.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from pipeline.config import load_params
from pipeline.engine import Engine, threads_per_task
from pipeline.estimators import model_params
from pipeline.evaluate import CVData, FoldFit, cross_validate, fit_folds
from pipeline.splits import make_splits
from pipeline.train import feature_columns, labelled, xy


def feature_table(args, params):
    """The benchmark's feature table: read from ``--features`` or generated and extracted."""
    from pipeline.store import read_features

    if args.features:
        return read_features(args.features)
    from pipeline.cli import main

    work = Path(args.workdir)
    dataset = work / "synth"
    if not (dataset / "UrbanSound8K").is_dir():
        from pipeline.datasets.synth import generate

        generate(dataset, layout="us8k", clips=args.clips, seed=params.seed)
    store = work / "features"
    if not (store / "features.parquet").is_file():
        code = main(["features", str(dataset / "UrbanSound8K"), "--out", str(store)])
        if code:
            sys.exit(code)
    return read_features(store)


def cv_accuracy(estimator, X, y, splits, *, scheduler: Engine, workers: int):
    """Mean and std of the fold accuracies and the mean fit seconds of ``estimator``."""
    fits = [FoldFit("peer", estimator, s, threads_per_task(scheduler, workers)) for s in splits]
    accs, secs = [], []
    for s, r in zip(splits, fit_folds(fits, CVData(X, y), scheduler=scheduler, workers=workers),
                    strict=True):
        accs.append(float(np.mean(r.predicted == y[s.test])))
        secs.append(r.fit_seconds)
    return float(np.mean(accs)), float(np.std(accs)), float(np.mean(secs))


def mlp_peer(ffnn_params: dict, seed: int) -> Pipeline:
    """scikit-learn's MLPClassifier configured like the FFNN (architecture and optimiser)."""
    shared = {k: ffnn_params[k] for k in (
        "hidden_layer_sizes", "activation", "alpha", "learning_rate_init", "batch_size",
        "max_iter", "early_stopping", "validation_fraction", "n_iter_no_change", "tol",
    ) if k in ffnn_params}
    shared["hidden_layer_sizes"] = tuple(shared.get("hidden_layer_sizes", (100,)))
    return Pipeline([("scale", StandardScaler()),
                     ("clf", MLPClassifier(solver="adam", random_state=seed, **shared))])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=2000)
    ap.add_argument("--features", default=None, help="existing feature store folder")
    ap.add_argument("--workdir", default="data/bench_models")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--scheduler", default="processes")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    params = load_params(args.params)
    table = labelled(feature_table(args, params))
    X, y = xy(table, feature_columns(table))
    protocol, _, splits = make_splits(table, seed=params.seed)
    print(f"{len(y)} labelled clips, {X.shape[1]} features; protocol: {protocol}")

    with Engine(args.scheduler, args.workers) as engine:  # one cluster for every measure
        compare(args, params, table, X, y, splits, {"scheduler": engine, "workers": args.workers})
    return 0


def compare(args, params, table, X, y, splits, run: dict) -> None:
    """The CV figures of the models and of their peers, all run by one engine."""
    t = params.train
    train_params = dataclasses.asdict(t)
    start = time.perf_counter()
    metrics = cross_validate(table, list(t.models), train_params, seed=params.seed, **run)
    print(f"{len(t.models)} models x {len(splits)} folds: {time.perf_counter() - start:.0f} s "
          f"wall ({args.scheduler}, {args.workers} workers)")
    results = {}
    for name, m in metrics.models.items():
        results[name] = (m.accuracy_mean, m.accuracy_std, m.fit_seconds)
        print(f"{name:9s} accuracy {m.accuracy_mean:.4f} ± {m.accuracy_std:.4f}  "
              f"fit {m.fit_seconds:6.2f} s/fold", flush=True)

    columns = feature_columns(table)
    mfcc_means = [c for c in columns if c.startswith("mfcc_") and c.endswith("_mean")]
    Xt, _ = xy(table, mfcc_means)
    recipe = RandomForestClassifier(n_estimators=500, n_jobs=-1, random_state=params.seed)
    start = time.perf_counter()
    rm, rs, rf_ = cv_accuracy(recipe, Xt, y, splits, **run)
    print(f"tutorial  accuracy {rm:.4f} ± {rs:.4f}  fit {rf_:6.2f} s/fold "
          f"({len(mfcc_means)} MFCC means + 500-tree RF; {time.perf_counter() - start:.0f} s)")

    best = max(results, key=lambda n: results[n][0])
    gain = 100 * (results[best][0] - rm)
    print(f"best model {best}: {results[best][0]:.4f} vs tutorial {rm:.4f} → "
          f"+{gain:.1f} points (target ≥ 15): {'PASS' if gain >= 15 else 'FAIL'}")

    if "ffnn" in results:
        peer = mlp_peer(model_params("ffnn", t.ffnn), params.seed)
        pm, ps, pf = cv_accuracy(peer, X, y, splits, **run)
        fm = results["ffnn"][0]
        print(f"sklearn MLPClassifier (same architecture) accuracy {pm:.4f} ± {ps:.4f}  "
              f"fit {pf:6.2f} s/fold")
        print(f"ffnn {fm:.4f} vs MLPClassifier {pm:.4f} → {100 * (fm - pm):+.1f} points "
              f"(target ≥ 0): {'PASS' if fm >= pm else 'FAIL'}")


if __name__ == "__main__":
    sys.exit(main())
