"""Machines that hum: air conditioners and idling engines.

Both are a low broadband hum (airflow or exhaust rumble plus low harmonics) and differ in
how impulsive it is: an engine's firing pulses against a compressor's steady rotation; a far
or smooth engine and a rattling compressor meet in the middle.
"""

from __future__ import annotations

import numpy as np

from pipeline.datasets.synth import dsp
from pipeline.datasets.synth.recipes.catalogue import subtype


def _airflow(rng, n, slope, lp, hp=30.0):
    """Broadband turbulent air or exhaust noise, unit RMS, shape (n,)."""
    return dsp.noise(
        rng, n, lambda f: dsp.tilt(f, slope, 100.0) + dsp.lowpass(f, lp) + dsp.highpass(f, hp)
    )


def _drift(rng, n, rate, depth):
    """Slow level drift, shape (n,), around 1."""
    return 1.0 + depth * np.tanh(dsp.smooth_walk(rng, n, rate))


# --- air conditioner ----------------------------------------------------------------------
def _hvac(rec, *, rot, fan, tonal_db, flow_slope, flow_lp, rattle):
    n_rot, roll = int(rec.integers(3, 10)), rec.uniform(2, 8)
    n_fan = int(rec.integers(2, 6))
    fan_db, am = rec.uniform(-16, -4), rec.uniform(0.0, 0.1)
    rattle_db = rec.uniform(-22, -10)

    def render(n, rng):
        wander = 1.0 + 0.004 * dsp.smooth_walk(rng, n, 0.2)
        x = _airflow(rng, n, flow_slope, flow_lp)
        x += dsp.db(tonal_db) * dsp.unit(
            dsp.harmonic(rng, rot * wander, dsp.rolloff(n_rot, roll), n)
        )
        x += dsp.db(fan_db) * dsp.unit(dsp.harmonic(rng, fan * wander, dsp.rolloff(n_fan, 6.0), n))
        if rattle:
            # A loose panel ticks at the compressor's rotation rate: weak periodic clicks.
            kern = dsp.decay(0.002, 0.01) * rng.standard_normal(int(0.01 * dsp.SR))
            ticks = dsp.impulse_train(rng, n, rot / 2, 0.02)
            clicks = dsp.events(n, ticks, np.ones(len(ticks)), kern)
            if np.any(clicks):
                x += dsp.db(rattle_db) * dsp.unit(clicks)
        return x * _drift(rng, n, 0.2, am)

    return render


@subtype("air_conditioner", "window_unit", 0.4)
def window_unit(rec):
    """Window unit: compressor hum at 24–30 or 48–60 Hz with harmonics, blade-pass tone of
    the fan (40–150 Hz), mid-bright airflow, sometimes a panel rattling at half the
    compressor rate."""
    rot = float(rec.choice([rec.uniform(24, 30), rec.uniform(48, 60)]))
    return _hvac(rec, rot=rot, fan=dsp.logu(rec, 40, 150), tonal_db=rec.uniform(-14, -3),
                 flow_slope=rec.uniform(-5, -1.5), flow_lp=dsp.logu(rec, 2000, 7000),
                 rattle=rec.random() < 0.4)  # fmt: skip


@subtype("air_conditioner", "rooftop_hvac", 0.35)
def rooftop_hvac(rec):
    """Rooftop or central unit: a large slow fan (blade pass 15–60 Hz) and dark airflow
    rumble dominate; the compressor is a weak low hum."""
    return _hvac(rec, rot=rec.uniform(24, 60), fan=dsp.logu(rec, 15, 60),
                 tonal_db=rec.uniform(-24, -12), flow_slope=rec.uniform(-8, -4),
                 flow_lp=dsp.logu(rec, 800, 3000), rattle=False)  # fmt: skip


@subtype("air_conditioner", "inverter_split", 0.25)
def inverter_split(rec):
    """Outdoor inverter unit: a variable-speed compressor whining at 60–200 Hz with rich
    harmonics, a fan and broadband airflow."""
    return _hvac(rec, rot=dsp.logu(rec, 60, 200), fan=dsp.logu(rec, 30, 100),
                 tonal_db=rec.uniform(-12, -2), flow_slope=rec.uniform(-6, -2),
                 flow_lp=dsp.logu(rec, 1500, 6000), rattle=rec.random() < 0.2)  # fmt: skip


