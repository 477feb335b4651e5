"""Feature extraction speed and memory, measured against the tutorial loop in the same run.

The peer is the loop most UrbanSound8K tutorials use: ``librosa.load(path)`` then the mean of
``librosa.feature.mfcc(y=y, sr=sr, n_mfcc=40)``, one clip after another. The engine computes
the full feature set (``pipeline.store.extract_to_store``) on the same generated clips. Both
run with a warm page cache and warmed-up code (lazy imports, caches, worker processes).

    python benchmarks/features.py [--clips 1000] [--cache data/bench]
    python benchmarks/features.py --whole --clips 1200 --repeat 3  # whole processes
    python benchmarks/features.py --memory     # peak RSS of the CLI: 1000 vs 8732 clips

``--whole`` times what a user waits for: the ``urbansound features`` process from start to
exit (imports, local cluster start-up and shutdown included) against a process running the
tutorial loop from start to exit, and the start-up and shutdown of a local cluster of two
workers on their own. Its clips are not the generator's: :func:`foreign_clips` writes them
with soundfile alone (tones over filtered noise), in UrbanSound8K's mix of formats, so that
nothing the generator happens to do (its rates, its lengths) flatters the engine. Every
round's ratio is reported; the goal holds only if each reaches it.

The engine raises glibc's malloc thresholds in every process that featurizes
(``pipeline.engine.allocator``); for transparency the tutorial loop is timed once more with that
setting, and the ratios against it are printed for information. With ``--repeat N`` every
measure runs once per round, N interleaved rounds, and the best of each counts.

Targets: 1 worker >= 1.5x the tutorial's clips/s, 2 workers >= 2.6x (steady state, warm
workers); whole processes with 2 workers >= 2.0x; peak resident memory of the CLI (with its
worker processes) < 2 GiB and flat in the number of clips.

Writes ``benchmarks/results/features_speed.json`` (``features_whole``, ``features_memory``)
and ``.md``; ``--quick``: 30 clips, one round, the ``sync`` engine only (memory: 30 and 60
clips).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import (  # noqa: E402
    add_options,
    adopt_orphans,
    quick_clips,
    quick_folder,
    reaping_orphans,
    save,
)

from pipeline.core.config import FeatureParams  # noqa: E402
from pipeline.datasets import read_dataset  # noqa: E402
from pipeline.datasets.synth import generate  # noqa: E402
from pipeline.engine.cluster import Engine  # noqa: E402
from pipeline.store import extract_to_store  # noqa: E402

US8K_CLIPS = 8732
GIB = 1 << 30


def dataset(cache: Path, clips: int) -> Path:
    """A generated UrbanSound8K tree of ``clips`` clips, made once per size in ``cache``."""
    root = cache / f"synth-{clips}"
    tree = root / "UrbanSound8K"
    if not (tree / "metadata" / "UrbanSound8K.csv").exists():
        print(f"generating {clips} clips into {root} ...", flush=True)
        start = time.perf_counter()
        generate(root, layout="us8k", clips=clips, seed=42)
        print(f"  done in {time.perf_counter() - start:.0f} s", flush=True)
    return tree


# UrbanSound8K's commonest formats, with their shares among those clips.
FOREIGN_RATES = {44100: 0.61, 48000: 0.29, 96000: 0.07}
FOREIGN_SUBTYPES = {"PCM_16": 0.66, "PCM_24": 0.32}
FOREIGN_STEREO = 0.92
FOREIGN_SECONDS = 4.0


def foreign_clips(folder: Path, clips: int, seed: int = 7) -> Path:
    """A plain folder of ``clips`` WAV files written with soundfile, made once per size.

    Each clip is 4 s of one to three steady or gliding tones over noise coloured by a
    random one-pole low-pass, at 44.1, 48 or 96 kHz, stereo (92 %) or mono, 16- or 24-bit
    PCM, drawn with UrbanSound8K's shares of those formats. Nothing of the generator is
    used, so the files share none of its habits.
    """
    import soundfile as sf
    from scipy.signal import lfilter

    root = folder / f"foreign-{clips}"
    done = root / ".complete"
    if done.exists():
        return root
    print(f"writing {clips} clips with soundfile into {root} ...", flush=True)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rates, subtypes = list(FOREIGN_RATES), list(FOREIGN_SUBTYPES)
    p_rate = np.array(list(FOREIGN_RATES.values()))
    p_sub = np.array(list(FOREIGN_SUBTYPES.values()))
    for i in range(clips):
        sr = int(rates[rng.choice(len(rates), p=p_rate / p_rate.sum())])
        subtype = subtypes[rng.choice(len(subtypes), p=p_sub / p_sub.sum())]
        channels = 2 if rng.random() < FOREIGN_STEREO else 1
        n = int(FOREIGN_SECONDS * sr)
        t = np.arange(n) / sr
        pole = rng.uniform(0.5, 0.995)
        audio = lfilter([1 - pole], [1, -pole], rng.standard_normal((n, channels)), axis=0)
        audio /= np.abs(audio).max()
        for _ in range(int(rng.integers(1, 4))):
            f0, glide = rng.uniform(80, 4000), rng.uniform(-0.3, 0.3)
            tone = np.sin(2 * np.pi * f0 * (t + glide * t**2 / (2 * FOREIGN_SECONDS)))
            audio += rng.uniform(0.1, 0.8) * tone[:, None] * rng.uniform(0.5, 1.0, channels)
        audio *= rng.uniform(0.1, 0.9) / np.abs(audio).max()
        sf.write(root / f"clip{i:05d}.wav", audio, sr, subtype=subtype)
    done.touch()
    return root


def tutorial(paths: list[str]) -> None:
    import librosa

    for path in paths:
        y, sr = librosa.load(path)
        np.mean(librosa.feature.mfcc(y=y, sr=sr, n_mfcc=40).T, axis=0)


def engine(manifest, scheduler: Engine, batch_size: int, params: FeatureParams):
    with tempfile.TemporaryDirectory() as out:
        return extract_to_store(
            manifest, out, params=params, scheduler=scheduler, batch_size=batch_size,
            progress=False,
        )


def clips_per_second(run, n: int) -> float:
    start = time.perf_counter()
    run()
    return n / (time.perf_counter() - start)


def _tutorial_rate(paths: list[str], retain: bool) -> float:
    """Clips/s of the tutorial loop in this (fresh) process, after a warm-up on 20 clips."""
    warnings.simplefilter("ignore")
    if retain:
        from pipeline.engine.allocator import retain_freed_memory

        retain_freed_memory()
    tutorial(paths[:20])
    return clips_per_second(lambda: tutorial(paths), len(paths))


def tutorial_rate(paths: list[str], retain: bool) -> float:
    """The tutorial loop timed in a spawned process, so that its malloc setting is its own.

    ``retain`` applies the engine's malloc thresholds first (the sync engine runs set them
    in this process for good, hence a fresh process for the plain loop).
    """
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_tutorial_rate, (paths, retain))


def profile(paths: list[str], params: FeatureParams) -> None:
    """Where a clip's time goes, per stage, for the tutorial and for the engine (in-process)."""
    import librosa

    from pipeline.datasets.audio import load_clip
    from pipeline.features import extract_features

    stages = {"tutorial librosa.load": 0.0, "tutorial mfcc+mean": 0.0}
    stages.update({"engine load_clip": 0.0, "engine extract_features": 0.0})
    for path in paths:
        t0 = time.perf_counter()
        y, sr = librosa.load(path)
        t1 = time.perf_counter()
        np.mean(librosa.feature.mfcc(y=y, sr=sr, n_mfcc=40).T, axis=0)
        t2 = time.perf_counter()
        z = load_clip(path, sr=params.sr)
        t3 = time.perf_counter()
        extract_features(z, sr=params.sr, params=params)
        t4 = time.perf_counter()
        stages["tutorial librosa.load"] += t1 - t0
        stages["tutorial mfcc+mean"] += t2 - t1
        stages["engine load_clip"] += t3 - t2
        stages["engine extract_features"] += t4 - t3
    print(f"profile over {len(paths)} clips, in-process, malloc thresholds raised (ms per clip):")
    for name, total in stages.items():
        print(f"  {name:<28} {1000 * total / len(paths):7.2f}")


