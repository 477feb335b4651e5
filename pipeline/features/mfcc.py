"""Log-mel spectrogram, MFCCs and their deltas, from the shared power spectrogram.

Same definitions as ``librosa.feature.mfcc`` (Slaney mel filterbank, ``power_to_db`` with
ref 1 and ``top_db``, orthonormal DCT-II) and ``librosa.feature.delta`` (Savitzky-Golay
derivative, ``mode="interp"``), written as two cached matrix products and one small
filter so that a clip costs a fraction of the librosa call.
"""

from __future__ import annotations

import math
from functools import lru_cache

import librosa
import numpy as np
import scipy.fft

from pipeline.features.spectral import AMIN, readonly


@lru_cache(maxsize=8)
def mel_basis(*, sr: float, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Transposed Slaney mel filterbank (``librosa.filters.mel``), float32, (n_freq, n_mels)."""
    weights = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    return readonly(np.ascontiguousarray(weights.T, dtype=np.float32))


@lru_cache(maxsize=8)
def dct_basis(*, n_mels: int, n_mfcc: int) -> np.ndarray:
    """Transposed orthonormal DCT-II matrix, float32, (n_mels, n_mfcc)."""
    matrix = scipy.fft.dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[:n_mfcc]
    return readonly(np.ascontiguousarray(matrix.T, dtype=np.float32))


def log_mel(power: np.ndarray, *, basis: np.ndarray, top_db: float = 80.0) -> np.ndarray:
    """Log-mel spectrogram in dB (``librosa.power_to_db(melspectrogram)``).

    Parameters
    ----------
    power : np.ndarray, shape (n_frames, n_freq)
    basis : np.ndarray, shape (n_freq, n_mels)
        From :func:`mel_basis`.
    top_db : float
        Values more than ``top_db`` below the clip's maximum are raised to it.

    Returns
    -------
    np.ndarray, shape (n_frames, n_mels), float32
    """
    mel = power @ basis
    np.maximum(mel, np.float32(AMIN), out=mel)
    db = np.log10(mel, out=mel)
    db *= np.float32(10.0)
    np.maximum(db, db.max() - np.float32(top_db), out=db)
    return db


def mfcc(log_mel_db: np.ndarray, *, n_mfcc: int) -> np.ndarray:
    """MFCCs (orthonormal DCT-II of the log-mel spectrogram).

    Parameters
    ----------
    log_mel_db : np.ndarray, shape (n_frames, n_mels)

    Returns
    -------
    np.ndarray, shape (n_mfcc, n_frames), float32
    """
    return (log_mel_db @ dct_basis(n_mels=log_mel_db.shape[1], n_mfcc=n_mfcc)).T


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


def delta(data: np.ndarray, *, width: int = 9, order: int = 1) -> np.ndarray:
    """Local derivative along the last axis (``librosa.feature.delta``, ``mode="interp"``).

    The derivative of the degree-``order`` fit is constant over a window, so librosa's
    "interp" edges equal the first/last full-window value: compute the valid part with
    one filter and repeat its ends. With fewer frames than ``width`` (where librosa
    raises) the fit uses all frames, giving one constant value (0 for ``order`` or fewer
    frames).

    Parameters
    ----------
    data : np.ndarray, shape (n_rows, n_frames)
    width : int, odd, >= 3
    order : int, >= 1

    Returns
    -------
    np.ndarray, shape (n_rows, n_frames), float32
    """
    n_frames = data.shape[-1]
    window = min(width, n_frames)
    weights = derivative_weights(window, order)
    windows = np.lib.stride_tricks.sliding_window_view(data, window, axis=-1)
    valid = windows @ weights
    missing = n_frames - valid.shape[-1]
    return np.pad(valid, [(0, 0), (missing // 2, missing - missing // 2)], mode="edge")
