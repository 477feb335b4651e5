"""One model with parameter overrides, on several feature stores, over several model seeds.

The tool behind most rows of ``docs/experiments.md`` (what was tried and not kept): a
change of a default is worth keeping only if it wins on every set by more than the model
seed alone moves the figure. Each row is one variant (a JSON mapping merged over the
model's settings from ``params.yaml``, ``{}`` for the defaults; the members of
``ensemble`` take theirs from ``--params``): per store, the mean official-folds accuracy
over the seeds, then the mean over the stores and the fit seconds per fold (and, with
several seeds, each seed's figure).
The fits get the rows' recording groups, as in the pipeline's own cross-validation.

    PYTHONPATH=. python benchmarks/variants.py ffnn S1,S2,S3 --seeds 42,43,44 \\
        '{}' '{"min_batches": 32}' '{"hidden_layer_sizes": [512], "dropout": 0.5}'

Writes ``benchmarks/results/variants-MODEL.json`` and ``.md``; ``--quick`` (any model, any
stores, e.g. ``variants.py logreg - --quick``): 30 generated clips, small models, one
process.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import add_options, quick_params, quick_store, save  # noqa: E402

from models import cv_accuracy  # noqa: E402
from pipeline.config import load_params  # noqa: E402
from pipeline.engine import Engine  # noqa: E402
from pipeline.estimators import build_estimator, model_params  # noqa: E402
from pipeline.groups import recording_groups  # noqa: E402
from pipeline.splits import make_splits  # noqa: E402
from pipeline.stages.common import train_params  # noqa: E402
from pipeline.store import read_features  # noqa: E402
from pipeline.train import feature_columns, labelled, xy  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="a registry name: logreg, ffnn, rf, xgb")
    ap.add_argument("stores", help="comma-separated feature stores (urbansound features --out)")
    ap.add_argument("variants", nargs="*", default=["{}"], help="JSON overrides, one per row")
    ap.add_argument("--seeds", default="42", help="comma-separated model seeds")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--workers", type=int, default=2)
    add_options(ap, "the stores replaced by one of 30 generated clips, small models, one process")
    args = ap.parse_intermixed_args()  # --seeds may come between the stores and variants
    scheduler = "processes"
    if args.quick:
        from results import quick_folder

        args.params = str(quick_params(quick_folder() / "variants"))
        args.stores, scheduler, args.workers = str(quick_store(Path(args.params))), "sync", 1
    params = load_params(args.params)
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = [json.loads(v) for v in args.variants]
    sets = []
    for store in args.stores.split(","):
        table = labelled(read_features(store))
        X, y = xy(table, feature_columns(table))
        groups = recording_groups(table)[0]  # as the pipeline's CV: whole recordings
        sets.append((store, X, y, groups, make_splits(table, seed=params.seed)[2]))
        print(f"{store}: {len(y)} clips, {X.shape[1]} features")
    print(f"{args.model}, official folds, mean over model seeds {seeds}:")
    rows = []
    with Engine(scheduler, args.workers) as engine:
        for overrides in variants:
            settings = {**(getattr(params.train, args.model) or {}), **overrides}
            means, secs, each = [], [], []
            for _, X, y, groups, splits in sets:
                accs = []
                for seed in seeds:
                    est = build_estimator(args.model, model_params(args.model, settings),
                                          seed=seed, all_params=train_params(params))
                    mean, _, fit = cv_accuracy(est, X, y, splits, scheduler=engine,
                                               workers=args.workers, groups=groups)
                    accs.append(100 * mean)
                    secs.append(fit)
                means.append(float(np.mean(accs)))
                if len(seeds) > 1:
                    each.append("/".join(f"{a:.2f}" for a in accs))
            cells = " | ".join(f"{m:5.2f}" for m in means)
            print(f"{json.dumps(overrides):40s} {cells} | mean {np.mean(means):5.2f} "
                  f"| fit {np.mean(secs):.2f} s/fold", flush=True)
            rows.append([json.dumps(overrides), *(f"{m:.2f}" for m in means),
                         f"{np.mean(means):.2f}", f"{np.mean(secs):.2f}"])
            if each:
                print(f"{'':40s} by seed: {' | '.join(each)}", flush=True)
    stores = [store for store, *_ in sets]
    save(args, f"variants-{args.model}",
         {"model": args.model, "stores": stores, "seeds": seeds, "rows": rows},
         summary=f"`{args.model}` with {len(variants)} setting(s), official folds, mean over "
                 f"model seeds {', '.join(map(str, seeds))} on {len(stores)} feature store(s).",
         table=[["overrides", *(Path(s).name or s for s in stores), "mean", "fit s/fold"],
                *rows])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
