"""Tools in material: drilling and jackhammers.

Both carry the band noise of a bit or chisel in material and both start and stop; they differ
in impact periodicity: none (a motor whine with load changes) or a hammering buzz at
15–45 Hz for hammer drills, blows at 12–45 Hz in work bouts for breakers; the two rates
overlap, and an electric breaker whines like a drill, as on a building site.
"""

from __future__ import annotations

import numpy as np

from pipeline.datasets.synth import dsp
from pipeline.datasets.synth.recipes.catalogue import subtype


# --- drilling -----------------------------------------------------------------------------
def _load_curve(rng, n, rate):
    """Load (0..1), shape (n,): the bit biting into material in bouts of 0.3–1.5 s."""
    load, tt, dur = np.zeros(n), dsp.seconds(n), n / dsp.SR
    for _ in range(rng.poisson(rate * dur) + 1):
        a, length = rng.uniform(-0.5, dur), rng.uniform(0.3, 1.5)
        inside = (tt >= a) & (tt < a + length)
        load[inside] += np.sin(np.pi * (tt[inside] - a) / length) ** 2
    return np.clip(load, 0.0, 1.0)


def _trigger(rng, n, on, off):
    """Trigger envelope, shape (n,): the motor runs for ``on`` s, stops for ``off`` s, with
    a 50 ms spin-up and a 150 ms spin-down."""
    env, t, dur = np.zeros(n), -rng.uniform(0, on[1]), n / dsp.SR
    tt = dsp.seconds(n)
    while t < dur:
        end = t + rng.uniform(*on)
        i, j = max(0, int(t * dsp.SR)), min(n, int((end + 0.15) * dsp.SR))
        if i < j:
            u = tt[i:j]
            env[i:j] = np.maximum(env[i:j], np.clip((u - t) / 0.05, 0, 1)
                                  * np.clip((end + 0.15 - u) / 0.15, 0, 1))
        t = end + rng.uniform(*off)
    return env


def _drill(rec, *, rot, band, whine_db, grind_db, hammer=0.0):
    bw, roll, depth = rec.uniform(0.5, 1.5), rec.uniform(0.3, 2.0), rec.uniform(0.05, 0.25)
    blow_db = rec.uniform(-6, 4) if hammer else -99.0
    loads = rec.uniform(0.2, 0.8)
    # Most drilling stops now and then (bit pulled out, hole finished); some runs on.
    on, off = (rec.uniform(0.5, 1.5), rec.uniform(1.5, 4.0)), (0.1, rec.uniform(0.2, 1.2))
    stops = rec.random() < 0.6

    def render(n, rng):
        load = _load_curve(rng, n, loads)
        f0 = rot * (1.0 - depth * load) * (1.0 + 0.003 * dsp.smooth_walk(rng, n, 5.0))
        n_harm = max(1, int(0.45 * dsp.SR / rot))
        freqs = rot * np.arange(1, n_harm + 1)
        amps = 10.0 ** ((-roll * np.arange(n_harm) + dsp.bump(freqs, band, 20.0, bw)) / 20.0)
        whine = dsp.unit(dsp.harmonic(rng, f0, amps, n))
        grind = dsp.noise(
            rng, n, lambda f: dsp.bump(f, band, 20.0, bw) - 20.0 + dsp.lowpass(f, 8000)
        )
        x = dsp.db(whine_db) * whine + dsp.db(grind_db) * grind * (0.3 + load)
        if hammer:
            # Rotary hammer: blows at 15–45 Hz, in the range of breakers' blows; in
            # concrete they may drown the whine.
            times = dsp.impulse_train(rng, n, hammer, 0.02)
            hits = dsp.events(n, times, np.ones(len(times)), dsp.decay(0.003, 0.012, 0.0003))
            x = x + dsp.db(blow_db) * dsp.unit(hits * grind) * (0.3 + load)
        if stops:
            # Spinning down, the whine's pitch would fall too; the level envelope dominates.
            x = x * (0.02 + _trigger(rng, n, on, off))
        return x

    return render


@subtype("drilling", "cordless_drill", 0.35)
def cordless_drill(rec):
    """Hand drill: motor whine at 150–450 Hz rotation with a gear band at 1.5–5 kHz, the
    pitch dipping when the bit bites; band noise of the material during load."""
    return _drill(rec, rot=dsp.logu(rec, 150, 450), band=dsp.logu(rec, 1500, 5000),
                  whine_db=0.0, grind_db=rec.uniform(-6, 2))  # fmt: skip


@subtype("drilling", "hammer_drill", 0.4)
def hammer_drill(rec):
    """Hammer drill in concrete: whine plus band-noise blows at 15–45 Hz (900–2700 blows
    per minute), from a tap under the whine to a hammering over it."""
    return _drill(rec, rot=dsp.logu(rec, 100, 300), band=dsp.logu(rec, 1000, 4000),
                  whine_db=rec.uniform(-10, -2), grind_db=rec.uniform(-6, 0),
                  hammer=rec.uniform(15, 45))  # fmt: skip