# --- engine idling ------------------------------------------------------------------------
def _engine(rec, *, fire, res, tau, jitter, clatter_db, rumble_db, uneven=0.0, lp=2500.0):
    var, wobble = rec.uniform(0.05, 0.25), rec.uniform(0.005, 0.03)
    slope, res2 = rec.uniform(-8, -3), res * rec.uniform(1.6, 3.0)

    def render(n, rng):
        times = dsp.impulse_train(rng, n, fire * (1 + wobble * rng.standard_normal()), jitter)
        if uneven:
            # Uneven firing (V-twins): every other interval is shorter.
            times = times + uneven * (np.arange(len(times)) % 2) / fire
        amps = 1.0 + var * rng.standard_normal(len(times))
        k = np.arange(int(6 * tau * dsp.SR)) / dsp.SR
        ring = np.sin(2 * np.pi * res * k) + 0.4 * np.sin(2 * np.pi * res2 * k)
        kernel = np.exp(-k / tau) * ring
        pulses = dsp.unit(dsp.events(n, times, amps, kernel))
        x = pulses + dsp.db(rumble_db) * _airflow(rng, n, slope, lp)
        if clatter_db > -60:
            # Diesel injector knock: short bright clicks on each firing.
            click = dsp.decay(0.0015, 0.008) * rng.standard_normal(int(0.008 * dsp.SR))
            clat = dsp.events(n, times, amps, click)
            x += dsp.db(clatter_db) * dsp.unit(_knock_band(clat))
        return x * _drift(rng, n, 0.5, 0.1)

    return render


def _knock_band(x):
    """Emphasise 1–4 kHz of ``x`` (shape (n,)), where an engine block radiates knock."""
    return dsp.filtered(x, lambda f: dsp.bump(f, 2000.0, 12.0, 1.0) - 12.0)


@subtype("engine_idling", "diesel", 0.35)
def diesel(rec):
    """Diesel car or van at idle: firing 20–35 Hz (four to six cylinders at 600–800 rpm),
    exhaust resonance 60–250 Hz, clattering injector knock."""
    return _engine(rec, fire=rec.uniform(20, 35), res=dsp.logu(rec, 60, 250),
                   tau=rec.uniform(0.004, 0.015), jitter=rec.uniform(0.01, 0.04),
                   clatter_db=rec.uniform(-14, -4), rumble_db=rec.uniform(-12, -3))  # fmt: skip


@subtype("engine_idling", "petrol", 0.3)
def petrol(rec):
    """Petrol car at idle: smooth firing 25–45 Hz (four to eight cylinders), resonant
    exhaust, strong airflow rumble, no knock: the nearest thing to a steady hum."""
    return _engine(rec, fire=rec.uniform(25, 45), res=dsp.logu(rec, 80, 300),
                   tau=rec.uniform(0.008, 0.025), jitter=rec.uniform(0.005, 0.02),
                   clatter_db=-99.0, rumble_db=rec.uniform(-8, 2),
                   lp=dsp.logu(rec, 1200, 3000))  # fmt: skip


@subtype("engine_idling", "motorbike", 0.15)
def motorbike(rec):
    """Motorbike at idle: one or two cylinders at 1000–1400 rpm, so 8–20 Hz pulses, uneven
    for V-twins, a bright resonant exhaust."""
    return _engine(rec, fire=rec.uniform(8, 20), res=dsp.logu(rec, 120, 400),
                   tau=rec.uniform(0.006, 0.02), jitter=rec.uniform(0.02, 0.08),
                   clatter_db=rec.uniform(-20, -10), rumble_db=rec.uniform(-14, -6),
                   uneven=rec.uniform(0.0, 0.3), lp=4000.0)  # fmt: skip


@subtype("engine_idling", "bus_truck", 0.2)
def bus_truck(rec):
    """Bus or lorry: a large diesel (firing 25–35 Hz) under a loud broadband rumble of
    cooling fans and compressors."""
    return _engine(rec, fire=rec.uniform(25, 35), res=dsp.logu(rec, 50, 150),
                   tau=rec.uniform(0.01, 0.03), jitter=rec.uniform(0.01, 0.03),
                   clatter_db=rec.uniform(-18, -8), rumble_db=rec.uniform(-3, 4),
                   lp=dsp.logu(rec, 1000, 2500))  # fmt: skip
