"""Load any clip as float32 mono audio at one sample rate.

Every clip goes through :func:`load_clip`: soundfile (libsndfile) decodes it, whatever its
container, codec, bit depth, rate or channel count; channels are averaged into one; soxr
resamples it (``quality="HQ"``). libsndfile detects the format from the file's content, so
FLAC or Ogg data named ``.wav`` loads as what it really is.

A clip that cannot be loaded raises one of the :class:`AudioError` subclasses. Each has a
class attribute ``kind`` (``"missing"``, ``"not_a_file"``, ``"undecodable"``, ``"too_long"``,
``"empty"``, ``"non_finite"``) that later stages write into their error rows, and a one-line
message naming the file. A named pipe, socket or device is never opened (reading a pipe
nobody writes to blocks forever), and a clip whose header announces more than
``max_seconds`` is refused before a sample is decoded.

Truncated files (a data chunk cut short) load what is there, never an error:

* PCM and float WAV: libsndfile clamps the frame count to the bytes present.
* IMA/MS ADPCM WAV: libsndfile rounds the frame count up to a whole block and decodes the
  missing part of the last block as noise, so that partial block is dropped.
* FLAC: libsndfile raises "decoder lost sync" in the middle of a read; the frames decoded
  before the damage are kept.
* Ogg: libsndfile reports 0 frames when the last page is gone, so such a file is "empty".
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import soxr

__all__ = [
    "AudioError",
    "ClipInfo",
    "EmptyAudioError",
    "MissingAudioError",
    "NonFiniteAudioError",
    "NotAFileError",
    "TooLongAudioError",
    "UndecodableAudioError",
    "load_clip",
    "load_clip_info",
    "load_span",
    "signal_length",
]

# Above this many decoded samples (frames x channels, 64 MiB of float32) a file is read in
# blocks and mixed down block by block, so a long multichannel recording never sits in
# memory at its full width; below it one read is faster.
_STREAM_SAMPLES = 1 << 24
_BLOCK_FRAMES = 1 << 16
_ADPCM = frozenset({"IMA_ADPCM", "MS_ADPCM"})


class AudioError(Exception):
    """A clip that cannot be loaded; ``kind`` names the reason for error rows (a subclass
    gives its own: ``class MissingAudioError(AudioError, kind="missing")``)."""

    kind = "audio"

    def __init_subclass__(cls, *, kind: str, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.kind = kind

    def __init__(self, path, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class MissingAudioError(AudioError, kind="missing"):
    """The file does not exist."""


class NotAFileError(AudioError, kind="not_a_file"):
    """The path is a named pipe, socket or device: never opened (a pipe would block)."""


class TooLongAudioError(AudioError, kind="too_long"):
    """The header announces more audio than a clip may hold (``max_seconds``)."""


class UndecodableAudioError(AudioError, kind="undecodable"):
    """The file exists but is not audio libsndfile can decode (or is cut inside its header)."""


class EmptyAudioError(AudioError, kind="empty"):
    """The file decodes to zero frames."""


class NonFiniteAudioError(AudioError, kind="non_finite"):
    """The decoded samples contain NaN or infinity (possible in float WAVs)."""


@dataclass(frozen=True)
class ClipInfo:
    """What the file's header says, before any decoding.

    ``frames`` is libsndfile's count, which for a truncated file may differ from what
    :func:`load_clip` returns.
    """

    samplerate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration(self) -> float:
        """Length in seconds according to the header."""
        return self.frames / self.samplerate if self.samplerate else 0.0


_SPECIAL = ((stat.S_ISFIFO, "named pipe"), (stat.S_ISSOCK, "socket"),
            (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"))


def _open(path: str) -> sf.SoundFile:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise MissingAudioError(path, "no such file") from None
    except OSError as exc:
        raise UndecodableAudioError(path, f"cannot be read ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        raise UndecodableAudioError(path, "is a folder, not an audio file")
    if not stat.S_ISREG(mode):
        what = next((name for test, name in _SPECIAL if test(mode)), "special file")
        raise NotAFileError(path, f"not a regular file ({what})")
    try:
        # Bytes, because a file name that is not valid UTF-8 cannot be encoded back from str.
        return sf.SoundFile(os.fsencode(path))
    except (sf.SoundFileError, RuntimeError, ValueError, TypeError) as exc:
        # libsndfile's own wording is sometimes misleading ("File does not exist" for
        # random bytes); keep it only as a detail after our reason.
        detail = str(exc).split(": ", 1)[-1]
        raise UndecodableAudioError(path, f"not decodable audio ({detail})") from None


def load_clip_info(path) -> ClipInfo:
    """Read the header of an audio file.

    Parameters
    ----------
    path : str or os.PathLike
        The audio file.

    Returns
    -------
    ClipInfo
        Native sample rate, channel count, frame count, container and codec names.

    Raises
    ------
    MissingAudioError, UndecodableAudioError
    """
    path = os.fspath(path)
    with _open(path) as f:
        return ClipInfo(f.samplerate, f.channels, f.frames, f.format, f.subtype)


def _usable_frames(f: sf.SoundFile) -> int:
    """Frames backed by data: drops the partial last block of a truncated ADPCM WAV."""
    frames = f.frames
    if f.subtype not in _ADPCM:
        return frames
    log = f.extra_info
    # libsndfile's header log says "data : <declared> (should be <present>)" when the data
    # chunk is cut short, and gives the block geometry.
    short = re.search(r"^data\s*:\s*\d+\s*\(should be (\d+)\)", log, re.M)
    align = re.search(r"Block Align\s*:\s*(\d+)", log)
    per_block = re.search(r"Samples/Block\s*:\s*(\d+)", log)
    if not (short and align and per_block) or int(align.group(1)) == 0:
        return frames
    whole_blocks = int(short.group(1)) // int(align.group(1))
    return min(frames, whole_blocks * int(per_block.group(1)))


def _mix(block: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Average channels and multiply by ``scale``: shape (n, c) → (n,), float32.

    A matrix-vector product is ~25x faster than ``mean(axis=1)`` on the (frames, channels)
    layout libsndfile returns. ``scale`` is a power of two, so folding it into the weights
    changes no bit of the result.
    """
    channels = block.shape[1]
    if channels == 1:
        y = block.reshape(-1).astype(np.float32, copy=scale != 1.0 or block.dtype != np.float32)
        if scale != 1.0:
            y *= np.float32(scale)
        return y
    return block.astype(np.float32, copy=False) @ np.full(
        channels, scale / channels, dtype=np.float32
    )


