"""Log-mel spectrogram, MFCCs and their deltas, from the shared power spectrogram.

Same definitions as ``librosa.feature.mfcc`` (Slaney mel filterbank, ``power_to_db`` with
ref 1 and ``top_db``, orthonormal DCT-II) and ``librosa.feature.delta`` (Savitzky-Golay
derivative, ``mode="interp"``), written as two cached matrix products and one small
filter so that a clip costs a fraction of the librosa call.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import scipy.fft
import scipy.sparse

from pipeline.features.stft import AMIN, readonly

# Slaney's mel scale (his Auditory Toolbox, librosa's default): linear below 1 kHz, 200/3 Hz
# per mel; logarithmic above, 27 mels per factor 6.4.
_HZ_PER_MEL = 200.0 / 3
_KNEE_HZ = 1000.0
_KNEE_MEL = _KNEE_HZ / _HZ_PER_MEL
_LOG_STEP = np.log(6.4) / 27.0


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Frequencies in Hz on Slaney's mel scale (``librosa.hz_to_mel``), float64."""
    hz = np.asarray(hz, dtype=np.float64)
    above = _KNEE_MEL + np.log(np.maximum(hz, _KNEE_HZ) / _KNEE_HZ) / _LOG_STEP
    return np.where(hz >= _KNEE_HZ, above, hz / _HZ_PER_MEL)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    """Slaney mels in Hz (``librosa.mel_to_hz``), float64."""
    mel = np.asarray(mel, dtype=np.float64)
    above = _KNEE_HZ * np.exp(_LOG_STEP * (np.maximum(mel, _KNEE_MEL) - _KNEE_MEL))
    return np.where(mel >= _KNEE_MEL, above, _HZ_PER_MEL * mel)


def mel_frequencies(n: int, *, fmin: float, fmax: float) -> np.ndarray:
    """``n`` frequencies in Hz equally spaced in Slaney mels from ``fmin`` to ``fmax``
    (``librosa.mel_frequencies``), float64, shape (n,)."""
    return mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n))


@lru_cache(maxsize=8)
def mel_basis(
    *, sr: float, n_fft: int, n_mels: int, fmin: float, fmax: float
) -> scipy.sparse.csr_array:
    """Slaney mel filterbank (``librosa.filters.mel``), float32, shape (n_mels, n_freq).

    Triangles between ``n_mels + 2`` edges equally spaced in mels, each of unit area.
    Computed here (equal to librosa's, ``tests/test_features.py``): ``librosa.filters``
    loads ``scipy.signal`` and ``scipy.stats``, a second in every extracting process.
    Sparse: each FFT bin feeds at most two triangular filters, so ~98 % of the dense
    matrix is zeros and the sparse product costs a small fraction of the dense one.
    """
    edges = mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax)
    freqs = np.fft.rfftfreq(n_fft, d=1.0 / sr)
    widths = np.diff(edges)
    rising = (freqs - edges[:-2, None]) / widths[:-1, None]
    falling = (edges[2:, None] - freqs) / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return scipy.sparse.csr_array(weights)


@lru_cache(maxsize=8)
def dct_basis(*, n_mels: int, n_mfcc: int) -> np.ndarray:
    """Orthonormal DCT-II matrix (first ``n_mfcc`` rows), float32, (n_mfcc, n_mels)."""
    matrix = scipy.fft.dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[:n_mfcc]
    return readonly(np.ascontiguousarray(matrix, dtype=np.float32))


def mel_db(power: np.ndarray, *, basis: scipy.sparse.csr_array) -> np.ndarray:
    """Mel power in dB, 10·log10(max(mel, 1e-10)), before :func:`floor_db`; frame by frame.

    Parameters
    ----------
    power : np.ndarray, shape (n_freq, n_frames)
    basis : scipy.sparse.csr_array, shape (n_mels, n_freq)
        From :func:`mel_basis`.

    Returns
    -------
    np.ndarray, shape (n_mels, n_frames), float32
    """
    mel = np.asarray(basis @ power, dtype=np.float32)
    np.maximum(mel, np.float32(AMIN), out=mel)
    db = np.log10(mel, out=mel)
    db *= np.float32(10.0)
    return db


def floor_db(db: np.ndarray, *, top_db: float = 80.0, out: np.ndarray | None = None) -> np.ndarray:
    """Raise values more than ``top_db`` below the maximum of ``db`` (a whole clip) to it.

    ``out`` may be ``db`` itself (in place). Returns ``out`` (a new array when None).
    """
    return np.maximum(db, db.max() - np.float32(top_db), out=out)


