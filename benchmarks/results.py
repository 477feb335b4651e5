"""Where every benchmark leaves its figures: ``benchmarks/results/<name>.json`` and ``.md``.

Each script calls :func:`write_results` once at the end with the figures it measured; the
file also records how it was obtained (the command, the date, the machine's cores and CPU
model, the git commit), so a figure quoted in the documentation can be traced to its run.
The Markdown beside it is a short rendering for the documentation's Benchmarks page.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"


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
                  out: Path | None = None) -> Path:
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
    }
    path = out / f"{name}.json"
    for target, text in ((path, json.dumps(record, indent=2, default=str) + "\n"),
                         (out / f"{name}.md", _markdown(record))):
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, target)
    return path
