"""``urbansound detect`` on generated long recordings: accuracy, speed, memory.

A model is trained on a generated clip set (seed ``--train-seed``); scenes are generated
with another seed (``--scene-seed``), so no audio of the scenes was seen in training.

    python benchmarks/detect.py --part accuracy [--minutes 30] [--models logreg,xgb]
                                [--gate-db DB] [--scene-seed S] [--out DIR]
    python benchmarks/detect.py --part speed    [--minutes 30]   # x real time, 1 and 2 workers
    python benchmarks/detect.py --part memory                    # peak RSS, 60 vs 10 minutes

accuracy: segment-based (1 s) and event-based (onset ±1 s) F1, micro and per class, of
each model on a ``--minutes`` scene. speed: seconds of audio per second of wall time of
``detect`` in this process, pool already warm (``processes`` scheduler), 1 and 2 workers.
memory: peak RSS of the ``urbansound detect`` command with its worker processes on one
60-minute and one 10-minute file.

Targets: >= 300x real time on 2 workers; peak RSS < 1 GiB for the hour, and the 10-minute
file within 10 % of it.

Writes ``benchmarks/results/detect_PART.json`` and ``.md``; ``--quick``: logreg trained on
30 clips, a 0.5-minute scene (memory: 1 and 0.5 minutes), in one process where it can.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from features import GIB, peak_rss  # noqa: E402  (benchmarks/features.py, same folder)
from results import add_options, quick_clips, quick_folder, save  # noqa: E402

from pipeline.classes import CLASSES  # noqa: E402
from pipeline.config import DetectParams, FeatureParams, load_params  # noqa: E402
from pipeline.datasets import read_dataset  # noqa: E402
from pipeline.datasets.long_scenes import ANNOTATIONS_FILE, generate_scenes  # noqa: E402
from pipeline.datasets.synth import generate  # noqa: E402
from pipeline.detect import detect  # noqa: E402
from pipeline.engine import Engine, parse_scheduler  # noqa: E402
from pipeline.store import extract_to_store, read_features, read_meta  # noqa: E402
from pipeline.train import train_models  # noqa: E402


def trained_models(cache: Path, clips: int, seed: int, names: list[str],
                   scheduler: str = "processes") -> Path:
    """Models fitted on ``clips`` generated clips (made once per setting in ``cache``)."""
    root = cache / f"train-{clips}-seed{seed}"
    models = root / "models"
    if not all((models / n / "index.json").is_file() for n in names):
        print(f"training {', '.join(names)} on {clips} generated clips (seed {seed}) ...",
              flush=True)
        workers = 1 if scheduler == "sync" else 2
        if not (root / "clips" / "UrbanSound8K").is_dir():
            generate(root / "clips", layout="us8k", clips=clips, seed=seed, workers=workers)
        store = root / "features"
        extract_to_store(read_dataset(root / "clips"), store, params=FeatureParams(),
                         scheduler=parse_scheduler(scheduler), workers=workers, progress=False)
        params = load_params(REPO / "params.yaml")
        t = params.train
        train_models(read_features(store), names,
                     {"logreg": t.logreg, "ffnn": t.ffnn, "rf": t.rf, "xgb": t.xgb,
                      "ensemble": t.ensemble},
                     seed=params.seed, out_dir=models,
                     feature_params=read_meta(store)["fingerprint"]["params"])
    return models


def scene(cache: Path, minutes: float, seed: int) -> Path:
    """A folder with one generated scene of ``minutes`` and its annotation."""
    folder = cache / f"scene-{minutes:g}min-seed{seed}"
    if not (folder / ANNOTATIONS_FILE).is_file():
        print(f"generating a {minutes:g}-minute scene (seed {seed}) ...", flush=True)
        generate_scenes(folder, minutes=minutes, seed=seed)
    return folder


def _f(value) -> str:
    return "  n/a" if value is None else f"{value:.3f}"


def accuracy(args: argparse.Namespace) -> None:
    models = trained_models(args.cache, args.train_clips, args.train_seed, args.models,
                            args.scheduler)
    folder = scene(args.cache, args.minutes, args.scene_seed)
    figures, rows = {}, []
    for name in args.models:
        with tempfile.TemporaryDirectory() as scratch:
            out = scratch if args.out is None else args.out / name
            result = detect([folder / "scene_00.wav"], models,
                            params=DetectParams(model=name, gate_db=args.gate_db), out=out,
                            answers=folder / ANNOTATIONS_FILE, scheduler=args.scheduler,
                            workers=args.workers, progress=False)
        s = result.scores
        seg, ev = s["segment_based"], s["event_based"]
        gate = "no energy gate" if args.gate_db is None else f"gate_db {args.gate_db:g}"
        print(f"\n{name} ({gate}): {args.minutes:g}-minute scene (seed {args.scene_seed}), "
              f"{sum(m['n_reference'] for m in ev['per_class'].values())} annotated events")
        print(f"  segment-based F1 micro {_f(seg['f1'])} (P {_f(seg['precision'])}, "
              f"R {_f(seg['recall'])}), macro {_f(seg['macro_f1'])}, "
              f"error rate {_f(seg['error_rate'])}")
        print(f"  event-based   F1 micro {_f(ev['f1'])} (P {_f(ev['precision'])}, "
              f"R {_f(ev['recall'])}), macro {_f(ev['macro_f1'])}")
        figures[name] = {"segment_f1": seg["f1"], "segment_macro_f1": seg["macro_f1"],
                         "event_f1": ev["f1"], "event_macro_f1": ev["macro_f1"],
                         "per_class": {c: [seg["per_class"][c]["f1"], ev["per_class"][c]["f1"]]
                                       for c in CLASSES}}
        rows.append([name, _f(seg["f1"]), _f(seg["macro_f1"]), _f(ev["f1"]),
                     _f(ev["macro_f1"])])
        print(f"  {'class':17s} segment F1  event F1  events (ref / detected)")
        for c in CLASSES:
            a, b = seg["per_class"][c], ev["per_class"][c]
            print(f"  {c:17s} {_f(a['f1']):>10s}  {_f(b['f1']):>8s}  "
                  f"{b['n_reference']:3d} / {b['n_detected']:3d}")
    gate = "no energy gate" if args.gate_db is None else f"gate_db {args.gate_db:g}"
    save(args, "detect_accuracy",
         {"minutes": args.minutes, "scene_seed": args.scene_seed, "gate_db": args.gate_db,
          "train_clips": args.train_clips, "train_seed": args.train_seed, "models": figures},
         summary=f"`urbansound detect` on a generated {args.minutes:g}-minute scene (seed "
                 f"{args.scene_seed}, {gate}), models trained on {args.train_clips} clips of "
                 f"seed {args.train_seed}: segment (1 s) and event (onset ±1 s) F1.",
         table=[["model", "segment F1 micro", "segment F1 macro", "event F1 micro",
                 "event F1 macro"], *rows])


def speed(args: argparse.Namespace) -> None:
    models = trained_models(args.cache, args.train_clips, args.train_seed, args.models[:1])
    folder = scene(args.cache, args.minutes, args.scene_seed)
    warm = scene(args.cache, 1, args.scene_seed)
    params = DetectParams(model=args.models[0])
    rates = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as out, Engine("processes", workers) as engine:
            # Start the worker processes and fill their caches before timing.
            detect([warm / "scene_00.wav"], models, params=params, out=out,
                   scheduler=engine, progress=False)
            start = time.perf_counter()
            result = detect([folder / "scene_00.wav"], models, params=params, out=out,
                            scheduler=engine, progress=False)
            seconds = time.perf_counter() - start
        print(f"{workers} worker(s): {result.audio_seconds:.0f} s of audio in {seconds:.1f} s "
              f"= {result.audio_seconds / seconds:.0f}x real time "
              f"(target on 2 workers: 300x)", flush=True)
        rates[workers] = result.audio_seconds / seconds
    save(args, "detect_speed", {"minutes": args.minutes, "times_real_time": rates},
         summary=f"`detect` runs at {rates[1]:.0f}× real time on 1 worker and {rates[2]:.0f}× "
                 f"on 2 (target 300× on 2).",
         table=[["workers", "× real time"], *([w, f"{r:.0f}"] for w, r in rates.items())])


def memory(args: argparse.Namespace) -> None:
    models = trained_models(args.cache, args.train_clips, args.train_seed, args.models[:1])
    peaks = {}
    for minutes in args.memory_minutes:
        folder = scene(args.cache, minutes, args.scene_seed)
        with tempfile.TemporaryDirectory() as out:
            command = [sys.executable, "-m", "pipeline", "detect", str(folder / "scene_00.wav"),
                       "--models", str(models), "--model", args.models[0], "--out", out,
                       "--scheduler", "processes", "--workers", "2"]
            seconds, peaks[minutes] = peak_rss(command)
        print(f"urbansound detect, {minutes:g}-minute file, processes x2: {seconds:6.1f} s, "
              f"peak RSS (CLI + workers) {peaks[minutes] / GIB:.2f} GiB", flush=True)
    longest, shortest = max(peaks), min(peaks)
    print(f"peak RSS {longest:g} / {shortest:g} minutes: {peaks[longest] / peaks[shortest]:.2f} "
          f"(flat = 1.00, target within 10 %; limit 1 GiB)")
    save(args, "detect_memory", {"peak_rss_gib": {m: p / GIB for m, p in peaks.items()}},
         summary=f"Peak RSS of `urbansound detect` with its workers: {peaks[longest] / GIB:.2f} "
                 f"GiB on {longest:g} minutes, {peaks[shortest] / GIB:.2f} GiB on {shortest:g} "
                 f"({peaks[longest] / peaks[shortest]:.2f}; flat = 1.00).",
         table=[["minutes", "peak RSS GiB"],
                *([f"{m:g}", f"{p / GIB:.2f}"] for m, p in peaks.items())])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("accuracy", "speed", "memory"), default="accuracy")
    parser.add_argument("--minutes", type=float, default=30.0, help="scene of accuracy, speed")
    parser.add_argument("--memory-minutes", type=float, nargs=2, default=[60.0, 10.0])
    parser.add_argument("--models", type=lambda s: s.split(","), default=["logreg", "xgb"])
    parser.add_argument("--gate-db", type=float, default=None, help="accuracy: detect.gate_db")
    parser.add_argument("--train-clips", type=int, default=1000)
    parser.add_argument("--train-seed", type=int, default=7)
    parser.add_argument("--scene-seed", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=REPO / "data" / "bench")
    parser.add_argument("--out", type=Path, default=None,
                        help="accuracy: keep each model's detect outputs in OUT/NAME")
    add_options(parser, "logreg on 30 clips, a 0.5-minute scene, one process where it can")
    args = parser.parse_args()
    args.scheduler, args.workers = "processes", 2
    if args.quick:
        args.models, args.train_clips, args.train_seed, args.minutes = ["logreg"], 30, 42, 0.5
        args.memory_minutes, args.cache = [1.0, 0.5], quick_folder() / "detect"
        args.scheduler, args.workers = "sync", 1
        quick_clips(link=args.cache / "train-30-seed42" / "clips")
    {"accuracy": accuracy, "speed": speed, "memory": memory}[args.part](args)


if __name__ == "__main__":
    main()
