"""Bad and odd audio files, written at test time, each with what the pipeline should make of it.

:data:`CASES` maps a case name to ``(write, kind)``: ``write(path)`` creates the file (always
named ``.wav``, whatever its content) and ``kind`` is the error kind expected in
``errors.csv``, or ``None`` when the clip must be featurized with finite values.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 22050


def _tone(seconds: float, rate: int = SR, channels: int = 1, amp: float = 0.5) -> np.ndarray:
    t = np.arange(max(1, int(round(seconds * rate)))) / rate
    x = amp * np.sin(2 * np.pi * 440.0 * t) + 0.05 * np.sin(2 * np.pi * 3100.0 * t)
    return np.repeat(x[:, None], channels, axis=1).astype(np.float32)


def _sf(data: np.ndarray, rate: int = SR, **kw) -> Callable[[Path], None]:
    return lambda path: sf.write(str(path), data, rate, **kw)


def _bytes(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def _pcm16_bytes(seconds: float = 0.5) -> bytes:
    import io

    buf = io.BytesIO()
    sf.write(buf, _tone(seconds), SR, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _data_cut_in_half(path: Path) -> None:
    # The header still announces every frame; only half of the data chunk is there.
    data = _pcm16_bytes(1.0)
    path.write_bytes(data[: 44 + (len(data) - 44) // 2])


def _float_with(value: float) -> Callable[[Path], None]:
    y = _tone(0.5)[:, 0].copy()
    y[1000:1010] = value
    return _sf(y, subtype="FLOAT")


CASES: dict[str, tuple[Callable[[Path], None], str | None]] = {
    "zero_bytes": (_bytes(b""), "undecodable"),
    "header_cut_at_20_bytes": (lambda p: p.write_bytes(_pcm16_bytes()[:20]), "undecodable"),
    "header_no_frames": (_sf(np.zeros((0, 1), np.float32), subtype="PCM_16"), "empty"),
    "random_bytes": (_bytes(np.random.default_rng(5).bytes(4096)), "undecodable"),
    "text_named_wav": (_bytes(b"ID,Class\n1,siren\nthis is not audio\n" * 20), "undecodable"),
    "float_nan": (_float_with(np.nan), "non_finite"),
    "float_inf": (_float_with(np.inf), "non_finite"),
    "data_cut_in_half": (_data_cut_in_half, None),
    "one_sample": (_sf(np.array([[0.25]], np.float32), subtype="PCM_16"), None),
    "ms_50": (_sf(_tone(0.05), subtype="PCM_16"), None),
    "s_60": (_sf(_tone(60.0), subtype="PCM_16"), None),
    "khz_192_24bit": (_sf(_tone(0.5, 192000, 2), 192000, subtype="PCM_24"), None),
    "pcm_8bit": (_sf(_tone(0.5), subtype="PCM_U8"), None),
    "ima_adpcm": (_sf(_tone(0.5, 44100, 2), 44100, subtype="IMA_ADPCM"), None),
    "float_64bit": (_sf(_tone(0.5, 48000), 48000, subtype="DOUBLE"), None),
    "six_channels": (_sf(_tone(0.5, 48000, 6), 48000, subtype="PCM_16"), None),
    "hz_11024": (_sf(_tone(0.5, 11024), 11024, subtype="PCM_16"), None),
    "flac_named_wav": (_sf(_tone(0.5, 44100, 2), 44100, format="FLAC", subtype="PCM_16"), None),
    "ogg_named_wav": (_sf(_tone(0.5, 44100, 2), 44100, format="OGG", subtype="VORBIS"), None),
    "digital_silence": (_sf(np.zeros((SR, 1), np.float32), subtype="PCM_16"), None),
    "hard_clipping": (_sf(np.clip(_tone(0.5, amp=20.0), -1, 1), subtype="PCM_16"), None),
    "large_dc_offset": (_sf(0.9 + _tone(0.5, amp=0.05), subtype="FLOAT"), None),
}


def write_cases(folder: Path, name_of: Callable[[int, str], str]) -> dict[str, str | None]:
    """Write every case into ``folder`` as ``name_of(i, case) + '.wav'``; return id → kind."""
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    for i, (case, (write, kind)) in enumerate(CASES.items()):
        clip_id = name_of(i, case)
        write(folder / f"{clip_id}.wav")
        expected[clip_id] = kind
    return expected
