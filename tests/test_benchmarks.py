"""Every script in ``benchmarks/`` runs with its smallest settings (``--quick``) and writes
its results file (``benchmarks/results.py``), so none of them rots unnoticed.

The quick runs share one folder of generated data (``$URBANSOUND_BENCH_QUICK``) and write
their results into it, never into ``benchmarks/results``. They run one after another in one
Python process (``tests/bench_driver.py``), each as its own ``__main__``: the scientific
stack is imported once, not once per script.
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
def quick_runs(tmp_path_factory):
    """Every script's ``--quick`` run: ``(results folder, script → {code, stderr})``."""
    quick = tmp_path_factory.mktemp("bench-quick")
    results, outcome = quick / "results", quick / "outcome.json"
    env = {**os.environ, "URBANSOUND_BENCH_QUICK": str(quick), "PYTHONPATH": str(REPO),
           "MPLBACKEND": "Agg"}
    commands = []
    for script in SCRIPTS:
        commands += [str(BENCHMARKS / script), *ARGUMENTS.get(script, []), "--quick",
                     "--results", str(results), "--"]
    done = subprocess.run([sys.executable, str(REPO / "tests" / "bench_driver.py"),
                           str(outcome), *commands],
                          cwd=REPO, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    ran = json.loads(outcome.read_text()) if outcome.is_file() else {}
    return results, ran, done.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_writes_its_results_file(script, quick_runs):
    results, ran, driver_errors = quick_runs
    assert script in ran, f"the driver stopped before {script}:\n{driver_errors}"
    assert ran[script]["code"] == 0, ran[script]["stderr"]
    name = NAMES.get(script, Path(script).stem)
    record = json.loads((results / f"{name}.json").read_text())
    assert record["name"] == name and record["quick"] is True and record["figures"]
    assert record["command"].startswith(f"python benchmarks/{script}") and record["commit"]
    assert record["machine"]["cores"] >= 1
    markdown = (results / f"{name}.md").read_text()
    assert markdown.startswith(f"### {name}\n") and "Quick run" in markdown


def test_the_driver_reports_each_scripts_failure_and_goes_on(tmp_path):
    scripts = {"raises.py": "raise ValueError('broken')\n",
               "exits.py": "import sys\nsys.exit(3)\n",
               "fine.py": "import sys\nprint(sys.argv[1:])\n"}
    for name, code in scripts.items():
        (tmp_path / name).write_text(code)
    outcome = tmp_path / "outcome.json"
    done = subprocess.run([sys.executable, str(REPO / "tests" / "bench_driver.py"), str(outcome),
                           str(tmp_path / "raises.py"), "--", str(tmp_path / "exits.py"), "--",
                           str(tmp_path / "fine.py"), "--quick"],
                          capture_output=True, text=True, check=True)
    ran = json.loads(outcome.read_text())
    assert ran["raises.py"]["code"] == 1 and "ValueError: broken" in ran["raises.py"]["stderr"]
    assert ran["exits.py"]["code"] == 3
    assert ran["fine.py"]["code"] == 0 and "['--quick']" in done.stdout
