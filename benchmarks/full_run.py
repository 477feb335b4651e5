"""A full UrbanSound8K-size run, timed stage by stage, with its peak memory.

Generates 8732 clips (plus the independent test set) once into a work folder, then times
``urbansound run`` on them: features → 4 models × 10 official folds → final fits →
submission scored against the answer key. Generation is timed and reported separately: a
user with the real dataset does not generate it.

    python benchmarks/full_run.py [--clips 8732] [--work data/bench/full]

Target: the run (everything after generation) within 150 s on 2 cores.

Writes ``benchmarks/results/full_run.json`` and ``.md``; ``--quick``: the 30 generated clips
the quick runs share (no test set, so no submission), small models, in one process.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from features import GIB, REPO, peak_rss  # noqa: E402
from results import add_options, quick_clips, quick_folder, quick_params, save  # noqa: E402

TARGET_SECONDS = 150


def write_params(work: Path, clips: int) -> Path:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["prepare"]["synth_clips"] = clips
    path = work / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def urbansound(params: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline", "--params", str(params), *args]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8732)
    parser.add_argument("--work", type=Path, default=REPO / "data" / "bench" / "full")
    add_options(parser, "the 30 shared clips, no submission, small models, in one process")
    args = parser.parse_args()
    if args.quick:
        args.clips, args.work = 30, quick_folder() / "full_run"
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    params = quick_params(work) if args.quick else write_params(work, args.clips)
    dataset = quick_clips() if args.quick else work / f"prepared-{args.clips}"

    if not args.quick and not (dataset / "manifest.csv").is_file():
        start = time.perf_counter()
        subprocess.run(urbansound(params, "prepare", "--out", str(dataset)), check=True,
                       stdout=subprocess.DEVNULL)
        print(f"generation of {args.clips} clips + test set: {time.perf_counter() - start:.1f} s")
    else:
        print(f"generated dataset reused from {dataset}")

    out = work / "run"
    shutil.rmtree(out, ignore_errors=True)  # a cold run: no feature cache, no models
    log = work / "run.log"
    with log.open("w") as stdout:
        seconds, peak = peak_rss(
            urbansound(params, "run", "--dataset", str(dataset), "--workdir", str(out)), stdout
        )
    text = log.read_text()
    stages = re.search(r"stage times: (.*)", text).group(1)
    accuracy = re.findall(r"^accuracy (\S+)", text, flags=re.M)
    print(f"urbansound run on {args.clips} clips: {seconds:.1f} s wall "
          f"({seconds / TARGET_SECONDS:.2f} of the {TARGET_SECONDS} s target)")
    print(f"stage times: {stages}")
    print(f"peak RSS (CLI + workers): {peak / GIB:.2f} GiB")
    print((out / "reports" / "summary.md").read_text())
    if accuracy:
        print(f"submission accuracy against the answer key: {accuracy[-1]}")
    print(f"full log: {log}")
    metrics = json.loads((out / "reports" / "metrics.json").read_text())
    models = {n: m.get("accuracy_mean") for n, m in metrics.get("models", {}).items()}
    save(args, "full_run",
         {"clips": args.clips, "seconds": seconds, "target_seconds": TARGET_SECONDS,
          "stage_times": stages, "peak_rss_gib": peak / GIB, "cv_accuracy": models,
          "best": metrics.get("best"),
          "submission_accuracy": float(accuracy[-1]) if accuracy else None},
         summary=f"`urbansound run` on {args.clips} generated clips: {seconds:.1f} s wall "
                 f"({seconds / TARGET_SECONDS:.2f} of the {TARGET_SECONDS} s target), peak RSS "
                 f"{peak / GIB:.2f} GiB; stage times {stages}.",
         table=[["model", "CV accuracy"],
                *([n, "n/a" if a is None else f"{a:.4f}"] for n, a in models.items())])


if __name__ == "__main__":
    main()
