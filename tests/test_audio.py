"""load_clip on real files written by soundfile: every format, odd shapes, every error kind."""

import struct

import numpy as np
import pytest
import soundfile as sf

from pipeline.datasets import audio
from pipeline.datasets.audio import (
    AudioError,
    EmptyAudioError,
    MissingAudioError,
    NonFiniteAudioError,
    UndecodableAudioError,
    load_clip,
    load_clip_info,
)

SR = 22050


def sine(freq, rate, seconds, amp=0.5, channels=1):
    t = np.arange(int(round(rate * seconds))) / rate
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(x[:, None], channels, axis=1)


def peak_hz(y, sr):
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return np.argmax(spectrum) * sr / len(y)


def write(path, data, rate, **kw):
    sf.write(str(path), data, rate, **kw)
    return path


FORMATS = [
    # (format, subtype, rate, channels, tolerance of the peak amplitude)
    ("WAV", "PCM_U8", 44100, 2, 0.02),
    ("WAV", "PCM_16", 44100, 2, 1e-3),
    ("WAV", "PCM_24", 48000, 1, 1e-3),
    ("WAV", "PCM_32", 96000, 2, 1e-3),
    ("WAV", "FLOAT", 16000, 1, 1e-3),
    ("WAV", "DOUBLE", 8000, 2, 1e-3),
    ("WAV", "IMA_ADPCM", 44100, 2, 0.05),
    ("WAV", "MS_ADPCM", 22050, 1, 0.05),
    ("WAV", "PCM_16", 11024, 1, 1e-3),
    ("WAV", "PCM_24", 192000, 2, 1e-3),
    ("WAV", "PCM_16", 32000, 6, 1e-3),
    ("FLAC", "PCM_16", 44100, 2, 1e-3),
    ("OGG", "VORBIS", 44100, 2, 0.05),
    ("MP3", "MPEG_LAYER_III", 48000, 2, 0.05),
]