def log_mel(
    power: np.ndarray, *, basis: scipy.sparse.csr_array, top_db: float = 80.0
) -> np.ndarray:
    """Log-mel spectrogram in dB (``librosa.power_to_db(melspectrogram)``).

    Parameters
    ----------
    power : np.ndarray, shape (n_freq, n_frames)
    basis : scipy.sparse.csr_array, shape (n_mels, n_freq)
        From :func:`mel_basis`.
    top_db : float
        Values more than ``top_db`` below the clip's maximum are raised to it.

    Returns
    -------
    np.ndarray, shape (n_mels, n_frames), float32
    """
    db = mel_db(power, basis=basis)
    return floor_db(db, top_db=top_db, out=db)


def mfcc(log_mel_db: np.ndarray, *, n_mfcc: int) -> np.ndarray:
    """MFCCs (orthonormal DCT-II of the log-mel spectrogram).

    Parameters
    ----------
    log_mel_db : np.ndarray, shape (n_mels, n_frames)

    Returns
    -------
    np.ndarray, shape (n_mfcc, n_frames), float32
    """
    n_mels = log_mel_db.shape[0]
    basis = dct_basis(n_mels=n_mels, n_mfcc=n_mfcc)
    # Rows 1.. of the DCT ignore a frame's mean level, and row 0 measures only it.
    # Splitting the two keeps frames with equal spectra (digital silence) exactly
    # equal instead of differing by matrix-product rounding.
    level = log_mel_db.mean(axis=0)
    coefficients = np.empty((n_mfcc, log_mel_db.shape[1]), dtype=np.float32)
    coefficients[0] = level * np.float32(np.sqrt(n_mels))
    coefficients[1:] = basis[1:] @ (log_mel_db - level)
    return coefficients


@lru_cache(maxsize=32)
def derivative_weights(n: int, order: int) -> np.ndarray:
    """Weights giving the ``order``-th derivative of the least-squares polynomial of degree
    ``order`` through ``n`` equally spaced points (the Savitzky-Golay derivative filter).

    Returns
    -------
    np.ndarray, shape (n,), float32; all zeros when ``n <= order``.
    """
    if n <= order:
        return readonly(np.zeros(n, dtype=np.float32))
    positions = np.arange(n) - (n - 1) / 2
    vandermonde = np.vander(positions, order + 1, increasing=True)
    weights = math.factorial(order) * np.linalg.pinv(vandermonde)[order]
    return readonly(weights.astype(np.float32))


def deltas(data: np.ndarray, *, width: int = 9, orders: tuple[int, ...] = (1, 2)) -> np.ndarray:
    """Local derivatives along the last axis (``librosa.feature.delta``, ``mode="interp"``).

    The derivative of the degree-``order`` fit is constant over a window, so librosa's
    "interp" edges equal the first/last full-window value: compute the valid part with
    one filter and repeat its ends. With fewer frames than ``width`` (where librosa
    raises) the fit uses all frames, giving one constant value (0 for ``order`` or fewer
    frames). All orders share one pass over the sliding windows.

    Parameters
    ----------
    data : np.ndarray, shape (n_rows, n_frames)
    width : int, odd, >= 3
    orders : tuple of int, each >= 1

    Returns
    -------
    np.ndarray, shape (len(orders), n_rows, n_frames), float32
    """
    n_frames = data.shape[-1]
    window = min(width, n_frames)
    weights = np.stack([derivative_weights(window, order) for order in orders], axis=1)
    # A derivative ignores offsets; removing one makes a constant row exactly 0.
    data = data - data[..., :1]
    windows = np.lib.stride_tricks.sliding_window_view(data, window, axis=-1)
    valid = np.moveaxis(windows @ weights, -1, 0)
    # Repeat the first and last valid values (np.pad's "edge", without its overhead).
    before = (n_frames - valid.shape[-1]) // 2
    out = np.empty(valid.shape[:-1] + (n_frames,), dtype=valid.dtype)
    out[..., before : before + valid.shape[-1]] = valid
    out[..., :before] = valid[..., :1]
    out[..., before + valid.shape[-1] :] = valid[..., -1:]
    return out


def delta(data: np.ndarray, *, width: int = 9, order: int = 1) -> np.ndarray:
    """One derivative of :func:`deltas`, shape (n_rows, n_frames)."""
    return deltas(data, width=width, orders=(order,))[0]
