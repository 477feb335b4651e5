"""Session-wide settings: the test run ends its worker processes and never hangs on exit."""

from __future__ import annotations

import faulthandler
import os
import sys
import threading
import time

import pytest

from pipeline.parallel import shutdown_pools

# Seconds the interpreter may take to exit once the tests are done; normally well under one.
EXIT_LIMIT = 120
# Where pytest_sessionfinish leaves the tests' exit status for the watchdog.
_STATUS = pytest.StashKey[int]()


@pytest.fixture(scope="session", autouse=True)
def _end_worker_processes():
    """The shared process pools live for the session; end them with it."""
    yield
    shutdown_pools()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_STATUS] = int(exitstatus)


def pytest_unconfigure(config: pytest.Config) -> None:
    # A thread or process that never ends would keep the interpreter from exiting, and a
    # CI job would wait on it until its time limit. Instead, after EXIT_LIMIT seconds, print
    # where every thread stands and exit with the tests' own status.
    status = config.stash.get(_STATUS, 1)
    threading.Thread(target=_exit_watchdog, args=(status,), name="exit-watchdog",
                     daemon=True).start()


def _exit_watchdog(status: int) -> None:
    time.sleep(EXIT_LIMIT)
    print(f"\nthe test process did not exit within {EXIT_LIMIT} s of the end of the tests; "
          "its threads:", file=sys.stderr, flush=True)
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    sys.stderr.flush()
    os._exit(status)
