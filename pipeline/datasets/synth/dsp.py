"""Signal building blocks of the generator: noise, filters, tones, envelopes, rooms.

Everything is synthesised at :data:`SR` (22050 Hz) in float64; spectral shapes are given as
smooth ``gain_db(freqs)`` curves and applied in the FFT domain, whose transforms run in single
precision (:func:`rfft32`).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft as sfft

SR = 22050  # synthesis rate of every recipe
SPEED_OF_SOUND = 343.0  # m/s

_TABLE = 2048


def logu(rng: np.random.Generator, lo: float, hi: float) -> float:
    """Log-uniform draw: the natural prior for frequencies and time constants."""
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def db(x: float) -> float:
    """Linear amplitude factor of ``x`` dB."""
    return float(10.0 ** (x / 20.0))


def rms(x: np.ndarray) -> float:
    """Root mean square of ``x`` (shape (n,)), never 0."""
    # einsum sums the squares without a temporary array, and without BLAS threads.
    return float(np.sqrt(np.einsum("i,i->", x, x) / max(len(x), 1)) + 1e-12)


def active_rms(x: np.ndarray, frame: int = 512) -> float:
    """RMS over the frames within 20 dB of the loudest, so short events get a fair level."""
    if len(x) < frame:
        return rms(x)
    frames = x[: len(x) // frame * frame].reshape(-1, frame)
    e = np.einsum("ij,ij->i", frames, frames)  # each frame's energy, without a temporary
    return float(np.sqrt(np.mean(e[e >= 0.01 * e.max()]) / frame) + 1e-12)


def unit(x: np.ndarray, active: bool = False) -> np.ndarray:
    """``x`` (shape (n,)) scaled to unit RMS (over its loud frames when ``active``)."""
    return x / (active_rms(x) if active else rms(x))


@lru_cache(maxsize=16)
def seconds(n: int) -> np.ndarray:
    """``np.arange(n) / SR``, the time (s) of each of ``n`` samples; shape (n,), read-only.

    Shared: a clip's recipes, ambience and scene all need the time axis of its length.
    """
    t = np.arange(n) / SR
    t.flags.writeable = False
    return t


_GAIN_GRID = np.linspace(0.0, SR / 2, 2049)
_GAIN_GRID_HZ = np.maximum(_GAIN_GRID, 1.0)


@lru_cache(maxsize=16)
def _bin_freqs(m: int) -> np.ndarray:
    # Clips of a set share a handful of lengths: their bin grids are reused.
    freqs = np.arange(m // 2 + 1) * (SR / m)
    freqs.flags.writeable = False
    return freqs


def gain_curve(m: int, gain_db) -> np.ndarray:
    """Linear gain, float32, of the ``m``-point real FFT bins for the dB curve ``gain_db(freqs)``.

    The curves are smooth, so they are evaluated on a fixed 5 Hz grid and interpolated:
    much cheaper than evaluating logs and exponentials at every bin.
    """
    coarse = 10.0 ** (gain_db(_GAIN_GRID_HZ) / 20.0)
    return _interpolated_gain(m, coarse.tobytes())


@lru_cache(maxsize=64)
def _interpolated_gain(m: int, coarse: bytes) -> np.ndarray:
    # Curves recur (the cars of a street, a microphone over a recording's slices): the
    # interpolation to every bin is done once per curve and length. Callers only read it.
    # Single precision, as the spectra it multiplies (:func:`rfft32`).
    gain = np.interp(_bin_freqs(m), _GAIN_GRID, np.frombuffer(coarse)).astype(np.float32)
    gain.flags.writeable = False
    return gain


def _interp_grid(x: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """``np.interp(x, arange(len(fp)), fp)`` for ``0 <= x < len(fp) - 1``, shape of ``x``.

    On an integer grid the interval of each point is its integer part, so a gather replaces
    ``np.interp``'s search; the arithmetic (slope times offset plus left value) is
    ``np.interp``'s, so the results are the same to the bit. ``x`` is overwritten.
    """
    j = x.astype(np.intp)
    x -= j
    out = np.diff(fp)[j]
    out *= x
    out += fp[j]
    return out


def rfft32(x: np.ndarray, m: int) -> np.ndarray:
    """``rfft(x, m)`` in single precision, shape (m // 2 + 1,), complex64.

    Twice as fast as in double precision, and exact to about -140 dB of the signal: finer
    than the 24-bit files the clips are written to.
    """
    return sfft.rfft(x.astype(np.float32), m)


def irfft64(spec: np.ndarray, m: int, n: int) -> np.ndarray:
    """The first ``n`` samples of ``irfft(spec, m)``, float64, shape (n,); ``spec`` complex64."""
    return sfft.irfft(spec, m)[:n].astype(np.float64)


def convolve(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The first ``len(x)`` samples, shape (n,), of the linear convolution of ``x`` (shape
    (n,)) with ``kernel`` (shape (m,), m >= 1), by one FFT long enough not to wrap around."""
    n = len(x)
    m = sfft.next_fast_len(n + len(kernel) - 1, real=True)
    spec = rfft32(x, m)
    spec *= rfft32(kernel, m)
    return irfft64(spec, m, n)


def filtered(x: np.ndarray, gain_db) -> np.ndarray:
    """Zero-phase filter ``x`` (shape (n,)) by ``gain_db(freqs) -> dB`` in the FFT domain.

    The gain curves are smooth, so their impulse responses are short and the circular
    wrap-around of an unpadded FFT is negligible.
    """
    n = len(x)
    m = sfft.next_fast_len(n, real=True)
    spec = rfft32(x, m)
    spec *= gain_curve(m, gain_db)
    return irfft64(spec, m, n)


def tilt(f: np.ndarray, slope: float, ref: float = 1000.0) -> np.ndarray:
    """Gain in dB at frequencies ``f`` (Hz) of a tilt of ``slope`` dB per octave about ``ref``."""
    return slope * np.log2(f / ref)


def bump(f: np.ndarray, center: float, gain: float, width: float) -> np.ndarray:
    """Gain in dB at ``f`` (Hz) of a log-Gaussian bump of ``gain`` dB, ``width`` octaves wide."""
    return gain * np.exp(-0.5 * (np.log2(f / center) / width) ** 2)


def lowpass(f: np.ndarray, cutoff: float, order: int = 2) -> np.ndarray:
    """Gain in dB at ``f`` (Hz) of a Butterworth-like low-pass of ``order`` at ``cutoff`` Hz."""
    return -10.0 * order * np.log10(1.0 + (f / cutoff) ** 2)


def highpass(f: np.ndarray, cutoff: float, order: int = 2) -> np.ndarray:
    """Gain in dB at ``f`` (Hz) of a Butterworth-like high-pass of ``order`` at ``cutoff`` Hz."""
    return -10.0 * order * np.log10(1.0 + (cutoff / f) ** 2)


def noise(rng: np.random.Generator, n: int, gain_db) -> np.ndarray:
    """Unit-RMS noise, shape (n,), with the spectral shape ``gain_db``.

    Drawn directly in the frequency domain: one inverse FFT instead of a filter.
    """
    m = sfft.next_fast_len(n, real=True)
    k = m // 2 + 1
    # Drawn straight into the spectrum's real and imaginary parts, in single precision like
    # its transform (:func:`irfft64`), and scaled by the real gain in place.
    spec = np.empty(k, dtype=np.complex64)
    parts = spec.view(np.float32).reshape(k, 2)
    rng.standard_normal(out=parts, dtype=np.float32)
    parts *= gain_curve(m, gain_db)[:, None]
    spec[0] = 0.0
    x = irfft64(spec, m, n)
    x /= rms(x)
    return x


def wavetable(rng: np.random.Generator, amps: np.ndarray, f_max: float) -> np.ndarray:
    """One period, shape (2049,), of the harmonics ``amps`` with random phases.

    Harmonics that would pass 0.45·SR at the pitch ``f_max`` are dropped (no aliasing).
    """
    k_max = max(1, int(0.45 * SR / max(f_max, 1.0)))
    amps = np.asarray(amps, dtype=float)[:k_max]
    phases = rng.uniform(0, 2 * np.pi, len(amps))
    # Σ a·sin(2πk·t + φ) = Σ a·cos φ·sin(2πk·t) + a·sin φ·cos(2πk·t): two products with
    # cached tables instead of a sine per harmonic and sample.
    sines, cosines = _harmonic_tables(len(amps))
    return (amps * np.cos(phases)) @ sines + (amps * np.sin(phases)) @ cosines


@lru_cache(maxsize=8)
def _harmonic_rows(rows: int) -> tuple[np.ndarray, np.ndarray]:
    grid = np.arange(_TABLE + 1) / _TABLE
    angles = 2 * np.pi * np.arange(1, rows + 1)[:, None] * grid
    sines, cosines = np.sin(angles), np.cos(angles)
    sines.flags.writeable = cosines.flags.writeable = False
    return sines, cosines


def _harmonic_tables(count: int) -> tuple[np.ndarray, np.ndarray]:
    """sin and cos of 2πk·t for the harmonics k = 1..count over one table period, each of
    shape (count, 2049); read-only views of tables cached for a multiple of 32 harmonics."""
    sines, cosines = _harmonic_rows(-(-count // 32) * 32)
    return sines[:count], cosines[:count]


def play(rng: np.random.Generator, table: np.ndarray, f0, n: int) -> np.ndarray:
    """Read ``table`` at fundamental ``f0`` (Hz, scalar or shape (n,)); shape (n,)."""
    f0 = np.broadcast_to(np.asarray(f0, dtype=float), (n,))
    phase = np.cumsum(f0)
    phase /= SR
    phase += rng.random()
    # The phase is positive, so x - floor(x) is x % 1 exactly (both are exact), and faster.
    phase -= np.floor(phase)
    phase *= _TABLE
    return _interp_grid(phase, table)


def harmonic(rng: np.random.Generator, f0, amps: np.ndarray, n: int) -> np.ndarray:
    """Harmonic tone, shape (n,), with fundamental ``f0`` (Hz, scalar or shape (n,)).

    A wavetable read at the running phase: cheap for gliding pitches.
    """
    table = wavetable(rng, amps, float(np.max(f0)))
    return play(rng, table, f0, n)


def rolloff(n_harm: int, db_per_harm: float) -> np.ndarray:
    """Amplitudes, shape (n_harm,), of harmonics falling by ``db_per_harm`` dB each."""
    return 10.0 ** (-db_per_harm * np.arange(n_harm) / 20.0)


def smooth_walk(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """Zero-mean, unit-std random curve, shape (n,), varying at about ``rate`` Hz."""
    return walk_at(walk_points(rng, n, rate), rate, 0, n)


def walk_points(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """The points of a :func:`smooth_walk` of ``n`` samples, one every 1/``rate`` s."""
    return rng.standard_normal(max(2, int(np.ceil(n / SR * rate)) + 2))


def walk_at(points: np.ndarray, rate: float, a: int, b: int) -> np.ndarray:
    """Samples ``a..b`` (shape (b - a,)) of the walk through ``points`` at ``rate`` Hz."""
    return np.interp(np.arange(a, b) * (rate / SR), np.arange(len(points)), points)


def events(n: int, times: np.ndarray, amps: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Sum of ``kernel`` copies placed at ``times`` (s) with ``amps``, shape (n,)."""
    out = np.zeros(n)
    idx = np.round(np.asarray(times) * SR).astype(int)
    ok = (idx >= 0) & (idx < n)
    idx, amps = idx[ok], np.asarray(amps, dtype=float)[ok]
    if len(kernel) == 0 or len(idx) == 0:
        np.add.at(out, idx, amps)
        return out
    m = len(kernel)
    if len(idx) * (m + 1500) > 30 * (n + m):
        # Dense trains (rain, clicks): one convolution by FFT beats a copy per event.
        np.add.at(out, idx, amps)
        return convolve(out, kernel)
    for i, a in zip(idx.tolist(), amps.tolist(), strict=True):
        k = min(m, n - i)
        out[i : i + k] += a * kernel[:k]
    return out


def decay(tau: float, length: float, attack: float = 0.001) -> np.ndarray:
    """Envelope of ``length`` s: an ``attack`` s rise, then exponential decay with ``tau`` s."""
    t = np.arange(max(2, int(length * SR))) / SR
    return (1.0 - np.exp(-t / attack)) * np.exp(-t / tau)


def gate(n: int, spans: list[tuple[float, float]], attack: float, release: float) -> np.ndarray:
    """Envelope, shape (n,), that is 1 over each (start, end) span with linear ramps."""
    t = seconds(n)
    env = np.zeros(n)
    for a, b in spans:
        up = np.clip((t - a) / attack, 0.0, 1.0)
        down = np.clip((b - t) / release, 0.0, 1.0)
        env = np.maximum(env, np.minimum(up, down))
    return env


def room_ir(rng: np.random.Generator, rt60: float) -> np.ndarray:
    """Reverberant tail, shape (m,), of a room or street canyon, with unit energy.

    Exponentially decaying low-passed noise (−60 dB after ``rt60`` s; walls and air absorb
    the highs first) and four early reflections in the first 30 ms. The direct path is not
    included: :func:`~pipeline.datasets.synth.scenes.heard` adds the tail to the dry signal
    at a chosen level.
    """
    m = max(8, int(min(rt60, 2.0) * SR))
    t = np.arange(m) / SR
    tail = noise(rng, m, lambda f: lowpass(f, 3000.0)) * np.exp(-6.9 * t / rt60)
    lo = int(0.002 * SR)
    idx = rng.integers(lo, max(lo + 1, min(m, int(0.03 * SR))), 4)
    tail[idx] += rng.uniform(-3.0, 3.0, 4)
    return tail / (np.sqrt(np.sum(tail**2)) + 1e-12)


def pass_by(
    n: int, t_closest: float, speed: float, distance: float
) -> tuple[np.ndarray, np.ndarray]:
    """Doppler factor and amplitude, both shape (n,), of a source passing a microphone.

    The source moves on a straight line at ``speed`` m/s and is closest (``distance`` m)
    at ``t_closest`` s; the heard frequency is f·c/(c − v·cos θ) and the amplitude falls as
    1/r (normalised to 1 at the closest point).
    """
    t = seconds(n) - t_closest
    along = speed * t
    r = np.sqrt(along**2 + distance**2)
    radial = -speed * along / r  # velocity component towards the microphone
    return SPEED_OF_SOUND / (SPEED_OF_SOUND - radial), distance / r


def impulse_train(rng: np.random.Generator, n: int, rate: float, jitter: float,
                  start: float = 0.0) -> np.ndarray:
    """Times (s) of a quasi-periodic event train at ``rate`` Hz with relative ``jitter``."""
    times, t, dur = [], start - rng.random() / rate, n / SR
    while t < dur:
        times.append(t)
        t += max(0.2, 1.0 + jitter * rng.standard_normal()) / rate
    return np.asarray(times)
