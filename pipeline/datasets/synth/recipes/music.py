"""Street music: buskers, brass, drums, accordions, loudspeakers and singers.

Every sub-type plays on a beat grid (70–150 bpm) from a pentatonic, major or minor scale:
notes and chords in a lead timbre (plucked or sustained), an optional bass line and
percussion (kick, snare, hi-hat).
"""

from __future__ import annotations

import numpy as np

from pipeline.datasets.synth import dsp
from pipeline.datasets.synth.recipes.catalogue import subtype
from pipeline.datasets.synth.recipes.voice import draw_voice, speak, syllables

SCALES = ([0, 2, 4, 7, 9], [0, 3, 5, 7, 10], [0, 2, 4, 5, 7, 9, 11], [0, 2, 3, 5, 7, 8, 10])


def _note(rng, table, freq, length, pluck, decay, detune=0.0):
    m = max(4, int(length * dsp.SR))
    u = np.arange(m) / dsp.SR
    env = (np.exp(-u / decay) if pluck
           else np.minimum(1.0, u / 0.05) * np.minimum(1.0, (length - u) / 0.05))  # fmt: skip
    vib = 1 + 0.003 * np.sin(2 * np.pi * 5 * u)
    x = dsp.play(rng, table, freq * vib, m)
    if detune:
        # Two reeds a few cents apart beat against each other (accordion, organ).
        x = x + dsp.play(rng, table, freq * vib * (1 + detune), m)
    return x * env


def _add(out, sig, at, gain):
    a = int(at * dsp.SR)
    if a < 0:
        sig, a = sig[-a:], 0
    seg = sig[: max(0, len(out) - a)]
    out[a : a + len(seg)] += gain * seg


def _drums(rng, out, at, i, level):
    m = int(0.25 * dsp.SR)
    u = np.arange(m) / dsp.SR
    if i % 4 == 0:
        kick = (np.sin(2 * np.pi * np.cumsum(50 + 100 * np.exp(-u / 0.03)) / dsp.SR)
                * np.exp(-u / 0.1))
        _add(out, kick, at, level)
    elif i % 4 == 2:
        _add(out, rng.standard_normal(m) * np.exp(-u / 0.05), at, 0.5 * level)
    else:
        _add(out, np.diff(rng.standard_normal(m + 1)) * np.exp(-u / 0.01), at, 0.2 * level)


