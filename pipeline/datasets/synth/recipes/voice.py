"""A small voice model shared by children, singers and crowds.

A voice is a harmonic glottal source whose harmonics are weighted by three vowel formants,
plus breath noise shaped by the same formants, gated by syllables. Children have f0
220–450 Hz and formants about 20 % above an adult's.
"""

from __future__ import annotations

import numpy as np

from pipeline.datasets.synth import dsp


def formant_amps(f0: float, n_harm: int, formants, roll: float) -> np.ndarray:
    """Harmonic amplitudes, shape (n_harm,): a ``roll`` dB/harmonic slope plus formant peaks."""
    freqs = f0 * np.arange(1, n_harm + 1)
    level = -roll * np.arange(n_harm) + sum(dsp.bump(freqs, fc, 18.0, 0.35) for fc in formants)
    return 10.0 ** (level / 20.0)


def draw_voice(rec: np.random.Generator, child: bool) -> dict:
    """Fixed traits of one speaker: pitch, formants, speaking rate, loudness."""
    scale = 1.2 if child else 1.0
    return {
        "f0": dsp.logu(rec, 220, 450) if child else dsp.logu(rec, 100, 260),
        "F": (scale * rec.uniform(450, 850), scale * rec.uniform(1000, 2400),
              scale * rec.uniform(2300, 3300)),
        "rate": rec.uniform(2.5, 6.0),
        "gain": rec.uniform(-12, 0),
        "semis": rec.uniform(1.5, 4.0),
    }  # fmt: skip


def syllables(rng: np.random.Generator, n: int, rate: float, pause: float,
              length: tuple[float, float] = (0.5, 1.3)) -> np.ndarray:
    """Syllable envelope, shape (n,): raised-sine bumps at about ``rate`` Hz, with pauses."""
    spans, t, dur = [], rng.uniform(-0.3, 0.3), n / dsp.SR
    while t < dur:
        span = rng.uniform(*length) / rate
        if rng.random() > pause:
            spans.append((t, t + span))
        t += span * rng.uniform(1.0, 1.6)
    env, t = np.zeros(n), dsp.seconds(n)
    for a, b in spans:
        i, j = max(0, int(np.ceil(a * dsp.SR))), min(n, int(np.ceil(b * dsp.SR)))
        if i < j:
            # sin(π(t − a)/(b − a))**0.7, computed in place in the envelope.
            bump = env[i:j]
            np.subtract(t[i:j], a, out=bump)
            bump *= np.pi
            bump /= b - a
            np.sin(bump, out=bump)
            bump **= 0.7
    return env


def _breath(rng: np.random.Generator, n: int, formants) -> np.ndarray:
    return dsp.noise(rng, n, lambda f: sum(dsp.bump(f, fc, 15.0, 0.4) for fc in formants) - 15.0)


def speak(rng: np.random.Generator, n: int, v: dict, *, pause: float = 0.3,
          shout: float = 0.0, breath_db: float = -14.0, f0=None, env=None,
          breath=None) -> np.ndarray:
    """One voice speaking (or, with ``f0`` and ``env`` given, singing), shape (n,).

    ``shout`` is the probability that the utterance rises into a shout or scream (pitch up
    to 7 semitones higher); ``f0`` (Hz, shape (n,)) replaces the intonation contour;
    ``breath`` (shape (n,)) is breath noise to use instead of the voice's own.
    """
    if f0 is None:
        semis = v["semis"] * dsp.smooth_walk(rng, n, v["rate"])
        if rng.random() < shout:
            semis = semis + 7.0 * np.clip(dsp.smooth_walk(rng, n, 1.0), 0, None)
        f0 = v["f0"] * 2.0 ** (semis / 12.0)
    src = dsp.unit(dsp.harmonic(rng, f0, formant_amps(v["f0"], 30, v["F"], 1.0), n))
    if breath is None:
        breath = _breath(rng, n, v["F"])
    if env is None:
        env = syllables(rng, n, v["rate"], pause)
    # gain·env·(src + breath_gain·breath), with two temporaries instead of four.
    out = breath * dsp.db(breath_db)
    out += src
    out *= env * dsp.db(v["gain"])
    return out


def babble(rng: np.random.Generator, n: int, voices: list[dict], **kw) -> np.ndarray:
    """Several voices talking at once, shape (n,).

    The voices share one breath noise (shaped by the first voice's formants), gated by each
    voice's own syllables: much cheaper than one noise per voice, and inaudible in a group.
    """
    out = np.zeros(n)
    breath = _breath(rng, n, voices[0]["F"])
    for v in voices:
        out += speak(rng, n, v, breath=breath, **kw)
    return out