def speed(args: argparse.Namespace) -> None:
    from pipeline.core.config import load_params

    params = load_params(REPO / "params.yaml").features
    manifest = read_dataset(dataset(args.cache, args.clips))
    paths = list(manifest["path"])
    for path in paths:  # warm page cache
        Path(path).read_bytes()
    n = len(paths)
    warm = manifest.iloc[:20].copy()
    warm.attrs = dict(manifest.attrs)

    runs = [("sync", 1, 1.5), ("processes", 1, 1.5), ("processes", 2, 2.6)]
    if args.quick:
        runs = runs[:1]
    # Steady state: one engine per configuration, open for the whole measure (as one
    # command's stages share one) and warmed up (cluster start-up, lazy imports, numba caches).
    with ExitStack() as stack:
        engines = [stack.enter_context(Engine(s, w)) for s, w, _ in runs]
        for scheduler in engines:
            engine(warm, scheduler, args.batch_size, params)
        # Rounds interleave every measure, so that a slow spell of a shared machine hits
        # them all alike; the best of each over the rounds counts.
        base = again = 0.0
        rates = [0.0] * len(runs)
        for _ in range(args.repeat):
            base = max(base, tutorial_rate(paths, retain=False))
            for i, scheduler in enumerate(engines):
                rate = clips_per_second(
                    partial(engine, manifest, scheduler, args.batch_size, params), n
                )
                rates[i] = max(rates[i], rate)
            # --quick: one spawned tutorial process, not two (the figures mean nothing anyway).
            again = base if args.quick else max(again, tutorial_rate(paths, retain=True))
    print(f"clips: {n}; best of {args.repeat} interleaved round(s)")
    print(f"tutorial loop (librosa.load + mfcc mean), serial: {base:7.1f} clips/s")
    for (scheduler, workers, target), rate in zip(runs, rates, strict=True):
        print(
            f"engine {scheduler:<9} {workers} worker(s), full feature set: {rate:7.1f} clips/s"
            f"  = {rate / base:.2f}x tutorial (target >= {target}x)"
        )
    # The engine raises glibc's malloc thresholds in every process that featurizes
    # (pipeline.engine.allocator). For transparency: the tutorial loop with that setting too
    # (information only; the targets compare the plain loop).
    ratios = ", ".join(f"{r / again:.2f}x" for r in rates)
    print(f"tutorial loop with the engine's malloc thresholds (information): {again:7.1f} "
          f"clips/s; the three engine runs above = {ratios} it")
    profile(paths[:5 if args.quick else 200], params)
    rows = [[f"{sch} × {w}", f"{r:.1f}", f"{r / base:.2f}", f"{r / again:.2f}", target]
            for (sch, w, target), r in zip(runs, rates, strict=True)]
    save(args, "features_speed",
         {"clips": n, "repeat": args.repeat, "tutorial_clips_per_second": base,
          "tutorial_retained_clips_per_second": again,
          "engine_clips_per_second": {f"{sch}x{w}": r for (sch, w, _), r in zip(runs, rates,
                                                                                 strict=True)}},
         summary=f"The full feature set against the tutorial loop ({base:.1f} clips/s), {n} "
                 f"clips, best of {args.repeat} interleaved round(s): "
                 + ", ".join(f"{sch} × {w} {r / base:.2f}×" for (sch, w, _), r in
                             zip(runs, rates, strict=True)) + ".",
         table=[["engine", "clips/s", "× tutorial", "× tutorial with the malloc setting",
                 "target"], *rows])


