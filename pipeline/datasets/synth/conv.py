"""Linear convolution by FFT with the arithmetic of ``scipy.signal.oaconvolve``.

The generated files must stay the same to the bit, so the FFT sizes, the blocks and the
order of the overlap-add are those of :func:`scipy.signal.oaconvolve` (and of
:func:`scipy.signal.fftconvolve`, which it falls back to), computed with the same
:mod:`scipy.fft` calls. Doing it here spares every worker the import of ``scipy.signal``,
lets a kernel used again (a room's tail over a recording's slices) keep its spectrum, and
skips the blocks that only make the part past the first ``n`` samples.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import scipy.fft as sfft
from scipy.special import lambertw  # loaded with scipy.fft already


class Blocks(NamedTuple):
    """How ``oaconvolve`` splits a signal of length ``s1`` and a kernel of length ``s2``.

    ``overlap`` is None when it convolves them whole (one FFT of ``size``, as
    ``fftconvolve``); otherwise both are cut into ``rows`` blocks of ``step`` samples, each
    transformed at ``size`` points, and the blocks' results overlap by ``overlap``.
    """

    size: int
    overlap: int | None
    step1: int
    step2: int
    rows1: int
    rows2: int


@lru_cache(maxsize=1024)
def _block_size(overlap: int) -> int:
    """``oaconvolve``'s FFT block for a kernel of ``overlap + 1`` samples (its formula)."""
    optimum = -overlap * lambertw(-1 / (2 * math.e * overlap), k=-1).real
    return sfft.next_fast_len(math.ceil(optimum))


def _rows(length: int, step: int, size: int, overlap: int, final: int) -> int:
    if length <= step:
        return 1
    rows = math.ceil((length + 1) / step)
    return rows + 1 if (size - overlap) * rows < final else rows


@lru_cache(maxsize=256)
def blocks(s1: int, s2: int) -> Blocks:
    """The :class:`Blocks` of ``oaconvolve`` for lengths ``s1`` (signal), ``s2`` (kernel)."""
    whole = Blocks(sfft.next_fast_len(s1 + s2 - 1, True), None, s1, s2, 1, 1)
    if s1 == s2 or s1 == 1 or s2 == 1:
        return whole
    big, small = max(s1, s2), min(s1, s2)
    if small >= big / 2:
        return whole
    overlap = small - 1
    size = _block_size(overlap)
    if size >= big:
        return whole
    step1, step2 = (size - s2 + 1, s2) if s1 >= s2 else (s1, size - s1 + 1)
    final = s1 + s2 - 1
    return Blocks(size, overlap, step1, step2, _rows(s1, step1, size, overlap, final),
                  _rows(s2, step2, size, overlap, final))


def spectrum(x: np.ndarray, rows: int, step: int, size: int) -> np.ndarray:
    """``rfft`` at ``size`` points of ``x`` cut into ``rows`` blocks of ``step`` (zero-padded);
    shape (rows, size // 2 + 1)."""
    padded = np.zeros(rows * step)
    padded[: min(len(x), rows * step)] = x[: rows * step]
    return sfft.rfftn(padded.reshape(rows, step), [size], axes=[1])


def kernel_spectrum(kernel: np.ndarray, n: int) -> np.ndarray:
    """The spectrum :func:`convolve` computes of ``kernel`` (shape (m,)) for a signal of
    ``n`` samples: keep it to convolve several such signals with one kernel."""
    b = blocks(n, len(kernel))
    if b.overlap is None:
        return sfft.rfftn(kernel, [b.size], axes=[0])
    return spectrum(kernel, b.rows2, b.step2, b.size)


def convolve(x: np.ndarray, kernel: np.ndarray, spec: np.ndarray | None = None) -> np.ndarray:
    """The first ``len(x)`` samples of the linear convolution of ``x`` with ``kernel``.

    Equal to the bit to ``scipy.signal.oaconvolve(x, kernel)[:len(x)]``.

    Parameters
    ----------
    x : numpy.ndarray, shape (n,), float64
    kernel : numpy.ndarray, shape (m,), float64, m >= 1
    spec : numpy.ndarray, optional
        ``kernel_spectrum(kernel, n)``, when kept from an earlier call.

    Returns
    -------
    numpy.ndarray, shape (n,)
    """
    n, m = len(x), len(kernel)
    if n == 1 or m == 1:
        return (x * kernel)[:n]  # no axis left to transform: scipy multiplies
    b = blocks(n, m)
    if spec is None:
        spec = kernel_spectrum(kernel, n)
    if b.overlap is None:
        prod = sfft.rfftn(x, [b.size], axes=[0])
        prod *= spec
        return sfft.irfftn(prod, [b.size], axes=[0])[:n].copy()
    if b.rows1 > 1:
        # Blocks that start at or past sample n only add to the discarded part.
        rows = min(b.rows1, -(-n // b.step1))
        prod = spectrum(x, rows, b.step1, b.size)
        prod *= spec
    else:
        rows = min(b.rows2, -(-n // b.step2))
        prod = spectrum(x, 1, b.step1, b.size) * spec[:rows]
    ret = sfft.irfftn(prod, [b.size], axes=[1])
    head, tail = ret[:, : -b.overlap], ret[:, -b.overlap :]
    head[1:, : b.overlap] += tail[:-1]
    return head.reshape(-1)[:n]
