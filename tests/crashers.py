"""Task functions that kill the process running them, for crash-isolation tests.

Module-level (picklable by reference) and importable by worker processes and by ``dask
worker`` processes, whose ``PYTHONPATH`` holds this folder (see ``dask_cluster.py``).
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

import numpy as np

CRASH_MARK = "crash"


def abort() -> None:
    """Die as a crash in native code would: SIGABRT, no Python cleanup, no core file."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.abort()


def times_ten_abort_on_13(x: int) -> int:
    """``10 * x``; item 13 aborts its process every time."""
    if x == 13:
        abort()
    return 10 * x


def file_stats_abort_on_mark(path: str) -> np.ndarray:
    """Two cheap "features" of a file (size, first byte); aborts on names holding ``crash``."""
    if CRASH_MARK in Path(path).name:
        abort()
    data = Path(path).read_bytes()
    return np.array([len(data), data[0] if data else 0], dtype=np.float32)
