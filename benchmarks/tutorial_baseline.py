"""How hard is the embedded dataset? The common tutorial recipe against a richer one.

Generates (or reuses) a synthetic set, then runs under the official 10-fold CV
(leave-one-fold-out over the ``fold`` column):

1. the tutorial recipe: ``librosa.load(path)`` (22050 Hz mono), the time mean of
   ``librosa.feature.mfcc(y=y, sr=sr, n_mfcc=40)``, ``RandomForestClassifier(n_estimators=500)``;
2. a richer recipe: mean, std, min, max of the MFCCs and their deltas plus temporal
   statistics (RMS, zero-crossing rate, onset strength), a 500-tree random forest
   (``--xgb``: ``XGBClassifier(tree_method="hist", n_estimators=300)``).

On the real UrbanSound8K (8732 clips) the tutorial recipe scores about 55–65 % and the
richer one 62–72 %; ``benchmarks/difficulty.py`` adds the pipeline's models, the confusions
and the accuracy by salience.

Usage::

    python benchmarks/tutorial_baseline.py [--clips 1000] [--seed 42] [--data DIR] [--regenerate]
                                           [--quick]

Writes ``benchmarks/results/tutorial_baseline.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import confusion_matrix
from xgboost import XGBClassifier

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import add_options, quick_clips, save  # noqa: E402

from pipeline.classes import CLASSES  # noqa: E402
from pipeline.datasets.synth import generate  # noqa: E402


def _stats(m: np.ndarray) -> np.ndarray:
    return np.concatenate([m.mean(1), m.std(1), m.min(1), m.max(1)])


def clip_features(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Tutorial features (40,) and richer features (328,) of one file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # clips shorter than n_fft: librosa warns and pads
        y, sr = librosa.load(path)
        mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=40)
        frames = mfcc.shape[1]
        width = min(9, frames - 1 + frames % 2)
        delta = librosa.feature.delta(mfcc, width=width) if width >= 3 else np.zeros_like(mfcc)
        rms = librosa.feature.rms(y=y)[0]
        zcr = librosa.feature.zero_crossing_rate(y)[0]
        onset = librosa.onset.onset_strength(y=y, sr=sr)
    rms_db = librosa.amplitude_to_db(rms + 1e-10, ref=np.max(rms) + 1e-10)
    temporal = np.array(
        [rms_db.std(), rms.std() / (rms.mean() + 1e-10), zcr.mean(), zcr.std(),
         onset.mean(), onset.std(), onset.max() / (onset.mean() + 1e-10), len(y) / sr]
    )  # fmt: skip
    return mfcc.mean(axis=1), np.concatenate([_stats(mfcc), _stats(delta), temporal])


def official_cv(x: np.ndarray, y: np.ndarray, folds: np.ndarray, make) -> tuple[list, np.ndarray]:
    """Leave-one-fold-out accuracies and the pooled confusion matrix."""
    accs, pred = [], np.empty_like(y)
    for k in np.unique(folds):
        test = folds == k
        model = make().fit(x[~test], y[~test])
        pred[test] = model.predict(x[test])
        accs.append(float(np.mean(pred[test] == y[test])))
    return accs, confusion_matrix(y, pred, labels=range(len(CLASSES)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--data", default=None, help="dataset folder (default data/bench-synth-N-S)")
    ap.add_argument("--regenerate", action="store_true", help="regenerate even if present")
    ap.add_argument("--workers", type=int, default=2, help="processes for feature extraction")
    ap.add_argument("--xgb", action="store_true", help="XGBoost (slower) for the richer recipe")
    ap.add_argument("--confusion", action="store_true", help="print both confusion matrices")
    add_options(ap, "30 clips, 10-tree forests, 1 process")
    args = ap.parse_args(argv)
    trees = 500
    if args.quick:
        args.clips, args.workers, trees = 30, 1, 10
        args.data = args.data or str(quick_clips())

    root = Path(args.data or f"data/bench-synth-{args.clips}-{args.seed}")
    csv = root / "UrbanSound8K" / "metadata" / "UrbanSound8K.csv"
    if args.regenerate or not csv.exists() or len(pd.read_csv(csv)) != args.clips:
        s = generate(root, layout="us8k", clips=args.clips, seed=args.seed)
        print(
            f"generated {s['clips']} clips in {s['seconds']:.1f} s "
            f"({s['clips'] / s['seconds']:.1f} clips/s) under {root}"
        )
    else:
        print(f"reusing {args.clips} clips under {root}")
    meta = pd.read_csv(csv)
    paths = [
        str(root / "UrbanSound8K" / "audio" / f"fold{f}" / name)
        for f, name in zip(meta["fold"], meta["slice_file_name"], strict=True)
    ]

    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        feats = list(pool.map(clip_features, paths, chunksize=16))
    x_tut = np.stack([f[0] for f in feats])
    x_rich = np.stack([f[1] for f in feats])
    y, folds = meta["classID"].to_numpy(), meta["fold"].to_numpy()
    print(f"features of {len(paths)} clips in {time.perf_counter() - t0:.1f} s")

    t0 = time.perf_counter()
    tut, cm_tut = official_cv(
        x_tut, y, folds,
        lambda: RandomForestClassifier(n_estimators=trees, random_state=0, n_jobs=-1),
    )
    if args.xgb:
        rich_name = "XGB-300"
        make_rich = lambda: XGBClassifier(tree_method="hist", n_estimators=300, random_state=0)  # noqa: E731
    else:
        rich_name = f"RF-{trees}"
        make_rich = lambda: RandomForestClassifier(n_estimators=trees, random_state=0, n_jobs=-1)  # noqa: E731
    rich, cm_rich = official_cv(x_rich, y, folds, make_rich)
    print(f"cross-validation in {time.perf_counter() - t0:.1f} s")
    m_tut, m_rich = 100 * np.mean(tut), 100 * np.mean(rich)
    print(
        f"tutorial recipe (mean MFCC-40, RF-500), official 10-fold CV: "
        f"{m_tut:.1f} % ± {100 * np.std(tut):.1f}"
    )
    print(
        f"richer recipe (MFCC+delta mean/std/min/max, RMS/ZCR/onset stats, {rich_name}): "
        f"{m_rich:.1f} % ± {100 * np.std(rich):.1f}  ({m_rich - m_tut:+.1f} points)"
    )
    if args.confusion:
        for name, cm in (("tutorial", cm_tut), ("richer", cm_rich)):
            print(f"\n{name} confusion (rows = true class, recall %):")
            for c, row in zip(CLASSES, cm, strict=True):
                print(f"  {c:17s} {100 * row[CLASSES.index(c)] / max(row.sum(), 1):5.1f}  {row}")
    save(args, "tutorial_baseline",
         {"clips": len(paths), "seed": args.seed, "tutorial_mean": m_tut,
          "tutorial_std": 100 * float(np.std(tut)), "richer_mean": m_rich,
          "richer_std": 100 * float(np.std(rich)), "richer_model": rich_name},
         summary=f"Official 10-fold CV on {len(paths)} generated clips (seed {args.seed}): the "
                 f"tutorial recipe {m_tut:.1f} %, the richer recipe {m_rich:.1f} % "
                 f"({m_rich - m_tut:+.1f} points).",
         table=[["recipe", "accuracy %"], ["tutorial: mean MFCC-40 + RF", f"{m_tut:.1f}"],
                [f"richer: MFCC/delta statistics + temporal statistics + {rich_name}",
                 f"{m_rich:.1f}"]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
