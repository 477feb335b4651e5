"""Frame-wise spectral shape descriptors and the clip-level spectral peak.

Centroid, bandwidth, roll-off, flatness, flux and onset strength (one value per frame)
and the dominant frequency (one per clip), each as librosa defines it, computed from the
spectrogram of :func:`pipeline.features.stft.power_spectrogram`: (n_freq, n_frames), so
per-frame reductions over frequency add whole contiguous rows.

The STFT helpers (:mod:`.stft`) and the band features (:mod:`.bands`) can be imported
from here too.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from pipeline.features.bands import band_log_energies, band_matrix, contrast, contrast_bands
from pipeline.features.stft import (
    AMIN,
    fft_frequencies,
    frame,
    hann_window,
    power_spectrogram,
    readonly,
    scratch,
)

__all__ = [
    "AMIN",
    "band_log_energies",
    "band_matrix",
    "centroid_bandwidth",
    "contrast",
    "contrast_bands",
    "dominant_frequency",
    "fft_frequencies",
    "flatness",
    "flux",
    "flux_of_steps",
    "flux_steps",
    "frame",
    "hann_window",
    "onset_strength",
    "power_spectrogram",
    "readonly",
    "rolloff",
    "scratch",
]

@lru_cache(maxsize=8)
def _moment_weights(*, sr: float, n_fft: int) -> np.ndarray:
    freqs = fft_frequencies(sr=sr, n_fft=n_fft)
    return readonly(np.stack([np.ones_like(freqs), freqs, freqs * freqs]))


def centroid_bandwidth(S: np.ndarray, *, sr: float, n_fft: int) -> tuple[np.ndarray, np.ndarray]:
    """Spectral centroid and bandwidth (p = 2) of a magnitude spectrogram.

    The definitions of ``librosa.feature.spectral_centroid`` / ``spectral_bandwidth``:
    mean and standard deviation of frequency weighted by magnitude. A silent frame
    has centroid 0 and bandwidth 0.

    Parameters
    ----------
    S : np.ndarray, shape (1 + n_fft // 2, n_frames)
        Magnitude spectrogram.
    sr, n_fft : int

    Returns
    -------
    centroid, bandwidth : np.ndarray, shape (n_frames,), Hz, float64
    """
    # Float64 moments: bandwidth² = E[f²] - centroid² cancels badly in float32.
    wide = scratch("wide", S.shape, np.float64)
    np.copyto(wide, S)
    m0, m1, m2 = _moment_weights(sr=sr, n_fft=n_fft) @ wide
    silent = m0 <= 0.0
    m0 = np.where(silent, 1.0, m0)
    centroid = np.where(silent, 0.0, m1 / m0)
    bandwidth = np.sqrt(np.maximum(m2 / m0 - centroid * centroid, 0.0))
    return centroid, np.where(silent, 0.0, bandwidth)


# Bins per block of the two-level cumulative sum of :func:`rolloff`.
_BLOCK = 32


def rolloff(S: np.ndarray, *, sr: float, n_fft: int, roll_percent: float = 0.85) -> np.ndarray:
    """Lowest bin frequency below which ``roll_percent`` of the frame's magnitude lies.

    ``librosa.feature.spectral_rolloff``; a silent frame has roll-off 0. Instead of a
    cumulative sum over all bins (slow in numpy), sums of blocks of bins locate the
    block holding the threshold and only that block is accumulated bin by bin.

    Parameters
    ----------
    S : np.ndarray, shape (1 + n_fft // 2, n_frames)
    sr, n_fft : int
    roll_percent : float in (0, 1)

    Returns
    -------
    np.ndarray, shape (n_frames,), Hz
    """
    n_freq, n = S.shape
    n_blocks = -(-n_freq // _BLOCK)
    whole = (n_freq // _BLOCK) * _BLOCK
    blocks = np.zeros((n_blocks, n), dtype=np.float64)
    blocks[: whole // _BLOCK] = S[:whole].reshape(-1, _BLOCK, n).sum(axis=1)
    if whole < n_freq:
        blocks[-1] = S[whole:].sum(axis=0)
    before = np.cumsum(blocks, axis=0)
    threshold = roll_percent * before[-1]
    block = np.minimum(np.count_nonzero(before < threshold, axis=0), n_blocks - 1)
    before -= blocks  # magnitude below each block
    columns = np.arange(n)
    rows = block * _BLOCK + np.arange(_BLOCK)[:, None]
    values = np.where(rows < n_freq, S[np.minimum(rows, n_freq - 1), columns], 0.0)
    inside = before[block, columns] + np.cumsum(values, axis=0)
    offset = np.minimum(np.count_nonzero(inside < threshold, axis=0), _BLOCK - 1)
    bins = np.minimum(block * _BLOCK + offset, n_freq - 1)
    return bins * (sr / n_fft)


# Bins multiplied together before one logarithm in :func:`flatness`: the product of 8
# floored powers stays inside float64's range even for clipped, full-scale input.
_LOG_GROUP = 8


def flatness(power: np.ndarray) -> np.ndarray:
    """Spectral flatness: geometric over arithmetic mean of the power spectrum.

    ``librosa.feature.spectral_flatness`` (power floored at 1e-10), so a silent frame
    has flatness 1. The geometric mean takes the logarithm of products of
    :data:`_LOG_GROUP` bins in float64 (exact to rounding) instead of one logarithm per
    bin: logarithms are the costly part.

    Parameters
    ----------
    power : np.ndarray, shape (n_freq, n_frames)

    Returns
    -------
    np.ndarray, shape (n_frames,), in (0, 1]
    """
    n_freq, n = power.shape
    groups = -(-n_freq // _LOG_GROUP)
    # Padding rows of ones leave the products unchanged.
    floored = scratch("floored", (groups * _LOG_GROUP, n), np.float64)
    np.maximum(power, AMIN, out=floored[:n_freq])
    floored[n_freq:] = 1.0
    arithmetic = floored[:n_freq].sum(axis=0) / n_freq
    products = np.multiply.reduce(floored.reshape(groups, _LOG_GROUP, n), axis=1)
    log_mean = np.log(products).sum(axis=0) / n_freq
    # Rounding can lift the ratio of equal values a hair above its bound of 1.
    return np.minimum(np.exp(log_mean) / arithmetic, 1.0)


def flux_steps(S: np.ndarray) -> np.ndarray:
    """L2 distance between each L1-normalised magnitude spectrum and the one before it.

    A silent frame normalises to all zeros.

    Parameters
    ----------
    S : np.ndarray, shape (n_freq, n_frames)

    Returns
    -------
    np.ndarray, shape (n_frames - 1,), float32, in [0, sqrt(2)]
        Entry ``t`` is the step from frame ``t`` to frame ``t + 1``.
    """
    totals = S.sum(axis=0)
    normalised = scratch("normalised", S.shape, np.float32)
    np.multiply(S, (1.0 / np.where(totals > 0, totals, 1.0)).astype(np.float32), out=normalised)
    step = scratch("step", (S.shape[0], S.shape[1] - 1), np.float32)
    np.subtract(normalised[:, 1:], normalised[:, :-1], out=step)
    return np.sqrt(np.einsum("ij,ij->j", step, step))


def flux_of_steps(steps: np.ndarray) -> np.ndarray:
    """Spectral flux of a clip from its :func:`flux_steps`, shape (n_frames,).

    The first frame has no predecessor and repeats the second frame's value (0 for a
    one-frame clip).
    """
    return np.concatenate([steps[:1] if len(steps) else [0.0], steps])


def flux(S: np.ndarray) -> np.ndarray:
    """Spectral flux: L2 distance between successive L1-normalised magnitude spectra.

    :func:`flux_steps` with the first frame of :func:`flux_of_steps`.

    Parameters
    ----------
    S : np.ndarray, shape (n_freq, n_frames)

    Returns
    -------
    np.ndarray, shape (n_frames,), unitless, in [0, sqrt(2)]
    """
    return flux_of_steps(flux_steps(S))


def onset_strength(log_mel: np.ndarray, *, n_fft: int, hop_length: int) -> np.ndarray:
    """Onset strength envelope (``librosa.onset.onset_strength`` with its defaults).

    Mean over mel bands of the rectified frame-to-frame increase of the log-mel
    spectrogram, delayed as librosa does (by ``1 + n_fft // (2 * hop_length)`` frames,
    zeros in front) so that it lines up with centred frames.

    Parameters
    ----------
    log_mel : np.ndarray, shape (n_mels, n_frames), dB

    Returns
    -------
    np.ndarray, shape (n_frames,), dB
    """
    n = log_mel.shape[1]
    delay = 1 + n_fft // (2 * hop_length)
    envelope = np.zeros(n)
    if n > delay:
        rise = np.maximum(log_mel[:, 1 : n - delay + 1] - log_mel[:, : n - delay], 0.0)
        envelope[delay:] = rise.mean(axis=0)
    return envelope


def dominant_frequency(mean_power: np.ndarray, *, sr: float, n_fft: int) -> float:
    """Frequency of the strongest peak of the clip's mean power spectrum, in Hz.

    Refined between bins by a parabola through the log power of the peak bin and its
    neighbours; 0 for digital silence.

    Parameters
    ----------
    mean_power : np.ndarray, shape (1 + n_fft // 2,)
    """
    k = int(np.argmax(mean_power))
    offset = 0.0
    if 0 < k < len(mean_power) - 1 and mean_power[k - 1] > 0 and mean_power[k + 1] > 0:
        a, b, c = np.log(mean_power[k - 1 : k + 2].astype(np.float64))
        curvature = a - 2.0 * b + c
        if curvature < 0:
            offset = float(np.clip(0.5 * (a - c) / curvature, -0.5, 0.5))
    return (k + offset) * sr / n_fft