@pytest.mark.parametrize("fmt,subtype,rate,channels,tol", FORMATS)
def test_every_format_loads_as_float32_mono_at_22050(tmp_path, fmt, subtype, rate, channels, tol):
    # Named .wav whatever the content: libsndfile must detect FLAC and Ogg by their bytes.
    path = write(tmp_path / "clip.wav", sine(1000, rate, 0.5, channels=channels), rate,
                 format=fmt, subtype=subtype)
    y = load_clip(path)
    assert y.dtype == np.float32 and y.ndim == 1
    # ADPCM writers pad the last block with silence, so those files may be a block longer.
    slack = 1100 if "ADPCM" in subtype else 2
    assert -2 <= len(y) - 0.5 * SR <= slack
    assert abs(peak_hz(y, SR) - 1000) < 5
    assert abs(np.abs(y[SR // 10 : -SR // 10]).max() - 0.5) < tol + 0.01
    info = load_clip_info(path)
    assert (info.samplerate, info.channels, info.format) == (rate, channels, fmt)


def test_stereo_sine_keeps_length_and_frequency(tmp_path):
    path = write(tmp_path / "s.wav", sine(1000, 44100, 1.0, channels=2), 44100)
    y = load_clip(path)
    assert len(y) == SR
    assert peak_hz(y, SR) == pytest.approx(1000, abs=1)


@pytest.mark.parametrize("channels", [2, 3, 6])
def test_mixdown_is_the_channel_average(tmp_path, channels):
    rng = np.random.default_rng(channels)
    x = rng.uniform(-0.5, 0.5, (1000, channels)).astype(np.float32)
    path = write(tmp_path / "m.wav", x, SR, subtype="FLOAT")
    np.testing.assert_allclose(load_clip(path), x.mean(axis=1), atol=1e-6)


def test_opposite_channels_cancel(tmp_path):
    x = sine(440, SR, 0.2)
    path = write(tmp_path / "c.wav", np.hstack([x, -x]), SR, subtype="FLOAT")
    assert np.abs(load_clip(path)).max() < 1e-6


def test_same_rate_is_not_resampled_and_sr_none_keeps_native(tmp_path):
    x = np.random.default_rng(0).uniform(-1, 1, (500, 1)).astype(np.float32)
    path = write(tmp_path / "n.wav", x, SR, subtype="FLOAT")
    np.testing.assert_array_equal(load_clip(path), x[:, 0])
    path = write(tmp_path / "k.wav", x, 48000, subtype="FLOAT")
    np.testing.assert_array_equal(load_clip(path, sr=None), x[:, 0])
    assert len(load_clip(path, sr=16000)) == pytest.approx(500 / 3, abs=1)


@pytest.mark.parametrize(
    "name,data,rate,check",
    [
        ("one_sample", np.array([[0.25]], np.float32), SR, lambda y: len(y) == 1),
        ("50ms", sine(300, 44100, 0.05), 44100, lambda y: abs(len(y) - 1102) <= 1),
        ("60s", sine(300, 8000, 60.0), 8000, lambda y: len(y) == 60 * SR),
        ("silence", np.zeros((4410, 2), np.float32), 44100, lambda y: not y.any()),
        ("dc", np.full((2205, 1), 0.3, np.float32), SR, lambda y: np.allclose(y, 0.3, atol=1e-4)),
        ("clipped", np.clip(4 * sine(200, SR, 0.2), -1, 1), SR,
         lambda y: np.abs(y).max() == pytest.approx(1.0, abs=1e-4)),
    ],
)
def test_odd_but_valid_clips_load(tmp_path, name, data, rate, check):
    path = write(tmp_path / f"{name}.wav", data, rate, subtype="PCM_16")
    y = load_clip(path)
    assert y.dtype == np.float32 and y.ndim == 1 and np.isfinite(y).all()
    assert check(y)


@pytest.mark.parametrize(
    "fmt,subtype",
    [("WAV", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "FLOAT"), ("WAV", "IMA_ADPCM"),
     ("WAV", "MS_ADPCM"), ("FLAC", "PCM_16")],
)
def test_truncated_file_loads_what_is_there(tmp_path, fmt, subtype):
    full = write(tmp_path / "full.wav", sine(1000, 44100, 4.0, channels=2), 44100,
                 format=fmt, subtype=subtype)
    data = full.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2 + 1])  # odd cut: mid-sample, mid-block
    y = load_clip(cut)
    whole = len(load_clip(full))
    assert 0.2 * whole < len(y) < 0.8 * whole
    # No noise where the data stops: the decoded tail is still the 0.5-amplitude sine.
    assert np.abs(y[-2000:]).max() < 0.56
    assert abs(peak_hz(y, SR) - 1000) < 5


def test_truncated_ogg_is_empty(tmp_path):
    full = write(tmp_path / "full.ogg", sine(1000, 44100, 4.0), 44100, format="OGG")
    data = full.read_bytes()
    (tmp_path / "cut.ogg").write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError) as err:
        load_clip(tmp_path / "cut.ogg")
    assert err.value.kind in ("empty", "undecodable")


def test_long_file_is_streamed_in_blocks(tmp_path, monkeypatch):
    # Lower the streaming threshold so a small file takes the block-by-block path.
    x = np.random.default_rng(3).uniform(-0.5, 0.5, (50_000, 3)).astype(np.float32)
    path = write(tmp_path / "long.wav", x, 44100, subtype="FLOAT")
    whole = load_clip(path)
    monkeypatch.setattr(audio, "_STREAM_SAMPLES", 1000)
    monkeypatch.setattr(audio, "_BLOCK_FRAMES", 4096)
    np.testing.assert_allclose(load_clip(path), whole, atol=1e-6)
    np.testing.assert_allclose(load_clip(path, sr=None), x.mean(axis=1), atol=1e-6)


def wav_bytes(tmp_path):
    path = write(tmp_path / "ok.wav", sine(440, SR, 0.1), SR, subtype="PCM_16")
    return path.read_bytes()


def unknown_codec(tmp_path):
    data = bytearray(wav_bytes(tmp_path))
    data[20:22] = struct.pack("<H", 0x1234)  # format tag of no codec libsndfile knows
    return bytes(data)


