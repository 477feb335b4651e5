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
            # sin(π(t − a)/(b − a))**0.75, computed in place in the envelope (two square
            # roots cost a fraction of a power).
            bump = env[i:j]
            np.subtract(t[i:j], a, out=bump)
            bump *= np.pi
            bump /= b - a
            np.sin(bump, out=bump)
            bump *= np.sqrt(bump)
            np.sqrt(bump, out=bump)
    return env


def _breath(rng: np.random.Generator, n: int, formants) -> np.ndarray:
    return dsp.noise(rng, n, lambda f: sum(dsp.bump(f, fc, 15.0, 0.4) for fc in formants) - 15.0)


def _runs(env: np.ndarray) -> list[tuple[int, int]]:
    """The (start, end) sample spans where ``env`` (shape (n,)) is not zero."""
    on = np.zeros(len(env) + 2, dtype=bool)
    np.not_equal(env, 0.0, out=on[1:-1])
    edges = np.flatnonzero(on[1:] != on[:-1]).tolist()
    return list(zip(edges[0::2], edges[1::2], strict=True))


def speak(rng: np.random.Generator, n: int, v: dict, *, pause: float = 0.3,
          shout: float = 0.0, breath_db: float = -14.0, f0=None, env=None,
          breath=None) -> np.ndarray:
    """One voice speaking (or, with ``f0`` and ``env`` given, singing), shape (n,).

    ``shout`` is the probability that the utterance rises into a shout or scream (pitch up
    to 7 semitones higher); ``f0`` (Hz, shape (n,)) replaces the intonation contour;
    ``breath`` (shape (n,)) is breath noise to use instead of the voice's own. The voice is
    computed only where its syllable envelope is open, about half the time: each syllable
    starts the glottal wave at a phase of its own.
    """
    contour = shouting = None
    if f0 is None:
        contour = dsp.walk_points(rng, n, v["rate"])
        if rng.random() < shout:
            shouting = dsp.walk_points(rng, n, 1.0)
    if breath is None:
        breath = _breath(rng, n, v["F"])
    if env is None:
        env = syllables(rng, n, v["rate"], pause)
    spans = _runs(env)
    pitches = []
    for a, b in spans:
        if f0 is not None:
            pitches.append(np.asarray(f0, dtype=float)[a:b])
            continue
        # f0 · 2^(semis / 12), the semitones of the intonation (and the shout) at a..b.
        semis = dsp.walk_at(contour, v["rate"], a, b)
        semis *= v["semis"]
        if shouting is not None:
            semis += 7.0 * np.clip(dsp.walk_at(shouting, 1.0, a, b), 0, None)
        semis /= 12.0
        pitch = np.exp2(semis, out=semis)
        pitch *= v["f0"]
        pitches.append(pitch)
    out = np.zeros(n)
    if not spans:
        return out
    table = dsp.wavetable(rng, formant_amps(v["f0"], 30, v["F"], 1.0),
                          max(float(p.max()) for p in pitches))
    table /= dsp.rms(table)  # a wave read at any pitch keeps its period's RMS: unit level
    level = dsp.db(v["gain"])
    for (a, b), pitch in zip(spans, pitches, strict=True):
        # gain·env·(wave + breath_gain·breath), in place in the output.
        seg = out[a:b]
        np.multiply(breath[a:b], dsp.db(breath_db), out=seg)
        seg += dsp.play(rng, table, pitch, b - a)
        seg *= env[a:b]
        seg *= level
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
