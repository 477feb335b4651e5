"""Time ``extract_features`` (the full feature set) against librosa's MFCC alone.

Both run on the same realistic 4 s signals at 22050 Hz (noise, tones, a chirp, silence
gaps), in one process, alternating clip by clip after a warm-up call of each; BLAS is
held to one thread for both, as in a worker process. Prints milliseconds per clip and
the ratio ours / librosa.

    PYTHONPATH=$PWD python benchmarks/features_micro.py [--clips 200] [--repeats 3] [--quick]

Writes ``benchmarks/results/features_micro.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import time

import librosa
import numpy as np
from results import add_options, save
from threadpoolctl import threadpool_limits

from pipeline.config import FeatureParams
from pipeline.features import extract_features


def signals(n: int, *, sr: int = 22050, seconds: float = 4.0, seed: int = 0) -> list[np.ndarray]:
    """``n`` float32 clips: coloured noise + 1-3 tones + a chirp, with a silent gap."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    clips = []
    for _ in range(n):
        y = rng.uniform(0.01, 0.2) * np.cumsum(rng.standard_normal(t.size)) / 50
        for freq in rng.uniform(80, 6000, rng.integers(1, 4)):
            y += rng.uniform(0.05, 0.4) * np.sin(2 * np.pi * freq * t)
        y += 0.1 * np.sin(2 * np.pi * rng.uniform(200, 2000) * t * (1 + t))
        gap = rng.integers(0, t.size - sr // 2)
        y[gap : gap + sr // 4] = 0.0
        clips.append(y.astype(np.float32))
    return clips


def paired_times(fns, clips, repeats: int) -> list[float]:
    """Seconds per clip of each function in ``fns``, best of ``repeats`` passes.

    The functions alternate clip by clip, so load from other processes on the machine
    falls on all of them alike and the ratio stays meaningful.
    """
    for fn in fns:
        fn(clips[0])
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        totals = [0.0] * len(fns)
        for y in clips:
            for i, fn in enumerate(fns):
                start = time.perf_counter()
                fn(y)
                totals[i] += time.perf_counter() - start
        best = [min(b, t) for b, t in zip(best, totals, strict=True)]
    return [b / len(clips) for b in best]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    add_options(parser, "3 clips, 1 pass")
    args = parser.parse_args()
    if args.quick:
        args.clips, args.repeats = 3, 1
    params = FeatureParams()
    sr = params.sr
    clips = signals(args.clips, sr=sr)

    def ours(y):
        return extract_features(y, sr=sr, params=params)

    def peer(y):
        return librosa.feature.mfcc(y=y, sr=sr, n_mfcc=40).mean(axis=1)

    with threadpool_limits(1):
        t_peer, t_ours = paired_times([peer, ours], clips, args.repeats)
    n_columns = len(ours(clips[0]))
    print(f"clips: {len(clips)} x 4 s at {sr} Hz, best of {args.repeats}")
    print(f"librosa.feature.mfcc(n_mfcc=40).mean: {t_peer * 1e3:7.2f} ms/clip")
    print(f"extract_features ({n_columns} columns): {t_ours * 1e3:7.2f} ms/clip")
    print(f"ratio extract_features / librosa mfcc: {t_ours / t_peer:.3f}")
    save(args, "features_micro",
         {"clips": len(clips), "repeats": args.repeats, "columns": n_columns,
          "librosa_mfcc_ms": 1e3 * t_peer, "extract_features_ms": 1e3 * t_ours,
          "ratio": t_ours / t_peer},
         summary=f"`extract_features` ({n_columns} columns) takes {t_ours / t_peer:.2f}× the "
                 "time of librosa's MFCC-40 mean alone, per 4-s clip, one BLAS thread.",
         table=[["function", "ms per clip"], ["librosa.feature.mfcc(n_mfcc=40).mean",
                f"{1e3 * t_peer:.2f}"], ["extract_features", f"{1e3 * t_ours:.2f}"]])


if __name__ == "__main__":
    main()
