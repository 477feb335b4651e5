"""FFT features from one shared short-time Fourier transform per clip.

Layout: spectrograms are (n_freq, n_frames) as in librosa; the FFT runs along axis 0 of
the windowed frame matrix so it produces that layout without a transpose, and per-frame
reductions over frequency then add whole contiguous rows. Frames are centred and
zero-padded exactly as ``librosa.stft(center=True, pad_mode="constant")`` with a periodic
Hann window.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np
import scipy.fft
import scipy.signal

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
    """Periodic Hann window (``scipy.signal.get_window("hann", n_fft)``), float32, (n_fft,)."""
    return readonly(scipy.signal.get_window("hann", n_fft, fftbins=True).astype(np.float32))


@lru_cache(maxsize=8)
def fft_frequencies(*, sr: float, n_fft: int) -> np.ndarray:
    """Centre frequency in Hz of each FFT bin, float64, shape (1 + n_fft // 2,)."""
    return readonly(np.fft.rfftfreq(n_fft, d=1.0 / sr))


def frame(y: np.ndarray, *, n_fft: int, hop_length: int) -> np.ndarray:
    """Centred, zero-padded frames of ``y`` as a read-only strided view.

    A signal shorter than ``n_fft`` (down to one sample) gives one frame holding the
    signal in the middle of zeros.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,), float32
    n_fft, hop_length : int

    Returns
    -------
    np.ndarray, shape (n_fft, 1 + n_samples // hop_length)
        Column ``t`` is frame ``t`` (librosa's ``util.frame`` layout).
    """
    padded = np.zeros(len(y) + n_fft, dtype=np.float32)
    padded[n_fft // 2 : n_fft // 2 + len(y)] = y
    n = 1 + len(y) // hop_length
    step = padded.strides[0]
    return np.lib.stride_tricks.as_strided(
        padded, shape=(n_fft, n), strides=(step, hop_length * step), writeable=False
    )


def power_spectrogram(y: np.ndarray, *, n_fft: int, hop_length: int) -> np.ndarray:
    """|STFT|² of ``y``, the one spectrogram every spectral feature of a clip shares.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,), float32
    n_fft, hop_length : int

    Returns
    -------
    np.ndarray, shape (1 + n_fft // 2, 1 + n_samples // hop_length), float32
    """
    # One frame per row: each FFT then reads contiguous memory (about 1.7x faster than
    # transforming the columns of the (n_fft, n_frames) layout).
    frames = frame(y, n_fft=n_fft, hop_length=hop_length).T
    windowed = scratch("windowed", frames.shape, np.float32)
    np.multiply(frames, hann_window(n_fft), out=windowed)
    spectrum = scipy.fft.rfft(windowed, axis=1, overwrite_x=True)
    # Square the interleaved (re, im) floats in one contiguous pass, then pair them.
    parts = spectrum.view(np.float32)
    parts *= parts
    return np.ascontiguousarray((parts[:, 0::2] + parts[:, 1::2]).T)


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


def flux(S: np.ndarray) -> np.ndarray:
    """Spectral flux: L2 distance between successive L1-normalised magnitude spectra.

    A silent frame normalises to all zeros. The first frame has no predecessor and
    repeats the second frame's value (0 for a one-frame clip).

    Parameters
    ----------
    S : np.ndarray, shape (n_freq, n_frames)

    Returns
    -------
    np.ndarray, shape (n_frames,), unitless, in [0, sqrt(2)]
    """
    totals = S.sum(axis=0)
    normalised = scratch("normalised", S.shape, np.float32)
    np.multiply(S, (1.0 / np.where(totals > 0, totals, 1.0)).astype(np.float32), out=normalised)
    step = scratch("step", (S.shape[0], S.shape[1] - 1), np.float32)
    np.subtract(normalised[:, 1:], normalised[:, :-1], out=step)
    values = np.sqrt(np.einsum("ij,ij->j", step, step))
    return np.concatenate([values[:1] if len(values) else [0.0], values])


@lru_cache(maxsize=8)
def contrast_bands(
    *, sr: float, n_fft: int, fmin: float, n_bands: int, quantile: float
) -> tuple[tuple[int, int, int], ...]:
    """Bin ranges of ``librosa.feature.spectral_contrast``'s octave bands.

    Returns, per band (``n_bands + 1`` of them), ``(start, stop, k)``: the band is
    bins ``start:stop`` and peak/valley are the means of its ``k`` largest/smallest
    magnitudes.
    """
    freqs = fft_frequencies(sr=sr, n_fft=n_fft)
    edges = np.zeros(n_bands + 2)
    edges[1:] = fmin * 2.0 ** np.arange(n_bands + 1)
    if np.any(edges[:-1] >= sr / 2):
        raise ValueError(
            f"contrast bands exceed the Nyquist frequency: lower fmin ({fmin}) "
            f"or contrast_bands ({n_bands})"
        )
    bands = []
    for k, (low, high) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        inside = np.flatnonzero((freqs >= low) & (freqs <= high))
        if len(inside) == 0:
            raise ValueError(f"contrast band {k} ({low:.0f}-{high:.0f} Hz) holds no FFT bin")
        # librosa widens every band but the first by one bin below, counts the last
        # band up to Nyquist, and drops the top bin of every band but the last.
        start = inside[0] - 1 if k > 0 else inside[0]
        stop = len(freqs) if k == n_bands else inside[-1] + 1
        counted = stop - start
        if k < n_bands:
            stop -= 1
        take = max(int(np.rint(quantile * counted)), 1)
        bands.append((int(start), int(stop), take))
    return tuple(bands)


def _to_db(x: np.ndarray, *, top_db: float) -> np.ndarray:
    """``librosa.power_to_db`` with ref 1: 10·log10(max(x, 1e-10)) clipped to max - top_db."""
    db = 10.0 * np.log10(np.maximum(x, AMIN))
    return np.maximum(db, db.max() - top_db)


def contrast(
    S: np.ndarray,
    *,
    sr: float,
    n_fft: int,
    fmin: float = 200.0,
    n_bands: int = 6,
    quantile: float = 0.02,
) -> np.ndarray:
    """Spectral contrast per octave band (``librosa.feature.spectral_contrast``).

    Difference in dB between the mean of the top and bottom ``quantile`` of the
    magnitudes in each band.

    Parameters
    ----------
    S : np.ndarray, shape (1 + n_fft // 2, n_frames)
        Magnitude spectrogram.

    Returns
    -------
    np.ndarray, shape (n_bands + 1, n_frames), dB, float64
    """
    bands = contrast_bands(sr=sr, n_fft=n_fft, fmin=fmin, n_bands=n_bands, quantile=quantile)
    peak = np.empty((len(bands), S.shape[1]))
    valley = np.empty_like(peak)
    for k, (start, stop, take) in enumerate(bands):
        band = S[start:stop]
        if take == 1:
            # Most bands need only their extremes; a full sort is the slow path.
            peak[k] = band.max(axis=0)
            valley[k] = band.min(axis=0)
        else:
            # Sorting contiguous rows of the transposed band is the fast direction.
            ordered = np.sort(np.ascontiguousarray(band.T), axis=1)
            peak[k] = ordered[:, -take:].mean(axis=1)
            valley[k] = ordered[:, :take].mean(axis=1)
    return _to_db(peak, top_db=80.0) - _to_db(valley, top_db=80.0)


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


@lru_cache(maxsize=8)
def band_matrix(*, sr: float, n_fft: int, n_bands: int, fmin: float, fmax: float) -> np.ndarray:
    """0/1 matrix summing FFT bins into ``n_bands`` log-spaced bands from fmin to fmax.

    Bin ``f`` belongs to band ``b`` when ``edge[b] <= f < edge[b + 1]`` (the last band
    includes fmax). A band too narrow to hold a bin takes the bin nearest its
    geometric centre.

    Returns
    -------
    np.ndarray, shape (n_bands, 1 + n_fft // 2), float32
    """
    if not 0 < fmin < fmax <= sr / 2:
        raise ValueError(f"band range must satisfy 0 < band_fmin < band_fmax <= sr/2, got "
                         f"{fmin}, {fmax} at sr={sr}")
    freqs = fft_frequencies(sr=sr, n_fft=n_fft)
    edges = np.geomspace(fmin, fmax, n_bands + 1)
    weights = np.zeros((n_bands, len(freqs)), dtype=np.float32)
    for b in range(n_bands):
        upper = freqs <= edges[b + 1] if b == n_bands - 1 else freqs < edges[b + 1]
        inside = (freqs >= edges[b]) & upper
        if not inside.any():
            inside[np.argmin(np.abs(freqs - np.sqrt(edges[b] * edges[b + 1])))] = True
        weights[b, inside] = 1.0
    return readonly(weights)


def band_log_energies(
    mean_power: np.ndarray, *, sr: float, n_fft: int, n_bands: int, fmin: float, fmax: float
) -> np.ndarray:
    """Energy in dB (10·log10, floor 1e-10) of log-spaced bands of the mean power spectrum.

    Parameters
    ----------
    mean_power : np.ndarray, shape (1 + n_fft // 2,)

    Returns
    -------
    np.ndarray, shape (n_bands,), dB
    """
    weights = band_matrix(sr=sr, n_fft=n_fft, n_bands=n_bands, fmin=fmin, fmax=fmax)
    energies = weights.astype(np.float64) @ mean_power.astype(np.float64)
    return 10.0 * np.log10(np.maximum(energies, AMIN))
