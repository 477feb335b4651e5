"""Choosing the link threshold of the inferred recording groups (``pipeline.groups``).

For generated AV-layout datasets (truth kept aside), for every threshold: the pairwise
precision and recall of the inferred groups against the true recordings, and the CV of
``logreg`` and ``xgb`` over the inferred groups beside the CV over the true recordings.
The true-group CV is what the inferred groups should reproduce: above it, slices of one
recording sit on both sides of a split (a leak); below it, whole clusters of similar
recordings are held out together (pessimistic). The leaderboard is not used: on ~500 test
clips its sampling noise is as large as the differences being measured.

    nice -n 10 python benchmarks/group_threshold.py --seeds 11 12 13 --workdir /tmp/honesty

Writes ``benchmarks/results/group_threshold.json`` and ``.md``; ``--quick``: one seed of 60
clips, the cut 0.6, 2 splits, in one process.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from honesty import featurized_seed, quick_settings, true_recordings  # noqa: E402
from results import add_options, save  # noqa: E402

from pipeline.config import load_params  # noqa: E402
from pipeline.evaluate import cross_validate  # noqa: E402
from pipeline.groups import infer_groups, pairwise_precision_recall  # noqa: E402
from pipeline.train import labelled  # noqa: E402

MODELS = ["logreg", "xgb"]


def grouped_cv(table, groups_of_labelled, names, train_params, cv) -> dict[str, float]:
    """CV accuracy of ``names`` with the labelled rows' ``group`` set to the given groups."""
    grouped = table.copy()
    mask = grouped["label"].notna().to_numpy()
    grouped["group"] = None
    grouped.loc[mask, "group"] = list(groups_of_labelled)
    result = cross_validate(grouped, names, train_params, **cv)
    return {n: result.models[n].accuracy_mean for n in names}


def run_seed(seed: int, args, params) -> list[dict]:
    root, _, table = featurized_seed(seed, args)
    rows = labelled(table)
    true = rows["id"].map(true_recordings(root)).to_numpy()
    train_params = {n: getattr(params.train, n) for n in MODELS}
    cv = {"scheduler": args.scheduler, "workers": args.workers, "seed": params.seed,
          "n_splits": args.n_splits}
    reference = grouped_cv(table, true, MODELS, train_params, cv)
    print(f"\n=== seed {seed}: {len(rows)} training clips, {len(set(true))} recordings; "
          f"true-group CV " + ", ".join(f"{n} {a * 100:.1f}" for n, a in reference.items()))
    print(f"{'threshold':>9s} {'groups':>6s} {'prec':>5s} {'recall':>6s}  "
          + "  ".join(f"{n + ' cv':>9s} {'-true':>6s}" for n in MODELS))
    out = []
    for threshold in args.thresholds:
        inferred = infer_groups(rows, threshold=threshold)
        precision, recall = pairwise_precision_recall(inferred, true)
        scores = grouped_cv(table, inferred, MODELS, train_params, cv)
        bias = {n: (scores[n] - reference[n]) * 100 for n in MODELS}
        print(f"{threshold:9.2f} {len(set(inferred)):6d} {precision:5.2f} {recall:6.2f}  "
              + "  ".join(f"{scores[n] * 100:9.1f} {bias[n]:+6.1f}" for n in MODELS),
              flush=True)
        out.append({"seed": seed, "threshold": threshold, "bias": bias})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13])
    parser.add_argument("--clips", type=int, default=1200)
    parser.add_argument("--thresholds", type=float, nargs="+",
                        default=[0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    parser.add_argument("--workdir", default="/tmp/honesty")
    parser.add_argument("--scheduler", default="processes")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--n-splits", type=int, default=10)
    parser.add_argument("--params", default=None, help="params file (default: ./params.yaml)")
    add_options(parser, "one seed of 100 clips, the cut 0.6, 2 splits, one process")
    args = parser.parse_args()
    if args.quick:
        quick_settings(args)
    params = load_params(args.params)
    rows = [r for seed in args.seeds for r in run_seed(seed, args, params)]
    print("\nmean (and max) |inferred-group CV - true-group CV| over seeds and models:")
    summary = []
    for threshold in args.thresholds:
        gaps = [abs(b) for r in rows if r["threshold"] == threshold for b in r["bias"].values()]
        signed = [b for r in rows if r["threshold"] == threshold for b in r["bias"].values()]
        print(f"  {threshold:.2f}: {np.mean(gaps):.1f} ({max(gaps):.1f}); "
              f"mean signed {np.mean(signed):+.1f}")
        summary.append([threshold, f"{np.mean(gaps):.1f}", f"{max(gaps):.1f}",
                        f"{np.mean(signed):+.1f}"])
    best = min(summary, key=lambda r: float(r[1]))
    save(args, "group_threshold", {"seeds": args.seeds, "clips": args.clips, "rows": rows},
         summary=f"Cuts of the inferred recording groups against the CV over the true "
                 f"recordings (seeds {', '.join(map(str, args.seeds))}, {args.clips} clips, "
                 f"{', '.join(MODELS)}): the smallest mean |difference| is at {best[0]} "
                 f"({best[1]} points).",
         table=[["cut", "mean |inferred − true| (points)", "max", "mean signed"], *summary])


if __name__ == "__main__":
    main()