def _riff_data_offset(raw) -> int | None:
    """Byte offset of the samples of an open RIFF/WAVE file's ``data`` chunk, or None."""
    if raw.read(12)[8:] != b"WAVE":
        return None
    for _ in range(64):  # a WAV has a handful of chunks; stop early on garbage
        header = raw.read(8)
        if len(header) < 8:
            return None
        if header[:4] == b"data":
            return raw.tell()
        size = int.from_bytes(header[4:], "little")
        raw.seek(size + (size & 1), os.SEEK_CUR)  # chunks are padded to even sizes
    return None


def _read_pcm24(path: str, f: sf.SoundFile, frames: int) -> np.ndarray | None:
    """(frames, channels) int32 of a 24-bit PCM WAV, each sample times 256.

    libsndfile unpacks 24-bit samples one at a time. Here each sample is read as the
    little-endian int32 starting at its first byte (a view with a 3-byte stride); shifting
    out the top byte, which belongs to the next sample, leaves the sample times 256, as
    libsndfile's own conversion to float has it. Returns None for an unexpected layout.
    """
    count = frames * f.channels * 3
    packed = np.empty(count + 1, dtype=np.uint8)  # + 1: the last sample's int32 overhangs
    with open(path, "rb") as raw:
        offset = _riff_data_offset(raw)
        if offset is None:
            return None
        raw.seek(offset)
        if raw.readinto(memoryview(packed)[:count]) != count:
            return None
    overlapping = np.ndarray((frames * f.channels,), dtype="<i4", buffer=packed, strides=(3,))
    return (overlapping << 8).reshape(frames, f.channels)


