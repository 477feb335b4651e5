"""Signals: car horn, siren, gun shot.

Horns and sirens are harmonic tones (a vibrating diaphragm or an electronic square-ish
wave through a horn driver); a moving vehicle adds a Doppler shift and a 1/r level change
(:func:`~pipeline.datasets.synth.dsp.pass_by`). Gun shots are impulses whose character is
set by the weapon (a muzzle blast, a supersonic crack) and by the surroundings (echoes off
buildings, air absorption over distance).
"""

from __future__ import annotations

import numpy as np

from pipeline.datasets.synth import dsp
from pipeline.datasets.synth.recipes.catalogue import subtype


def _motion(rec, p_moving: float):
    """A recording's pass-by (or None for a standing source): closest time, speed, distance."""
    if rec.random() >= p_moving:
        return None
    return rec.uniform(-1.0, 5.0), rec.uniform(5.0, 20.0), dsp.logu(rec, 5.0, 40.0)


def _moved(n, rng, motion):
    """Doppler factor and level, shape (n,) each, of ``motion`` for one slice."""
    if motion is None:
        return np.ones(n), np.ones(n)
    t0, speed, dist = motion
    # Each slice sees the pass at its own offset: slices lie seconds apart in a recording.
    return dsp.pass_by(n, t0 - rng.uniform(-2.0, 2.0), speed, dist)


# --- car horn -----------------------------------------------------------------------------
def _spans(rng, dur, taps, tap_len, gap):
    if not taps:
        return [(rng.uniform(-1, 0.5 * dur), rng.uniform(0.5, 1.0) * dur + 1.0)]
    spans, t = [], rng.uniform(0, 0.4 * dur)
    for _ in range(int(rng.integers(1, 5))):
        length = tap_len * rng.uniform(0.6, 1.5)
        spans.append((t, t + length))
        t += length + gap * rng.uniform(0.7, 1.5)
    return spans


def _horn(rec, *, tones, n_harm, roll, taps, attack, p_moving):
    tap_len, gap = dsp.logu(rec, 0.1, 0.6), rec.uniform(0.08, 0.5)
    motion = _motion(rec, p_moving)

    def render(n, rng):
        spans = _spans(rng, n / dsp.SR, taps, tap_len, gap)
        doppler, level = _moved(n, rng, motion)
        t = dsp.seconds(n)
        # The diaphragm starts a little flat and settles within ~30 ms of each onset.
        droop = np.ones(n)
        for a, _ in spans:
            droop -= 0.03 * np.exp(-np.maximum(t - a, 0) / 0.03) * (t >= a)
        x = sum(dsp.harmonic(rng, f * droop * doppler, dsp.rolloff(n_harm, roll), n) for f in tones)
        return x * dsp.gate(n, spans, attack, 0.03) * level

    return render


@subtype("car_horn", "dual_tone", 0.45)
def dual_tone(rec):
    """Car horn pair: two disc horns 350–520 Hz a minor or major third apart, rich
    harmonics; short taps or one blast."""
    f1 = dsp.logu(rec, 350, 520)
    return _horn(rec, tones=(f1, f1 * float(rec.choice([1.19, 1.25, 1.26, 1.33]))),
                 n_harm=int(rec.integers(12, 30)), roll=rec.uniform(1.0, 4.0),
                 taps=rec.random() < 0.6, attack=0.01, p_moving=0.2)  # fmt: skip


@subtype("car_horn", "single_tone", 0.25)
def single_tone(rec):
    """Single horn of a small car or scooter: one tone 300–650 Hz, often brief taps."""
    return _horn(rec, tones=(dsp.logu(rec, 300, 650),), n_harm=int(rec.integers(8, 25)),
                 roll=rec.uniform(1.5, 5.0), taps=rec.random() < 0.7, attack=0.008,
                 p_moving=0.2)  # fmt: skip


