"""The first run a newcomer sees: ``make run`` and ``make test`` on fresh clones, timed.

Each round clones the repository's committed HEAD into a new folder and, with empty
installer caches of its own (as on a new machine), times

- ``make run`` as two steps that together are ``make run``: the install
  (``make .venv/.installed``), then the job (``make run``: ``dvc repro`` and the summary);
- ``bash .ci/run``: what CI runs, ``make test`` (install of the dev extras, import
  contracts, the test suite with its documentation build).

Goals: ``make run`` within 240 s, its ``dvc repro`` within 120 s, ``make test`` within
240 s, on 2 cores. Run it on an idle machine: other work moves every figure. The speed of a
shared machine also drifts from day to day: each round starts with a fixed reference
workload (:func:`reference_ms`), by which rounds of other days can be read.

    python benchmarks/first_run.py [--repeat 3] [--only run|test]

Writes ``benchmarks/results/first_run.json`` and ``.md``. ``--quick``: one clone, and
``make -n`` (what would run) instead of running it.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import REPO, add_options, quick_folder, save  # noqa: E402

GOALS = {"make run": 240.0, "dvc repro": 120.0, "make test": 240.0}


def timed(command: list[str], cwd: Path, env: dict, log: Path,
          stop: bool = True) -> tuple[float, str]:
    """Wall seconds of ``command`` and its output (also written to ``log``). A failure
    stops the benchmark with the end of the output, or with ``stop=False`` is reported
    and timed like a success (a failing test still took its time)."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    seconds = time.perf_counter() - start
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(done.stdout)
    if done.returncode != 0:
        message = f"{' '.join(command)} failed in {cwd} (log {log}):\n{done.stdout[-3000:]}"
        if stop:
            raise SystemExit(message)
        print(message, flush=True)
    return seconds, done.stdout


def fresh_clone(root: Path, name: str) -> tuple[Path, dict]:
    """A clone of HEAD under ``root`` and an environment whose installers start empty."""
    clone = root / name
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    env = {**os.environ, "UV_CACHE_DIR": str(root / f"{name}-uv-cache"),
           "PIP_NO_CACHE_DIR": "1"}
    return clone, env


def reference_ms(repeat: int = 20) -> float:
    """Milliseconds of a fixed single-threaded workload, best of ``repeat``: a real FFT of
    90000 points (a 4 s clip's length, padded) and its inverse, in float64."""
    import numpy as np

    x = np.random.default_rng(0).standard_normal(90000)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        np.fft.irfft(np.fft.rfft(x), len(x))
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def stage_seconds(output: str) -> dict[str, float]:
    """The closing line of every stage (``NAME done in X s: ...``), by stage; the model
    stages are named ``train`` each, so they are numbered in order."""
    seconds: dict[str, float] = {}
    for name, value in re.findall(r"^(\w+) done in ([\d.]+) s:", output, flags=re.M):
        key, k = name, 1
        while key in seconds:
            k += 1
            key = f"{name} {k}"
        seconds[key] = float(value)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds, each on a new clone")
    parser.add_argument("--only", choices=("run", "test"), default=None)
    add_options(parser, "one clone, `make -n`: what would run, nothing run")
    args = parser.parse_args()
    rounds = 1 if args.quick else args.repeat
    dry = ["-n"] if args.quick else []
    figures: dict[str, list] = {"make run": [], "install": [], "dvc repro": [],
                                "make test": [], "stages": [], "tests": [], "reference ms": []}
    # Kept, to read a failure afterwards; a quick run's beside its other files.
    logs = (quick_folder() if args.quick else REPO / "data" / "bench") / "first_run"
    with tempfile.TemporaryDirectory(prefix="first-run-") as tmp:
        root = Path(tmp)
        for r in range(1, rounds + 1):
            figures["reference ms"].append(reference_ms())
            if args.only in (None, "run"):
                clone, env = fresh_clone(root, f"run-{r}")
                install, _ = timed(["make", *dry, ".venv/.installed"], clone, env,
                                   logs / f"install-{r}.log")
                job, out = timed(["make", *dry, "run"], clone, env, logs / f"run-{r}.log")
                figures["install"].append(install)
                figures["dvc repro"].append(job)
                figures["make run"].append(install + job)
                figures["stages"].append(stage_seconds(out))
                print(f"round {r}: make run {install + job:.1f} s (install {install:.1f} s, "
                      f"dvc repro and summary {job:.1f} s)", flush=True)
            if args.only in (None, "test"):
                clone, env = fresh_clone(root, f"test-{r}")
                command = ["make", "-n", "test"] if args.quick else ["bash", ".ci/run"]
                seconds, out = timed(command, clone, env, logs / f"test-{r}.log", stop=False)
                summary = re.findall(r"^=*\s*(\d+ passed.*?)\s*=*$", out, flags=re.M)
                figures["make test"].append(seconds)
                figures["tests"].append(summary[-1] if summary else "")
                print(f"round {r}: make test (bash .ci/run) {seconds:.1f} s"
                      + (f": {summary[-1]}" if summary else ""), flush=True)
    best = {k: min(v) for k, v in figures.items() if v and k in GOALS}
    # A dry run (--quick) runs nothing: its zero seconds say nothing of the goals.
    met = {k: None if args.quick else best[k] <= GOALS[k] for k in best}
    for k in best:
        print(f"{k}: best {best[k]:.1f} s, worst {max(figures[k]):.1f} s "
              f"(goal {GOALS[k]:.0f} s: "
              f"{'not measured' if met[k] is None else 'met' if met[k] else 'not met'})")
    table = [["round", "make run (s)", "install (s)", "dvc repro (s)", "make test (s)",
              "reference (ms)"]]
    for i in range(rounds):
        row = [i + 1]
        for k in ("make run", "install", "dvc repro", "make test"):
            row.append(f"{figures[k][i]:.1f}" if i < len(figures[k]) else "")
        table.append([*row, f"{figures['reference ms'][i]:.2f}"])
    save(args, "first_run", {**figures, "goals": GOALS, "best": best, "met": met},
         summary="Fresh clones with empty installer caches: "
                 + "; ".join(f"{k} {', '.join(f'{s:.0f}' for s in figures[k])} s "
                             f"(goal {GOALS[k]:.0f})" for k in GOALS if figures[k])
                 + f"; reference workload {min(figures['reference ms']):.2f} ms "
                   "(an FFT and its inverse: the machine's speed that day).",
         table=table)


if __name__ == "__main__":
    main()
