"""Living sources: dog bark, children playing.

A bark is a short harmonic vocalisation through two formants set by the dog's size
(small dogs: high pitch, short yaps; large dogs: low, long woofs), with noisy roughness;
growls and whines are the same vocal tract held longer. Children playing is mostly voices
(:mod:`.voice`), plus laughter, footsteps, a bouncing ball and clapping games.
"""

from __future__ import annotations

import numpy as np

from pipeline.datasets.synth import dsp
from pipeline.datasets.synth.recipes.catalogue import subtype
from pipeline.datasets.synth.recipes.voice import (
    babble,
    draw_voice,
    formant_amps,
    speak,
    syllables,
)  # fmt: skip


# --- dog bark -----------------------------------------------------------------------------
def _vocal(rng, m, f0, formants, rough_db, contour):
    """One bark-like call of m samples with pitch ``f0 * contour`` (contour shape (m,))."""
    call = dsp.unit(dsp.harmonic(rng, f0 * contour, formant_amps(f0, 25, formants, 1.5), m))
    breath = dsp.noise(rng, m, lambda f: dsp.bump(f, formants[1], 12.0, 0.6))
    return call + dsp.db(rough_db) * breath


def _barks(rec, *, f0, size, length, per_burst, gap, glide=0.25):
    formants = (rec.uniform(400, 900) / size, rec.uniform(1200, 2500) / size)
    # Barks are harsh: a noisy, chaotic phonation as strong as the harmonics.
    rough_db, pause = rec.uniform(-8, 2), rec.uniform(0.4, 2.0)

    def render(n, rng):
        dur, out = n / dsp.SR, np.zeros(n)
        t = rng.uniform(0, min(0.3, 0.3 * dur))
        while t < dur:
            for _ in range(int(rng.integers(1, per_burst + 1))):
                span = length * rng.uniform(0.7, 1.3)
                m, a = int(span * dsp.SR), int(t * dsp.SR)
                if a >= n or m < 4:
                    break
                u = np.linspace(0, 1, m)
                contour = rng.uniform(0.9, 1.1) * (1.0 + glide * np.sin(np.pi * u) - 0.15 * u)
                env = (1.0 - np.exp(-u * span / 0.004)) * np.exp(-u * span / (0.3 * span))
                seg = (_vocal(rng, m, f0, formants, rough_db, contour) * env)[: n - a]
                out[a : a + len(seg)] += seg * rng.uniform(0.6, 1.0)
                t += span + gap * rng.uniform(0.7, 1.4)
            t += pause * rng.uniform(0.5, 1.5)
        return out

    return render


# The dog sizes: (name, weight, description, f0 range in Hz, size (formants divide by it),
# call length range in s, calls per burst [low, high), gap range in s).
_DOGS = (
    ("small_yap", 0.2, "Small dog: high yaps (f0 500–1000 Hz, 50–120 ms) in quick series.",
     (500, 1000), 0.7, (0.05, 0.12), (2, 8), (0.08, 0.2)),
    ("medium_bark", 0.45, "Medium dog: barks of 100–250 ms at f0 300–600 Hz, single or in "
     "bursts.", (300, 600), 1.0, (0.1, 0.25), (1, 5), (0.15, 0.5)),
    ("large_woof", 0.2, "Large dog: deep woofs (f0 150–350 Hz, 200–400 ms), low formants, slow "
     "series.", (150, 350), 1.5, (0.2, 0.4), (1, 4), (0.3, 0.7)),
)  # fmt: skip


def _dog(doc, f0, size, length, per_burst, gap):
    """The sub-type of a dog size: its calls drawn from the given ranges."""

    def draw(rec):
        # Drawn in this order (f0, length, calls per burst, gap): the recording's sequence.
        return _barks(rec, f0=dsp.logu(rec, *f0), size=size, length=rec.uniform(*length),
                      per_burst=int(rec.integers(*per_burst)), gap=rec.uniform(*gap))  # fmt: skip

    draw.__doc__ = doc
    return draw


for _name, _weight, *_shape in _DOGS:
    subtype("dog_bark", _name, _weight)(_dog(*_shape))


@subtype("dog_bark", "growl", 0.05)
def growl(rec):
    """Growl: a held low rough call (f0 80–200 Hz, pulsed at 20–40 Hz), often ending in a
    bark."""
    f0, pulse = dsp.logu(rec, 80, 200), rec.uniform(20, 40)
    formants = (rec.uniform(300, 700), rec.uniform(900, 1800))
    bark = _barks(rec, f0=f0 * 2.5, size=1.2, length=0.2, per_burst=2, gap=0.3)

    def render(n, rng):
        t = dsp.seconds(n)
        rough = 0.5 + 0.5 * np.sin(2 * np.pi * pulse * t) ** 2
        x = _vocal(rng, n, f0, formants, -3.0, 1.0 + 0.05 * dsp.smooth_walk(rng, n, 2.0)) * rough
        x *= 0.2 + 0.8 * syllables(rng, n, 0.6, 0.2, (0.6, 1.0))
        return dsp.unit(x) + 0.7 * dsp.unit(bark(n, rng)) if rng.random() < 0.5 else x

    return render


