"""Tests of the pure feature functions: analytic signals, librosa cross-checks, edge cases."""

from __future__ import annotations

import dataclasses

import librosa
import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pipeline.core.config import FeatureParams
from pipeline.core.errors import InputError
from pipeline.features import (
    FeatureParamsError,
    extract_features,
    feature_names,
    spectral,
    stats,
    time_domain,
)
from pipeline.features import mfcc as mfcc_mod

SR = 22050
N_FFT = 2048
HOP = 512
PARAMS = FeatureParams()
# Relative tolerance (max abs error / max abs reference) of every reimplemented
# librosa feature; measured errors are ~1e-6 (float32 rounding).
LIBROSA_RTOL = 1e-4


def _tone(freq: float, seconds: float = 1.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _scene(seconds: float = 1.5, seed: int = 1) -> np.ndarray:
    """Noise, a tone, a chirp and a digital-silence gap: exercises every code path."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    y = 0.05 * rng.standard_normal(t.size) + 0.3 * np.sin(2 * np.pi * 440 * t)
    y += 0.2 * np.sin(2 * np.pi * 3000 * t * t)
    y[5000:9000] = 0.0
    return y.astype(np.float32)


@pytest.fixture(scope="module")
def scene():
    y = _scene()
    power = spectral.power_spectrogram(y, n_fft=N_FFT, hop_length=HOP)
    basis = mfcc_mod.mel_basis(sr=SR, n_fft=N_FFT, n_mels=128, fmin=0.0, fmax=SR / 2)
    log_mel = mfcc_mod.log_mel(power, basis=basis)
    return {
        "y": y,
        "power": power,
        "S": np.sqrt(power),
        "log_mel": log_mel,
        "mfcc": mfcc_mod.mfcc(log_mel, n_mfcc=40),
    }


def _close(ours, reference, rtol=LIBROSA_RTOL):
    ours = np.asarray(ours, dtype=np.float64).ravel()
    reference = np.asarray(reference, dtype=np.float64).ravel()
    assert ours.shape == reference.shape
    scale = max(np.max(np.abs(reference)), 1e-12)
    assert np.max(np.abs(ours - reference)) <= rtol * scale


# --- cross-checks against librosa -------------------------------------------------

@pytest.mark.parametrize(("sr", "n_fft"),  # none with empty filters (librosa warns)
                         [(8000, 512), (22050, 512), (22050, 2048), (44100, 2048), (44100, 4096)])
@pytest.mark.parametrize(("n_mels", "fmin", "fmax"),
                         [(128, 0.0, None), (40, 20.0, 3000.0), (64, 1500.0, None)])
def test_mel_basis_and_window_are_librosas_and_scipys(sr, n_fft, n_mels, fmin, fmax):
    # Computed here rather than loaded from librosa.filters and scipy.signal: the same values.
    import scipy.signal

    fmax = sr / 2 if fmax is None else fmax
    ours = mfcc_mod.mel_basis(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    reference = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    np.testing.assert_array_equal(ours.toarray(), reference)
    window = scipy.signal.get_window("hann", n_fft, fftbins=True).astype(np.float32)
    np.testing.assert_array_equal(spectral.hann_window(n_fft), window)


CROSS_CHECKS = {
    "magnitude": (
        lambda s: s["S"],
        lambda y: np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP)),
    ),
    "rms": (
        lambda s: time_domain.frame_rms(s["y"], frame_length=N_FFT, hop_length=HOP),
        lambda y: librosa.feature.rms(y=y),
    ),
    "zcr": (
        lambda s: time_domain.zero_crossing_rate(s["y"], frame_length=N_FFT, hop_length=HOP),
        lambda y: librosa.feature.zero_crossing_rate(y),
    ),
    "centroid": (
        lambda s: spectral.centroid_bandwidth(s["S"], sr=SR, n_fft=N_FFT)[0],
        lambda y: librosa.feature.spectral_centroid(y=y, sr=SR),
    ),
    "bandwidth": (
        lambda s: spectral.centroid_bandwidth(s["S"], sr=SR, n_fft=N_FFT)[1],
        lambda y: librosa.feature.spectral_bandwidth(y=y, sr=SR),
    ),
    "rolloff": (
        lambda s: spectral.rolloff(s["S"], sr=SR, n_fft=N_FFT),
        lambda y: librosa.feature.spectral_rolloff(y=y, sr=SR),
    ),
    "flatness": (
        lambda s: spectral.flatness(s["power"]),
        lambda y: librosa.feature.spectral_flatness(y=y),
    ),
    "contrast": (
        lambda s: spectral.contrast(s["S"], sr=SR, n_fft=N_FFT),
        lambda y: librosa.feature.spectral_contrast(y=y, sr=SR),
    ),
    "log_mel": (
        lambda s: s["log_mel"],
        lambda y: librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=SR)),
    ),
    "mfcc": (
        lambda s: s["mfcc"],
        lambda y: librosa.feature.mfcc(y=y, sr=SR, n_mfcc=40),
    ),
    "onset": (
        lambda s: spectral.onset_strength(s["log_mel"], n_fft=N_FFT, hop_length=HOP),
        lambda y: librosa.onset.onset_strength(y=y, sr=SR),
    ),
}


@pytest.mark.parametrize("name", sorted(CROSS_CHECKS))
def test_matches_librosa(scene, name):
    ours, reference = CROSS_CHECKS[name]
    _close(ours(scene), reference(scene["y"]))


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("width", [3, 9])
def test_delta_matches_librosa(scene, order, width):
    data = librosa.feature.mfcc(y=scene["y"], sr=SR, n_mfcc=13)
    _close(
        mfcc_mod.delta(data, width=width, order=order),
        librosa.feature.delta(data, width=width, order=order),
    )


@pytest.mark.parametrize("n_frames", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("order", [1, 2])
def test_delta_of_few_frames_is_the_slope_of_a_fit(n_frames, order):
    # A polynomial of degree `order` has a constant order-th derivative: recover it.
    t = np.arange(n_frames, dtype=np.float64)
    if order == 1:
        data, expected = np.stack([3.0 * t, 2.0 - t]), [3.0, -1.0]
    else:
        data, expected = np.stack([0.5 * t**2 + t, 2.0 * t**2]), [1.0, 4.0]
    result = mfcc_mod.delta(data.astype(np.float32), width=9, order=order)
    assert result.shape == data.shape
    if n_frames <= order:
        expected = [0.0, 0.0]
    np.testing.assert_allclose(result, np.repeat([expected], n_frames, axis=0).T, atol=1e-5)


# --- analytic signals ---------------------------------------------------------------


@pytest.mark.parametrize("freq", [220.0, 1000.0, 3150.0, 7000.0])
def test_sine_centroid_and_dominant_frequency(freq):
    features = extract_features(_tone(freq), sr=SR, params=PARAMS)
    assert features["dominant_freq"] == pytest.approx(freq, abs=1.0)
    assert features["centroid_median"] == pytest.approx(freq, rel=0.01)
    assert features["bandwidth_median"] < 50.0
    assert features["flatness_median"] < 1e-3


@pytest.mark.parametrize("period", [64, 256, 500])
def test_click_train_zero_crossing_rate(period):
    # Each negative click on a zero background is two sign changes.
    y = np.zeros(SR, dtype=np.float32)
    y[100::period] = -1.0
    zcr = time_domain.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP)
    interior = zcr[4:-4]
    clicks = np.array([np.count_nonzero(y[max(s, 0) : s + N_FFT]) for s in
                       np.arange(len(zcr)) * HOP - N_FFT // 2])[4:-4]
    np.testing.assert_allclose(interior, 2 * clicks / N_FFT)
    assert np.median(interior) == pytest.approx(2 / period, rel=0.1)


def test_white_noise_is_flat_and_sine_is_not():
    noise = np.random.default_rng(0).standard_normal(SR).astype(np.float32)
    flat_noise = extract_features(noise, sr=SR, params=PARAMS)["flatness_median"]
    flat_sine = extract_features(_tone(1000.0), sr=SR, params=PARAMS)["flatness_median"]
    assert flat_noise > 0.5
    assert flat_sine < 0.01


def test_digital_silence_has_defined_values():
    features = extract_features(np.zeros(SR, dtype=np.float32), sr=SR, params=PARAMS)
    assert all(np.isfinite(v) for v in features.values())
    for key in ["rms", "zcr", "onset", "centroid", "bandwidth", "rolloff", "flux"]:
        assert features[f"{key}_max"] == 0.0
    assert features["flatness_mean"] == pytest.approx(1.0)
    assert features["silence_ratio"] == 1.0
    assert features["dominant_freq"] == 0.0
    assert features["amp_crest"] == 0.0
    assert features["band_00_logenergy"] == pytest.approx(-100.0)
    higher = [k for k in features if k.endswith(("_var", "_skew", "_kurt"))]
    assert len(higher) == 3 * 135 + 2  # frame-wise rows and amp_skew, amp_kurt
    assert all(features[k] == 0.0 for k in higher)


def test_dc_offset():
    features = extract_features(np.full(SR, 0.5, dtype=np.float32), sr=SR, params=PARAMS)
    assert features["dominant_freq"] == 0.0
    assert features["zcr_max"] == 0.0
    assert features["amp_std"] == 0.0
    assert features["amp_crest"] == pytest.approx(1.0)
    assert features["amp_mean_abs"] == pytest.approx(0.5)
    assert features["silence_ratio"] == 0.0
    # Interior frames hold only DC (plus window leakage near 0 Hz).
    assert features["centroid_median"] < 50.0


def test_silence_ratio_counts_quiet_frames():
    y = _tone(500.0, seconds=2.0)
    y[: SR] = 0.0
    features = extract_features(y, sr=SR, params=PARAMS)
    assert 0.4 < features["silence_ratio"] < 0.6


def test_band_energies_follow_a_tone():
    features = extract_features(_tone(1000.0), sr=SR, params=PARAMS)
    energies = [features[f"band_{b:02d}_logenergy"] for b in range(PARAMS.n_bands)]
    edges = np.geomspace(PARAMS.band_fmin, SR / 2, PARAMS.n_bands + 1)
    assert int(np.argmax(energies)) == int(np.searchsorted(edges, 1000.0)) - 1


# --- shape, names, lengths, determinism ---------------------------------------------


@pytest.mark.parametrize("n_samples", [1, 2, 100, 511, 2047, 2048, 5000, 30 * SR])
def test_any_length_gives_all_finite_features(n_samples):
    y = np.random.default_rng(n_samples).uniform(-1, 1, n_samples).astype(np.float32)
    features = extract_features(y, sr=SR, params=PARAMS)
    assert list(features) == feature_names(PARAMS)
    assert np.all(np.isfinite(list(features.values())))
    assert features["duration"] == pytest.approx(n_samples / SR)


def test_names_count_and_uniqueness_at_defaults():
    names = feature_names(PARAMS)
    assert len(names) == len(set(names)) == 135 * 7 + 9 + 16 + 18
    assert {"mfcc_03_mean", "dmfcc_03_var", "centroid_median", "band_07_logenergy"} <= set(names)


@pytest.mark.parametrize(
    "changes", [{"n_mfcc": 13}, {"n_bands": 8}, {"contrast_bands": 4}, {"n_fft": 1024}]
)
def test_names_follow_params(changes):
    params = dataclasses.replace(PARAMS, **changes)
    features = extract_features(_scene(0.5), sr=SR, params=params)
    assert list(features) == feature_names(params)
    assert len(features) != len(feature_names(PARAMS)) or changes == {"n_fft": 1024}


def test_deterministic_and_dtype_independent():
    y = _scene(1.0, seed=3)
    first = extract_features(y, sr=SR, params=PARAMS)
    assert extract_features(y.copy(), sr=SR, params=PARAMS) == first
    assert extract_features(y.astype(np.float64), sr=SR, params=PARAMS) == first


@pytest.mark.parametrize(
    "bad", [np.zeros(0, np.float32), np.zeros((2, 100), np.float32), np.array([0.0, np.nan])]
)
def test_invalid_signal_is_a_value_error(bad):
    with pytest.raises(ValueError):
        extract_features(bad, sr=SR, params=PARAMS)


@pytest.mark.parametrize(
    "changes",
    [{"n_fft": 1001}, {"n_mfcc": 200}, {"delta_width": 4}, {"roll_percent": 1.5}, {"fmax": "x"}],
)
def test_invalid_params_are_a_feature_params_error(changes):
    with pytest.raises(FeatureParamsError, match=r"^params: features\.") as info:
        feature_names(dataclasses.replace(PARAMS, **changes))
    assert isinstance(info.value, InputError) and isinstance(info.value, ValueError)


# --- summary statistics -------------------------------------------------------------


def test_summary_stats_match_scipy():
    x = np.random.default_rng(0).gamma(2.0, size=(5, 173)).astype(np.float32)
    result = stats.summary_stats(x)
    expected = np.stack(
        [
            x.min(1),
            x.max(1),
            np.median(x, 1),
            x.mean(1, dtype=np.float64),
            x.var(1, dtype=np.float64),
            scipy.stats.skew(x.astype(np.float64), axis=1),
            scipy.stats.kurtosis(x.astype(np.float64), axis=1),
        ],
        axis=1,
    )
    np.testing.assert_allclose(result, expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("value", [0.0, 0.1, -3.7, 1e4])
def test_summary_stats_of_a_constant(value):
    result = stats.summary_stats(np.full((2, 37), value, dtype=np.float32))
    np.testing.assert_allclose(result[:, :4], np.float32(value))
    assert np.all(result[:, 4:] == 0.0)


# --- finiteness property ------------------------------------------------------------

_samples = st.one_of(
    st.floats(-1.0, 1.0, width=32),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from([0.0, -0.0, 1e-45, -1e-38, 3.4e38, -3.4e38]),
)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, st.integers(1, 3000), elements=_samples))
def test_any_finite_signal_gives_finite_features(y):
    features = extract_features(y, sr=SR, params=PARAMS)
    assert len(features) == len(feature_names(PARAMS))
    assert np.all(np.isfinite(list(features.values())))
