"""Long generated recordings with known event times: ground truth for ``urbansound detect``.

A scene is an urban ambience (the generator's traffic-like rumble) lasting minutes to hours,
with events of the ten classes placed one after another at drawn times, each separated from
the next by ambience only. Every event is its own source recording (own recipe parameters
and coloration), mixed ``SNR_DB`` above the ambience. The annotation lists each event's
placed span ``file, start, end, class`` (seconds); the audible part of a sparse source such
as a dog-bark train may be shorter than its span, as in hand-made annotations.

Files are written block by block through a :class:`soundfile.SoundFile`, so an hour of audio
never sits in memory: the ambience is rendered in chunks joined by equal-power crossfades
and each event is rendered when the writer reaches it. Everything is drawn from generators
seeded by ``(seed, file, chunk or event)``: the same seed gives the same files.

Only :func:`pipeline.datasets.synth.render_source` and
:func:`~pipeline.datasets.synth.render_ambience` of the clip generator are used.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from pipeline.core.errors import UserError, check_range
from pipeline.datasets.classes import CLASSES
from pipeline.datasets.synth import SR, render_ambience, render_source

ANNOTATIONS_FILE = "scene_annotations.csv"
ANNOTATION_COLUMNS = ("file", "start", "end", "class")
SUBTYPE = "PCM_16"

AMBIENCE_RMS = 0.01  # -40 dBFS: events up to 20 dB above still rarely clip
SNR_DB = (6.0, 20.0)  # event (active RMS) over ambience (RMS)
# Event lengths in seconds: the short classes as in UrbanSound8K, the others a few slices.
EVENT_SECONDS = {"gun_shot": (0.5, 2.0), "dog_bark": (1.0, 3.0), "car_horn": (1.0, 3.0)}
EVENT_SECONDS_DEFAULT = (3.0, 10.0)
GAP_SECONDS = (2.0, 15.0)  # ambience only between two events
FIRST_GAP_SECONDS = (1.0, 4.0)
FADE_SECONDS = 0.005  # events start and end without a click

_CHUNK = 30 * SR  # ambience samples rendered at once (also the write block)
_CROSSFADE = SR // 2

# Streams of the scene's seed sequence: (seed, stream, file[, index]).
_PLAN, _AMBIENCE_REC, _AMBIENCE, _EVENT_REC, _EVENT = range(5)


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(list(key)))


def plan_scene(total: int, *, seed: int, file_index: int, classes=CLASSES) -> pd.DataFrame:
    """Events of one scene of ``total`` samples, in time order.

    Classes are drawn from shuffled rounds over ``classes``, so every class appears once
    before any appears twice.

    Returns
    -------
    DataFrame
        ``onset, offset`` (samples, ``offset <= total``), ``label`` (class), ``snr_db``.
    """
    rng = _rng(seed, _PLAN, file_index)
    rows, order = [], []
    t = int(rng.uniform(*FIRST_GAP_SECONDS) * SR)
    while True:
        if not order:
            order = list(rng.permutation(list(classes)))
        cls = str(order[0])
        length = int(rng.uniform(*EVENT_SECONDS.get(cls, EVENT_SECONDS_DEFAULT)) * SR)
        if t + length > total:
            break
        order.pop(0)
        rows.append((t, t + length, cls, float(rng.uniform(*SNR_DB))))
        t += length + int(rng.uniform(*GAP_SECONDS) * SR)
    return pd.DataFrame(rows, columns=["onset", "offset", "label", "snr_db"])


def _event_audio(event, *, seed: int, file_index: int, number: int) -> np.ndarray:
    """Samples of one planned event, at its level in the mix, with short fades."""
    n = int(event.offset - event.onset)
    x = render_source(event.label, n, _rng(seed, _EVENT_REC, file_index, number),
                  _rng(seed, _EVENT, file_index, number))
    fade = min(int(FADE_SECONDS * SR), n // 2)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, endpoint=False)
        x[:fade] *= ramp
        x[n - fade :] *= ramp[::-1]
    return x * (AMBIENCE_RMS * 10 ** (event.snr_db / 20))


def _ambience_chunks(total: int, *, seed: int, file_index: int):
    """Yield consecutive ambience blocks of ``_CHUNK`` samples (the last shorter), RMS 1.

    Each chunk is rendered ``_CROSSFADE`` samples longer than it advances; the overhang is
    faded out under the start of the next one with an equal-power (sine/cosine) fade, which
    keeps the level of independent noise constant across the join.
    """
    angle = np.linspace(0.0, np.pi / 2, _CROSSFADE, endpoint=False)
    fade_in, fade_out = np.sin(angle), np.cos(angle)
    tail = None
    for number, start in enumerate(range(0, total, _CHUNK)):
        n = min(_CHUNK, total - start)
        # The same recording parameters for every chunk: one continuous ambience.
        x = render_ambience(n + _CROSSFADE, _rng(seed, _AMBIENCE_REC, file_index),
                            _rng(seed, _AMBIENCE, file_index, number))
        if tail is not None:
            k = min(_CROSSFADE, n)
            x[:k] = x[:k] * fade_in[:k] + tail[:k] * fade_out[:k]
        tail = x[n:]
        yield x[:n]


def write_scene(path: Path, total: int, events: pd.DataFrame, *, seed: int,
                file_index: int) -> None:
    """Write one scene of ``total`` samples with ``events`` (from :func:`plan_scene`) to ``path``.

    The file is written block by block to a temporary name beside ``path`` and renamed
    (:func:`pipeline.core.io.atomic_write`).
    """
    from pipeline.core.io import atomic_write

    def write(tmp: str) -> None:
        pending = list(events.itertuples(index=False))
        active: list[tuple[int, np.ndarray]] = []  # (onset, samples) of events begun
        number = 0
        with sf.SoundFile(tmp, "w", samplerate=SR, channels=1, subtype=SUBTYPE,
                          format="WAV") as out:
            start = 0
            for ambience in _ambience_chunks(total, seed=seed, file_index=file_index):
                stop = start + len(ambience)
                block = ambience * AMBIENCE_RMS
                while pending and pending[0].onset < stop:
                    event = pending.pop(0)
                    active.append((event.onset, _event_audio(
                        event, seed=seed, file_index=file_index, number=number)))
                    number += 1
                for onset, x in active:
                    lo, hi = max(start, onset), min(stop, onset + len(x))
                    if lo < hi:
                        block[lo - start : hi - start] += x[lo - onset : hi - onset]
                active = [(o, x) for o, x in active if o + len(x) > stop]
                out.write(np.clip(block, -1.0, 1.0))
                start = stop

    atomic_write(path, write)


def scene_name(k: int) -> str:
    """File name of scene ``k`` (0-based)."""
    return f"scene_{k:02d}.wav"


def generate_scenes(out, *, minutes: float, files: int = 1, seed: int = 42,
                    classes=CLASSES, force: bool = False) -> dict:
    """Write ``files`` scenes of ``minutes`` each and their annotation under ``out``.

    Parameters
    ----------
    out : path
        Output folder (created): ``scene_NN.wav`` (22050 Hz mono PCM_16) and
        :data:`ANNOTATIONS_FILE` (``file, start, end, class``; ``file`` is the file name,
        times in seconds).
    minutes : float
        Length of each scene.
    files : int
        Number of scenes.
    seed : int
    classes : sequence of str
        Classes drawn for the events (default: all ten).
    force : bool
        Replace scenes and annotations the generator did not write, too
        (:class:`pipeline.core.io.Outputs`).

    Returns
    -------
    dict
        ``files`` (paths), ``annotations`` (path), ``events``, ``per_class``, ``seconds``
        (time taken), ``duration`` (s of audio per file).
    """
    from pipeline.core.io import Outputs, atomic_write_text

    out = Path(out)
    # An hour of scene is 160 MB of WAV: ten hours and a thousand files bound the disk used.
    check_range("--minutes", minutes, 0, 600, above=True)
    check_range("--files", files, 1, 1000, integer=True)
    unknown = sorted(set(classes) - set(CLASSES))
    if unknown or not classes:
        raise UserError(f"unknown or no scene classes: {', '.join(unknown)}")
    if out.exists() and not out.is_dir():
        raise UserError(f"output {out} exists and is not a folder")
    names = [scene_name(k) for k in range(files)]
    outputs = Outputs(out, [*names, ANNOTATIONS_FILE], force=force)
    started = time.perf_counter()
    total = int(round(minutes * 60 * SR))
    tables, paths = [], []
    try:
        with outputs:
            out.mkdir(parents=True, exist_ok=True)
            for k in range(files):
                path = out / names[k]
                events = plan_scene(total, seed=seed, file_index=k, classes=tuple(classes))
                write_scene(path, total, events, seed=seed, file_index=k)
                paths.append(str(path))
                tables.append(pd.DataFrame({
                    "file": path.name, "start": (events["onset"] / SR).round(3),
                    "end": (events["offset"] / SR).round(3), "class": events["label"],
                }, columns=list(ANNOTATION_COLUMNS)))
            table = pd.concat(tables, ignore_index=True)
            atomic_write_text(out / ANNOTATIONS_FILE,
                              table.to_csv(index=False, lineterminator="\n"))
    except OSError as exc:
        raise UserError(f"cannot write the scenes under {out}: {exc.strerror or exc}") from None
    return {
        "files": paths, "annotations": str(out / ANNOTATIONS_FILE), "events": len(table),
        "per_class": dict(sorted(Counter(table["class"]).items())),
        "seconds": time.perf_counter() - started, "duration": total / SR,
    }