def _band(rec, *, lead_harm, lead_roll, pluck, decay, poly, bass, drums, density,
          detune=0.0, lead_db=0.0, root=None):
    bpm = rec.uniform(70, 150)
    root = root or dsp.logu(rec, 110, 440)
    scale = SCALES[int(rec.integers(len(SCALES)))]
    drum_db = rec.uniform(-10, 0)

    def render(n, rng):
        out = np.zeros(n)
        beat = 60.0 / bpm
        step = beat / 2
        t0 = -rng.uniform(0, beat)
        lead = dsp.wavetable(rng, dsp.rolloff(lead_harm, lead_roll), root * 4.0)
        low = dsp.wavetable(rng, dsp.rolloff(6, 6), root / 2)
        for i in range(int((n / dsp.SR - t0) / step) + 1):
            at = t0 + i * step
            if lead_db > -60 and rng.random() < density:
                length = step * float(rng.choice([1, 2, 3]))
                for _ in range(poly):
                    deg = int(rng.integers(0, 2 * len(scale)))
                    semis = scale[deg % len(scale)] + 12 * (deg // len(scale))
                    note = _note(rng, lead, root * 2.0 ** (semis / 12), length, pluck, decay,
                                 detune)  # fmt: skip
                    _add(out, note, at, dsp.db(lead_db) / poly)
            if bass and i % 2 == 0:
                _add(out, _note(rng, low, root / 2, beat, True, 0.3), at, 0.7)
            if drums:
                _drums(rng, out, at, i, dsp.db(drum_db))
        return out

    return render


@subtype("street_music", "busker_guitar", 0.3)
def busker_guitar(rec):
    """Busker with a guitar: plucked strummed chords (two or three notes), no drums."""
    return _band(rec, lead_harm=int(rec.integers(8, 16)), lead_roll=rec.uniform(2, 5),
                 pluck=True, decay=rec.uniform(0.2, 0.6), poly=int(rec.integers(2, 4)),
                 bass=rec.random() < 0.3, drums=False, density=rec.uniform(0.6, 0.95))  # fmt: skip


@subtype("street_music", "brass_band", 0.15)
def brass_band(rec):
    """Brass band: sustained bright notes (slow harmonic roll-off), bass line, marching
    drums."""
    return _band(rec, lead_harm=int(rec.integers(12, 25)), lead_roll=rec.uniform(0.8, 2.0),
                 pluck=False, decay=0.5, poly=int(rec.integers(1, 4)), bass=True, drums=True,
                 density=rec.uniform(0.5, 0.9))  # fmt: skip


@subtype("street_music", "drum_group", 0.1)
def drum_group(rec):
    """Drummers: percussion only (kick, snare, hi-hat patterns) with a low tom line."""
    return _band(rec, lead_harm=4, lead_roll=8.0, pluck=True, decay=0.1, poly=1, bass=True,
                 drums=True, density=0.0, lead_db=-99.0, root=dsp.logu(rec, 80, 160))  # fmt: skip


@subtype("street_music", "accordion", 0.15)
def accordion(rec):
    """Accordion or organ: sustained chords of beating reed pairs, slow changes."""
    return _band(rec, lead_harm=int(rec.integers(8, 20)), lead_roll=rec.uniform(1, 3),
                 pluck=False, decay=0.5, poly=int(rec.integers(2, 4)), bass=rec.random() < 0.5,
                 drums=False, density=rec.uniform(0.3, 0.6),
                 detune=rec.uniform(0.002, 0.006))  # fmt: skip


@subtype("street_music", "loudspeaker", 0.15)
def loudspeaker(rec):
    """Music from a small loudspeaker: bass, four-to-the-floor beat and a synth lead, heard
    through a small cone (no lows under 150 Hz, no highs over 6 kHz)."""
    band = _band(rec, lead_harm=int(rec.integers(6, 16)), lead_roll=rec.uniform(1, 4),
                 pluck=rec.random() < 0.5, decay=rec.uniform(0.1, 0.4), poly=1, bass=True,
                 drums=True, density=rec.uniform(0.5, 0.9))  # fmt: skip
    hp, lp = dsp.logu(rec, 100, 250), dsp.logu(rec, 4000, 8000)

    def render(n, rng):
        return dsp.filtered(band(n, rng), lambda f: dsp.highpass(f, hp, 3) + dsp.lowpass(f, lp, 3))

    return render


@subtype("street_music", "singer", 0.15)
def singer(rec):
    """A singer (adult or child voice) holding notes of a melody on the beat, over a quiet
    guitar or none."""
    voice = draw_voice(rec, child=rec.random() < 0.3)
    scale = SCALES[int(rec.integers(len(SCALES)))]
    beat = 60.0 / rec.uniform(70, 130)
    guitar = _band(rec, lead_harm=10, lead_roll=3.0, pluck=True, decay=0.4, poly=2,
                   bass=False, drums=False, density=0.6, root=voice["f0"])  # fmt: skip
    accompany = dsp.db(rec.uniform(-20, -6)) if rec.random() < 0.7 else 0.0

    def render(n, rng):
        notes = rng.choice(scale, int(n / dsp.SR / beat) + 2)
        idx = np.clip((dsp.seconds(n) / beat).astype(int), 0, len(notes) - 1)
        f0 = voice["f0"] * 2.0 ** (notes[idx] / 12.0) * (1 + 0.006 * np.sin(
            2 * np.pi * 5.5 * np.arange(n) / dsp.SR))
        env = syllables(rng, n, 1.0 / beat, 0.15, (0.8, 1.0))
        x = speak(rng, n, voice, f0=f0, env=env, breath_db=-20.0)
        return x + accompany * guitar(n, rng) if accompany else x

    return render