BROKEN = {
    "zero_bytes": lambda tmp: b"",
    "header_cut_at_20": lambda tmp: wav_bytes(tmp)[:20],
    "random_bytes": lambda tmp: np.random.default_rng(1).bytes(5000),
    "text": lambda tmp: b"this is not audio\n" * 40,
    "unknown_codec": unknown_codec,
    "mp4_container": lambda tmp: b"\x00\x00\x00\x18ftypM4A \x00\x00\x02\x00" + b"\x00" * 400,
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_undecodable_files(tmp_path, name):
    path = tmp_path / f"{name}.wav"
    path.write_bytes(BROKEN[name](tmp_path))
    with pytest.raises(UndecodableAudioError) as err:
        load_clip(path)
    assert err.value.kind == "undecodable"
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_folder_is_undecodable(tmp_path):
    (tmp_path / "x.wav").mkdir()
    with pytest.raises(UndecodableAudioError):
        load_clip(tmp_path / "x.wav")


def test_missing_file(tmp_path):
    with pytest.raises(MissingAudioError) as err:
        load_clip(tmp_path / "nope.wav")
    assert err.value.kind == "missing" and "nope.wav" in str(err.value)
    with pytest.raises(MissingAudioError):
        load_clip_info(tmp_path / "nope.wav")


@pytest.mark.parametrize("header_only", [True, False])
def test_empty_file(tmp_path, header_only):
    path = write(tmp_path / "e.wav", np.zeros((0, 2), np.float32), 44100)
    if header_only:  # same thing written by hand: a 44-byte header and no data
        path.write_bytes(wav_bytes(tmp_path)[:44])
    with pytest.raises(EmptyAudioError) as err:
        load_clip(path)
    assert err.value.kind == "empty" and "e.wav" in str(err.value)


def test_less_than_one_output_sample_is_empty(tmp_path):
    path = write(tmp_path / "tiny.wav", np.array([[0.5]], np.float32), 192000)
    with pytest.raises(EmptyAudioError, match="shorter than one sample"):
        load_clip(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("subtype", ["FLOAT", "DOUBLE"])
def test_non_finite_samples(tmp_path, bad, subtype):
    x = sine(440, 44100, 0.1, channels=2)
    x[100, 1] = bad
    path = write(tmp_path / "nf.wav", x, 44100, subtype=subtype)
    with pytest.raises(NonFiniteAudioError) as err:
        load_clip(path)
    assert err.value.kind == "non_finite"


def test_error_kinds_are_distinct_audio_errors():
    kinds = [c.kind for c in (MissingAudioError, UndecodableAudioError, EmptyAudioError,
                              NonFiniteAudioError)]
    assert kinds == ["missing", "undecodable", "empty", "non_finite"]
    assert all(issubclass(c, AudioError) for c in (MissingAudioError, NonFiniteAudioError))


def _libsndfile_mono(path):
    """The reference decode: libsndfile's own float conversion, channels averaged."""
    data = sf.read(str(path), dtype="float32", always_2d=True)[0]
    return data @ np.full(data.shape[1], 1.0 / data.shape[1], dtype=np.float32)


def _with_chunk_before_data(path, chunk_id, payload):
    """Rewrite a WAV with an extra chunk between ``fmt `` and ``data`` (odd sizes padded)."""
    raw = path.read_bytes()
    at = raw.index(b"data")
    chunk = chunk_id + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)
    raw = raw[:at] + chunk + raw[at:]
    path.write_bytes(raw[:4] + struct.pack("<I", len(raw) - 8) + raw[8:])


@pytest.mark.parametrize("fmt", ["WAV", "WAVEX"])
@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24"])
@pytest.mark.parametrize("channels", [1, 2, 5])
@pytest.mark.parametrize("layout", ["plain", "extra_chunk", "truncated"])
def test_integer_pcm_decodes_to_the_same_bits_as_libsndfile(tmp_path, fmt, subtype, channels,
                                                            layout):
    # Full-scale noise reaches the extreme codes (-2^23, 2^23 - 1), where a wrong sign
    # extension or byte order would show first.
    x = np.random.default_rng(channels).uniform(-1.0, 1.0, (3001, channels))
    path = write(tmp_path / "i.wav", x, SR, format=fmt, subtype=subtype)
    if layout == "extra_chunk":
        _with_chunk_before_data(path, b"LIST", b"INFOISFT\x03\0\0\0ab\0")
    elif layout == "truncated":
        path.write_bytes(path.read_bytes()[:-1001])  # cut inside a frame
    expected = _libsndfile_mono(path)
    with sf.SoundFile(str(path)) as f:
        fast = audio._read_integers(str(path), f, f.frames)
    assert fast is not None  # the integer path handled this file itself
    np.testing.assert_array_equal(fast, expected)
    y = load_clip(path, sr=None)
    assert y.dtype == np.float32 and len(y) == len(expected) > 2000
    np.testing.assert_array_equal(y, expected)
