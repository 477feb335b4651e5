"""Band features of the spectrum: octave-band spectral contrast and log-spaced band energies.

Both sum or rank FFT bins inside frequency bands whose bin ranges depend only on the
sample rate, FFT length and band parameters, so they are computed once and cached.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from pipeline.features.stft import AMIN, fft_frequencies, readonly


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


def contrast_extremes(
    S: np.ndarray, bands: tuple[tuple[int, int, int], ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Peak and valley magnitude of each octave band and frame, for :func:`contrast`.

    Peak and valley are the means of the top and bottom ``quantile`` of the magnitudes
    in the band (``librosa.feature.spectral_contrast``); each frame is computed alone.

    Parameters
    ----------
    S : np.ndarray, shape (1 + n_fft // 2, n_frames)
        Magnitude spectrogram.
    bands : tuple
        :func:`contrast_bands` for the spectrogram's sample rate and FFT length.

    Returns
    -------
    peak, valley : np.ndarray, shape (n_bands + 1, n_frames), float64
    """
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
    return peak, valley


def contrast_of_extremes(peak: np.ndarray, valley: np.ndarray) -> np.ndarray:
    """Spectral contrast in dB from :func:`contrast_extremes` of a whole clip.

    Both are floored 80 dB below their own maximum over the clip, as librosa does, so
    the result depends on every frame of the clip.

    Returns
    -------
    np.ndarray, shape (n_bands + 1, n_frames), dB, float64
    """
    return _to_db(peak, top_db=80.0) - _to_db(valley, top_db=80.0)


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
    return contrast_of_extremes(*contrast_extremes(S, bands))


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
