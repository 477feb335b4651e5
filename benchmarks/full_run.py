"""A full UrbanSound8K-size run, timed stage by stage, with its peak memory.

Generates 8732 clips (plus the independent test set) once into a work folder, then times
``urbansound run`` on them: features → 4 models × 10 official folds → final fits →
submission scored against the answer key. Generation is timed and reported separately: a
user with the real dataset does not generate it.

    python benchmarks/full_run.py [--clips 8732] [--work data/bench/full] [--repeat 2]
                                  [--peer 7fc717a]

``--peer REF`` times the code of an earlier commit in the same rounds, interleaved (its
``pipeline`` package, exported with ``git archive``, run in the same environment).

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
from synth import export  # noqa: E402

TARGET_SECONDS = 150


def write_params(work: Path, clips: int) -> Path:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["prepare"]["synth_clips"] = clips
    path = work / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def urbansound(params: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline", "--params", str(params), *args]


def run_once(code: Path, params: Path, dataset: Path, work: Path, name: str) -> dict:
    """One cold ``urbansound run`` of the package under ``code``: seconds, peak, its log."""
    out = work / f"run-{name}"
    shutil.rmtree(out, ignore_errors=True)  # a cold run: no feature cache, no models
    log = work / f"run-{name}.log"
    with log.open("w") as stdout:
        seconds, peak = peak_rss(
            urbansound(params, "run", "--dataset", str(dataset), "--workdir", str(out)), stdout,
            code=code, cwd=work)
    text = log.read_text()
    accuracy = re.findall(r"^accuracy (\S+)", text, flags=re.M)
    return {"seconds": seconds, "peak": peak, "out": out, "log": log,
            "stages": re.search(r"stage times: (.*)", text).group(1),
            "submission": float(accuracy[-1]) if accuracy else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8732)
    parser.add_argument("--work", type=Path, default=REPO / "data" / "bench" / "full")
    parser.add_argument("--repeat", type=int, default=1, help="rounds (best of them counts)")
    parser.add_argument("--peer", default="none",
                        help="commit whose run is timed in the same rounds, or 'none'")
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

    codes = {"current": REPO}
    if args.peer != "none":
        codes["peer"] = export(args.peer, work / "peer-code")
    runs: dict[str, list[dict]] = {name: [] for name in codes}
    for round_ in range(1, args.repeat + 1):
        for name, code in codes.items():  # interleaved, so both meet the same machine
            run = run_once(code, params, dataset, work, name)
            runs[name].append(run)
            print(f"round {round_}, {name}: urbansound run on {args.clips} clips: "
                  f"{run['seconds']:.1f} s wall; stage times: {run['stages']}")
    best = {name: min(r["seconds"] for r in rs) for name, rs in runs.items()}
    last = runs["current"][-1]
    seconds, peak = best["current"], max(r["peak"] for r in runs["current"])
    ratio = f", speed {best['peer'] / seconds:.2f}x the peer's" \
        if "peer" in best else ""
    print(f"best of {args.repeat}: {seconds:.1f} s ({seconds / TARGET_SECONDS:.2f} of the "
          f"{TARGET_SECONDS} s target){ratio}")
    print(f"peak RSS (CLI + workers): {peak / GIB:.2f} GiB")
    print((last["out"] / "reports" / "summary.md").read_text())
    if last["submission"] is not None:
        print(f"submission accuracy against the answer key: {last['submission']}")
    print(f"full log: {last['log']}")
    metrics = json.loads((last["out"] / "reports" / "metrics.json").read_text())
    models = {n: m.get("accuracy_mean") for n, m in metrics.get("models", {}).items()}
    rounds = [[name, i + 1, f"{r['seconds']:.1f}", r["stages"],
               "n/a" if r["submission"] is None else f"{r['submission']:.4f}"]
              for i in range(args.repeat) for name, rs in runs.items() for r in rs[i : i + 1]]
    peer = f" against {best['peer']:.1f} s for the code of {args.peer} ({ratio[2:]})" \
        if "peer" in best else ""
    save(args, "full_run",
         {"clips": args.clips, "seconds": seconds, "target_seconds": TARGET_SECONDS,
          "rounds": {name: [r["seconds"] for r in rs] for name, rs in runs.items()},
          "peer": args.peer, "stage_times": last["stages"], "peak_rss_gib": peak / GIB,
          "cv_accuracy": models, "best": metrics.get("best"),
          "submission_accuracy": {name: rs[-1]["submission"] for name, rs in runs.items()}},
         summary=f"`urbansound run` on {args.clips} generated clips, best of {args.repeat}: "
                 f"{seconds:.1f} s wall{peer}; peak RSS {peak / GIB:.2f} GiB. CV accuracy: "
                 + ", ".join(f"{n} {a:.4f}" for n, a in models.items() if a is not None) + ".",
         table=[["code", "round", "seconds", "stage times", "submission"], *rounds])


if __name__ == "__main__":
    main()