@subtype("dog_bark", "yelp_whine", 0.1)
def yelp_whine(rec):
    """Yelps and whines: high calls (f0 600–1500 Hz) gliding down, 0.1–0.8 s."""
    return _barks(rec, f0=dsp.logu(rec, 600, 1500), size=0.8, length=rec.uniform(0.1, 0.8),
                  per_burst=int(rec.integers(1, 4)), gap=rec.uniform(0.1, 0.4),
                  glide=-0.3)  # fmt: skip


# --- children playing ---------------------------------------------------------------------
@subtype("children_playing", "playground", 0.5)
def playground(rec):
    """Playground babble: four to ten children talking and calling at once, some far off
    (dull, quiet), occasional shouts."""
    voices = [draw_voice(rec, child=True) for _ in range(int(rec.integers(4, 11)))]
    shout = rec.uniform(0.1, 0.4)

    def render(n, rng):
        return babble(rng, n, voices, shout=shout, pause=0.35)

    return render


@subtype("children_playing", "shouting_game", 0.2)
def shouting_game(rec):
    """One to three children close by, shouting and screaming (pitch rising a fifth)."""
    voices = [draw_voice(rec, child=True) for _ in range(int(rec.integers(1, 4)))]

    def render(n, rng):
        return babble(rng, n, voices, shout=0.8, pause=0.4, breath_db=-8.0)

    return render


@subtype("children_playing", "laughter", 0.15)
def laughter(rec):
    """Laughter: bouts of breathy "ha" syllables at 4–6 Hz, several children."""
    voices = [draw_voice(rec, child=True) for _ in range(int(rec.integers(1, 4)))]
    rate = rec.uniform(4, 6)

    def render(n, rng):
        out = np.zeros(n)
        for v in voices:
            bouts = syllables(rng, n, 0.5, 0.3, (0.8, 1.6))
            ha = syllables(rng, n, rate, 0.05, (0.6, 0.9)) * bouts
            out += speak(rng, n, v, env=ha, shout=0.3, breath_db=-4.0)
        return out

    return render


@subtype("children_playing", "running_ball", 0.05)
def running_ball(rec):
    """Running feet (2.5–4 steps/s, low thuds), a bouncing ball and a few voices."""
    voices = [draw_voice(rec, child=True) for _ in range(int(rec.integers(1, 4)))]
    step_rate, thud = rec.uniform(2.5, 4.0), dsp.logu(rec, 60, 200)

    def render(n, rng):
        k = np.arange(int(0.06 * dsp.SR)) / dsp.SR
        kern = np.exp(-k / 0.015) * np.sin(2 * np.pi * thud * k)
        times = dsp.impulse_train(rng, n, step_rate, 0.1)
        x = dsp.unit(dsp.events(n, times, rng.uniform(0.5, 1.0, len(times)), kern))
        bounce = np.cumsum(0.5 * 0.8 ** np.arange(8)) + rng.uniform(0, n / dsp.SR)
        ball = dsp.events(n, bounce, 0.8 ** np.arange(8), dsp.decay(0.004, 0.03) * np.sin(
            2 * np.pi * 400 * np.arange(int(0.03 * dsp.SR)) / dsp.SR))
        x += 0.7 * dsp.unit(ball) if np.any(ball) else 0.0
        return x + dsp.unit(babble(rng, n, voices, shout=0.5, pause=0.5))

    return render


@subtype("children_playing", "clapping_chant", 0.1)
def clapping_chant(rec):
    """Clapping game: hand claps on a 100–140 bpm beat and a sung chant on two or three
    pitches, the rhythm and melody a street musician would have."""
    voices = [draw_voice(rec, child=True) for _ in range(int(rec.integers(1, 4)))]
    beat, steps = 60.0 / rec.uniform(100, 140), rec.choice([0, 2, 3, 4, 5, 7], 3)

    def render(n, rng):
        t0 = -rng.uniform(0, beat)
        times = t0 + beat * np.arange(int(n / dsp.SR / beat) + 2)
        clap = dsp.decay(0.01, 0.04, 0.0005) * rng.standard_normal(int(0.04 * dsp.SR))
        x = dsp.unit(dsp.events(n, times, np.ones(len(times)), clap))
        idx = np.clip(((dsp.seconds(n) - t0) / beat).astype(int), 0, None)
        semis = np.asarray(steps)[idx % len(steps)]
        env = syllables(rng, n, 1.0 / beat, 0.1, (0.7, 0.9))
        for v in voices:
            x += dsp.unit(speak(rng, n, v, f0=v["f0"] * 2.0 ** (semis / 12.0), env=env))
        return x

    return render
