"""Time-domain features: frame RMS, zero-crossing rate, amplitude statistics, silence.

Frames follow librosa's ``center=True`` convention: frame ``t`` covers samples
``t * hop_length - frame_length // 2 ... t * hop_length + frame_length // 2 - 1`` and there
are ``1 + len(y) // hop_length`` frames. Both frame-wise features are computed in O(len(y))
from running sums instead of a (n_frames, frame_length) matrix; for a range of frames only
the samples they cover are read.
"""

from __future__ import annotations

import math

import numpy as np

from pipeline.features.stats import moments
from pipeline.features.stft import frame_reach

# librosa.zero_crossings treats |x| <= 1e-10 as zero (and zero as positive).
ZERO_THRESHOLD = 1e-10


def n_frames(n_samples: int, *, hop_length: int) -> int:
    """Number of centred frames of a signal of ``n_samples`` samples."""
    return 1 + n_samples // hop_length


def _covered(
    n_samples: int, *, frame_length: int, hop_length: int, first: int, stop: int | None
) -> tuple[int, int, int]:
    """``(stop, lo, hi)``: the frame range's end (None: the last frame) and the samples
    ``[lo, hi)`` of the signal its frames read."""
    stop = n_frames(n_samples, hop_length=hop_length) if stop is None else stop
    begin, end = frame_reach(first, stop, n_fft=frame_length, hop_length=hop_length)
    return stop, max(begin, 0), min(end, n_samples)


def _frame_sums(
    values: np.ndarray, *, frame_length: int, hop_length: int, first: int, stop: int, offset: int
) -> np.ndarray:
    """Sum of ``values`` over each centred frame ``first .. stop - 1``, zero outside them.

    The frames are cut into blocks of ``gcd(frame_length, hop_length)`` samples, summed
    block by block (vectorised), and each frame adds its whole blocks: O(n_samples)
    with no per-sample running sum.

    Parameters
    ----------
    values : np.ndarray, shape (n_values,), float32
        Samples ``offset .. offset + n_values - 1`` of the signal; the others count as zeros.

    Returns
    -------
    np.ndarray, shape (stop - first,), float64
    """
    n = stop - first
    block = math.gcd(frame_length, hop_length)
    begin, end = frame_reach(first, stop, n_fft=frame_length, hop_length=hop_length)
    padded = np.zeros(end - begin, dtype=np.float32)
    lo, hi = max(begin, offset), min(end, offset + len(values))
    padded[lo - begin : hi - begin] = values[lo - offset : hi - offset]
    cumulative = np.zeros(len(padded) // block + 1)
    np.cumsum(padded.reshape(-1, block).sum(axis=1), out=cumulative[1:])
    starts = np.arange(n) * (hop_length // block)
    return cumulative[starts + frame_length // block] - cumulative[starts]


def frame_rms(
    y: np.ndarray, *, frame_length: int = 2048, hop_length: int = 512, first: int = 0,
    stop: int | None = None,
) -> np.ndarray:
    """Root-mean-square of each centred, zero-padded frame (``librosa.feature.rms``).

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,), float32
        The signal; samples outside it count as zeros.
    frame_length, hop_length : int
        Frame length and hop, in samples.
    first, stop : int
        The frames wanted (default: all ``1 + n_samples // hop_length``); only the samples
        they cover are read.

    Returns
    -------
    np.ndarray, shape (stop - first,), float64
        RMS amplitude of each frame.
    """
    stop, lo, hi = _covered(len(y), frame_length=frame_length, hop_length=hop_length,
                            first=first, stop=stop)
    part = y[lo:hi]
    power = _frame_sums(part * part, frame_length=frame_length, hop_length=hop_length,
                        first=first, stop=stop, offset=lo)
    # Differences of running sums can leave tiny negative values; power is never negative.
    return np.sqrt(np.maximum(power, 0.0) / frame_length)


def zero_crossing_rate(
    y: np.ndarray, *, frame_length: int = 2048, hop_length: int = 512, first: int = 0,
    stop: int | None = None,
) -> np.ndarray:
    """Fraction of sign changes in each centred frame (``librosa.feature.zero_crossing_rate``).

    As librosa: the signal is edge-padded (which adds no crossing), samples with
    ``|x| <= 1e-10`` count as positive, and the count of a frame is divided by
    ``frame_length``.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,), float32
    frame_length, hop_length : int
        In samples, as for :func:`frame_rms`.
    first, stop : int
        The frames wanted, as for :func:`frame_rms`.

    Returns
    -------
    np.ndarray, shape (stop - first,), float64
        In [0, 1].
    """
    stop, lo, hi = _covered(len(y), frame_length=frame_length, hop_length=hop_length,
                            first=first, stop=stop)
    negative = y[lo:hi] < -ZERO_THRESHOLD
    # change[i] marks a sign change between samples lo + i and lo + i + 1. A frame counts
    # the changes between its own samples: all of its window but the last position (so
    # the change after the last sample read, unknown here, is never needed).
    change = np.zeros(hi - lo, dtype=np.float32)
    np.not_equal(negative[1:], negative[:-1], out=change[:-1], casting="unsafe")
    counts = _frame_sums(change, frame_length=frame_length, hop_length=hop_length,
                         first=first, stop=stop, offset=lo)
    last = np.arange(first, stop) * hop_length + (frame_length - frame_length // 2 - 1)
    counts -= change[np.minimum(last - lo, hi - lo - 1)] * (last < len(y))
    return counts / frame_length


def silence_ratio(rms: np.ndarray, *, threshold_db: float) -> float:
    """Fraction of frames whose RMS is below ``threshold_db`` dB full scale.

    Parameters
    ----------
    rms : np.ndarray, shape (n_frames,)
    threshold_db : float
        e.g. -60: a frame is silent when ``rms < 10 ** (threshold_db / 20)``.
    """
    return float(np.mean(rms < 10.0 ** (threshold_db / 20.0)))


def amplitude_stats(y: np.ndarray) -> dict[str, float]:
    """Clip-level amplitude statistics.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,), n_samples >= 1

    Returns
    -------
    dict
        ``mean_abs``, ``std``, ``skew``, ``kurt`` (excess), ``peak`` (max ``|x|``) and
        ``crest`` (peak / RMS; 0 for digital silence).
    """
    mean, var, skew, kurt = moments(y)
    abs_y = np.abs(y)
    peak = float(abs_y.max())
    rms = float(np.sqrt(var + mean * mean))
    return {
        "mean_abs": float(abs_y.mean(dtype=np.float64)),
        "std": float(np.sqrt(var)),
        "skew": float(skew),
        "kurt": float(kurt),
        "peak": peak,
        "crest": peak / rms if rms > 0.0 else 0.0,
    }