@subtype("car_horn", "air_horn", 0.15)
def air_horn(rec):
    """Truck or bus air horn: a chord of two or three trumpets at 150–350 Hz with a slow
    valve onset, long blasts."""
    f1 = dsp.logu(rec, 150, 350)
    tones = tuple(f1 * r for r in (1.0, 1.26, 1.5)[: int(rec.integers(2, 4))])
    return _horn(rec, tones=tones, n_harm=int(rec.integers(20, 40)), roll=rec.uniform(0.5, 2.0),
                 taps=rec.random() < 0.3, attack=0.06, p_moving=0.3)  # fmt: skip


@subtype("car_horn", "passing_blast", 0.15)
def passing_blast(rec):
    """A driver leaning on the horn while driving past: a long two-tone blast with the
    Doppler drop and the swell and fade of the pass."""
    f1 = dsp.logu(rec, 350, 500)
    return _horn(rec, tones=(f1, f1 * 1.26), n_harm=int(rec.integers(12, 30)),
                 roll=rec.uniform(1.0, 4.0), taps=False, attack=0.02, p_moving=1.0)  # fmt: skip


# --- siren --------------------------------------------------------------------------------
def _siren(rec, pitch):
    """A siren whose pitch (Hz, shape (n,)) is ``pitch(n, rng)``, through a horn driver."""
    n_harm, roll = int(rec.integers(3, 13)), rec.uniform(3, 12)
    motion = _motion(rec, 0.5)

    def render(n, rng):
        doppler, level = _moved(n, rng, motion)
        return dsp.harmonic(rng, pitch(n, rng) * doppler, dsp.rolloff(n_harm, roll), n) * level

    return render


def _sweep(rec, lo, hi, period, skew):
    def pitch(n, rng):
        u = (dsp.seconds(n) / period + rng.random()) % 1.0
        # Asymmetric sweep: a rise over ``skew`` of the period, then a slower fall.
        s = np.where(u < skew, u / skew, (1.0 - u) / (1.0 - skew))
        return lo * (hi / lo) ** (0.5 - 0.5 * np.cos(np.pi * s))

    return _siren(rec, pitch)


@subtype("siren", "wail", 0.35)
def wail(rec):
    """Wail: a slow sweep between 500–900 Hz and 1.5–2.2 times that, 3–7 s per cycle."""
    lo = dsp.logu(rec, 500, 900)
    return _sweep(rec, lo, lo * rec.uniform(1.5, 2.2), rec.uniform(3, 7), rec.uniform(0.2, 0.5))


@subtype("siren", "yelp", 0.25)
def yelp(rec):
    """Yelp: the same sweep, fast, 0.15–0.4 s per cycle."""
    lo = dsp.logu(rec, 500, 900)
    return _sweep(rec, lo, lo * rec.uniform(1.5, 2.2), rec.uniform(0.15, 0.4),
                  rec.uniform(0.2, 0.5))  # fmt: skip


def _alternating(rec, lo, ratio, half):
    def pitch(n, rng):
        u = (dsp.seconds(n) / (2 * half) + rng.random()) % 1.0
        return np.where(u < 0.5, lo, lo * ratio)

    return _siren(rec, pitch)


@subtype("siren", "hi_lo", 0.2)
def hi_lo(rec):
    """Hi-lo: an electronic siren alternating between two tones (400–700 Hz, a third to a
    fifth apart) every 0.3–0.7 s."""
    return _alternating(rec, dsp.logu(rec, 400, 700), rec.uniform(1.2, 1.5), rec.uniform(0.3, 0.7))


@subtype("siren", "two_tone", 0.2)
def two_tone(rec):
    """Two-tone horn (European ambulances and police): a fourth apart (360–480 Hz and up),
    about 1.5 s per cycle, with a compressed-air horn's rich harmonics."""
    return _alternating(rec, dsp.logu(rec, 360, 480), 4 / 3, rec.uniform(0.6, 0.9))