def _read_integers(path: str, f: sf.SoundFile, frames: int) -> np.ndarray | None:
    """Float32 mono of a 16- or 24-bit PCM file, decoded as integers and scaled.

    libsndfile's float conversion costs ~3-5 ns per sample; reading integers (16-bit) or
    unpacking them with numpy (24-bit) and scaling by a power of two gives the same bits
    several times faster. None when the file is of another kind (compressed data, whose
    decoding can fail midway, keeps the float path with its recovery).
    """
    if f.format not in ("WAV", "WAVEX"):
        return None
    if f.subtype == "PCM_16":
        return _mix(f.read(frames, dtype="int16", always_2d=True), 2.0**-15)
    if f.subtype == "PCM_24":
        block = _read_pcm24(path, f, frames)
        return None if block is None else _mix(block, 2.0**-31)
    return None


def _read_mono(path: str, f: sf.SoundFile, frames: int) -> np.ndarray:
    """Decode up to ``frames`` frames as mono float32, keeping what precedes a decode error."""
    if frames * f.channels <= _STREAM_SAMPLES:
        y = _read_integers(path, f, frames)
        if y is not None:
            return y
        try:
            return _mix(f.read(frames, dtype="float32", always_2d=True))
        except sf.LibsndfileError:
            f.seek(0)  # damaged compressed data: retry in blocks, keep the good ones
    parts = []
    left = frames
    while left > 0:
        try:
            block = f.read(min(_BLOCK_FRAMES, left), dtype="float32", always_2d=True)
        except sf.LibsndfileError:
            break
        if len(block) == 0:
            break
        parts.append(_mix(block))
        left -= len(block)
    if not parts:
        return np.zeros(0, dtype=np.float32)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def load_clip(path, sr: int | None = 22050, *, max_seconds: float | None = None) -> np.ndarray:
    """Load an audio file as float32 mono at ``sr`` Hz.

    Parameters
    ----------
    path : str or os.PathLike
        Any file libsndfile decodes (WAV in any PCM/float/ADPCM subtype, FLAC, Ogg, ...),
        whatever its extension.
    sr : int or None
        Target sample rate; ``None`` keeps the file's own rate.
    max_seconds : float, optional
        Refuse a file whose header announces more audio than this, before decoding it:
        a clip's memory grows with its length.

    Returns
    -------
    y : np.ndarray, shape (n,), float32
        The channels' average, resampled with soxr (HQ) when the rates differ.

    Raises
    ------
    MissingAudioError
        The file does not exist.
    NotAFileError
        A named pipe, socket or device (never opened).
    TooLongAudioError
        Longer than ``max_seconds``.
    UndecodableAudioError
        Not audio, cut inside its header, or an unsupported codec.
    EmptyAudioError
        No frames to decode, or less than one sample once resampled to ``sr``.
    NonFiniteAudioError
        NaN or infinite samples.
    """
    path = os.fspath(path)
    with _open(path) as f:
        native = f.samplerate
        if max_seconds is not None and f.frames > max_seconds * native:
            raise TooLongAudioError(
                path, f"{f.frames / native:.1f} s long, more than the {max_seconds:g} s a clip "
                "may last ('urbansound detect' analyses long recordings)")
        try:
            y = _read_mono(path, f, _usable_frames(f))
        except (sf.SoundFileError, RuntimeError) as exc:
            raise UndecodableAudioError(path, f"decoding failed ({exc})") from None
    if y.size == 0:
        raise EmptyAudioError(path, "no audio frames")
    if not np.isfinite(y).all():
        raise NonFiniteAudioError(path, "samples contain NaN or infinity")
    if sr is None or sr == native:
        return y
    # Mixing down first means soxr filters one channel instead of all of them.
    y = soxr.resample(y, native, sr, quality="HQ")
    if y.size == 0:
        # e.g. a single frame at 192 kHz: less than one sample at the target rate.
        raise EmptyAudioError(path, f"shorter than one sample at {sr} Hz")
    return y


