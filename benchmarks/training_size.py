"""How much of the gap between a CV figure and the leaderboard is the CV's smaller training set?

A k-fold CV scores models trained on (k-1)/k of the training recordings; the leaderboard
scores the model trained on all of them. On generated AV-layout datasets (the ones
``benchmarks/honesty.py`` makes, truth kept aside) this prints, for every model, the
leaderboard accuracy when trained on every training recording and when trained on a random
``--fraction`` of them (whole recordings, ``--draws`` draws), scored against the answer key.
Their difference is the part of the CV's pessimism that comes from training size alone.

    nice -n 10 python benchmarks/training_size.py --seeds 21 22 23 --clips 8732 \\
        --workdir /tmp/honesty_big

Writes ``benchmarks/results/training_size.json`` and ``.md``; ``--quick``: one seed of 60
clips, logreg, one draw, in one process.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from honesty import featurized_seed, quick_settings, true_recordings  # noqa: E402
from results import add_options, save  # noqa: E402

from pipeline.config import load_params  # noqa: E402
from pipeline.engine import Engine  # noqa: E402
from pipeline.estimators import build_estimator  # noqa: E402
from pipeline.evaluate import CVData, FoldFit, fit_folds  # noqa: E402
from pipeline.splits import Split  # noqa: E402
from pipeline.train import feature_columns, labelled, xy  # noqa: E402

MODELS = ["logreg", "ffnn", "rf", "xgb"]


def seed_splits(root, table, *, fraction: float, draws: int, rng) -> tuple[CVData, list[Split]]:
    """The AV table with the answer key's labels on its test rows, and the splits: all
    training rows, then ``draws`` random ``fraction``s of the training recordings; every
    split's test part is the whole test set."""
    key = pd.read_csv(root / "av_answer_key.csv", dtype={"ID": str}).set_index("ID")["Class"]
    answered = table["id"].map(key)
    table = table.assign(label=table["label"].where(table["label"].notna(), answered))
    rows = labelled(table)
    X, y = xy(rows, feature_columns(rows))
    is_test = rows["id"].map(key).notna().to_numpy()
    recording = rows["id"].map(true_recordings(root)).to_numpy()
    train, test = np.flatnonzero(~is_test), np.flatnonzero(is_test)
    recordings = np.unique(recording[train])
    splits = [Split("all", train, test)]
    for k in range(draws):
        keep = rng.choice(recordings, int(round(fraction * recordings.size)), replace=False)
        splits.append(Split(f"draw{k}", train[np.isin(recording[train], keep)], test))
    return CVData(X, y), splits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[21, 22, 23])
    parser.add_argument("--clips", type=int, default=8732)
    parser.add_argument("--workdir", default="/tmp/honesty_big")
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--fraction", type=float, default=0.9,
                        help="share of the training recordings (0.9: a 10-fold CV's)")
    parser.add_argument("--draws", type=int, default=4)
    parser.add_argument("--scheduler", default="processes")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--params", default=None, help="params file (default: ./params.yaml)")
    add_options(parser, "one seed of 100 clips, logreg, one draw, one process")
    args = parser.parse_args()
    if args.quick:
        quick_settings(args)
    params = load_params(args.params)
    print(f"leaderboard accuracy (%), trained on all training recordings vs on "
          f"{args.fraction:.0%} of them ({args.draws} draws)")
    print(f"{'seed':>4s} {'model':8s} {'all':>6s} {'part':>6s} {'loss':>5s}  draws")
    losses = {name: [] for name in args.models}
    with Engine(args.scheduler, args.workers) as engine:
        for seed in args.seeds:
            root, _, table = featurized_seed(seed, args)
            data, splits = seed_splits(root, table, fraction=args.fraction, draws=args.draws,
                                       rng=np.random.default_rng(seed))
            for name in args.models:
                estimator = build_estimator(name, getattr(params.train, name), seed=params.seed)
                fits = [FoldFit(name, estimator, split, 1) for split in splits]
                results = fit_folds(fits, data, scheduler=engine, workers=args.workers)
                acc = [100 * np.mean(r.predicted == data.y[s.test])
                       for s, r in zip(splits, results, strict=True)]
                part = float(np.mean(acc[1:]))
                losses[name].append(acc[0] - part)
                print(f"{seed:4d} {name:8s} {acc[0]:6.2f} {part:6.2f} {acc[0] - part:+5.2f}  "
                      + " ".join(f"{a:.2f}" for a in acc[1:]), flush=True)
    print("\nmean accuracy lost with the smaller training set, over seeds (points):")
    for name, values in losses.items():
        print(f"  {name:8s} {np.mean(values):+.2f} (min {min(values):+.2f}, "
              f"max {max(values):+.2f})")
    save(args, "training_size",
         {"seeds": args.seeds, "clips": args.clips, "fraction": args.fraction,
          "draws": args.draws, "loss_points": losses},
         summary=f"Leaderboard accuracy lost when trained on {args.fraction:.0%} of the "
                 f"training recordings instead of all (seeds {', '.join(map(str, args.seeds))},"
                 f" {args.clips} clips): "
                 + ", ".join(f"{n} {np.mean(v):+.2f}" for n, v in losses.items()) + " points.",
         table=[["model", "mean loss (points)", "min", "max"],
                *([n, f"{np.mean(v):+.2f}", f"{min(v):+.2f}", f"{max(v):+.2f}"]
                  for n, v in losses.items())])


if __name__ == "__main__":
    main()