def peak_rss(command: list[str], stdout=subprocess.DEVNULL, *, code: Path = REPO,
             cwd: Path | None = None) -> tuple[float, int]:
    """Run ``command``; return (seconds, peak summed RSS in bytes of it and its children).

    ``stdout`` (a file object, or DEVNULL) receives the command's output; ``code`` is the
    folder whose ``pipeline`` package it runs (a ``cwd`` holding none, so that one is found).
    """
    import psutil

    env = {**os.environ, "PYTHONPATH": str(code)}
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=stdout, stderr=subprocess.DEVNULL,
                            cwd=cwd)
    root = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree))
        except psutil.Error:
            pass  # a process ended between listing and reading it
        time.sleep(0.05)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed with exit code {proc.returncode}")
    return time.perf_counter() - start, peak


def memory(args: argparse.Namespace) -> None:
    import resource

    adopt_orphans()  # the largest single process may be a worker of the workers' server
    results = {}
    largest = 2 * args.clips if args.quick else US8K_CLIPS
    for clips in (args.clips, largest):
        tree = dataset(args.cache, clips)
        with tempfile.TemporaryDirectory() as out:
            command = [
                sys.executable,
                "-m",
                "pipeline",
                "features",
                str(tree),
                "--out",
                out,
                "--scheduler",
                "processes",
                "--workers",
                "2",
            ]
            with reaping_orphans():
                seconds, peak = peak_rss(command)
        results[clips] = peak
        print(
            f"urbansound features, {clips} clips, processes x2: {seconds:6.1f} s, "
            f"peak RSS (CLI + workers) {peak / GIB:.2f} GiB"
        )
    largest_child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(f"largest single process (getrusage RUSAGE_CHILDREN): {largest_child / GIB:.2f} GiB")
    ratio = results[largest] / results[args.clips]
    print(f"peak RSS {largest} / {args.clips} clips: {ratio:.2f} (flat = 1.00; limit 2 GiB)")
    save(args, "features_memory", {"peak_rss_gib": {c: r / GIB for c, r in results.items()},
                                   "largest_process_gib": largest_child / GIB},
         summary=f"Peak RSS of `urbansound features` with 2 workers: "
                 f"{results[largest] / GIB:.2f} GiB on {largest} clips, "
                 f"{results[args.clips] / GIB:.2f} on {args.clips} ({ratio:.2f}; flat = 1.00).",
         table=[["clips", "peak RSS GiB"], *([c, f"{r / GIB:.2f}"] for c, r in results.items())])


