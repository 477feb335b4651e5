"""Time-domain features: frame RMS, zero-crossing rate, amplitude statistics, silence.

Frames follow librosa's ``center=True`` convention: frame ``t`` covers samples
``t * hop_length - frame_length // 2 ... t * hop_length + frame_length // 2 - 1`` and there
are ``1 + len(y) // hop_length`` frames. Both frame-wise features are computed in O(len(y))
from running sums instead of a (n_frames, frame_length) matrix.
"""

from __future__ import annotations

import numpy as np

from pipeline.features.stats import moments

# librosa.zero_crossings treats |x| <= 1e-10 as zero (and zero as positive).
ZERO_THRESHOLD = 1e-10


def n_frames(n_samples: int, *, hop_length: int) -> int:
    """Number of centred frames of a signal of ``n_samples`` samples."""
    return 1 + n_samples // hop_length


def _frame_sums(values: np.ndarray, *, frame_length: int, hop_length: int, n: int) -> np.ndarray:
    """Sum of ``values`` over each centred frame (zero outside the signal).

    ``values`` is already aligned with the zero-padded signal of length
    ``n_samples + frame_length``; returns shape (n,).
    """
    cumulative = np.zeros(len(values) + 1, dtype=np.float64)
    np.cumsum(values, out=cumulative[1:])
    starts = np.arange(n) * hop_length
    return cumulative[starts + frame_length] - cumulative[starts]


def frame_rms(y: np.ndarray, *, frame_length: int = 2048, hop_length: int = 512) -> np.ndarray:
    """Root-mean-square of each centred, zero-padded frame (``librosa.feature.rms``).

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,)
    frame_length, hop_length : int

    Returns
    -------
    np.ndarray, shape (1 + n_samples // hop_length,), float64
    """
    n = n_frames(len(y), hop_length=hop_length)
    half = frame_length // 2
    squares = np.zeros(len(y) + frame_length, dtype=np.float64)
    squares[half : half + len(y)] = y
    squares *= squares
    power = _frame_sums(squares, frame_length=frame_length, hop_length=hop_length, n=n)
    # Running sums can leave tiny negative differences; power is never negative.
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
    y : np.ndarray, shape (n_samples,)
    frame_length, hop_length : int

    Returns
    -------
    np.ndarray, shape (1 + n_samples // hop_length,), float64
    """
    n = n_frames(len(y), hop_length=hop_length)
    half = frame_length // 2
    negative = y < -ZERO_THRESHOLD
    # crossing[j] marks a sign change between padded samples j and j + 1; a frame
    # starting at s counts the changes j = s .. s + frame_length - 2.
    crossing = np.zeros(len(y) + frame_length, dtype=np.float64)
    crossing[half : half + len(y) - 1] = negative[1:] != negative[:-1]
    counts = _frame_sums(crossing, frame_length=frame_length - 1, hop_length=hop_length, n=n)
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
    y64 = y.astype(np.float64)
    abs_y = np.abs(y64)
    peak = float(abs_y.max())
    rms = float(np.sqrt(np.dot(y64, y64) / len(y64)))
    return {
        "mean_abs": float(abs_y.mean()),
        "std": float(np.sqrt(var)),
        "skew": float(skew),
        "kurt": float(kurt),
        "peak": peak,
        "crest": peak / rms if rms > 0.0 else 0.0,
    }
