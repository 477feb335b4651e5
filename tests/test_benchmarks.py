"""Every script in ``benchmarks/`` runs with its smallest settings (``--quick``) and writes
its results file (``benchmarks/results.py``), so none of them rots unnoticed.

The quick runs share one folder of generated data (``$URBANSOUND_BENCH_QUICK``) and write
their results into it, never into ``benchmarks/results``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO / "benchmarks"

#: Python files of benchmarks/ that are not benchmarks, with the reason.
NOT_RUN = {"results.py": "the results writer the scripts call, not a benchmark"}
#: Positional arguments a script needs besides --quick.
ARGUMENTS = {"variants.py": ["logreg", "-"]}
#: The results a script writes when its name is not the script's (a default part or model).
NAMES = {"detect.py": "detect_accuracy", "features.py": "features_speed",
         "variants.py": "variants-logreg"}
SCRIPTS = sorted(p.name for p in BENCHMARKS.glob("*.py") if p.name not in NOT_RUN)


def test_every_benchmark_is_run_but_the_results_writer():
    assert set(NOT_RUN) == {"results.py"}
    assert len(SCRIPTS) >= 10


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    return tmp_path_factory.mktemp("bench-quick")


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_writes_its_results_file(script, quick):
    results = quick / "results"
    env = {**os.environ, "URBANSOUND_BENCH_QUICK": str(quick), "PYTHONPATH": str(REPO),
           "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *ARGUMENTS.get(script, []), "--quick",
         "--results", str(results)],
        cwd=REPO, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    name = NAMES.get(script, Path(script).stem)
    record = json.loads((results / f"{name}.json").read_text())
    assert record["name"] == name and record["quick"] is True and record["figures"]
    assert record["command"].startswith(f"python benchmarks/{script}") and record["commit"]
    assert record["machine"]["cores"] >= 1
    markdown = (results / f"{name}.md").read_text()
    assert markdown.startswith(f"### {name}\n") and "Quick run" in markdown
