"""Where every benchmark leaves its figures: ``benchmarks/results/<name>.json`` and ``.md``.

Each script calls :func:`write_results` once at the end with the figures it measured; the
file also records how it was obtained (the command, the date, the machine's cores and CPU
model, the git commit), so a figure quoted in the documentation can be traced to its run.
The Markdown beside it is a short rendering for the documentation's Benchmarks page.

Every script also takes ``--quick`` (its smallest settings: it checks that the script runs
and writes its results, the figures mean nothing) and ``--results DIR`` (:func:`add_options`);
a quick run writes under ``data/bench/quick`` (or ``$URBANSOUND_BENCH_QUICK``), never into
``benchmarks/results``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"


def adopt_orphans() -> bool:
    """Become the reaper of this process's orphaned descendants (Linux), for good.

    A command's local workers are forked from a server process that outlives the command
    by a moment, orphaned. Adopted and reaped here (:func:`reaping_orphans`), it and the workers
    it reaped count in ``getrusage(RUSAGE_CHILDREN)`` (CPU time, largest RSS) as the
    command's own children do. Returns whether this process is the reaper now.
    """
    import ctypes

    try:
        # prctl(PR_SET_CHILD_SUBREAPER = 36, 1) of <sys/prctl.h>.
        return ctypes.CDLL(None).prctl(36, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


@contextmanager
def reaping_orphans(timeout: float = 60.0) -> Iterator[None]:
    """Run the block, then wait for the processes adopted meanwhile to end, and reap them.

    The children this process had before the block (a workers' server of its own, say)
    are left alone.
    """
    import time

    import psutil

    def children() -> set[int]:
        return {child.pid for child in psutil.Process().children()}

    before = children()
    yield
    deadline = time.monotonic() + timeout
    while adopted := children() - before:
        for pid in adopted:
            with suppress(ChildProcessError):  # reaped meanwhile by another waiter
                os.waitpid(pid, os.WNOHANG)
        if time.monotonic() > deadline:
            raise SystemExit(f"processes {sorted(adopted)} still ran {timeout:g} s after "
                             "their command ended")
        time.sleep(0.01)


def quick_folder() -> Path:
    """Where quick runs keep their data and results (``$URBANSOUND_BENCH_QUICK``)."""
    return Path(os.environ.get("URBANSOUND_BENCH_QUICK") or REPO / "data" / "bench" / "quick")


def add_options(parser, quick: str) -> None:
    """Add ``--quick`` (``quick`` says what it shrinks) and ``--results DIR`` to ``parser``."""
    parser.add_argument("--quick", action="store_true",
                        help=f"smallest settings ({quick}): checks that the script runs; "
                             "the figures mean nothing")
    parser.add_argument("--results", type=Path, default=None,
                        help="folder of the results files (default benchmarks/results; "
                             "with --quick data/bench/quick/results)")


def quick_params(work: Path) -> Path:
    """A params file for quick runs: the project's, with small models (in ``work``)."""
    import yaml

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["prepare"].update(synth_clips=30, synth_test_clips=20)
    params["parallel"].update(scheduler="sync", workers=1)
    params["train"]["rf"] = {"n_estimators": 5, "n_jobs": 1}
    params["train"]["xgb"] = {"n_estimators": 3, "n_jobs": 1}
    params["train"]["ffnn"] = {"hidden_layer_sizes": [8], "max_iter": 3, "networks": 1,
                               "scaling": "standard"}
    params["train"]["ensemble"] = {"weights": None}
    work.mkdir(parents=True, exist_ok=True)
    path = work / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def quick_clips(link: Path | None = None) -> Path:
    """The 30 generated clips (seed 42, UrbanSound8K layout) the quick runs share, made once;
    their folder, also reachable as ``link`` (a symbolic link) when given."""
    root = quick_folder() / "synth-30"
    if not (root / "UrbanSound8K" / "metadata" / "UrbanSound8K.csv").is_file():
        from pipeline.datasets.synth import generate

        generate(root, layout="us8k", clips=30, seed=42)
    if link is not None and not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(root, target_is_directory=True)
    return root


def quick_store(params: Path) -> Path:
    """A feature store of 30 generated clips for quick runs (made once under
    :func:`quick_folder`, in this process); its folder."""
    from pipeline.cli import main

    root = quick_clips()
    store = quick_folder() / "store-30"
    if not (store / "features.parquet").is_file():
        if main(["--params", str(params), "features", str(root), "--out", str(store),
                 "--scheduler", "sync"]):
            raise SystemExit("quick store: urbansound features failed")
    return store


def save(args, name: str, figures: dict[str, Any], *, summary: str,
         table: list[list[Any]] | None = None) -> Path:
    """:func:`write_results` into the folder ``args`` (from :func:`add_options`) names."""
    out = args.results
    if out is None:
        out = quick_folder() / "results" if args.quick else RESULTS
    if args.quick:
        summary = "Quick run (smallest settings; the figures mean nothing). " + summary
    return write_results(name, figures, summary=summary, table=table, out=out, quick=args.quick)


def machine() -> dict[str, Any]:
    """The cores and CPU model of this machine (``/proc/cpuinfo`` where it exists)."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": model, "python": platform.python_version()}


def commit() -> str:
    """The checked-out commit, with ``+dirty`` when the work tree has changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=REPO, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def _script() -> str:
    """The running script's path relative to the repository, as a user would type it."""
    try:
        return os.path.relpath(os.path.abspath(sys.argv[0]), REPO)
    except (ValueError, IndexError):
        return "python"


def _markdown(record: dict[str, Any]) -> str:
    lines = [f"### {record['name']}", "", record["summary"], ""]
    table = record.get("table")
    if table:
        header, *rows = table
        lines += ["| " + " | ".join(map(str, header)) + " |",
                  "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
        lines.append("")
    m = record["machine"]
    lines.append(f"`{record['command']}` — {record['date']}, commit {record['commit']}, "
                 f"{m['cores']} cores ({m['cpu']}), Python {m['python']}.")
    return "\n".join(lines) + "\n"


def write_results(name: str, figures: dict[str, Any], *, summary: str,
                  table: list[list[Any]] | None = None,
                  out: Path | None = None, quick: bool = False) -> Path:
    """Write ``<out>/<name>.json`` and ``<out>/<name>.md`` and return the JSON's path.

    Parameters
    ----------
    name : str
        The benchmark's name, usually its script's stem.
    figures : dict
        The measured figures, JSON-serialisable.
    summary : str
        One or two sentences: what was measured and the headline ratio.
    table : list of list, optional
        A header row and data rows for the Markdown rendering.
    out : Path, optional
        The results folder; ``benchmarks/results`` by default.
    quick : bool
        The run used the script's smallest settings (recorded as ``"quick": true``).
    """
    out = Path(out) if out is not None else RESULTS
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "name": name,
        "summary": summary,
        "figures": figures,
        "table": table,
        "command": " ".join(["python", _script(), *sys.argv[1:]]),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "commit": commit(),
        "quick": quick,
    }
    path = out / f"{name}.json"
    for target, text in ((path, json.dumps(record, indent=2, default=str) + "\n"),
                         (out / f"{name}.md", _markdown(record))):
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, target)
    return path