# The tutorial loop as a whole program: imports, then librosa.load + MFCC-40 mean per clip.
TUTORIAL_PROGRAM = """
import sys, warnings
import librosa, numpy as np
warnings.simplefilter("ignore")
for path in open(sys.argv[1]).read().splitlines():
    y, sr = librosa.load(path)
    np.mean(librosa.feature.mfcc(y=y, sr=sr, n_mfcc=40).T, axis=0)
"""


def wall_time(command: list[str]) -> float:
    """Seconds from the start of ``command`` to its exit (it must succeed)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed with exit code {done.returncode}")
    return seconds


def cluster_costs(workers: int) -> tuple[float, float]:
    """Seconds to start a local cluster of ``workers`` (until they serve) and to close it."""
    start = time.perf_counter()
    with Engine("processes", workers) as local:
        local.client().wait_for_workers(workers)
        started = time.perf_counter()
    return started - start, time.perf_counter() - started


def whole(args: argparse.Namespace) -> None:
    """Whole processes: ``urbansound features`` (2 workers) against the tutorial program,
    on a folder of clips written by :func:`foreign_clips`."""
    tree = foreign_clips(args.cache, args.clips)
    paths = sorted(str(p) for p in tree.glob("*.wav"))
    for path in paths:  # warm page cache
        Path(path).read_bytes()
    work = Path(tempfile.mkdtemp(prefix="bench-whole-"))
    listing = work / "paths.txt"
    listing.write_text("\n".join(paths) + "\n")
    features = [sys.executable, "-m", "pipeline", "features", str(tree), "--out",
                str(work / "store"), "--scheduler", "processes", "--workers", "2"]
    tutorial_command = [sys.executable, "-c", TUTORIAL_PROGRAM, str(listing)]
    rounds = []
    try:
        for _ in range(args.repeat):  # interleaved rounds, each ratio on its own
            start, stop = cluster_costs(2)
            shutil.rmtree(work / "store", ignore_errors=True)  # nothing from cache
            seconds = wall_time(features)
            base = wall_time(tutorial_command)
            rounds.append({"cluster_start": start, "cluster_stop": stop, "features": seconds,
                           "tutorial": base, "ratio": base / seconds})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"clips: {len(paths)} written by soundfile (not the generator); "
          f"{args.repeat} interleaved round(s)")
    table = [["round", "tutorial loop (s)", "urbansound features x2 (s)", "ratio",
              "cluster start (s)"]]
    for k, r in enumerate(rounds, 1):
        print(f"round {k}: tutorial loop {r['tutorial']:6.1f} s, urbansound features "
              f"(processes x2) {r['features']:6.1f} s = {r['ratio']:.2f}x the tutorial's "
              f"speed; cluster start-up {r['cluster_start']:.2f} s, shutdown "
              f"{r['cluster_stop']:.2f} s")
        table.append([k, f"{r['tutorial']:.1f}", f"{r['features']:.1f}",
                      f"{r['ratio']:.2f}x", f"{r['cluster_start']:.2f}"])
    lowest = min(r["ratio"] for r in rounds)
    verdict = "reached" if lowest >= 2.0 else "NOT reached"
    print(f"lowest ratio {lowest:.2f}x: goal >= 2.0x in every round {verdict}")
    save(
        args, "features_whole",
        {"clips": len(paths), "formats": {"rates": FOREIGN_RATES, "subtypes": FOREIGN_SUBTYPES,
                                          "stereo": FOREIGN_STEREO},
         "rounds": rounds, "lowest_ratio": lowest},
        summary=(f"Whole processes on {len(paths)} clips written by soundfile (44.1/48/96 "
                 f"kHz, stereo, 16/24-bit): `urbansound features` on two workers against "
                 f"the one-process tutorial loop, {lowest:.2f}x at worst over "
                 f"{len(rounds)} rounds (goal >= 2.0x in each)."),
        table=table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1000)
    parser.add_argument("--cache", type=Path, default=REPO / "data" / "bench")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=1, help="interleaved rounds (best counts)")
    parser.add_argument("--memory", action="store_true", help="measure peak RSS instead")
    parser.add_argument("--whole", action="store_true",
                        help="time whole processes and the local cluster's start/stop instead")
    add_options(parser, "30 clips, one round, the sync engine only, one tutorial process")
    args = parser.parse_args()
    if args.quick:
        args.clips, args.repeat, args.cache = 30, 1, quick_folder()
        quick_clips()  # the clips of cache/synth-30
    # The tutorial's librosa warns on clips shorter than n_fft; the figures are what matters.
    warnings.simplefilter("ignore")
    (memory if args.memory else whole if args.whole else speed)(args)


if __name__ == "__main__":
    main()