# --- spans of long files ----------------------------------------------------------------
# Native frames decoded on each side of a span so that soxr's filter (HQ: a few ms) sees the
# same neighbourhood as when the whole file is resampled; samples inside the span then match
# the whole-file result to float32 rounding (tests/test_detect.py).
_SPAN_MARGIN_SECONDS = 0.05


def _resampled_length(frames: int, native: int, sr: int) -> int:
    """Samples soxr returns for ``frames`` input frames (its own rounding, checked in tests)."""
    return int(frames / (native / sr) + 0.5)


def signal_length(path, sr: int = 22050) -> int:
    """Length of ``load_clip(path, sr)`` without decoding the file.

    Parameters
    ----------
    path : str or os.PathLike
    sr : int
        Target sample rate.

    Returns
    -------
    int
        Number of samples at ``sr`` (0 for a file without frames).

    Raises
    ------
    MissingAudioError, UndecodableAudioError
    """
    path = os.fspath(path)
    with _open(path) as f:
        frames, native = _usable_frames(f), f.samplerate
    return frames if native == sr else _resampled_length(frames, native, sr)


def load_span(path, start: int, stop: int, sr: int = 22050) -> np.ndarray:
    """Samples ``[start, stop)`` of ``load_clip(path, sr)``, decoding only the frames around them.

    The span is read at the file's rate with a margin on both sides, mixed down and
    resampled on its own. Its first native frame is chosen on the grid where native and
    target sample times coincide, so the resampled samples fall on the whole-file grid.

    Parameters
    ----------
    path : str or os.PathLike
    start, stop : int
        Sample indices at ``sr``, ``0 <= start < stop`` (``stop`` is clipped to the signal).
    sr : int
        Target sample rate.

    Returns
    -------
    y : np.ndarray, shape (stop - start,), float32

    Raises
    ------
    MissingAudioError, UndecodableAudioError, EmptyAudioError, NonFiniteAudioError
    """
    import math

    path = os.fspath(path)
    with _open(path) as f:
        native, usable = f.samplerate, _usable_frames(f)
        total = usable if native == sr else _resampled_length(usable, native, sr)
        stop = min(stop, total)
        if not 0 <= start < stop:
            raise EmptyAudioError(path, f"no samples in [{start}, {stop}) at {sr} Hz")
        if native == sr:
            lo, hi, offset = start, stop, 0
        else:
            # native frame lo * step_in and target sample lo * step_out are the same instant
            g = math.gcd(native, sr)
            step_in, step_out = native // g, sr // g
            margin = int(_SPAN_MARGIN_SECONDS * native) + step_in
            grid = max(0, (start * native // sr - margin) // step_in)
            lo = grid * step_in
            hi = min(usable, -(-stop * native // sr) + margin)
            offset = start - grid * step_out
        f.seek(lo)
        try:
            y = _mix(f.read(hi - lo, dtype="float32", always_2d=True))
        except (sf.SoundFileError, RuntimeError) as exc:
            raise UndecodableAudioError(path, f"decoding failed ({exc})") from None
    if not np.isfinite(y).all():
        raise NonFiniteAudioError(path, "samples contain NaN or infinity")
    if native != sr:
        y = soxr.resample(y, native, sr, quality="HQ")
    y = y[offset : offset + stop - start]
    if len(y) < stop - start:
        raise UndecodableAudioError(path, f"fewer samples than the header announces at {start}")
    return y
