"""Time-domain features: frame RMS, zero-crossing rate, amplitude statistics, silence.

Frames follow librosa's ``center=True`` convention: frame ``t`` covers samples
``t * hop_length - frame_length // 2 ... t * hop_length + frame_length // 2 - 1`` and there
are ``1 + len(y) // hop_length`` frames. Both frame-wise features are computed in O(len(y))
from running sums instead of a (n_frames, frame_length) matrix.
"""

from __future__ import annotations

import math

import numpy as np

from pipeline.features.stats import moments

# librosa.zero_crossings treats |x| <= 1e-10 as zero (and zero as positive).
ZERO_THRESHOLD = 1e-10


def n_frames(n_samples: int, *, hop_length: int) -> int:
    """Number of centred frames of a signal of ``n_samples`` samples."""
    return 1 + n_samples // hop_length


def _frame_sums(values: np.ndarray, *, frame_length: int, hop_length: int) -> np.ndarray:
    """Sum of ``values`` over each centred frame, zero outside the signal.

    The signal is cut into blocks of ``gcd(frame_length, hop_length)`` samples, summed
    block by block (vectorised), and each frame adds its whole blocks: O(n_samples)
    with no per-sample running sum.

    Parameters
    ----------
    values : np.ndarray, shape (n_samples,), float32

    Returns
    -------
    np.ndarray, shape (1 + n_samples // hop_length,), float64
    """
    n = n_frames(len(values), hop_length=hop_length)
    block = math.gcd(frame_length, hop_length)
    n_blocks = -(-(len(values) + frame_length) // block)
    padded = np.zeros(n_blocks * block, dtype=np.float32)
    padded[frame_length // 2 : frame_length // 2 + len(values)] = values
    cumulative = np.zeros(n_blocks + 1)
    np.cumsum(padded.reshape(n_blocks, block).sum(axis=1), out=cumulative[1:])
    first = np.arange(n) * (hop_length // block)
    return cumulative[first + frame_length // block] - cumulative[first]


def frame_rms(y: np.ndarray, *, frame_length: int = 2048, hop_length: int = 512) -> np.ndarray:
    """Root-mean-square of each centred, zero-padded frame (``librosa.feature.rms``).

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,), float32
        The signal; samples outside it count as zeros.
    frame_length, hop_length : int
        Frame length and hop, in samples.

    Returns
    -------
    np.ndarray, shape (1 + n_samples // hop_length,), float64
        RMS amplitude of each frame.
    """
    power = _frame_sums(y * y, frame_length=frame_length, hop_length=hop_length)
    # Differences of running sums can leave tiny negative values; power is never negative.
    return np.sqrt(np.maximum(power, 0.0) / frame_length)


def zero_crossing_rate(
    y: np.ndarray, *, frame_length: int = 2048, hop_length: int = 512
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

    Returns
    -------
    np.ndarray, shape (1 + n_samples // hop_length,), float64
        In [0, 1].
    """
    negative = y < -ZERO_THRESHOLD
    # change[i] marks a sign change between samples i and i + 1. A frame counts the
    # changes between its own samples: all of its window but the last position.
    change = np.zeros(len(y), dtype=np.float32)
    np.not_equal(negative[1:], negative[:-1], out=change[:-1], casting="unsafe")
    counts = _frame_sums(change, frame_length=frame_length, hop_length=hop_length)
    last = np.arange(len(counts)) * hop_length + (frame_length - frame_length // 2 - 1)
    counts -= change[np.minimum(last, len(y) - 1)] * (last < len(y))
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
        ``mean_abs``, ``std``, ``skew``, ``kurt`` (excess), ``peak`` (max |x|) and
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