@subtype("drilling", "core_drill", 0.25)
def core_drill(rec):
    """Core or masonry drill: a lower motor (80–200 Hz) under heavy grinding band noise
    (500–3000 Hz) that swells with the load."""
    return _drill(rec, rot=dsp.logu(rec, 80, 200), band=dsp.logu(rec, 500, 3000),
                  whine_db=rec.uniform(-14, -4), grind_db=rec.uniform(-2, 4))  # fmt: skip


# --- jackhammer ---------------------------------------------------------------------------
def _breaker(rec, *, rate, thud, band, ring, motor_db, exhaust_db):
    tau, jitter = rec.uniform(0.004, 0.02), rec.uniform(0.02, 0.08)
    seg = (rec.uniform(0.4, 1.2), rec.uniform(1.2, 3))
    pause, p_pause = rec.uniform(0.2, 1.0), rec.uniform(0.3, 0.8)
    ring_db, ring_tau, thud_db = rec.uniform(-14, -3), rec.uniform(0.01, 0.05), rec.uniform(-16, -4)
    motor = dsp.logu(rec, 100, 300)

    def render(n, rng):
        dur, times, t = n / dsp.SR, [], -rng.uniform(0, 1.0)
        on = np.zeros(n)
        while t < dur:
            end = t + rng.uniform(*seg)
            a = int(max(t, 0) * dsp.SR)
            on[a : int(min(end, dur) * dsp.SR)] = 1.0
            while t < end:
                times.append(t)
                t += max(0.3, 1 + jitter * rng.standard_normal()) / rate
            if rng.random() < p_pause:
                t += pause * rng.uniform(0.5, 1.5)
        times = np.asarray(times)
        amps = rng.uniform(0.7, 1.0, len(times))
        env = dsp.events(n, times, amps, dsp.decay(tau, 6 * tau, 0.0005))
        x = dsp.unit(env * dsp.noise(
            rng, n, lambda f: dsp.bump(f, band, 15.0, 1.2) - 15.0 + dsp.lowpass(f, 9000)
        ))
        k = np.arange(int(5 * ring_tau * dsp.SR)) / dsp.SR
        ringing = np.exp(-k / ring_tau) * np.sin(2 * np.pi * ring * k)
        x += dsp.db(ring_db) * dsp.unit(dsp.events(n, times, amps, ringing))
        kt = np.arange(int(0.05 * dsp.SR)) / dsp.SR
        thump = np.exp(-kt / 0.015) * np.sin(2 * np.pi * thud * kt)
        x += dsp.db(thud_db) * dsp.unit(dsp.events(n, times, amps, thump))
        if motor_db > -60:
            motor_hum = dsp.unit(dsp.harmonic(rng, motor, dsp.rolloff(12, 1.5), n))
            x += dsp.db(motor_db) * motor_hum * (0.3 + on)
        if exhaust_db > -60:
            exhaust = dsp.noise(rng, n, lambda f: dsp.highpass(f, 1500))
            x += dsp.db(exhaust_db) * exhaust * (0.2 + on)
        return x

    return render


@subtype("jackhammer", "pneumatic", 0.4)
def pneumatic(rec):
    """Pneumatic breaker: blows at 15–25 Hz in work bouts with pauses, band noise of the
    chisel, a metallic ring, an exhaust hiss while it runs."""
    return _breaker(rec, rate=rec.uniform(15, 25), thud=dsp.logu(rec, 80, 200),
                    band=dsp.logu(rec, 1000, 4000), ring=dsp.logu(rec, 700, 4000), motor_db=-99.0,
                    exhaust_db=rec.uniform(-10, 0))  # fmt: skip


@subtype("jackhammer", "electric_breaker", 0.3)
def electric_breaker(rec):
    """Electric demolition hammer: heavier, slower blows at 12–20 Hz with a low thud, and
    the whine of its motor (100–300 Hz), as loud as a drill's."""
    return _breaker(rec, rate=rec.uniform(12, 20), thud=dsp.logu(rec, 60, 150),
                    band=dsp.logu(rec, 800, 3000), ring=dsp.logu(rec, 500, 2500),
                    motor_db=rec.uniform(-6, 2), exhaust_db=-99.0)  # fmt: skip


@subtype("jackhammer", "light_breaker", 0.3)
def light_breaker(rec):
    """Light chipping hammer: fast blows at 25–45 Hz, bright band noise, little thud."""
    return _breaker(rec, rate=rec.uniform(25, 45), thud=dsp.logu(rec, 150, 400),
                    band=dsp.logu(rec, 1500, 5000), ring=dsp.logu(rec, 1500, 5000),
                    motor_db=rec.uniform(-16, -6), exhaust_db=rec.uniform(-20, -10))  # fmt: skip
