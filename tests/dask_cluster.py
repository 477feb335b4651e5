"""A real Dask cluster for tests: ``dask scheduler`` and two ``dask worker`` processes.

Import the ``dask_cluster`` fixture into a test module to use it. Every process is started
in its own session so teardown (and :meth:`Cluster.kill_worker`) can SIGKILL the whole
process group, nanny and worker alike.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Cluster:
    """A running cluster: its address and the ``dask worker`` processes."""

    address: str
    workers: list[subprocess.Popen] = field(default_factory=list)

    def kill_worker(self, index: int = 0) -> None:
        """SIGKILL one worker (nanny and worker process) and wait until it is gone."""
        _kill(self.workers[index])


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _dask(*args: str) -> list[str]:
    # The dask CLI of the interpreter running the tests, whatever venv that is.
    return [sys.executable, "-m", "dask", *args]


@pytest.fixture
def dask_cluster(tmp_path_factory: pytest.TempPathFactory):
    """A scheduler on 127.0.0.1 (free port) and two single-threaded workers."""
    from dask.distributed import Client

    folder = tmp_path_factory.mktemp("cluster")
    scheduler_file = str(folder / "scheduler.json")
    # The tests folder too, so that workers can unpickle test-only task functions.
    path = [str(REPO), str(REPO / "tests"), os.environ.get("PYTHONPATH")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, path))}
    common = {
        "env": env,
        "cwd": folder,
        "start_new_session": True,
        "stdout": subprocess.DEVNULL,
        "stderr": subprocess.DEVNULL,
    }
    procs = [
        subprocess.Popen(
            _dask(
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                scheduler_file,
            ),
            # Give up on a task after two worker deaths (Dask's default: four), so that tests
            # of tasks that kill every worker running them stay short.
            **{**common, "env": {**env, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}},
        )
    ]
    try:
        for i in range(2):
            procs.append(
                subprocess.Popen(
                    _dask(
                        "worker",
                        "--scheduler-file",
                        scheduler_file,
                        "--host",
                        "127.0.0.1",
                        "--nthreads",
                        "1",
                        "--nworkers",
                        "1",
                        "--no-dashboard",
                        "--name",
                        f"worker-{i}",
                    ),
                    **common,
                )
            )
        # The client waits for the scheduler file to appear, then for both workers.
        with Client(scheduler_file=scheduler_file, timeout="30s") as client:
            client.wait_for_workers(2, timeout=30)
            address = client.scheduler.address
        yield Cluster(address=address, workers=procs[1:])
    finally:
        for proc in procs:
            _kill(proc)
