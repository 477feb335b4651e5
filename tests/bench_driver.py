"""Run benchmark scripts one after another in this one interpreter, as ``python SCRIPT ARGS``
would, and write each one's exit code and error to a JSON file.

    python tests/bench_driver.py OUTCOME.json SCRIPT [ARGS ...] [-- SCRIPT [ARGS ...]] ...

``tests/test_benchmarks.py`` runs every script's ``--quick`` settings through it: one start
of Python and one import of the scientific stack for all of them, instead of one each.
Each script runs as ``__main__`` with its own ``sys.argv``; ``sys.argv``, ``sys.path`` and
the warning filters are restored after it. A script that fails does not stop the others.
"""

from __future__ import annotations

import contextlib
import io
import json
import runpy
import sys
import time
import traceback
import warnings
from pathlib import Path


def run_script(path: str, args: list[str]) -> dict:
    """Exit code, end of the error output and seconds of ``python path *args``, run here."""
    saved_argv, saved_path = sys.argv, list(sys.path)
    errors = io.StringIO()
    sys.argv = [path, *args]
    sys.path.insert(0, str(Path(path).resolve().parent))  # as Python does for a script
    code, started = 0, time.perf_counter()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(errors):
            runpy.run_path(path, run_name="__main__")
    except SystemExit as stop:  # sys.exit(n), or sys.exit("message") as Python prints it
        if stop.code is None or isinstance(stop.code, int):
            code = stop.code or 0
        else:
            code = 1
            errors.write(f"{stop.code}\n")
    except Exception:  # reported as the script's failure, as Python would
        code = 1
        errors.write(traceback.format_exc())
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    return {"code": code, "stderr": errors.getvalue()[-3000:],
            "seconds": round(time.perf_counter() - started, 2)}


def main(argv: list[str]) -> None:
    outcome_file, rest = Path(argv[0]), argv[1:]
    commands, current = [], []
    for item in [*rest, "--"]:
        if item == "--":
            if current:
                commands.append(current)
            current = []
        else:
            current.append(item)
    outcome = {}
    for path, *args in commands:
        outcome[Path(path).name] = run_script(path, args)
        outcome_file.write_text(json.dumps(outcome))  # what finished, even if Python dies later


if __name__ == "__main__":
    main(sys.argv[1:])
