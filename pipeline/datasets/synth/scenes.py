"""Scenes: the ambience a clip lies in, the room and microphone, other sounds intruding.

A recording (``fsID``) is made in one place with one microphone, so its generator draws
once: the source's sub-type and parameters, a microphone/room response (a coloration and a
reverberant tail), and a scene (a main ambience from :data:`AMBIENCES` plus perhaps a
quieter one). Each occurrence draws its salience-dependent mix: foreground sources are
near (little reverberation) and well above the ambience; background ones are far (duller,
more reverberant) and at or under the ambience level. Other classes intrude with the
scene's likelihoods (horns and engines in traffic, voices and music in a crowd, machines on a
building site).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft as sfft

from pipeline.datasets.classes import CLASSES
from pipeline.datasets.synth.dsp import (
    SR,
    bump,
    db,
    events,
    filtered,
    gain_curve,
    highpass,
    impulse_train,
    irfft64,
    logu,
    lowpass,
    noise,
    pass_by,
    rfft32,
    room_ir,
    smooth_walk,
    tilt,
    unit,
)
from pipeline.datasets.synth.recipes import draw_subtype
from pipeline.datasets.synth.recipes.voice import babble, draw_voice

# Source over ambience (dB, active frames of the source) and the level of an intruding
# class relative to the source, per salience (1 foreground, 2 background).
SNR_DB = {1: (0.0, 18.0), 2: (-8.0, 2.0)}
INTRUDER_DB = {1: (-16.0, -4.0), 2: (-8.0, 3.0)}
INTRUDER_PROB = 0.5
# How loud a class is against the street, added to SNR_DB: warning signals and impacts are
# made to be heard over traffic (a far siren still stands out), hums sink into it.
LOUDNESS_DB = {"siren": 6.0, "car_horn": 6.0, "gun_shot": 6.0, "jackhammer": 3.0,
               "drilling": 3.0, "dog_bark": 3.0, "engine_idling": -3.0,
               "air_conditioner": -3.0}  # fmt: skip
# Direct-to-reverberant level (dB) of the source: near for foreground, far for background.
WET_DB = {1: (-20.0, -8.0), 2: (-8.0, 0.0)}
# Air and obstacles absorb a far source's highs: low-pass cut-off (Hz) for background.
FAR_LOWPASS = (1500.0, 6000.0)
# Per-recording microphone coloration: three bumps of up to ±COLOR_DB dB and a tilt.
COLOR_DB, COLOR_TILT = 3.0, 2.0
# Seconds of a recording's ambience (and an occurrence's intruder) rendered once, of which
# each slice hears a window: longer than a slice, so full slices hear different stretches.
BED = 6.0


# --- ambience pool -------------------------------------------------------------------------
def _traffic(rec):
    slope, lp, cars = rec.uniform(-7, -3), logu(rec, 1500, 4000), rec.uniform(0.1, 0.6)

    def render(n, rng):
        x = noise(rng, n, lambda f: tilt(f, slope, 100.0) + lowpass(f, lp) + highpass(f, 25))
        # Cars passing, each as loud as 1/distance: independent noises of one spectrum sum to
        # that noise at the root of the summed powers, so one noise serves them all.
        power = np.zeros(n)
        for _ in range(rng.poisson(cars * n / SR) + 1):
            at, speed, dist = rng.uniform(-2, n / SR + 2), rng.uniform(8, 20), rng.uniform(5, 30)
            _, level = pass_by(n, at, speed, dist)
            power += level**2
        cars_noise = noise(rng, n, lambda f: tilt(f, -4.0, 300.0) + lowpass(f, 3000))
        x += 2.0 * np.sqrt(power, out=power) * cars_noise
        return x

    return render


def _crowd(rec):
    voices = [draw_voice(rec, child=rec.random() < 0.2) for _ in range(int(rec.integers(4, 8)))]
    lp = logu(rec, 1500, 4000)

    def render(n, rng):
        return filtered(babble(rng, n, voices, pause=0.2), lambda f: lowpass(f, lp))

    return render


def _wind(rec):
    gust, depth = rec.uniform(0.2, 1.0), rec.uniform(0.4, 0.9)

    def render(n, rng):
        rumble = noise(rng, n, lambda f: tilt(f, -9.0, 100.0) + highpass(f, 15))
        rustle = noise(rng, n, lambda f: bump(f, 3000.0, 6.0, 1.0) + highpass(f, 800))
        g = 1.0 + depth * np.tanh(smooth_walk(rng, n, gust))
        return g * rumble + 0.3 * g**2 * rustle

    return render


def _rain(rec):
    drops, hp = logu(rec, 100, 800), logu(rec, 800, 3000)

    def render(n, rng):
        hiss = noise(rng, n, lambda f: highpass(f, hp) + lowpass(f, 9000))
        times = rng.uniform(0, n / SR, rng.poisson(drops * n / SR))
        m = int(0.004 * SR)
        click = np.exp(-np.arange(m) / (0.0008 * SR)) * rng.standard_normal(m)
        return hiss + 0.7 * unit(events(n, times, rng.uniform(0.2, 1.0, len(times)), click))

    return render


def _birds(rec):
    pitch, rate = logu(rec, 2000, 6000), rec.uniform(0.3, 1.5)

    def render(n, rng):
        out = 0.05 * noise(rng, n, lambda f: tilt(f, -3.0) + highpass(f, 200))
        t = rng.uniform(-0.5, 0.5)
        while t < n / SR:
            for _ in range(int(rng.integers(3, 9))):
                m = int(rng.uniform(0.03, 0.15) * SR)
                u = np.linspace(0, 1, m)
                f = pitch * rng.uniform(0.8, 1.2) * (1 + rng.uniform(-0.4, 0.4) * u)
                chirp = np.sin(2 * np.pi * np.cumsum(f) / SR) * np.sin(np.pi * u)
                a = int(t * SR)
                if 0 <= a < n:
                    out[a : a + m] += chirp[: n - a]
                t += m / SR + rng.uniform(0.02, 0.1)
            t += rng.exponential(1.0 / rate)
        return out

    return render


def _construction(rec):
    rate, hum = rec.uniform(12, 25), logu(rec, 25, 120)
    lp = logu(rec, 800, 2500)

    def render(n, rng):
        times = impulse_train(rng, n, rate, 0.05)
        # A distant breaker works in bouts: keep the blows where a slow gate is open.
        bouts = smooth_walk(rng, n, 0.5) > 0
        times = times[bouts[np.clip((times * SR).astype(int), 0, n - 1)]]
        k = np.arange(int(0.02 * SR)) / SR
        blow = np.exp(-k / 0.006) * rng.standard_normal(len(k))
        hits = events(n, times, np.ones(len(times)), blow)
        clanks = rng.uniform(0, n / SR, rng.poisson(0.5 * n / SR))
        clank = np.exp(-k / 0.01) * np.sin(2 * np.pi * 900 * k)
        hits += events(n, clanks, np.ones(len(clanks)), clank)
        x = unit(hits) if np.any(hits) else hits
        x = x + noise(rng, n, lambda f: tilt(f, -6.0, 100.0) + bump(f, hum * 3, 10.0, 0.3))
        return filtered(x, lambda f: lowpass(f, lp))

    return render


AMBIENCES = {"traffic": (_traffic, 0.35), "crowd": (_crowd, 0.15), "wind": (_wind, 0.1),
             "rain": (_rain, 0.07), "birds": (_birds, 0.13),
             "construction": (_construction, 0.2)}  # fmt: skip

# Relative likelihood of each intruding class, per main ambience (other classes: 1).
INTRUDERS = {
    "traffic": {"engine_idling": 4, "car_horn": 4, "siren": 3, "air_conditioner": 2},
    "crowd": {"children_playing": 4, "street_music": 4, "dog_bark": 2, "car_horn": 2},
    "construction": {"jackhammer": 4, "drilling": 4, "engine_idling": 3, "air_conditioner": 2},
    "birds": {"dog_bark": 3, "children_playing": 3},
    "wind": {"air_conditioner": 2, "engine_idling": 2},
    "rain": {"engine_idling": 2, "car_horn": 2},
}


# Where each class tends to be recorded: multipliers of the ambience shares (others: 1).
# Sounds are heard where they happen (engines and horns in traffic, breakers on building
# sites, children and buskers among people, dogs in gardens), yet never only there.
SCENE_PRIORS = {
    "car_horn": {"traffic": 3.0},
    "children_playing": {"crowd": 3.0, "birds": 2.0},
    "dog_bark": {"birds": 3.0, "wind": 1.5, "crowd": 0.5},
    "drilling": {"construction": 3.0},
    "engine_idling": {"traffic": 3.0},
    "jackhammer": {"construction": 3.0, "traffic": 1.5},
    "siren": {"traffic": 3.0},
    "street_music": {"crowd": 3.0, "traffic": 1.5},
}


def draw_scene(rec: np.random.Generator, cls: str | None = None) -> tuple[str, list]:
    """A recording's scene: its main ambience name and ``[(gain, render), ...]``.

    ``cls`` (the recording's class) tilts the choice of the main ambience by
    :data:`SCENE_PRIORS`.
    """
    names = list(AMBIENCES)
    prior = SCENE_PRIORS.get(cls, {})
    w = np.array([AMBIENCES[a][1] * prior.get(a, 1.0) for a in names])
    main = names[int(rec.choice(len(names), p=w / w.sum()))]
    layers = [(1.0, AMBIENCES[main][0](rec))]
    for other in rec.choice(names, int(rec.integers(0, 2)), replace=False):
        if other != main:
            layers.append((db(rec.uniform(-15, -5)), AMBIENCES[str(other)][0](rec)))
    return main, layers


def _ambience(n: int, layers: list, rng: np.random.Generator) -> np.ndarray:
    x = sum(g * unit(render(n, rng)) for g, render in layers)
    return unit(x)


def render_ambience(n: int, rec_rng: np.random.Generator, rng: np.random.Generator) -> np.ndarray:
    """Background ambience of a scene drawn from ``rec_rng``, unit RMS, shape (n,)."""
    return _ambience(n, draw_scene(rec_rng)[1], rng)


# --- microphone and room -------------------------------------------------------------------
def draw_microphone(rec: np.random.Generator) -> dict:
    """Per-recording microphone/room: coloration (tilt, three bumps, band limits) and room."""
    return {
        "tilt": rec.uniform(-COLOR_TILT, COLOR_TILT),
        "hp": logu(rec, 20, 100),
        "lp": logu(rec, 6000, 11000),
        "bumps": [(logu(rec, 100, 8000), rec.uniform(-COLOR_DB, COLOR_DB), rec.uniform(0.3, 1.5))
                  for _ in range(3)],
        "rt60": logu(rec, 0.15, 1.5),
        "room_seed": int(rec.integers(2**32)),
    }  # fmt: skip


def _mic_curve(f: np.ndarray, mic: dict) -> np.ndarray:
    level = tilt(f, mic["tilt"]) + highpass(f, mic["hp"]) + lowpass(f, mic["lp"])
    for center, gain, width in mic["bumps"]:
        level = level + bump(f, center, gain, width)
    return level


def colour(x: np.ndarray, mic: dict) -> np.ndarray:
    """``x`` (shape (n,)) through the microphone's coloration."""
    return filtered(x, lambda f: _mic_curve(f, mic))


@lru_cache(maxsize=8)
def _room(seed: int, rt60: float) -> np.ndarray:
    # Slices of a recording are rendered one after another: reuse the room's tail.
    return room_ir(np.random.default_rng(seed), rt60)


@lru_cache(maxsize=8)
def _room_spectrum(seed: int, rt60: float, m: int) -> np.ndarray:
    # A clip's source and a recording's slices share the room and the transform length.
    spec = rfft32(_room(seed, rt60), m)
    spec.flags.writeable = False
    return spec


def heard(x: np.ndarray, mic: dict, salience: int, rng: np.random.Generator) -> np.ndarray:
    """``x`` (shape (n,)) as the recording's microphone hears it; shape (n,).

    At the distance its salience means (a background source loses its highs), plus the
    room's reverberation, through the microphone's coloration: all linear, so applied as one
    product in the spectral domain, padded so that the room's tail does not wrap around.
    """
    seed, rt60 = mic["room_seed"], mic["rt60"]
    n = len(x)
    m = sfft.next_fast_len(n + len(_room(seed, rt60)) - 1, real=True)
    cutoff = rng.uniform(*FAR_LOWPASS) if salience == 2 else None
    wet = db(rng.uniform(*WET_DB[salience]))

    def curve(f):
        level = _mic_curve(f, mic)
        return level if cutoff is None else level + lowpass(f, cutoff)

    response = _room_spectrum(seed, rt60, m) * np.float32(wet)
    response += 1.0  # the direct sound
    response *= gain_curve(m, curve)
    spec = rfft32(x, m)
    spec *= response
    return irfft64(spec, m, n)


# --- sources -------------------------------------------------------------------------------
def render_source(cls: str, n: int, rec_rng: np.random.Generator,
                  rng: np.random.Generator) -> np.ndarray:
    """One coloured source of class ``cls``: unit active RMS, float64, shape (n,).

    The sub-type, its parameters and the microphone coloration come from ``rec_rng`` (so
    slices of one recording share them); what varies per slice comes from ``rng``.
    """
    _, render = draw_subtype(cls, rec_rng)
    x = colour(render(n, rng), draw_microphone(rec_rng))
    return unit(x, active=True) if np.any(x) else x


def generator(*key: int) -> np.random.Generator:
    """The random generator of ``key`` (the seed, a stream number, ids): numpy's SFC64, its
    fastest bit generator (a fifth faster at the normal draws noise is made of)."""
    return np.random.Generator(np.random.SFC64(np.random.SeedSequence(list(key))))


@dataclass(frozen=True)
class Recording:
    """What a recording (``fsID``) keeps over its slices: how its source sounds, its place and
    microphone, its level and second channel; drawn once from ``(seed, 1, fsID)``."""

    render: Callable  # the source's sub-type: ``render(n, rng) -> ndarray (n,)``
    mic: dict
    main: str  # the main ambience
    layers: list
    level_db: float  # the peak level of its files
    stereo_delay: int  # samples, 0 or 1
    stereo_gain: float


@lru_cache(maxsize=4)
def recording(seed: int, fsid: int, cls: str) -> Recording:
    """The :class:`Recording` ``fsid`` of class ``cls`` in the dataset of ``seed``."""
    rec = generator(seed, 1, fsid)
    _, render = draw_subtype(cls, rec)
    mic = draw_microphone(rec)
    main, layers = draw_scene(rec, cls)
    return Recording(render, mic, main, layers, level_db=rec.uniform(-20, -1),
                     stereo_delay=int(rec.integers(0, 2)), stereo_gain=rec.uniform(0.7, 1.0))


@lru_cache(maxsize=4)
def _ambience_bed(seed: int, fsid: int, cls: str, n: int) -> np.ndarray:
    # The recording's ambience through its microphone, shape (n,); read-only.
    rec = recording(seed, fsid, cls)
    bed = colour(_ambience(n, rec.layers, generator(seed, 4, fsid)), rec.mic)
    bed.flags.writeable = False
    return bed


@lru_cache(maxsize=4)
def _occurrence(seed: int, fsid: int, occ: int, cls: str, salience: int,
                n: int) -> tuple[float, np.ndarray | None, float]:
    """An occurrence's level over the ambience (dB, the SNR) and its intruder: another
    class's sound as heard in the recording's room (shape (n,), read-only), or None, and
    its level relative to the source (linear)."""
    occ_rng = generator(seed, 3, fsid, occ)
    snr = occ_rng.uniform(*SNR_DB[salience]) + LOUDNESS_DB.get(cls, 0.0)
    if occ_rng.random() >= INTRUDER_PROB:
        return snr, None, 0.0
    rec = recording(seed, fsid, cls)
    others = [c for c in CLASSES if c != cls]
    w = np.array([INTRUDERS.get(rec.main, {}).get(c, 1.0) for c in others], dtype=float)
    other = others[int(occ_rng.choice(len(others), p=w / w.sum()))]
    _, intrude = draw_subtype(other, occ_rng)
    rng = generator(seed, 5, fsid, occ)
    y = intrude(n, rng)
    if np.any(y):
        y = heard(unit(y, active=True), rec.mic, 2 if occ_rng.random() < 0.6 else 1, rng)
        y.flags.writeable = False
    return snr, y, db(occ_rng.uniform(*INTRUDER_DB[salience]))


def mix_scene(cls: str, n: int, salience: int, seed: int, fsid: int, occ: int,
              rng: np.random.Generator) -> np.ndarray:
    """A clip's mono mix, shape (n,): its source in the recording's place, under its mic.

    The recording's ambience and an occurrence's intruder are rendered once, :data:`BED`
    seconds long, and each slice hears a window of them at its own offset (drawn from
    ``rng``, the clip's generator, which also renders the source): slices of one recording
    share the place they were recorded in, as the slices of a real recording do.
    """
    rec = recording(seed, fsid, cls)
    bed = max(n, int(BED * SR))
    src = rec.render(n, rng)
    if np.any(src):
        src = unit(heard(unit(src, active=True), rec.mic, salience, rng), active=True)
    at = int(rng.integers(0, bed - n + 1))
    snr, intruder, level = _occurrence(seed, fsid, occ, cls, salience, bed)
    mix = src + db(-snr) * unit(_ambience_bed(seed, fsid, cls, bed)[at : at + n])
    if intruder is not None and np.any(window := intruder[at : at + n]):
        mix += level * unit(window, active=True)
    return mix
