"""Generator speed: clips/s of ``urbansound synth`` on one and two workers, beside reading.

Each measure is a whole ``urbansound synth OUT --clips N --workers W`` process, from start
to exit (imports and the local cluster's start-up included), as a user waits for it. Beside
it: the time to read the same clips back with soundfile (warm page cache), the floor any
consumer of the files pays. The peer is the generator of an earlier commit (``--peer``,
by default the last one before the generator was made faster), exported with
``git archive`` into a temporary folder and run the same way in the same rounds. Its files
are compared with the current ones and the count of identical ones reported: all of them
while a speed-up kept the bytes, none since a recording's ambience is rendered once for its
slices (which changed the audio). The current files must be the same on one and two workers.

    python benchmarks/synth.py [--clips 1000] [--repeat 2] [--peer REF | --peer none]

Rounds interleave every measure, so that a slow spell of a shared machine hits them all
alike; the best of each over the rounds counts. Goal: at least 4x the peer's clips/s on two
workers.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from results import add_options, adopt_orphans, reaping_orphans, save  # noqa: E402

#: The generator before it was made faster (render without temporaries, slices of a
#: recording rendered together on one worker).
PEER = "311c9d7"
WORKERS = (1, 2)


def export(ref: str, into: Path) -> Path:
    """The ``pipeline`` package of commit ``ref``, written under ``into``."""
    archive = subprocess.run(["git", "archive", ref, "pipeline"], cwd=REPO, check=True,
                             capture_output=True).stdout
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def synth_seconds(code: Path, out: Path, clips: int, workers: int) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, its worker processes included) of one
    ``urbansound synth`` process running the package under ``code``.

    CPU time is less moved than wall time by other work on a shared machine.
    """
    shutil.rmtree(out, ignore_errors=True)
    # The working directory holds no `pipeline` folder, so PYTHONPATH picks the package.
    env = {**os.environ, "PYTHONPATH": str(code)}
    command = [sys.executable, "-m", "pipeline", "synth", str(out), "--clips", str(clips),
               "--workers", str(workers), "--seed", "42"]
    before = _children_cpu()
    with reaping_orphans():  # the workers' server ends a moment after the command
        start = time.perf_counter()
        done = subprocess.run(command, cwd=out.parent, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return seconds, _children_cpu() - before


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wav_files(out: Path) -> list[Path]:
    return sorted((out / "UrbanSound8K" / "audio").rglob("*.wav"))


def read_seconds(files: list[Path]) -> float:
    """Seconds to read every file with soundfile (decoded to float64, as generated)."""
    import soundfile as sf

    for f in files:  # warm page cache
        f.read_bytes()
    start = time.perf_counter()
    for f in files:
        sf.read(f)
    return time.perf_counter() - start


def same_files(a: list[Path], root_a: Path, root_b: Path) -> int:
    """How many of the files ``a`` (under ``root_a``) have byte-identical twins in ``root_b``."""
    return sum(filecmp.cmp(f, root_b / f.relative_to(root_a), shallow=False) for f in a)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2, help="interleaved rounds (best counts)")
    parser.add_argument("--peer", default=None,
                        help=f"commit of the peer generator, or 'none' (default {PEER}; "
                             "with --quick none)")
    add_options(parser, "12 clips, one round, no peer unless --peer names one")
    args = parser.parse_args()
    adopt_orphans()
    if args.quick:
        args.clips, args.repeat = 12, 1
    if args.peer is None:
        args.peer = "none" if args.quick else PEER

    work = Path(tempfile.mkdtemp(prefix="bench-synth-"))
    try:
        codes = {"current": REPO}
        if args.peer != "none":
            codes["peer"] = export(args.peer, work / "peer-code")
        best = {(name, w): float("inf") for name in codes for w in WORKERS}
        cpu = dict(best)
        reading = float("inf")
        for _ in range(args.repeat):
            for name, code in codes.items():
                for w in WORKERS:
                    out = work / f"{name}-{w}"
                    wall, used = synth_seconds(code, out, args.clips, w)
                    best[name, w], cpu[name, w] = min(best[name, w], wall), min(cpu[name, w], used)
            reading = min(reading, read_seconds(wav_files(work / "current-2")))
        files = wav_files(work / "current-1")
        workers_agree = same_files(files, work / "current-1", work / "current-2")
        peer_agrees = (same_files(files, work / "current-1", work / "peer-1")
                       if "peer" in codes else None)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    n = args.clips
    rate = {key: n / s for key, s in best.items()}
    print(f"clips: {n}; best of {args.repeat} interleaved round(s); whole processes")
    table = [["generator", "workers", "seconds", "clips/s", "x peer", "CPU seconds"]]
    for (name, w), seconds in best.items():
        ratio = rate[name, w] / rate["peer", w] if "peer" in codes else None
        shown = f"{ratio:.2f}x" if ratio is not None else "-"
        print(f"{name:<8} {w} worker(s): {seconds:6.1f} s = {rate[name, w]:6.1f} clips/s"
              f"  ({shown} the peer); {cpu[name, w]:.1f} s of CPU")
        table.append([name, w, f"{seconds:.1f}", f"{rate[name, w]:.1f}", shown,
                      f"{cpu[name, w]:.1f}"])
    print(f"reading the {n} clips back with soundfile: {reading:.2f} s = {n / reading:.0f} "
          "clips/s")
    print(f"files identical between 1 and 2 workers: {workers_agree} of {len(files)}")
    if peer_agrees is not None:
        print(f"files identical to the peer's (same seed): {peer_agrees} of {len(files)}")
    figures = {
        "clips": n, "repeat": args.repeat, "peer": args.peer,
        "seconds": {f"{name}_{w}": s for (name, w), s in best.items()},
        "cpu_seconds": {f"{name}_{w}": s for (name, w), s in cpu.items()},
        "clips_per_s": {f"{name}_{w}": r for (name, w), r in rate.items()},
        "read_seconds": reading, "read_clips_per_s": n / reading,
        "identical_across_workers": workers_agree, "identical_to_peer": peer_agrees,
        "files": len(files),
    }
    summary = f"`urbansound synth --clips {n}` as whole processes, best of {args.repeat}."
    if "peer" in codes:
        figures["speedup"] = {f"{w}": rate["current", w] / rate["peer", w] for w in WORKERS}
        summary += (f" Two workers: {rate['current', 2]:.1f} clips/s against "
                    f"{rate['peer', 2]:.1f} for the generator of {args.peer} "
                    f"({figures['speedup']['2']:.2f}x; goal >= 4x).")
    summary += f" Reading the clips back: {n / reading:.0f} clips/s."
    save(args, "synth", figures, summary=summary, table=table)
    if workers_agree != len(files):
        sys.exit("the files written on one and two workers differ")


if __name__ == "__main__":
    main()