# --- gun shot -----------------------------------------------------------------------------
def _gun(rec, *, times, tau, tail, tail_db, lp, crack=False, echoes=2):
    tail_lp, slope = dsp.logu(rec, 500, 3000), rec.uniform(-4, 0)
    # Echoes off the buildings around: fixed for the place, 50–400 ms late, −6 to −18 dB.
    refl = [(rec.uniform(0.05, 0.4), dsp.db(rec.uniform(-18, -6))) for _ in range(echoes)]

    def render(n, rng):
        dur = n / dsp.SR
        at = np.asarray(times(rng, dur))
        amps = rng.uniform(0.6, 1.0, len(at))
        at = np.concatenate([at, *[at + d for d, _ in refl]])
        amps = np.concatenate([amps, *[amps * g for _, g in refl]])
        blast = dsp.events(n, at, amps, dsp.decay(tau, 6 * tau, 0.0003))
        ring = dsp.events(n, at, amps, dsp.decay(tail, min(3 * tail, dur + 0.1), 0.005))
        x = blast * dsp.noise(rng, n, lambda f: dsp.tilt(f, slope) + dsp.lowpass(f, lp))
        x += dsp.db(tail_db) * ring * dsp.noise(rng, n, lambda f: dsp.lowpass(f, tail_lp))
        if crack:
            # A supersonic bullet's N-wave: a 0.5 ms bright snap ahead of the muzzle blast.
            snap = np.concatenate([np.linspace(1, -1, int(0.0005 * dsp.SR)), [0.0]])
            x += 0.5 * dsp.unit(dsp.events(n, at - rec_delay, amps, snap)) * np.max(np.abs(x))
        return x

    rec_delay = rec.uniform(0.02, 0.08)
    return render


def _first(rng, dur):
    return rng.uniform(0, min(0.5, 0.3 * dur))


@subtype("gun_shot", "pistol", 0.35)
def pistol(rec):
    """Handgun: one to three shots, a 3–12 ms broadband blast and a short tail."""
    return _gun(rec, times=lambda rng, d: _first(rng, d) + np.cumsum(
        [0.0, *rng.uniform(0.15, 1.5, int(rng.integers(0, 3)))]),
        tau=rec.uniform(0.003, 0.012), tail=rec.uniform(0.2, 0.8),
        tail_db=rec.uniform(-20, -8), lp=dsp.logu(rec, 5000, 11000))  # fmt: skip


@subtype("gun_shot", "rifle", 0.2)
def rifle(rec):
    """Rifle: a supersonic crack 20–80 ms ahead of a heavier muzzle blast, long tail."""
    return _gun(rec, times=lambda rng, d: [_first(rng, d) + 0.08],
                tau=rec.uniform(0.008, 0.03), tail=rec.uniform(0.5, 1.2),
                tail_db=rec.uniform(-16, -6), lp=dsp.logu(rec, 4000, 10000),
                crack=True)  # fmt: skip


@subtype("gun_shot", "automatic", 0.2)
def automatic(rec):
    """Automatic fire: bursts of 4–10 shots at 8–15 rounds per second."""
    rate = rec.uniform(8, 15)

    def times(rng, d):
        count = int(rng.integers(4, 11))
        return _first(rng, d) + np.arange(count) / rate * (1 + 0.05 * rng.standard_normal(count))

    return _gun(rec, times=times, tau=rec.uniform(0.004, 0.015), tail=rec.uniform(0.2, 0.6),
                tail_db=rec.uniform(-20, -8), lp=dsp.logu(rec, 4000, 10000))  # fmt: skip


@subtype("gun_shot", "distant", 0.25)
def distant(rec):
    """Shots far away: the highs absorbed (low-passed at 500–2000 Hz), a long tail and
    strong echoes off buildings."""
    return _gun(rec, times=lambda rng, d: _first(rng, d) + np.cumsum(
        [0.0, *rng.uniform(0.3, 1.5, int(rng.integers(0, 3)))]),
        tau=rec.uniform(0.01, 0.04), tail=rec.uniform(0.6, 1.5), tail_db=rec.uniform(-10, -3),
        lp=dsp.logu(rec, 500, 2000), echoes=4)  # fmt: skip
