"""What the report plays and shows of a clip: a short 16-bit PCM excerpt at 22050 Hz and a
mel-spectrogram thumbnail, both computed on the engine (one task per batch of clips).

Browsers cannot play every format the loader reads (IMA ADPCM, 24-bit or 96 kHz WAV in
some, odd rates), so every listed clip gets an excerpt of its own in the reports folder.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Sequence
from functools import partial
from typing import NamedTuple

import numpy as np

#: Rate and length of an excerpt: 16-bit mono at this rate is 44 kB a second.
EXCERPT_SR = 22050
EXCERPT_SECONDS = 1.5
#: Mel bands and the longest stretch of a clip drawn in a thumbnail.
THUMB_MELS = 48
THUMB_SECONDS = 8.0
_HOP = 512


class ClipMedia(NamedTuple):
    """A clip's excerpt (WAV bytes), its start and length in seconds, and its thumbnail
    (PNG bytes)."""

    wav: bytes
    start: float
    seconds: float
    png: bytes


def media_name(clip_id: str) -> str:
    """File stem of a clip's excerpt and thumbnail: the id made safe for file names and
    URLs, plus a digest of the id so two ids never share a name."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", str(clip_id)).strip("._")[:60] or "clip"
    return f"{safe}-{hashlib.sha1(str(clip_id).encode('utf-8')).hexdigest()[:8]}"


def loudest_span(y: np.ndarray, n: int, hop: int = _HOP) -> int:
    """Start of the ``n`` samples of ``y`` (shape (m,)) with the most energy, on a grid of
    ``hop`` samples (0 when ``y`` is not longer than ``n``)."""
    if len(y) <= n:
        return 0
    energy = np.concatenate([[0.0], np.cumsum(y.astype(np.float64) ** 2)])
    starts = np.arange(0, len(y) - n + 1, hop)
    return int(starts[np.argmax(energy[starts + n] - energy[starts])])


def excerpt_wav(y: np.ndarray, sr: int = EXCERPT_SR,
                seconds: float = EXCERPT_SECONDS) -> tuple[bytes, float, float]:
    """The loudest ``seconds`` of ``y`` (shape (m,), float at ``sr``) as 16-bit PCM WAV
    bytes, with its start and length in seconds."""
    import soundfile as sf

    n = max(1, int(round(seconds * sr)))
    start = loudest_span(y, n)
    part = np.clip(y[start : start + n], -1.0, 1.0)
    buf = io.BytesIO()
    sf.write(buf, part, sr, subtype="PCM_16", format="WAV")
    return buf.getvalue(), start / sr, len(part) / sr


def thumbnail_png(y: np.ndarray, palette: bytes, sr: int = EXCERPT_SR) -> bytes:
    """A log-mel spectrogram of ``y`` (shape (m,)) as a palette PNG, ``THUMB_MELS`` pixels
    high (low frequencies at the bottom), one column per frame of ``_HOP`` samples."""
    from PIL import Image

    from pipeline.features.mfcc import log_mel, mel_basis
    from pipeline.features.stft import power_spectrogram

    # The features' own spectrogram: librosa's would JIT-compile numba code on the first
    # call in a new environment, seconds longer than the whole page takes.
    y = np.asarray(y[: int(THUMB_SECONDS * sr)], dtype=np.float32)
    n_fft = 1024
    power = power_spectrogram(y, n_fft=n_fft, hop_length=_HOP)
    basis = mel_basis(sr=sr, n_fft=n_fft, n_mels=THUMB_MELS, fmin=0.0, fmax=sr / 2)
    db = log_mel(power, basis=basis, top_db=80.0)
    if power.any():
        db -= db.max()  # 0 dB at the loudest cell, as power_to_db(ref=max) gives
    else:
        db[:] = -80.0  # silence is the darkest level
    # 32 grey levels compress much better than 256 and look the same at this size.
    levels = np.clip(np.round((db + 80.0) / 80.0 * 31), 0, 31).astype(np.uint8) * 8
    image = Image.fromarray(levels[::-1], mode="L").convert("P")
    image.putpalette(palette)
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def palette_bytes(cmap: str = "magma") -> bytes:
    """A matplotlib colour map as the 768 bytes of a PNG palette."""
    from matplotlib import colormaps

    rgb = colormaps[cmap](np.linspace(0.0, 1.0, 256))[:, :3]
    return (rgb * 255).round().astype(np.uint8).tobytes()


def clip_media(path: str, palette: bytes) -> ClipMedia:
    """Excerpt and thumbnail of the clip at ``path`` (any format :func:`load_clip` reads).

    Raises the loader's :class:`pipeline.datasets.audio.AudioError` for a clip that cannot be read.
    """
    from pipeline.datasets.audio import load_clip

    y = load_clip(path, EXCERPT_SR)
    wav, start, seconds = excerpt_wav(y)
    return ClipMedia(wav, start, seconds, thumbnail_png(y, palette))


def extract_media(paths: Sequence[str], *, scheduler, progress: bool = False) -> list:
    """:func:`clip_media` of every path, computed on the engine in batches.

    Returns
    -------
    list, length len(paths)
        A :class:`ClipMedia`, or a :class:`pipeline.engine.batches.ItemError` for a clip that
        could not be read.
    """
    from pipeline.engine.batches import map_batches

    out: list = [None] * len(paths)
    task = partial(clip_media, palette=palette_bytes())
    for start, results in map_batches(task, list(paths), scheduler=scheduler, batch_size=16,
                                      default_kind="undecodable", desc="report clips",
                                      progress=progress):
        out[start : start + len(results)] = results
    return out
