"""Keep freed memory in the process for reuse, instead of handing it back to the OS.

Feature extraction allocates and frees the same multi-hundred-kilobyte arrays for every
clip (spectrograms, sorted copies, float64 temporaries). With glibc's defaults such arrays
are mapped fresh from the kernel and unmapped again on free, and the zero-filled pages
cost page faults that add about a third to the time of a clip. Raising the mmap and trim
thresholds lets ``malloc`` serve them from memory the process already holds.

The cost is bounded: at most :data:`TRIM_THRESHOLD` bytes of freed memory stay with the
process. On a C library other than glibc nothing changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

# mallopt parameters of glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

# Arrays smaller than this come from the heap: above every per-clip array of a clip of a
# few seconds (the largest, a 96 kHz stereo clip decoded whole, is about 3 MiB).
MMAP_THRESHOLD = 4 << 20
# Freed memory above this at the top of the heap is returned to the OS. Small, because the
# worker processes live on to run other stages (model fits) after feature extraction.
TRIM_THRESHOLD = 64 << 20

_applied = False


def retain_freed_memory() -> bool:
    """Set glibc's thresholds for this process, once; return whether they are in effect."""
    global _applied
    if _applied:
        return True
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        # mallopt returns 1 on success; setting either threshold fixes both for good
        # (glibc stops adapting them), so both are set together.
        ok = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
        ok = libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
    except (OSError, AttributeError):
        return False
    _applied = ok
    return ok
