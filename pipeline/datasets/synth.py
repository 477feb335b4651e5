"""The embedded dataset: a synthetic, UrbanSound8K-shaped set of urban sound clips.

The generator draws a *plan* first (the metadata table and each clip's file format, no
audio), then renders every clip independently from a :class:`numpy.random.Generator`
seeded by ``(seed, fsID, occurrence, slice)``, so the files do not depend on the order in
which clips are rendered and the same seed gives byte-identical files.

Shape of the real dataset
-------------------------
* class imbalance: car_horn ≈ 43 %, gun_shot ≈ 37 %, siren ≈ 93 % of the other classes'
  counts (429, 374, 929 against 1000 in UrbanSound8K);
* source recordings (``fsID``) contribute several slices each; slices of one recording share
  pitch, timbre, coloration, background and file format, and every ``fsID`` lies in exactly
  one of the ten folds (folds are balanced per class);
* most slices last 4 s; the last slice of an occurrence is often shorter, gun shots, barks and
  horns are mostly short, and a few clips last under 0.1 s (shorter than a 2048-point FFT);
* formats drawn with the real shares: stereo 92 %; 44.1 kHz 61 %, 48 kHz 29 %, 96 kHz 7 %,
  the rest over 24k, 16k, 22.05k, 11.025k, 192k, 8k, 11024 and 32k Hz; PCM_16 66 %,
  PCM_24 32 %, the rest PCM_32, PCM_U8, FLOAT and IMA_ADPCM. With 100 clips or more every
  listed format (and mono) appears at least once, so loaders get exercised.

Recipes (all synthesised at 22050 Hz, then resampled to the file's rate)
-----------------------------------------------------------------------
air_conditioner
    Steady low broadband hum: tilted noise plus fan blade-pass harmonics (25–120 Hz) and an
    optional mains hum; only a very slow, shallow amplitude drift. Stationary.
car_horn
    Steady two-tone harmonic chord (fundamental 350–500 Hz, a third or fourth apart),
    gated into one to three honks with sharp onsets and releases.
children_playing
    Babble of two to six formant voices (f0 220–450 Hz) with syllabic envelopes at 2.5–6 Hz,
    wandering pitch contours and occasional screams.
dog_bark
    Short harmonic barks (80–300 ms, f0 250–800 Hz, rough) shaped by two formants, with a
    rise-fall pitch contour, in trains separated by silences.
drilling
    High-pitched tonal + noise whine: motor rotation harmonics (120–450 Hz) emphasised in a
    1.5–5 kHz band plus band noise; steady, with occasional load dips of the rotation rate.
engine_idling
    Low firing-rate pulse train (8–35 Hz, slight jitter and wobble) exciting an exhaust
    resonance (60–350 Hz): many harmonics of the firing rate, plus rumble noise.
gun_shot
    Impulse with exponential decay: broadband blast (5–30 ms) and a low-passed reverberant
    tail (0.2–1.2 s); single shots, doubles or automatic bursts at 8–15 Hz.
jackhammer
    Broadband noise bursts at 10–25 Hz (sharp attack, 4–20 ms decay) with a metallic ring,
    in hammering segments separated by pauses, over a quiet compressor noise.
siren
    Harmonic tone swept up and down between a low and a high pitch: slow wail (2–6 s
    period) or fast yelp (0.15–0.4 s), with a slow Doppler-like drift.
street_music
    Notes and chords on a beat grid (80–140 bpm) from a pentatonic scale, plucked or
    sustained timbres, an optional bass line and percussion (kick, snare, hat).

Difficulty
----------
Every clip gets its recording's coloration (a tilt of up to ±1.5 dB/octave, three ±5 dB
bumps, high- and low-pass), a background ambience (traffic-like rumble with slow swells) at a
salience-dependent SNR (foreground 3–22 dB, background −3–8 dB, measured on the source's
active frames), and in 30 % of the occurrences another class's sound 6–20 dB underneath.
Several classes share their long-term spectra and differ mainly in temporal structure
(bursts against steady noise, sweeps against steady tones, event trains against silence), so
time-averaged features are not enough to separate them. These constants were calibrated
with ``benchmarks/tutorial_baseline.py`` so that the common tutorial recipe (time-mean MFCC,
random forest) scores about 60 % under the official folds, as on the real data, while
temporal statistics add 20 points or more.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.fft as sfft
import soundfile as sf
import soxr
from scipy.signal import oaconvolve

from pipeline.classes import CLASSES
from pipeline.errors import UserError
from pipeline.io import atomic_write_bytes, atomic_write_json

SR = 22050  # synthesis rate of every recipe
SLICE = 4.0  # seconds per full slice, as in UrbanSound8K
N_FOLDS = 10
AV_TRAIN_FOLDS = (1, 2, 3, 4, 5, 6)
METADATA_COLUMNS = (
    "slice_file_name",
    "fsID",
    "start",
    "end",
    "salience",
    "fold",
    "classID",
    "class",
)
LAYOUTS = ("us8k", "av", "both")

# Clips per class in UrbanSound8K; the shares of the generated set follow these.
CLASS_WEIGHTS = {"car_horn": 429, "gun_shot": 374, "siren": 929}
RATES = {44100: 0.61, 48000: 0.29, 96000: 0.07}
RARE_RATES = (24000, 16000, 22050, 11025, 192000, 8000, 11024, 32000)
SUBTYPES = {"PCM_16": 0.66, "PCM_24": 0.32}
RARE_SUBTYPES = ("PCM_32", "PCM_U8", "FLOAT", "IMA_ADPCM")
STEREO_SHARE = 0.92

# Probability that the last slice of an occurrence lasts the full 4 s, per class.
_FULL_SLICE = {"gun_shot": 0.2, "dog_bark": 0.5, "car_horn": 0.45}
_FULL_SLICE_DEFAULT = 0.9
_SHORT_CLASSES = ("gun_shot", "dog_bark", "car_horn")
_FOREGROUND = {
    "air_conditioner": 0.55,
    "drilling": 0.8,
    "gun_shot": 0.85,
    "jackhammer": 0.75,
    "engine_idling": 0.7,
    "car_horn": 0.75,
    "dog_bark": 0.65,
}
_FOREGROUND_DEFAULT = 0.6

# Mixing: SNR (dB) of the source over the background, per salience; the level (dB) of an
# interfering source of another class, relative to the source; and how often it is present.
SNR_DB = {1: (3.0, 22.0), 2: (-3.0, 8.0)}
INTERFERER_DB = (-20.0, -6.0)
INTERFERER_PROB = 0.3
# Per-recording coloration: gain (dB) of each of three bumps and tilt (dB/octave) ranges.
COLOR_DB = 5.0
COLOR_TILT = 1.5

_TABLE = 2048
_TABLE_X = np.arange(_TABLE + 1, dtype=float)
# The generator's record of what it wrote under OUT: only files listed here are ever
# replaced or removed by a later run.
RECORD = ".urbansound-synth.json"
RECORD_FORMAT = "urbansound-synth/1"
# What a run may write directly under OUT; without a record none of these may exist.
TOP_LEVEL = ("UrbanSound8K", "av", "av_answer_key.csv")
_TEMP_RE = re.compile(r"^\.(.+)\.(?:[^.]{8}\.tmp.*|link\d+\.tmp)$")


# --- plan -------------------------------------------------------------------------------
def class_counts(clips: int) -> dict[str, int]:
    """Clips per class for a set of ``clips`` clips, with UrbanSound8K's shares.

    Largest-remainder rounding, so the counts add up to ``clips`` exactly.
    """
    weights = np.array([CLASS_WEIGHTS.get(c, 1000) for c in CLASSES], dtype=float)
    exact = clips * weights / weights.sum()
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: clips - counts.sum()]] += 1
    return {c: int(k) for c, k in zip(CLASSES, counts, strict=True)}


def _draw_shared(rng: np.random.Generator, shares: dict, rare: tuple, size: int) -> np.ndarray:
    """Draw ``size`` values with the listed ``shares``; the remainder spread over ``rare``."""
    values = [*shares, *rare]
    rest = (1.0 - sum(shares.values())) / len(rare)
    p = np.array([*shares.values(), *([rest] * len(rare))])
    return np.array(values, dtype=object)[rng.choice(len(values), size=size, p=p / p.sum())]


def _guarantee(rng: np.random.Generator, column: np.ndarray, wanted: tuple) -> None:
    """Give each value of ``wanted`` missing from ``column`` to a distinct random entry."""
    missing = [v for v in wanted if v not in set(column.tolist())]
    common = [i for i in rng.permutation(len(column)) if column[i] not in wanted]
    for value, i in zip(missing, common, strict=False):
        column[i] = value


def _split_recording(rng: np.random.Generator, size: int) -> list[int]:
    """Split a recording's ``size`` slices into occurrences (sounds with silence between)."""
    n_occ = 1 + int(rng.binomial(size - 1, 0.2)) if size > 1 else 1
    cuts = (
        np.sort(rng.choice(np.arange(1, size), size=n_occ - 1, replace=False)) if n_occ > 1 else []
    )
    bounds = [0, *cuts, size]
    return [int(b - a) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _last_duration(rng: np.random.Generator, cls: str) -> float:
    """Duration (s) of the last slice of an occurrence."""
    if rng.random() < _FULL_SLICE.get(cls, _FULL_SLICE_DEFAULT):
        return SLICE
    if cls in _SHORT_CLASSES:
        if rng.random() < 0.01:
            return float(rng.uniform(0.05, 0.1))
        return float(np.exp(rng.uniform(np.log(0.25), np.log(SLICE))))
    return float(rng.uniform(1.0, SLICE))


def plan(clips: int, seed: int) -> pd.DataFrame:
    """Draw the dataset's metadata and formats without rendering any audio.

    Parameters
    ----------
    clips : int
        Number of clips (≥ 1).
    seed : int
        Non-negative random seed.

    Returns
    -------
    pandas.DataFrame, shape (clips, 13)
        The UrbanSound8K columns (``slice_file_name, fsID, start, end, salience, fold,
        classID, class``) followed by ``occurrence, slice`` (ints), ``sr, channels,
        subtype`` (the file format) and ``av_id`` (the Analytics Vidhya ID), sorted by
        ``slice_file_name``.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    recordings = []  # (class, size, fold)
    for cid, (cls, count) in enumerate(class_counts(clips).items()):
        if count == 0:
            continue
        # Smaller sets get fewer slices per recording so every fold still sees several.
        mean = float(np.clip(count / 25.0, 1.0, 7.0))
        sizes: list[int] = []
        while sum(sizes) < count:
            sizes.append(int(rng.geometric(1.0 / mean)))
        sizes[-1] -= sum(sizes) - count
        load = np.zeros(N_FOLDS)
        for i in np.lexsort((rng.random(len(sizes)), -np.array(sizes))):
            fold = int(np.argmin(load + rng.random(N_FOLDS) * 0.5))
            load[fold] += sizes[i]
            recordings.append((cid, cls, sizes[i], fold + 1))

    n_rec = len(recordings)
    fsids = 100 + rng.choice(200_000, size=n_rec, replace=False)
    rates = _draw_shared(rng, RATES, RARE_RATES, n_rec)
    subtypes = _draw_shared(rng, SUBTYPES, RARE_SUBTYPES, n_rec)
    channels = np.where(rng.random(n_rec) < STEREO_SHARE, 2, 1).astype(object)
    if clips >= 100:
        _guarantee(rng, rates, RARE_RATES)
        _guarantee(rng, subtypes, RARE_SUBTYPES)
        _guarantee(rng, channels, (1,))

    rows = []
    for r, (cid, cls, size, fold) in enumerate(recordings):
        cursor = float(rng.uniform(0.0, 30.0))
        for occ, n_slices in enumerate(_split_recording(rng, size)):
            salience = 1 if rng.random() < _FOREGROUND.get(cls, _FOREGROUND_DEFAULT) else 2
            last = _last_duration(rng, cls)
            for k in range(n_slices):
                start = cursor + SLICE * k
                dur = last if k == n_slices - 1 else SLICE
                rows.append(
                    (
                        int(fsids[r]),
                        cid,
                        cls,
                        occ,
                        k,
                        round(start, 6),
                        round(start + dur, 6),
                        salience,
                        fold,
                        int(rates[r]),
                        int(channels[r]),
                        str(subtypes[r]),
                    )
                )
            cursor += SLICE * (n_slices - 1) + last + float(rng.uniform(0.5, 20.0))
    df = pd.DataFrame(
        rows,
        columns=[
            "fsID",
            "classID",
            "class",
            "occurrence",
            "slice",
            "start",
            "end",
            "salience",
            "fold",
            "sr",
            "channels",
            "subtype",
        ],
    )
    if clips >= 100 and not ((df["end"] - df["start"]) < 0.1).any():
        # Clips shorter than an FFT frame are a known pitfall; keep one in every sizeable set.
        last = df["class"].isin(_SHORT_CLASSES) & ~df.duplicated(
            ["fsID", "occurrence"], keep="last"
        )
        i = int(rng.choice(np.flatnonzero(last.to_numpy())))
        df.loc[i, "end"] = round(df.loc[i, "start"] + float(rng.uniform(0.05, 0.095)), 6)
    df["slice_file_name"] = [
        f"{f}-{c}-{o}-{s}.wav"
        for f, c, o, s in zip(df["fsID"], df["classID"], df["occurrence"], df["slice"], strict=True)
    ]
    df = df.sort_values("slice_file_name", kind="stable").reset_index(drop=True)
    df["av_id"] = rng.permutation(len(df))
    return df[[*METADATA_COLUMNS, "occurrence", "slice", "sr", "channels", "subtype", "av_id"]]


# --- signal helpers ---------------------------------------------------------------------
def _logu(rng: np.random.Generator, lo: float, hi: float) -> float:
    """Log-uniform draw: the natural prior for frequencies and time constants."""
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _db(x: float) -> float:
    return float(10.0 ** (x / 20.0))


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)) + 1e-12)


def _active_rms(x: np.ndarray, frame: int = 512) -> float:
    """RMS over the frames within 20 dB of the loudest, so short events get a fair level."""
    if len(x) < frame:
        return _rms(x)
    e = np.mean(x[: len(x) // frame * frame].reshape(-1, frame) ** 2, axis=1)
    return float(np.sqrt(np.mean(e[e >= 0.01 * e.max()])) + 1e-12)


def _unit(x: np.ndarray, active: bool = False) -> np.ndarray:
    return x / (_active_rms(x) if active else _rms(x))


_GAIN_GRID = np.linspace(0.0, SR / 2, 2049)
_GAIN_GRID_HZ = np.maximum(_GAIN_GRID, 1.0)


def _gain(m: int, gain_db) -> np.ndarray:
    """Linear gain of the ``m``-point real FFT bins for the dB curve ``gain_db(freqs)``.

    The curves are smooth, so they are evaluated on a fixed 5 Hz grid and interpolated:
    much cheaper than evaluating logs and exponentials at every bin.
    """
    coarse = 10.0 ** (gain_db(_GAIN_GRID_HZ) / 20.0)
    return np.interp(np.arange(m // 2 + 1) * (SR / m), _GAIN_GRID, coarse)


def _filter(x: np.ndarray, gain_db) -> np.ndarray:
    """Zero-phase filter ``x`` (shape (n,)) by ``gain_db(freqs) -> dB`` in the FFT domain.

    The gain curves are smooth, so their impulse responses are short and the circular
    wrap-around of an unpadded FFT is negligible.
    """
    n = len(x)
    m = sfft.next_fast_len(n, real=True)
    spec = sfft.rfft(x, m)
    spec *= _gain(m, gain_db)
    return sfft.irfft(spec, m)[:n]


def _tilt(f: np.ndarray, slope: float, ref: float = 1000.0) -> np.ndarray:
    return slope * np.log2(f / ref)


def _bump(f: np.ndarray, center: float, gain: float, width: float) -> np.ndarray:
    return gain * np.exp(-0.5 * (np.log2(f / center) / width) ** 2)


def _lowpass(f: np.ndarray, cutoff: float, order: int = 2) -> np.ndarray:
    return -10.0 * order * np.log10(1.0 + (f / cutoff) ** 2)


def _highpass(f: np.ndarray, cutoff: float, order: int = 2) -> np.ndarray:
    return -10.0 * order * np.log10(1.0 + (cutoff / f) ** 2)


def _noise(rng: np.random.Generator, n: int, gain_db) -> np.ndarray:
    """Unit-RMS noise, shape (n,), with the spectral shape ``gain_db``.

    Drawn directly in the frequency domain: one inverse FFT instead of a filter.
    """
    m = sfft.next_fast_len(n, real=True)
    k = m // 2 + 1
    spec = (rng.standard_normal(k) + 1j * rng.standard_normal(k)) * _gain(m, gain_db)
    spec[0] = 0.0
    return _unit(sfft.irfft(spec, m)[:n])


def _wavetable(rng: np.random.Generator, amps: np.ndarray, f_max: float) -> np.ndarray:
    """One period, shape (2049,), of the harmonics ``amps`` with random phases.

    Harmonics that would pass 0.45·SR at the pitch ``f_max`` are dropped (no aliasing).
    """
    k_max = max(1, int(0.45 * SR / max(f_max, 1.0)))
    amps = np.asarray(amps, dtype=float)[:k_max]
    grid = np.arange(_TABLE + 1) / _TABLE
    k = np.arange(1, len(amps) + 1)[:, None]
    phases = rng.uniform(0, 2 * np.pi, (len(amps), 1))
    return (amps[:, None] * np.sin(2 * np.pi * k * grid + phases)).sum(0)


def _play(rng: np.random.Generator, table: np.ndarray, f0, n: int) -> np.ndarray:
    """Read ``table`` at fundamental ``f0`` (Hz, scalar or shape (n,)); shape (n,)."""
    f0 = np.broadcast_to(np.asarray(f0, dtype=float), (n,))
    phase = (np.cumsum(f0) / SR + rng.random()) % 1.0
    return np.interp(phase * _TABLE, _TABLE_X, table)


def _harmonic(rng: np.random.Generator, f0, amps: np.ndarray, n: int) -> np.ndarray:
    """Harmonic tone, shape (n,), with fundamental ``f0`` (Hz, scalar or shape (n,)).

    A wavetable read at the running phase: cheap for gliding pitches.
    """
    table = _wavetable(rng, amps, float(np.max(f0)))
    return _play(rng, table, f0, n)


def _rolloff(n_harm: int, db_per_harm: float) -> np.ndarray:
    return 10.0 ** (-db_per_harm * np.arange(n_harm) / 20.0)


def _smooth_walk(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """Zero-mean, unit-std random curve, shape (n,), varying at about ``rate`` Hz."""
    m = max(2, int(np.ceil(n / SR * rate)) + 2)
    pts = rng.standard_normal(m)
    return np.interp(np.arange(n) / SR * rate, np.arange(m), pts)


def _events(n: int, times: np.ndarray, amps: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Sum of ``kernel`` copies placed at ``times`` (s) with ``amps``, shape (n,)."""
    imp = np.zeros(n)
    idx = np.round(np.asarray(times) * SR).astype(int)
    ok = (idx >= 0) & (idx < n)
    np.add.at(imp, idx[ok], np.asarray(amps)[ok])
    if len(kernel) == 0 or not ok.any():
        return imp
    return oaconvolve(imp, kernel)[:n]


def _decay(tau: float, length: float, attack: float = 0.001) -> np.ndarray:
    t = np.arange(max(2, int(length * SR))) / SR
    return (1.0 - np.exp(-t / attack)) * np.exp(-t / tau)


def _gate(n: int, spans: list[tuple[float, float]], attack: float, release: float) -> np.ndarray:
    """Envelope, shape (n,), that is 1 over each (start, end) span with linear ramps."""
    t = np.arange(n) / SR
    env = np.zeros(n)
    for a, b in spans:
        up = np.clip((t - a) / attack, 0.0, 1.0)
        down = np.clip((b - t) / release, 0.0, 1.0)
        env = np.maximum(env, np.minimum(up, down))
    return env


# --- recipes: draw_<class>(rng) -> params of a recording; render_<class>(n, p, rng) -> (n,) ---
def _draw_air_conditioner(rng):
    return {
        "tilt": rng.uniform(-6, -1.5),
        "lp": _logu(rng, 1500, 9000),
        "fan": _logu(rng, 25, 120),
        "n_fan": int(rng.integers(2, 9)),
        "fan_db": rng.uniform(-18, -4),
        "fan_roll": rng.uniform(2, 8),
        "hum": float(rng.choice([0.0, 50.0, 60.0])),
        "hum_db": rng.uniform(-24, -10),
        "am_rate": _logu(rng, 0.05, 0.5),
        "am_depth": rng.uniform(0, 0.12),
    }


def _render_air_conditioner(n, p, rng):
    t = np.arange(n) / SR
    x = _noise(rng, n, lambda f: _tilt(f, p["tilt"]) + _lowpass(f, p["lp"]))
    wander = 1.0 + 0.003 * _smooth_walk(rng, n, 0.2)
    fan = _harmonic(rng, p["fan"] * wander, _rolloff(p["n_fan"], p["fan_roll"]), n)
    x += _db(p["fan_db"]) * _unit(fan)
    if p["hum"]:
        x += _db(p["hum_db"]) * _unit(_harmonic(rng, p["hum"], _rolloff(4, 6.0), n))
    return x * (1.0 + p["am_depth"] * np.sin(2 * np.pi * p["am_rate"] * t + rng.uniform(0, 6.3)))


def _draw_car_horn(rng):
    return {
        "f1": _logu(rng, 350, 500),
        "ratio": float(rng.choice([1.2, 1.25, 1.26, 1.33])),
        "roll": rng.uniform(1.0, 4.0),
        "n_harm": int(rng.integers(12, 30)),
        "honk": (_logu(rng, 0.15, 0.6), _logu(rng, 0.6, 2.5)),
        "gap": rng.uniform(0.1, 0.6),
        "long": rng.uniform(0.1, 0.5),
    }


def _render_car_horn(n, p, rng):
    dur = n / SR
    if rng.random() < p["long"]:
        spans = [(rng.uniform(-1, 0.5 * dur), dur + 1.0)]
    else:
        spans, t = [], rng.uniform(0, 0.4 * dur)
        for _ in range(int(rng.integers(1, 4))):
            length = rng.uniform(*p["honk"])
            spans.append((t, t + length))
            t += length + p["gap"] * rng.uniform(0.7, 1.5)
    # The horn starts a little flat and settles within ~30 ms of each onset.
    droop = np.ones(n)
    t = np.arange(n) / SR
    for a, _ in spans:
        droop -= 0.03 * np.exp(-np.maximum(t - a, 0) / 0.03) * (t >= a)
    amps = _rolloff(p["n_harm"], p["roll"])
    chord = _harmonic(rng, p["f1"] * droop, amps, n) + _harmonic(
        rng, p["f1"] * p["ratio"] * droop, amps, n
    )
    return chord * _gate(n, spans, 0.01, 0.03)


def _formant_amps(f0: float, n_harm: int, formants, roll: float) -> np.ndarray:
    freqs = f0 * np.arange(1, n_harm + 1)
    db = -roll * np.arange(n_harm) + sum(_bump(freqs, fc, 18.0, 0.35) for fc in formants)
    return 10.0 ** (db / 20.0)


def _draw_children_playing(rng):
    voices = []
    for _ in range(int(rng.integers(2, 7))):
        voices.append(
            {
                "f0": _logu(rng, 220, 450),
                "F": (rng.uniform(500, 1000), rng.uniform(1200, 3000), rng.uniform(2500, 4000)),
                "rate": rng.uniform(2.5, 6),
                "gain": rng.uniform(-12, 0),
                "semis": rng.uniform(1.5, 4),
            }
        )
    return {"voices": voices, "scream": rng.uniform(0, 0.3), "breath_db": rng.uniform(-20, -8)}


def _syllables(rng, n, rate, pause):
    """Syllable envelope, shape (n,): raised-cosine bumps at ~``rate`` Hz with pauses."""
    spans, t, dur = [], rng.uniform(-0.3, 0.3), n / SR
    while t < dur:
        length = rng.uniform(0.5, 1.3) / rate
        if rng.random() > pause:
            spans.append((t, t + length))
        t += length * rng.uniform(1.0, 1.6)
    env = np.zeros(n)
    tt = np.arange(n) / SR
    for a, b in spans:
        inside = (tt >= a) & (tt < b)
        env[inside] = np.sin(np.pi * (tt[inside] - a) / (b - a)) ** 0.7
    return env


def _render_children_playing(n, p, rng):
    out = np.zeros(n)
    # One breath noise for the whole group (shaped by the first voice's formants) keeps the
    # babble cheap; each voice gates it with its own syllables.
    f_first = p["voices"][0]["F"]
    breath = _noise(rng, n, lambda f: sum(_bump(f, fc, 15.0, 0.4) for fc in f_first) - 15.0)
    for v in p["voices"]:
        semis = v["semis"] * _smooth_walk(rng, n, v["rate"])
        if rng.random() < p["scream"]:
            semis = semis + 7.0 * np.clip(_smooth_walk(rng, n, 1.0), 0, None)
        f0 = v["f0"] * 2.0 ** (semis / 12.0)
        voice = _harmonic(rng, f0, _formant_amps(v["f0"], 30, v["F"], 1.0), n)
        env = _syllables(rng, n, v["rate"], 0.3)
        out += _db(v["gain"]) * env * (_unit(voice) + _db(p["breath_db"]) * breath)
    return out


def _draw_dog_bark(rng):
    return {
        "f0": _logu(rng, 250, 800),
        "F": (rng.uniform(500, 1200), rng.uniform(1500, 3000)),
        "rough_db": rng.uniform(-15, -3),
        "len": rng.uniform(0.08, 0.3),
        "gap": rng.uniform(0.15, 0.6),
        "per_train": int(rng.integers(1, 5)),
        "pause": rng.uniform(0.4, 2.0),
    }


def _render_dog_bark(n, p, rng):
    dur, out = n / SR, np.zeros(n)
    t = rng.uniform(0, min(0.3, 0.3 * dur))
    while t < dur:
        for _ in range(int(rng.integers(1, p["per_train"] + 1))):
            length = p["len"] * rng.uniform(0.7, 1.3)
            m = int(length * SR)
            a = int(t * SR)
            if a >= n or m < 4:
                break
            u = np.linspace(0, 1, m)
            f0 = p["f0"] * rng.uniform(0.9, 1.1) * (1.0 + 0.25 * np.sin(np.pi * u) - 0.15 * u)
            bark = _unit(_harmonic(rng, f0, _formant_amps(p["f0"], 25, p["F"], 1.5), m))
            bark += _db(p["rough_db"]) * _noise(rng, m, lambda f: _bump(f, p["F"][1], 12.0, 0.6))
            env = (1.0 - np.exp(-u * length / 0.008)) * np.exp(-u * length / (0.35 * length))
            seg = (bark * env)[: n - a]
            out[a : a + len(seg)] += seg * rng.uniform(0.6, 1.0)
            t += length + p["gap"] * rng.uniform(0.7, 1.4)
        t += p["pause"] * rng.uniform(0.5, 1.5)
    return out


def _draw_drilling(rng):
    return {
        "f": _logu(rng, 120, 450),
        "band": _logu(rng, 1500, 5000),
        "bw": rng.uniform(0.5, 1.5),
        "roll": rng.uniform(0.3, 2.0),
        "noise_db": rng.uniform(-12, 0),
        "loads": rng.uniform(0.1, 0.6),
        "depth": rng.uniform(0.05, 0.2),
    }


def _render_drilling(n, p, rng):
    dur = n / SR
    n_loads = rng.poisson(p["loads"] * dur)
    load = np.zeros(n)
    tt = np.arange(n) / SR
    for _ in range(n_loads):
        a, length = rng.uniform(-0.5, dur), rng.uniform(0.3, 1.5)
        inside = (tt >= a) & (tt < a + length)
        load[inside] += np.sin(np.pi * (tt[inside] - a) / length) ** 2
    load = np.clip(load, 0, 1)
    f0 = p["f"] * (1.0 - p["depth"] * load) * (1.0 + 0.002 * _smooth_walk(rng, n, 5.0))
    n_harm = max(1, int(0.45 * SR / p["f"]))
    freqs = p["f"] * np.arange(1, n_harm + 1)
    amps = 10.0 ** (
        (-p["roll"] * np.arange(n_harm) + _bump(freqs, p["band"], 20.0, p["bw"])) / 20.0
    )
    whine = _unit(_harmonic(rng, f0, amps, n))
    noise = _noise(rng, n, lambda f: _bump(f, p["band"], 20.0, p["bw"]) - 20.0)
    return whine + _db(p["noise_db"]) * noise * (1.0 + load)


def _draw_engine_idling(rng):
    return {
        "fire": _logu(rng, 8, 35),
        "res": _logu(rng, 60, 350),
        "tau": rng.uniform(0.004, 0.02),
        "jitter": rng.uniform(0.005, 0.03),
        "var": rng.uniform(0.05, 0.25),
        "rumble_db": rng.uniform(-18, -6),
        "tilt": rng.uniform(-8, -3),
        "wobble": rng.uniform(0.005, 0.03),
        "click_db": rng.uniform(-20, -6),
    }


def _render_engine_idling(n, p, rng):
    dur = n / SR
    periods = []
    t = -rng.random() / p["fire"]
    wob_phase = rng.uniform(0, 6.3)
    while t < dur:
        rate = p["fire"] * (1 + p["wobble"] * np.sin(2 * np.pi * 0.5 * t + wob_phase))
        t += (1.0 / rate) * (1.0 + p["jitter"] * rng.standard_normal())
        periods.append(t)
    times = np.array(periods)
    amps = 1.0 + p["var"] * rng.standard_normal(len(times))
    k = np.arange(int(5 * p["tau"] * SR)) / SR
    kernel = np.exp(-k / p["tau"]) * np.sin(2 * np.pi * p["res"] * k)
    kernel[: int(0.003 * SR)] += _db(p["click_db"]) * rng.standard_normal(int(0.003 * SR))
    pulses = _unit(_events(n, times, amps, kernel))
    rumble = _noise(rng, n, lambda f: _tilt(f, p["tilt"], 100.0) + _lowpass(f, 2000.0))
    return pulses + _db(p["rumble_db"]) * rumble


def _draw_gun_shot(rng):
    kind = rng.choice(["single", "few", "auto"], p=[0.5, 0.3, 0.2])
    return {
        "kind": str(kind),
        "tau": rng.uniform(0.005, 0.03),
        "tail": rng.uniform(0.2, 1.2),
        "tail_db": rng.uniform(-20, -6),
        "tail_lp": _logu(rng, 500, 3000),
        "tilt": rng.uniform(-4, 0),
        "auto_rate": rng.uniform(8, 15),
    }


def _render_gun_shot(n, p, rng):
    dur = n / SR
    first = rng.uniform(0, min(0.5, 0.3 * dur))
    if p["kind"] == "single":
        times = [first]
    elif p["kind"] == "few":
        times = first + np.cumsum([0.0, *rng.uniform(0.15, 1.5, int(rng.integers(1, 3)))])
    else:
        count = int(rng.integers(4, 11))
        times = first + np.arange(count) / p["auto_rate"] * (1 + 0.05 * rng.standard_normal(count))
    times = np.asarray(times)
    amps = rng.uniform(0.6, 1.0, len(times))
    blast = _events(n, times, amps, _decay(p["tau"], 6 * p["tau"], 0.0003))
    tail = _events(n, times, amps, _decay(p["tail"], min(3 * p["tail"], dur + 0.1), 0.005))
    x = blast * _noise(rng, n, lambda f: _tilt(f, p["tilt"]))
    x += _db(p["tail_db"]) * tail * _noise(rng, n, lambda f: _lowpass(f, p["tail_lp"]))
    return x


def _draw_jackhammer(rng):
    return {
        "rate": rng.uniform(10, 25),
        "tau": rng.uniform(0.004, 0.02),
        "tilt": rng.uniform(-6, -1.5),
        "lp": _logu(rng, 1500, 9000),
        "ring": _logu(rng, 700, 4000),
        "ring_db": rng.uniform(-14, -3),
        "ring_tau": rng.uniform(0.01, 0.05),
        "jitter": rng.uniform(0.02, 0.08),
        "seg": (rng.uniform(0.4, 1.2), rng.uniform(1.2, 3)),
        "pause": rng.uniform(0.2, 1.0),
        "p_pause": rng.uniform(0.5, 0.9),
        "comp_db": rng.uniform(-20, -8),
    }


def _render_jackhammer(n, p, rng):
    dur = n / SR
    times, t = [], -rng.uniform(0, 1.0)
    while t < dur:
        end = t + rng.uniform(*p["seg"])
        while t < end:
            times.append(t)
            t += (1.0 / p["rate"]) * (1 + p["jitter"] * rng.standard_normal())
        if rng.random() < p["p_pause"]:
            t += p["pause"] * rng.uniform(0.5, 1.5)
    times = np.array(times)
    amps = rng.uniform(0.7, 1.0, len(times))
    shape = lambda f: _tilt(f, p["tilt"]) + _lowpass(f, p["lp"])  # noqa: E731
    env = _events(n, times, amps, _decay(p["tau"], 6 * p["tau"], 0.0005))
    x = env * _noise(rng, n, shape)
    k = np.arange(int(5 * p["ring_tau"] * SR)) / SR
    ring = _events(n, times, amps, np.exp(-k / p["ring_tau"]) * np.sin(2 * np.pi * p["ring"] * k))
    x = _unit(x) + _db(p["ring_db"]) * _unit(ring)
    return x + _db(p["comp_db"]) * _noise(rng, n, shape)


def _draw_siren(rng):
    wail = rng.random() < 0.6
    lo = _logu(rng, 500, 900)
    return {
        "lo": lo,
        "hi": lo * rng.uniform(1.5, 2.2),
        "period": rng.uniform(2, 6) if wail else rng.uniform(0.15, 0.4),
        "n_harm": int(rng.integers(3, 13)),
        "roll": rng.uniform(3, 12),
        "skew": rng.uniform(0.2, 0.5),
    }


def _render_siren(n, p, rng):
    t = np.arange(n) / SR
    u = (t / p["period"] + rng.random()) % 1.0
    # Asymmetric sweep: a rise over ``skew`` of the period, then a slower fall.
    s = np.where(u < p["skew"], u / p["skew"], (1.0 - u) / (1.0 - p["skew"]))
    s = 0.5 - 0.5 * np.cos(np.pi * s)
    drift = 1.0 + rng.uniform(-0.03, 0.03) * (t / max(t[-1], 1e-3) - 0.5) if n > 1 else 1.0
    f0 = p["lo"] * (p["hi"] / p["lo"]) ** s * drift
    level = np.linspace(1.0, _db(rng.uniform(-6, 6)), n)
    return _harmonic(rng, f0, _rolloff(p["n_harm"], p["roll"]), n) * level


def _draw_street_music(rng):
    return {
        "bpm": rng.uniform(80, 140),
        "root": _logu(rng, 110, 440),
        "scale": [0, 2, 4, 7, 9] if rng.random() < 0.5 else [0, 3, 5, 7, 10],
        "amps": _rolloff(int(rng.integers(6, 16)), rng.uniform(1, 6)),
        "pluck": rng.random() < 0.5,
        "decay": rng.uniform(0.1, 0.6),
        "poly": int(rng.integers(1, 4)),
        "bass": rng.random() < 0.5,
        "drums": rng.random() < 0.6,
        "density": rng.uniform(0.5, 0.9),
        "drum_db": rng.uniform(-10, 0),
    }


def _note(rng, table, freq, length, pluck, decay):
    m = max(4, int(length * SR))
    u = np.arange(m) / SR
    env = (
        np.exp(-u / decay)
        if pluck
        else np.minimum(1.0, u / 0.05) * np.minimum(1.0, (length - u) / 0.05)
    )
    return _play(rng, table, freq * (1 + 0.003 * np.sin(2 * np.pi * 5 * u)), m) * env


def _render_street_music(n, p, rng):
    out = np.zeros(n)
    beat = 60.0 / p["bpm"]
    step = beat / 2
    t0 = -rng.uniform(0, beat)
    n_steps = int((n / SR - t0) / step) + 1
    lead = _wavetable(rng, p["amps"], p["root"] * 4.0)
    bass = _wavetable(rng, _rolloff(6, 6), p["root"] / 2)

    def add(sig, at, gain):
        a = int(at * SR)
        if a < 0:
            sig, a = sig[-a:], 0
        seg = sig[: max(0, n - a)]
        out[a : a + len(seg)] += gain * seg

    for i in range(n_steps):
        at = t0 + i * step
        if rng.random() < p["density"]:
            length = step * float(rng.choice([1, 2, 3]))
            for _ in range(p["poly"]):
                deg = int(rng.integers(0, 10))
                freq = p["root"] * 2.0 ** ((p["scale"][deg % 5] + 12 * (deg // 5)) / 12.0)
                add(_note(rng, lead, freq, length, p["pluck"], p["decay"]), at, 1.0 / p["poly"])
        if p["bass"] and i % 2 == 0:
            add(_note(rng, bass, p["root"] / 2, beat, True, 0.3), at, 0.7)
        if p["drums"]:
            m = int(0.25 * SR)
            u = np.arange(m) / SR
            if i % 4 == 0:
                kick = np.sin(2 * np.pi * np.cumsum(50 + 100 * np.exp(-u / 0.03)) / SR) * np.exp(
                    -u / 0.1
                )
                add(kick, at, _db(p["drum_db"]))
            elif i % 4 == 2:
                add(rng.standard_normal(m) * np.exp(-u / 0.05), at, 0.5 * _db(p["drum_db"]))
            else:
                add(
                    np.diff(rng.standard_normal(m + 1)) * np.exp(-u / 0.01),
                    at,
                    0.2 * _db(p["drum_db"]),
                )
    return out


RECIPES = {c: (globals()[f"_draw_{c}"], globals()[f"_render_{c}"]) for c in CLASSES}


# --- mixing -----------------------------------------------------------------------------
def _draw_coloration(rng):
    """Per-recording microphone/room coloration: tilt, three bumps, high- and low-pass."""
    return {
        "tilt": rng.uniform(-COLOR_TILT, COLOR_TILT),
        "hp": _logu(rng, 20, 150),
        "lp": _logu(rng, 3000, 11000),
        "bumps": [
            (_logu(rng, 100, 8000), rng.uniform(-COLOR_DB, COLOR_DB), rng.uniform(0.3, 1.5))
            for _ in range(3)
        ],
    }


def _coloration_db(f, c):
    db = _tilt(f, c["tilt"]) + _highpass(f, c["hp"]) + _lowpass(f, c["lp"])
    for center, gain, width in c["bumps"]:
        db = db + _bump(f, center, gain, width)
    return db


def _draw_ambience(rng):
    return {
        "slope": rng.uniform(-6, -2),
        "lp": _logu(rng, 2000, 10000),
        "hp": _logu(rng, 20, 80),
        "swell": _logu(rng, 0.03, 0.3),
        "depth": rng.uniform(0, 0.6),
    }


def _render_ambience(n, p, rng):
    x = _noise(
        rng, n, lambda f: _tilt(f, p["slope"], 100.0) + _lowpass(f, p["lp"]) + _highpass(f, p["hp"])
    )
    return x * (1.0 + p["depth"] * np.tanh(_smooth_walk(rng, n, p["swell"])))


def _source(cls: str, n: int, rec_rng: np.random.Generator, rng: np.random.Generator) -> np.ndarray:
    """One colored source of class ``cls`` with unit active RMS, shape (n,)."""
    draw, render = RECIPES[cls]
    params, color = draw(rec_rng), _draw_coloration(rec_rng)
    x = _filter(render(n, params, rng), lambda f: _coloration_db(f, color))
    return _unit(x, active=True) if np.any(x) else x


def render_clip(row, seed: int) -> tuple[np.ndarray, int]:
    """Render one planned clip.

    Parameters
    ----------
    row : mapping
        One row of :func:`plan` (needs ``fsID, occurrence, slice, start, end, salience,
        class, sr, channels``).
    seed : int
        The dataset's seed.

    Returns
    -------
    audio : numpy.ndarray, shape (frames, channels), float64 in [-1, 1]
    sr : int
        The clip's sample rate.
    """
    fsid, occ, slc = int(row["fsID"]), int(row["occurrence"]), int(row["slice"])
    n = max(1, int(round((row["end"] - row["start"]) * SR)))
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2, fsid, occ, slc]))
    rec_rng = np.random.default_rng(np.random.SeedSequence([seed, 1, fsid]))
    target = _source(row["class"], n, rec_rng, rng)
    ambience = _draw_ambience(rec_rng)
    level_db = rec_rng.uniform(-20, -1)
    stereo_delay, stereo_gain = int(rec_rng.integers(0, 2)), rec_rng.uniform(0.7, 1.0)

    occ_rng = np.random.default_rng(np.random.SeedSequence([seed, 3, fsid, occ]))
    snr = occ_rng.uniform(*SNR_DB[int(row["salience"])])
    mix = target + _db(-snr) * _unit(_render_ambience(n, ambience, rng))
    if occ_rng.random() < INTERFERER_PROB:
        others = [c for c in CLASSES if c != row["class"]]
        other = others[int(occ_rng.integers(len(others)))]
        mix += _db(occ_rng.uniform(*INTERFERER_DB)) * _source(other, n, occ_rng, rng)

    if int(row["channels"]) == 2:
        # The recording's second channel: a different gain and at most one sample of delay;
        # longer delays would comb-filter the mono downmix loaders compute.
        delay = min(stereo_delay, n - 1)
        right = np.concatenate([np.zeros(delay), mix[: n - delay]]) * stereo_gain
        audio = np.stack([mix, right], axis=1)
    else:
        audio = mix[:, None]
    sr = int(row["sr"])
    if sr != SR:
        audio = soxr.resample(audio, SR, sr, quality="HQ")
        if len(audio) == 0:
            audio = np.zeros((1, audio.shape[1]))
    peak = float(np.max(np.abs(audio))) or 1.0
    audio = audio * (_db(level_db + rng.uniform(-2, 0)) / peak)
    return np.clip(audio, -1.0, 1.0), sr


# --- writing ----------------------------------------------------------------------------
def _strip_peak_time(data: bytes) -> bytes:
    """Zero the timestamp libsndfile stores in a WAV ``PEAK`` chunk (float files).

    Without this, two runs with the same seed would differ in those four bytes.
    """
    pos = 12
    buf = bytearray(data)
    while pos + 8 <= len(buf):
        cid, size = bytes(buf[pos : pos + 4]), int.from_bytes(buf[pos + 4 : pos + 8], "little")
        if cid == b"PEAK":
            buf[pos + 12 : pos + 16] = b"\0\0\0\0"
            break
        pos += 8 + size + (size & 1)
    return bytes(buf)


def _wav_bytes(audio: np.ndarray, sr: int, subtype: str) -> bytes:
    import io

    buf = io.BytesIO()
    sf.write(buf, audio, sr, subtype=subtype, format="WAV")
    return _strip_peak_time(buf.getvalue())


def _link_atomic(src: Path, dst: Path) -> None:
    """Hard-link ``src`` to ``dst`` (copy where links are impossible), replacing ``dst``.

    A link, not a write, so it cannot go through ``atomic_write_bytes``; the temporary
    name carries the process id, so parallel workers never share one.
    """
    tmp = dst.with_name(f".{dst.name}.link{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    atomic_write_bytes(path, df.to_csv(index=False, lineterminator="\n").encode())


def _check_args(out: Path, layout: str, clips: int, seed: int) -> None:
    if layout not in LAYOUTS:
        raise UserError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if isinstance(clips, bool) or not isinstance(clips, int) or clips < 1:
        raise UserError(f"--clips must be a positive integer, got {clips!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UserError(f"--seed must be a non-negative integer, got {seed!r}")
    if out.exists() and not out.is_dir():
        raise UserError(f"output {out} exists and is not a folder")


def _write_clip(row: dict, *, seed: int, us8k: Path | None, av: Path | None) -> None:
    """Render one planned clip and write it to the layouts asked for."""
    audio, sr = render_clip(row, seed)
    data = _wav_bytes(audio, sr, row["subtype"])
    first = None
    if us8k is not None:
        first = us8k / "audio" / f"fold{row['fold']}" / row["slice_file_name"]
        atomic_write_bytes(first, data)
    if av is not None:
        sub = "Train" if row["fold"] in AV_TRAIN_FOLDS else "Test"
        dst = av / sub / f"{row['av_id']}.wav"
        _link_atomic(first, dst) if first is not None else atomic_write_bytes(dst, data)


def _planned_files(meta: pd.DataFrame, layout: str) -> list[str]:
    """Every file a run writes, as POSIX paths relative to OUT (the record excluded)."""
    files = []
    if layout in ("us8k", "both"):
        files.append("UrbanSound8K/metadata/UrbanSound8K.csv")
        files += [
            f"UrbanSound8K/audio/fold{f}/{n}"
            for f, n in zip(meta["fold"], meta["slice_file_name"], strict=True)
        ]
    if layout in ("av", "both"):
        files += ["av/train.csv", "av/test.csv", "av_answer_key.csv"]
        files += [
            f"av/{'Train' if f in AV_TRAIN_FOLDS else 'Test'}/{i}.wav"
            for f, i in zip(meta["fold"], meta["av_id"], strict=True)
        ]
    return files


def _safe_relative(name: object) -> bool:
    """Whether a record entry names a file inside OUT (no absolute path, no ``..``)."""
    if not isinstance(name, str) or not name or name.startswith("/") or "\\" in name:
        return False
    return all(part not in ("", ".", "..") for part in name.split("/"))


def _read_record(out: Path) -> set[str] | None:
    """Files an earlier run recorded under ``out``; None when there is no usable record."""
    try:
        record = json.loads((out / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = record.get("files") if isinstance(record, dict) else None
    if record.get("format") != RECORD_FORMAT or not isinstance(files, list):
        return None
    if not all(_safe_relative(f) for f in files):
        return None
    return set(files)


def _claim(out: Path, planned: list[str]) -> set[str]:
    """Check that this run only replaces files the generator wrote; return those files.

    Raises
    ------
    UserError
        When ``out`` holds, where this run would write, anything without a record of the
        generator having written it (a real dataset, say).
    """
    how = f"choose an empty or new folder, or remove {out} first"
    owned = _read_record(out) if out.is_dir() else set()
    if owned is None:
        owned = set()
        found = [name for name in TOP_LEVEL if os.path.lexists(out / name)]
        if found:
            raise UserError(
                f"{out} already holds {found[0]}, which 'urbansound synth' did not write "
                f"(no {RECORD}); nothing was changed: {how}"
            )
    foreign = [f for f in planned if f not in owned and os.path.lexists(out / f)]
    if foreign:
        raise UserError(
            f"{out / foreign[0]} was not written by 'urbansound synth' and would be "
            f"replaced; nothing was changed: {how}"
        )
    return owned


def _write_record(out: Path, files, *, layout: str, clips: int, seed: int) -> None:
    atomic_write_json(
        out / RECORD,
        {"format": RECORD_FORMAT, "layout": layout, "clips": clips, "seed": seed,
         "files": sorted(files)},
    )  # fmt: skip


def _remove_stale(out: Path, stale: set[str], written: set[str]) -> None:
    """Remove files of an earlier run (listed in its record) that this run did not write.

    Temporary files that a killed write of one of the generator's own files left behind
    (``.NAME.XXXXXXXX.tmp*`` of the atomic writes, ``.NAME.linkPID.tmp`` of the links) go
    too; nothing else is touched.
    """
    for name in sorted(stale):
        path = out / name
        if path.is_file() and not path.is_symlink():
            path.unlink()
    by_folder: dict[Path, set[str]] = {}
    for name in stale | written:
        path = out / name
        by_folder.setdefault(path.parent, set()).add(path.name)
    for folder, names in by_folder.items():
        if not folder.is_dir():
            continue
        for entry in os.scandir(folder):
            match = _TEMP_RE.match(entry.name)
            if match and match.group(1) in names and entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)


def generate(
    out, *, layout: str = "both", clips: int = 1000, seed: int = 42, workers: int = 1
) -> dict:
    """Write the synthetic dataset under ``out``.

    The files written are listed in ``out/.urbansound-synth.json``; a later run into the
    same folder replaces them and removes those it no longer writes, and never touches any
    other file. A folder that already holds, where a run would write, anything not listed
    there (a real UrbanSound8K or AV tree, for instance) is refused before anything is
    written.

    Parameters
    ----------
    out : str or path-like
        Output folder (created; one written by an earlier run is updated in place).
    layout : {"us8k", "av", "both"}
        ``us8k`` writes ``out/UrbanSound8K/{metadata/UrbanSound8K.csv, audio/fold1..10/}``;
        ``av`` writes ``out/av/{train.csv, test.csv, Train/, Test/}`` (train = folds 1–6,
        test = folds 7–10) and ``out/av_answer_key.csv``; ``both`` writes both from the same
        clips (the AV files are hard links where possible).
    clips : int
        Number of clips.
    seed : int
        Random seed; the same seed gives byte-identical files.
    workers : int
        Processes rendering clips; every clip has its own random stream, so the files do not
        depend on it.

    Returns
    -------
    dict
        ``clips, seed, layout, seconds, per_class, per_fold, rates, subtypes, channels,
        us8k`` (path or None), ``av`` (path or None), ``answer_key`` (path or None).

    Raises
    ------
    UserError
        Bad arguments, an output folder holding files the generator did not write, or an
        output place that cannot be written.
    """
    out = Path(out)
    _check_args(out, layout, clips, seed)
    started = time.perf_counter()
    meta = plan(clips, seed)
    planned = _planned_files(meta, layout)
    owned = _claim(out, planned)
    try:
        out.mkdir(parents=True, exist_ok=True)
        # Recorded before the first clip, so a run killed midway still owns what it wrote.
        _write_record(out, owned | set(planned), layout=layout, clips=clips, seed=seed)
        us8k = out / "UrbanSound8K" if layout in ("us8k", "both") else None
        av = out / "av" if layout in ("av", "both") else None
        if us8k is not None:
            (us8k / "metadata").mkdir(parents=True, exist_ok=True)
            for k in range(1, N_FOLDS + 1):
                (us8k / "audio" / f"fold{k}").mkdir(parents=True, exist_ok=True)
        if av is not None:
            for name in ("Train", "Test"):
                (av / name).mkdir(parents=True, exist_ok=True)

        write = partial(_write_clip, seed=seed, us8k=us8k, av=av)
        rows = meta.to_dict("records")
        if workers > 1 and len(rows) > 1:
            with ProcessPoolExecutor(min(workers, len(rows))) as pool:
                for _ in pool.map(write, rows, chunksize=8):
                    pass
        else:
            for row in rows:
                write(row)

        train = meta["fold"].isin(AV_TRAIN_FOLDS)
        if us8k is not None:
            _write_csv(meta[list(METADATA_COLUMNS)], us8k / "metadata" / "UrbanSound8K.csv")
        if av is not None:
            by_id = meta.sort_values("av_id")
            tr, te = (
                by_id[by_id["fold"].isin(AV_TRAIN_FOLDS)],
                by_id[~by_id["fold"].isin(AV_TRAIN_FOLDS)],
            )
            _write_csv(pd.DataFrame({"ID": tr["av_id"], "Class": tr["class"]}), av / "train.csv")
            _write_csv(pd.DataFrame({"ID": te["av_id"]}), av / "test.csv")
            _write_csv(
                pd.DataFrame({"ID": te["av_id"], "Class": te["class"]}), out / "av_answer_key.csv"
            )
        _remove_stale(out, owned - set(planned), set(planned))
        _write_record(out, planned, layout=layout, clips=clips, seed=seed)
    except OSError as exc:
        raise UserError(f"cannot write the dataset under {out}: {exc.strerror or exc}") from None

    return {
        "clips": len(meta),
        "seed": seed,
        "layout": layout,
        "seconds": time.perf_counter() - started,
        "per_class": {c: int((meta["class"] == c).sum()) for c in CLASSES},
        "per_fold": {int(k): int(v) for k, v in sorted(Counter(meta["fold"]).items())},
        "train": int(train.sum()),
        "test": int((~train).sum()),
        "rates": dict(sorted(Counter(int(r) for r in meta["sr"]).items())),
        "subtypes": dict(Counter(meta["subtype"]).most_common()),
        "channels": dict(sorted(Counter(int(c) for c in meta["channels"]).items())),
        "us8k": str(us8k) if us8k is not None else None,
        "av": str(av) if av is not None else None,
        "answer_key": str(out / "av_answer_key.csv") if av is not None else None,
    }


# --- public building blocks (used by pipeline.datasets.long_scenes) ----------------------
def render_source(
    cls: str, n: int, rec_rng: np.random.Generator, rng: np.random.Generator
) -> np.ndarray:
    """One coloured source of class ``cls``: shape (n,), float64, unit active RMS, at ``SR``.

    ``rec_rng`` draws the recording's recipe parameters and coloration, ``rng`` the
    rendering's own randomness.
    """
    return _source(cls, n, rec_rng, rng)


def render_ambience(n: int, rec_rng: np.random.Generator, rng: np.random.Generator) -> np.ndarray:
    """Background ambience (traffic-like rumble with slow swells): shape (n,), unit RMS, at ``SR``.

    ``rec_rng`` draws its colour and swell parameters, ``rng`` the noise.
    """
    return _unit(_render_ambience(n, _draw_ambience(rec_rng), rng))
