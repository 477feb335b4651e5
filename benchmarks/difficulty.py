"""How hard is the embedded dataset? Every recipe and model under the official folds.

Generates (or reuses) a UrbanSound8K-shaped synthetic set of ``--clips`` clips, then prints,
all under the official 10-fold CV (leave-one-fold-out over ``fold``):

1. the tutorial recipe (time mean of 40 MFCCs, 500-tree random forest) and the dataset
   paper's richer recipe (MFCC/delta summary statistics plus temporal statistics, 500-tree
   random forest), as in ``benchmarks/tutorial_baseline.py``;
2. every pipeline model with today's ``params.yaml`` defaults and their soft-vote ensemble,
   on the pipeline's own features (mean ± std over the folds);
3. the best model's confusion matrix (PNG) and its five most confused class pairs;
4. the best model's accuracy by salience (foreground / background);
5. the leak: the best model under a random 10-fold split that ignores recordings (slices of
   one recording on both sides) against the official folds.

    PYTHONPATH=. python benchmarks/difficulty.py [--clips 1000] [--seed 42] [--workdir DIR]
        [--workers 2] [--out reports/difficulty]

Generation speed (clips/s on 1 and 2 workers; a timing, so run it on an idle machine)::

    PYTHONPATH=. python benchmarks/difficulty.py --clips 1000 --speed-only

Writes ``benchmarks/results/difficulty.json`` and ``.md`` (``difficulty_speed`` with
``--speed-only``); ``--quick``: 30 clips, no recipes (``models.py`` runs them), in one
process.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import StratifiedKFold

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from results import add_options, quick_clips, quick_folder, quick_params, save  # noqa: E402
from tutorial_baseline import clip_features, official_cv  # noqa: E402

from pipeline.classes import CLASSES  # noqa: E402
from pipeline.config import load_params  # noqa: E402
from pipeline.datasets.synth import generate  # noqa: E402
from pipeline.engine import threads_per_task  # noqa: E402
from pipeline.estimators import build_models, resolve_names  # noqa: E402
from pipeline.evaluate import CVData, FoldFit, confusion_png, cross_validate, fit_folds  # noqa: E402
from pipeline.splits import Split  # noqa: E402
from pipeline.train import feature_columns, labelled, xy  # noqa: E402


def dataset(work: Path, clips: int, seed: int, workers: int) -> pd.DataFrame:
    """Generate (or reuse) the set under ``work/synth``; its metadata table."""
    csv = work / "synth" / "UrbanSound8K" / "metadata" / "UrbanSound8K.csv"
    if not csv.exists() or len(pd.read_csv(csv)) != clips:
        s = generate(work / "synth", layout="us8k", clips=clips, seed=seed, workers=workers)
        print(f"generated {s['clips']} clips (seed {seed}) under {work / 'synth'}")
    return pd.read_csv(csv)


def generation_speed(clips: int, seed: int, work: Path, args) -> None:
    """Clips per second of ``generate`` with 1 and 2 workers (a timing: idle machine only)."""
    rates = {}
    for workers in (1, 2):
        out = work / f"speed-{workers}"
        shutil.rmtree(out, ignore_errors=True)
        s = generate(out, layout="us8k", clips=clips, seed=seed, workers=workers)
        print(f"generation, {workers} worker(s): {clips} clips in {s['seconds']:.1f} s "
              f"= {clips / s['seconds']:.1f} clips/s")
        rates[workers] = clips / s["seconds"]
        shutil.rmtree(out, ignore_errors=True)
    save(args, "difficulty_speed", {"clips": clips, "clips_per_second": rates},
         summary=f"Generation of {clips} clips: {rates[1]:.1f} clips/s in one process, "
                 f"{rates[2]:.1f} on 2 workers ({rates[2] / rates[1]:.2f}×).")


def recipes(meta: pd.DataFrame, root: Path, workers: int,
            trees: int = 500) -> dict[str, tuple[float, float]]:
    """The tutorial and the richer recipe under the official folds, printed; name →
    (mean, std) of the fold accuracies, in percent."""
    from concurrent.futures import ProcessPoolExecutor

    paths = [str(root / "audio" / f"fold{f}" / n)
             for f, n in zip(meta["fold"], meta["slice_file_name"], strict=True)]  # fmt: skip
    with ProcessPoolExecutor(workers) as pool:
        feats = list(pool.map(clip_features, paths, chunksize=16))
    y, folds = meta["classID"].to_numpy(), meta["fold"].to_numpy()

    def rf():
        return RandomForestClassifier(n_estimators=trees, random_state=0, n_jobs=workers)

    out = {}
    for name, x in ((f"tutorial (mean MFCC-40, RF-{trees})", np.stack([f[0] for f in feats])),
                    (f"richer (MFCC/delta stats + temporal stats, RF-{trees})",
                     np.stack([f[1] for f in feats]))):  # fmt: skip
        accs, _ = official_cv(x, y, folds, rf)
        out[name.split()[0]] = (100 * float(np.mean(accs)), 100 * float(np.std(accs)))
        print(f"{name:55s} {out[name.split()[0]][0]:5.1f} % ± {out[name.split()[0]][1]:4.1f}")
    return out


def confused_pairs(pred: pd.DataFrame, top: int = 5) -> list[tuple[str, str, int, float]]:
    """The ``top`` unordered class pairs most often confused: (a, b, count, % of a+b clips)."""
    counts = pd.crosstab(pred["actual"], pred["predicted"]).reindex(
        index=CLASSES, columns=CLASSES, fill_value=0).to_numpy()  # fmt: skip
    sizes = counts.sum(axis=1)
    pairs = []
    for i in range(len(CLASSES)):
        for j in range(i + 1, len(CLASSES)):
            k = int(counts[i, j] + counts[j, i])
            pairs.append((CLASSES[i], CLASSES[j], k, 100.0 * k / max(sizes[i] + sizes[j], 1)))
    return sorted(pairs, key=lambda p: -p[2])[:top]


def random_split_accuracy(table, name, params, seed, workers, scheduler="processes",
                          n_splits=10) -> float:
    """Mean accuracy of model ``name`` under a stratified random ``n_splits``-fold split."""
    rows = labelled(table)
    X, y = xy(rows, feature_columns(rows))
    est = build_models([name], params, seed=seed)[name]
    cv = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    splits = [Split(f"split{i + 1}", a, b) for i, (a, b) in enumerate(cv.split(X, y))]
    fits = [FoldFit(name, est, s, threads_per_task(scheduler, workers)) for s in splits]
    results = fit_folds(fits, CVData(X, y), scheduler=scheduler, workers=workers)
    accs = [float(np.mean(r.predicted == y[s.test])) for s, r in zip(splits, results, strict=True)]
    return float(np.mean(accs))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--workdir", default=None, help="default data/difficulty-CLIPS-SEED")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", default="reports/difficulty", help="folder of the confusion PNG")
    ap.add_argument("--speed-only", action="store_true", help="only time the generation")
    ap.add_argument("--no-recipes", action="store_true", help="skip the two RF recipes")
    ap.add_argument("--scheduler", default="processes", help="of the features and the CV")
    add_options(ap, "30 clips, small models, no recipes, in one process")
    args = ap.parse_args(argv)
    trees = 500
    if args.quick:
        args.clips, args.workers, args.scheduler, args.no_recipes = 30, 1, "sync", True
        quick = quick_folder() / "difficulty"
        args.workdir, args.out = str(quick), str(quick / "png")
        args.params = str(quick_params(quick))
        quick_clips(link=quick / "synth")
    work = Path(args.workdir or f"data/difficulty-{args.clips}-{args.seed}")
    if args.speed_only:
        generation_speed(args.clips, args.seed, work, args)
        return 0

    meta = dataset(work, args.clips, args.seed, args.workers)
    root = work / "synth" / "UrbanSound8K"
    print(f"{len(meta)} clips, seed {args.seed}; official 10-fold CV")
    scored = {} if args.no_recipes else recipes(meta, root, args.workers, trees)

    from pipeline.cli import main as cli
    from pipeline.store import read_features

    store = work / "features"
    if cli(["features", str(root), "--out", str(store), "--workers", str(args.workers),
            "--scheduler", args.scheduler]):
        return 1
    table = read_features(store)
    params = load_params(args.params)
    train_params = dataclasses.asdict(params.train)
    t0 = time.perf_counter()
    names = resolve_names("all", params.train.models)  # as `evaluate`: with the ensemble
    metrics = cross_validate(table, names, train_params, seed=params.seed,
                             scheduler=args.scheduler, workers=args.workers)  # fmt: skip
    print(f"pipeline models ({time.perf_counter() - t0:.0f} s):")
    for name, m in metrics.models.items():
        print(f"  {name:9s} {100 * m.accuracy_mean:5.1f} % ± {100 * m.accuracy_std:4.1f}")

    best = metrics.best
    pred = metrics.models[best].predictions
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    png = out / f"confusion_{best}_{args.clips}.png"
    png.write_bytes(confusion_png(pred["actual"], pred["predicted"],
                                  f"{best}, {args.clips} clips, official folds"))  # fmt: skip
    print(f"best model {best}; confusion matrix: {png}")
    print("top five confused pairs (both directions, % of the two classes' clips):")
    pairs = confused_pairs(pred)
    for a, b, k, share in pairs:
        print(f"  {a} <-> {b}: {k} ({share:.1f} %)")

    salience = dict(zip(meta["slice_file_name"].map(lambda s: Path(s).stem), meta["salience"],
                        strict=True))  # fmt: skip
    sal = pred["id"].map(lambda i: salience.get(Path(str(i)).stem))
    ok = pred["actual"] == pred["predicted"]
    by_salience = {}
    for value, label in ((1, "foreground"), (2, "background")):
        part = ok[sal == value]
        by_salience[label] = 100 * float(part.mean()) if len(part) else None
        print(f"  {best} on {label} clips: {100 * part.mean():5.1f} % ({len(part)} clips)")

    # The leak is measured on the best single model (an ensemble is not one estimator).
    single = max((n for n in metrics.models if n != "ensemble"),
                 key=lambda n: metrics.models[n].accuracy_mean)
    leak = random_split_accuracy(table, single, train_params, params.seed, args.workers,
                                 args.scheduler, n_splits=3 if args.quick else 10)
    official = metrics.models[single].accuracy_mean
    print(f"leak: {single} with a random 10-fold split {100 * leak:.1f} % vs official folds "
          f"{100 * official:.1f} % ({100 * (leak - official):+.1f} points)")
    models = {n: [100 * m.accuracy_mean, 100 * m.accuracy_std]
              for n, m in metrics.models.items()}
    rows = [[f"recipe: {n}", f"{m:.1f} ± {sd:.1f}"] for n, (m, sd) in scored.items()]
    rows += [[f"pipeline `{n}`", f"{m:.1f} ± {sd:.1f}"] for n, (m, sd) in models.items()]
    rows += [[f"`{single}`, random 10-fold split (the leak)", f"{100 * leak:.1f}"]]
    save(args, "difficulty",
         {"clips": len(meta), "seed": args.seed, "recipes": scored, "models": models,
          "best": best, "confused_pairs": pairs, "best_by_salience": by_salience,
          "leak_model": single, "random_split": 100 * leak, "official": 100 * official},
         summary=f"{len(meta)} generated clips (seed {args.seed}), official 10-fold CV: best "
                 f"model `{best}` {models[best][0]:.1f} %; `{single}` under a random split "
                 f"{100 * (leak - official):+.1f} points (the recording leak).",
         table=[["recipe or model", "accuracy % (mean ± std over folds)"], *rows])
    return 0


if __name__ == "__main__":
    sys.exit(main())
