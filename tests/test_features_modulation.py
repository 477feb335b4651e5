"""The envelope's modulation spectrum: analytic signals with known periodicities."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.core.config import FeatureParams
from pipeline.features import extract_features, feature_names
from pipeline.features.modulation import (
    BAND_EDGES,
    FLOOR,
    envelope,
    modulation_features,
    modulation_names,
)

SR = 22050
NAMES = modulation_names()


def _features(y: np.ndarray, sr: int = SR) -> dict[str, float]:
    return dict(zip(NAMES, modulation_features(y.astype(np.float32), sr=sr), strict=True))


def _am_noise(rate_hz: float, seconds: float = 4.0, depth: float = 0.9, seed: int = 0):
    """White noise whose amplitude pulses at ``rate_hz`` (a jackhammer's blows, say)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    return 0.3 * (1 + depth * np.sin(2 * np.pi * rate_hz * t)) * rng.standard_normal(t.size)


def _band_of(rate_hz: float) -> str:
    lo = max(e for e in BAND_EDGES if e <= rate_hz)
    return f"{lo}_{2 * lo}hz"


def test_names_are_eighteen_unique_and_end_the_feature_columns():
    names = feature_names(FeatureParams())
    assert len(NAMES) == len(set(NAMES)) == 18
    assert names[-18:] == NAMES


@pytest.mark.parametrize("rate_hz", [6.0, 11.0, 20.0, 37.0])
@pytest.mark.parametrize("envelope_name", ["full", "high"])
def test_pulsing_noise_peaks_at_its_rate_in_its_band(rate_hz, envelope_name):
    f = _features(_am_noise(rate_hz))
    prefix = f"mod_{envelope_name}_"
    assert f[prefix + "peak_hz"] == pytest.approx(rate_hz, abs=0.5)
    bands = {k: v for k, v in f.items() if k.startswith(prefix) and "peak" not in k}
    assert max(bands, key=bands.get) == prefix + _band_of(rate_hz)
    assert f[prefix + "peak_prominence"] > 2  # 100x the median power of 4-64 Hz


def test_steady_noise_has_no_prominent_periodicity():
    steady = _features(_am_noise(20.0, depth=0.0))
    pulsing = _features(_am_noise(20.0))
    assert steady["mod_full_peak_prominence"] < 1.5
    assert steady["mod_full_16_32hz"] < pulsing["mod_full_16_32hz"] - 1.5


def test_level_does_not_change_the_modulation():
    y = _am_noise(15.0)
    np.testing.assert_allclose(modulation_features((0.01 * y).astype(np.float32), sr=SR),
                               modulation_features(y.astype(np.float32), sr=SR), rtol=1e-4,
                               atol=1e-4)


def test_high_envelope_follows_the_bright_part():
    """A steady low hum plus bright blows at 25 Hz (noise bursts decaying in ~10 ms): the
    difference's envelope sees the blows' periodicity far more clearly than the full
    signal's, where the hum hides them."""
    rng = np.random.default_rng(3)
    t = np.arange(4 * SR) / SR
    hum = 0.8 * np.sin(2 * np.pi * 60 * t)
    since_blow = t % (1 / 25)
    blows = 0.1 * np.exp(-since_blow / 0.01) * rng.standard_normal(t.size)
    f = _features(hum + blows)
    assert f["mod_high_peak_hz"] == pytest.approx(25.0, abs=0.5)
    assert f["mod_high_16_32hz"] > f["mod_full_16_32hz"] + 2  # 100x the energy


def test_envelope_is_the_rms_of_whole_blocks():
    y = np.arange(10, dtype=np.float32)
    np.testing.assert_allclose(envelope(y, block=4),
                               [np.sqrt(np.mean(np.arange(4) ** 2)),
                                np.sqrt(np.mean(np.arange(4, 8) ** 2))])


@pytest.mark.parametrize("n_samples", [1, 63, 64, 127, 128, 300])
def test_clips_too_short_for_an_envelope_are_finite(n_samples):
    y = np.random.default_rng(1).standard_normal(n_samples).astype(np.float32)
    values = modulation_features(y, sr=SR)
    assert values.shape == (18,) and np.all(np.isfinite(values))
    if n_samples < 128:  # fewer than two envelope samples: no modulation at all
        assert np.all(values[:7] == FLOOR) and values[7] == 0.0


def test_silence_is_floor_not_nan():
    values = modulation_features(np.zeros(SR, np.float32), sr=SR)
    assert np.all(np.isfinite(values))
    assert np.all(values[:7] == FLOOR)


@pytest.mark.parametrize("sr", [4, 100, 1000])
def test_envelope_rates_below_the_top_band_are_finite(sr):
    y = np.random.default_rng(4).standard_normal(4 * sr).astype(np.float32)
    values = modulation_features(y, sr=sr)
    assert values.shape == (18,) and np.all(np.isfinite(values))


@pytest.mark.parametrize("sr", [8000, 16000, 44100])
def test_other_sample_rates_find_the_same_rate(sr):
    t = np.arange(3 * sr) / sr
    y = (0.3 * (1 + 0.9 * np.sin(2 * np.pi * 18 * t))
         * np.random.default_rng(2).standard_normal(t.size))
    f = _features(y, sr=sr)
    assert f["mod_full_peak_hz"] == pytest.approx(18.0, abs=0.6)


def test_extract_features_carries_the_modulation_columns():
    y = _am_noise(20.0, seconds=2.0).astype(np.float32)
    every = extract_features(y, sr=SR, params=FeatureParams())
    own = modulation_features(y, sr=SR)
    np.testing.assert_allclose([every[n] for n in NAMES], own)
