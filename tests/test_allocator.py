"""The malloc thresholds of the feature processes: set once, only where glibc runs."""

import platform
import subprocess
import sys

import pytest

from pipeline.engine.allocator import retain_freed_memory


def test_retain_freed_memory_is_idempotent():
    first = retain_freed_memory()
    assert retain_freed_memory() == first
    assert first == (platform.libc_ver()[0] == "glibc")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")
def test_thresholds_are_applied_in_a_fresh_process():
    # In a fresh interpreter, so the result does not depend on what ran before.
    code = "from pipeline.engine.allocator import retain_freed_memory as r; print(r(), r())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["True", "True"]
