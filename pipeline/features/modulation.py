"""Modulation spectrum of the amplitude envelope: how fast a sound's loudness pulses.

Frame-wise features (one value every ``hop_length`` samples, 43 a second at 22050 Hz) see
periodicities up to ~21 Hz at best, and their summary statistics see none: a jackhammer's
blows at 12–45 Hz, a hammer drill's at 15–45 Hz and an engine's firing pulses at 8–20 Hz
look like a steady hum to them. Here the envelope is taken every :data:`ENVELOPE_RATE`-th
of a second from the samples themselves, and its spectrum is summarised in octave bands of
modulation frequency, with the strongest periodicity and how far it stands out.

Two envelopes are analysed: that of the signal (``full``) and that of its first
difference (``high``): the filter 1 − z⁻¹ weights a frequency f by 2·sin(πf/sr), so the
second envelope follows the bright band noise of impacts rather than a low hum.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

#: Envelope samples per second (≈ sr / 64 at 22050 Hz); its Nyquist frequency (~172 Hz)
#: lies above the top modulation band.
ENVELOPE_RATE = 344.53125
#: Octave bands of modulation frequency, Hz: [1, 2), [2, 4), …, [64, 128).
BAND_EDGES = (1, 2, 4, 8, 16, 32, 64, 128)
#: The bands as (low, high) pairs, in column order.
BANDS = tuple(pairwise(BAND_EDGES))
#: Modulation frequencies searched for the strongest periodicity, Hz.
PEAK_RANGE = (4.0, 64.0)
#: The two envelopes, in column order.
ENVELOPES = ("full", "high")
#: Log10 floor of a band's energy (an envelope with no modulation at all).
FLOOR = -10.0


def modulation_names() -> list[str]:
    """Column names of :func:`modulation_features`, in its order (18 columns)."""
    per_envelope = [f"{lo}_{hi}hz" for lo, hi in BANDS]
    per_envelope += ["peak_hz", "peak_prominence"]
    return [f"mod_{env}_{name}" for env in ENVELOPES for name in per_envelope]


def envelope(y: np.ndarray, *, block: int) -> np.ndarray:
    """RMS of consecutive blocks of ``block`` samples (a trailing partial block is dropped).

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,)
    block : int

    Returns
    -------
    np.ndarray, shape (n_samples // block,), float64
    """
    n = len(y) // block
    blocks = y[: n * block].reshape(n, block)
    # Sums of 64 squares lose nothing that matters in float32; the rest runs in float64.
    return np.sqrt(np.einsum("ij,ij->i", blocks, blocks).astype(np.float64) / block)


def envelope_spectrum(env: np.ndarray, *, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Power spectrum of an envelope's relative fluctuation e/mean(e) − 1 (Hann window).

    Dividing by the mean makes the spectrum independent of the clip's level: it measures
    modulation depth, not loudness.

    Parameters
    ----------
    env : np.ndarray, shape (n,), n >= 2
    rate : float
        Envelope samples per second.

    Returns
    -------
    freqs, power : np.ndarray, shape (n_fft // 2 + 1,)
        ``n_fft`` is the next power of two of ``n``, at least 256 (zero padding, so a
        short clip still has bins in every band).
    """
    n = len(env)
    mean = env.mean()
    rel = env / mean - 1.0 if mean > 0 else np.zeros(n)
    n_fft = max(256, 1 << (n - 1).bit_length())
    power = np.abs(np.fft.rfft(rel * np.hanning(n), n_fft)) ** 2 / n
    return np.fft.rfftfreq(n_fft, 1.0 / rate), power


def _summary(freqs: np.ndarray, power: np.ndarray) -> list[float]:
    """Log10 energy per band of :data:`BAND_EDGES`, the peak frequency in
    :data:`PEAK_RANGE` and log10 of its ratio to that range's median power.

    The peak is the strongest bin, not a pitch estimate: a train of sharp clicks has
    harmonics as strong as its rate and may peak at one of them; blows that last a few
    milliseconds, as real impacts do, peak at their rate."""
    # freqs ascend: each band [lo, hi) is one slice of bins.
    edges = np.searchsorted(freqs, BAND_EDGES)
    sums = np.array([power[a:b].sum() for a, b in pairwise(edges)])
    out = np.maximum(FLOOR, np.log10(sums + 10.0**FLOOR)).tolist()
    lo, hi = np.searchsorted(freqs, PEAK_RANGE)
    band, at = power[lo:hi], freqs[lo:hi]
    if band.size == 0:  # an envelope rate under 8 Hz: nothing to search
        return out + [0.0, 0.0]
    k = int(np.argmax(band))
    median = float(np.median(band))
    prominence = np.log10(band[k] / median) if median > 0 and band[k] > 0 else 0.0
    return out + [float(at[k]), float(prominence)]


def modulation_features(y: np.ndarray, *, sr: int) -> np.ndarray:
    """Modulation band energies and strongest periodicity of ``y``'s two envelopes.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,), float32
        A finite mono clip.
    sr : int
        Its sample rate.

    Returns
    -------
    np.ndarray, shape (18,), float64
        In the order of :func:`modulation_names`. A clip shorter than two envelope
        samples (~6 ms) has no modulation: every band at :data:`FLOOR`, peak 0 Hz.
    """
    block = max(1, round(sr / ENVELOPE_RATE))
    rate = sr / block
    high = np.empty_like(y)
    high[0] = 0.0
    np.subtract(y[1:], y[:-1], out=high[1:])
    out = []
    for signal in (y, high):
        env = envelope(signal, block=block)
        if len(env) < 2:
            out += [FLOOR] * len(BANDS) + [0.0, 0.0]
            continue
        out += _summary(*envelope_spectrum(env, rate=rate))
    return np.asarray(out, dtype=np.float64)
