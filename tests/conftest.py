"""Session-wide fixtures: one local Dask cluster for the tests that only need somewhere to run."""

from __future__ import annotations

import pytest

from pipeline.engine.cluster import Engine

#: The test files that take longest, longest first. ``--dist loadfile`` deals whole files
#: to the workers in collection order (pyproject.toml turns off xdist's reordering by test
#: count, which put the few-test, long files last): started first, they leave the short
#: files to fill in, so both workers finish together.
LONGEST_FIRST = ("test_dvc.py", "test_benchmarks.py", "test_bad_input.py", "test_stages.py",
                 "test_evaluate.py", "test_ownership.py", "test_synth.py", "test_processes.py",
                 "test_features_cli.py", "test_docs.py", "test_guard.py", "test_parallel.py",
                 "test_detect.py", "test_reliability.py")


def pytest_collection_modifyitems(items):
    """Collect the files of :data:`LONGEST_FIRST` first, in its order (a stable sort: the
    other files, and the tests within a file, keep their order)."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session", autouse=True)
def worker_server():
    """The server that local workers fork from, started once in each test process with the
    modules of every command's tasks, as a command starts its own (:mod:`pipeline.cli`):
    a cluster a test starts here then has workers in a fraction of a second, instead of
    fresh interpreters that import Dask and the task's modules (seconds of CPU each)."""
    from pipeline.cli import WORKER_MODULES
    from pipeline.engine.cluster import start_worker_server

    start_worker_server(sorted({m for modules in WORKER_MODULES.values() for m in modules}))


@pytest.fixture(scope="session")
def local_engine():
    """An open ``processes`` engine of two workers, shared by the session.

    Starting a cluster costs seconds; tests of what runs on it (not of starting it) share
    this one. Its address also serves CLI runs in this process (``--scheduler ADDRESS``).
    The ``with`` block ends the cluster and its workers with the session.
    """
    with Engine("processes", workers=2) as engine:
        engine.client()
        yield engine


@pytest.fixture(scope="session")
def whole_run(tmp_path_factory):
    """:func:`whole_run.whole_run`: every stage once on a local cluster of two workers.

    The stage-layer tests check what it wrote and how; the determinism test reruns it on
    one worker and compares. Tests that write must do so outside its workdir, or only
    what a rerun reproduces.
    """
    from whole_run import whole_run as run_every_stage

    return run_every_stage(tmp_path_factory.mktemp("whole_run"))


@pytest.fixture
def cluster_params(tmp_path, local_engine):
    """A params file whose scheduler is the session's cluster, by address, for commands
    without ``--scheduler`` (their default, a new local cluster, costs seconds to start)."""
    path = tmp_path / "cluster-params.yaml"
    path.write_text(f"parallel: {{scheduler: '{local_engine.client().scheduler.address}'}}\n")
    return path
