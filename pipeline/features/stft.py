"""The short-time Fourier transform every spectral feature of a clip shares, and its helpers.

Layout: spectrograms are (n_freq, n_frames) as in librosa. Frames are centred and
zero-padded exactly as ``librosa.stft(center=True, pad_mode="constant")`` with a periodic
Hann window. Cached arrays (window, bin frequencies) are read-only; per-thread scratch
arrays hold temporaries that never leave a function.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np
import scipy.fft

# librosa's floor for logarithms of power.
AMIN = 1e-10


def readonly(a: np.ndarray) -> np.ndarray:
    """Mark a cached array read-only so no caller can change it for the next one."""
    a.flags.writeable = False
    return a


_scratch = threading.local()


def scratch(name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """A per-thread work array, reused from clip to clip, for temporaries that never escape.

    Fresh multi-megabyte temporaries for every clip cost page faults that rival the
    arithmetic; reusing them keeps the hot path in already-mapped memory.
    """
    size = int(np.prod(shape))
    buffers = _scratch.__dict__
    buffer = buffers.get(name)
    if buffer is None or buffer.dtype != dtype or buffer.size < size:
        buffer = buffers[name] = np.empty(size, dtype=dtype)
    return buffer[:size].reshape(shape)


@lru_cache(maxsize=8)
def hann_window(n_fft: int) -> np.ndarray:
    """Periodic Hann window (``scipy.signal.get_window("hann", n_fft)``), float32, (n_fft,).

    numpy's symmetric window one sample longer, less its last sample: the same float32
    values, without loading ``scipy.signal`` (most of a second) in every extracting process.
    """
    return readonly(np.hanning(n_fft + 1)[:-1].astype(np.float32))


@lru_cache(maxsize=8)
def fft_frequencies(*, sr: float, n_fft: int) -> np.ndarray:
    """Centre frequency in Hz of each FFT bin, float64, shape (1 + n_fft // 2,)."""
    return readonly(np.fft.rfftfreq(n_fft, d=1.0 / sr))


def frame_reach(first: int, stop: int, *, n_fft: int, hop_length: int) -> tuple[int, int]:
    """Sample positions ``[begin, end)`` that centred frames ``first .. stop - 1`` read.

    Frame ``t`` reads positions ``t * hop_length - n_fft // 2`` up to
    ``t * hop_length + n_fft - n_fft // 2``; positions before 0 or past the signal are
    padding.
    """
    return first * hop_length - n_fft // 2, (stop - 1) * hop_length + n_fft - n_fft // 2


def frame(
    y: np.ndarray, *, n_fft: int, hop_length: int, first: int = 0, stop: int | None = None
) -> np.ndarray:
    """Centred, zero-padded frames ``first .. stop - 1`` of ``y`` as a read-only strided view.

    A signal shorter than ``n_fft`` (down to one sample) gives one frame holding the
    signal in the middle of zeros. A range of frames reads only the samples it covers, so
    a few frames of a long signal cost a few frames.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,), float32
        The signal; the samples the frames cover are copied once into the zero-padded
        buffer the view reads.
    n_fft : int
        Frame length in samples.
    hop_length : int
        Samples from the start of one frame to the start of the next.
    first, stop : int
        The frames wanted, ``0 <= first < stop <= 1 + n_samples // hop_length``
        (``stop`` None: to the last).

    Returns
    -------
    np.ndarray, shape (n_fft, stop - first)
        Column ``t`` is frame ``first + t`` (librosa's ``util.frame`` layout).
    """
    stop = 1 + len(y) // hop_length if stop is None else stop
    begin, end = frame_reach(first, stop, n_fft=n_fft, hop_length=hop_length)
    padded = np.zeros(end - begin, dtype=np.float32)
    lo, hi = max(begin, 0), min(end, len(y))
    padded[lo - begin : hi - begin] = y[lo:hi]
    step = padded.strides[0]
    return np.lib.stride_tricks.as_strided(
        padded, shape=(n_fft, stop - first), strides=(step, hop_length * step), writeable=False
    )


def power_spectrogram(
    y: np.ndarray, *, n_fft: int, hop_length: int, first: int = 0, stop: int | None = None
) -> np.ndarray:
    """``|STFT|²`` of ``y``, the one spectrogram every spectral feature of a clip shares.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,), float32
        The clip.
    n_fft, hop_length : int
        FFT (and Hann window) length and hop, in samples, as for :func:`frame`.
    first, stop : int
        The frames wanted, as for :func:`frame` (default: all ``1 + n_samples // hop_length``).

    Returns
    -------
    np.ndarray, shape (1 + n_fft // 2, stop - first), float32
        Power per FFT bin (rows) and frame (columns).
    """
    return power_of_frames(
        [frame(y, n_fft=n_fft, hop_length=hop_length, first=first, stop=stop).T], n_fft=n_fft)


def power_of_frames(blocks: list[np.ndarray], *, n_fft: int) -> np.ndarray:
    """``|FFT|²`` of Hann-windowed frames given as blocks of rows, in one transform.

    Parameters
    ----------
    blocks : list of np.ndarray, each shape (n_k, n_fft), float32
        Frames, one per row (e.g. ``frame(...).T``); several blocks are transformed
        together, which costs far less than one call each when they are short.
    n_fft : int

    Returns
    -------
    np.ndarray, shape (1 + n_fft // 2, sum of n_k), float32
        Power per FFT bin (rows) and frame (columns), the blocks one after another.
    """
    # One frame per row: each FFT then reads contiguous memory (about 1.7x faster than
    # transforming the columns of the (n_fft, n_frames) layout).
    windowed = scratch("windowed", (sum(len(b) for b in blocks), n_fft), np.float32)
    at = 0
    for rows in blocks:
        np.multiply(rows, hann_window(n_fft), out=windowed[at : at + len(rows)])
        at += len(rows)
    spectrum = scipy.fft.rfft(windowed, axis=1, overwrite_x=True)
    # Square the interleaved (re, im) floats in one contiguous pass, then pair them.
    parts = spectrum.view(np.float32)
    parts *= parts
    return np.ascontiguousarray((parts[:, 0::2] + parts[:, 1::2]).T)
