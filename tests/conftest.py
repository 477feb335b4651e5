"""Session-wide fixtures: one local Dask cluster for the tests that only need somewhere to run."""

from __future__ import annotations

import pytest

from pipeline.engine import Engine


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
