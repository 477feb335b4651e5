"""``urbansound detect``: when each urban sound happens in long recordings.

Every file is cut into blocks of sliding windows (:mod:`.windows`); the blocks of all files
are spread over the engine's workers, each decoding only its own span of the file and
computing the features of its windows with the code and parameters the model was trained
with; the model turns each window into class probabilities as the blocks come back, so
memory holds only probabilities and a coarse spectrogram, whatever the length of the
files. Window probabilities become frame scores and events (:mod:`.events`), a timeline
picture per file (:mod:`.timeline`) and, against an annotation, scores (:mod:`.scores`).

Outputs in the output folder: ``windows.csv``, ``events.csv``, ``timeline_<stem>.png`` per
readable file and, with an annotation, ``scores.json``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from pipeline.apps.detect.events import energy_gate, events_table, find_events, frame_scores
from pipeline.apps.detect.windows import Grid, blocks_of, featurize_block, grid_for
from pipeline.core.io import (
    Outputs,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    check_output_dir,
)
from pipeline.datasets.classes import CLASSES
from pipeline.engine.cluster import Engine

WINDOWS_FILE = "windows.csv"
EVENTS_FILE = "events.csv"
SCORES_FILE = "scores.json"
PROBABILITY_COLUMNS = [f"p_{c}" for c in CLASSES]
WINDOW_COLUMNS = ["file", "start", "end", "class", "probability", *PROBABILITY_COLUMNS]


@dataclass
class FileResult:
    """One input file: its outcome and summary.

    Attributes
    ----------
    file : str
        As written in the output tables.
    path : str
        The audio file.
    duration : float
        Seconds (0 when unreadable).
    error : str or None
        ``kind: message`` of a file that could not be analysed.
    events : list of (start_s, end_s, class, probability)
    timeline : str or None
        The PNG written.
    """

    file: str
    path: str
    duration: float = 0.0
    error: str | None = None
    events: list = field(default_factory=list)
    timeline: str | None = None

    def per_class(self) -> dict[str, tuple[int, float]]:
        """Class → (number of events, total seconds), for classes with events."""
        out: dict[str, list] = defaultdict(lambda: [0, 0.0])
        for start, end, name, _ in self.events:
            out[name][0] += 1
            out[name][1] += end - start
        return {c: (n, s) for c, (n, s) in sorted(out.items())}


@dataclass
class DetectResult:
    """What a detection run produced (see :func:`detect`)."""

    model: str
    files: list[FileResult]
    out: str
    seconds: float
    audio_seconds: float
    scores: dict | None = None


def _input_files(paths) -> list[tuple[str, str]]:
    """``(name for the tables, audio path)`` of every file under ``paths``."""
    from pipeline.datasets import read_dataset

    files = []
    for given in paths:
        rows = read_dataset(given)
        root = Path(rows.attrs.get("root", "."))
        for path in rows["path"].astype(str):
            inside = Path(given) / Path(path).relative_to(root)
            files.append((str(given) if Path(given).is_file() else str(inside), path))
    return files


def _probabilities(model, features: np.ndarray) -> np.ndarray:
    """Model probabilities as columns in :data:`CLASSES` order (0 for an untrained class)."""
    proba = model.predict_proba(features)
    out = np.zeros((len(features), len(CLASSES)), dtype=np.float64)
    index = {c: i for i, c in enumerate(CLASSES)}
    for k, c in enumerate(model.classes_):
        out[:, index[str(c)]] = proba[:, k]
    return out


def _timeline_names(files: list[FileResult]) -> list[str]:
    """``timeline_<stem>.png`` per file, with ``_2``, ``_3``... for repeated stems."""
    seen: dict[str, int] = defaultdict(int)
    names = []
    for f in files:
        stem = Path(f.path).stem
        seen[stem] += 1
        names.append(f"timeline_{stem}" + (f"_{seen[stem]}" if seen[stem] > 1 else "") + ".png")
    return names


def _window_rows(file: str, grid: Grid, proba: np.ndarray, sr: int) -> pd.DataFrame:
    import pandas as pd  # here, not at the top: the block workers import this package

    spans = grid.spans() / sr
    best = np.argmax(proba, axis=1)
    table = pd.DataFrame(proba.round(4), columns=PROBABILITY_COLUMNS)
    table.insert(0, "file", file)
    table.insert(1, "start", spans[:, 0].round(3))
    table.insert(2, "end", spans[:, 1].round(3))
    table.insert(3, "class", np.asarray(CLASSES)[best])
    table.insert(4, "probability", proba[np.arange(len(proba)), best].round(4))
    return table


def _plan(files: list[FileResult], sr: int, hop_length: int,
          params) -> tuple[dict[int, Grid], list]:
    """Window grids of the readable files (by index) and the blocks of all of them.

    Window starts are a whole number of feature hops ``hop_length`` apart, so windows share
    their feature frames. Reads only headers; a file whose header cannot be read gets its
    ``error``.
    """
    from pipeline.core.config import MAX_RECORDING_SECONDS
    from pipeline.datasets.audio import AudioError, signal_length

    grids: dict[int, Grid] = {}
    blocks = []
    per_block = max(1, int(round(params.block / params.hop)))
    for i, f in enumerate(files):
        try:
            n = signal_length(f.path, sr)
        except AudioError as exc:
            f.error = f"{exc.kind}: {exc.reason}"
            continue
        if n == 0:
            f.error = "empty: no audio frames"
            continue
        if n > MAX_RECORDING_SECONDS * sr:
            f.error = (f"too_long: {n / sr / 3600:.1f} h, more than the "
                       f"{MAX_RECORDING_SECONDS / 3600:g} h a recording may last; split it")
            continue
        grids[i] = grid_for(n, sr=sr, window=params.window, hop=params.hop,
                            multiple=hop_length)
        f.duration = n / sr
        blocks += blocks_of(i, f.path, grids[i], per_block)
    return grids, blocks


def _timeline(f: FileResult, title: str, parts: list, scores: np.ndarray, grid: Grid, *,
              sr: int, threshold: float, reference, allowed) -> bytes:
    """The PNG of one file from its blocks' ``(first window, mel power, column edges)``."""
    from pipeline.apps.detect.timeline import timeline_png

    parts = sorted(parts, key=lambda part: part[0])
    edges = np.concatenate([parts[0][2][:1], *(e[1:] for _, _, e in parts)])
    return timeline_png(title=title, sr=sr, duration=f.duration,
                        mel_power=np.hstack([m for _, m, _ in parts]), mel_edges=edges,
                        scores=scores, frame_edges=grid.frame_edges(), classes=CLASSES,
                        events=f.events, threshold=threshold, reference=reference,
                        allowed=allowed)


def _run_blocks(blocks, feature_params, *, scheduler, workers: int, progress: bool):
    """Yield ``(block index, BlockResult or ItemError)``: the one call to the engine."""
    from pipeline.engine.batches import map_batches

    done = map_batches(partial(featurize_block, params=feature_params), blocks,
                       scheduler=scheduler, workers=workers, batch_size=1,
                       default_kind="feature_error", desc="detect blocks", progress=progress)
    for start, results in done:
        yield start, results[0]


def detect(
    paths, models_dir, *, params, out, scheduler: Engine | str = "sync", workers: int = 1,
    answers=None, progress: bool = True, force: bool = False,
) -> DetectResult:
    """Detect events in audio files and write the tables, pictures and scores.

    Parameters
    ----------
    paths : sequence of path
        Audio files or folders (any layout :func:`pipeline.datasets.read_dataset` reads).
    models_dir : path
        A models folder written by ``urbansound train``.
    params : pipeline.core.config.DetectParams
    out : path
        Output folder (created).
    scheduler, workers
        Where the blocks run: an open :class:`pipeline.engine.cluster.Engine`, or a scheduler name
        for one opened for this call.
    answers : path, optional
        Annotation CSV (``file, start, end, class``) to score against.
    progress : bool
    force : bool
        Replace files in ``out`` the tool did not write, too (:class:`pipeline.core.io.Outputs`);
        an output that is one of the inputs (``answers``) is refused all the same.

    Returns
    -------
    DetectResult
    """
    from pipeline.apps.detect.scores import read_annotations
    from pipeline.apps.submission import model_feature_params
    from pipeline.models.model_index import load_from_index

    started = time.perf_counter()
    annotations = read_annotations(answers) if answers is not None else None
    name, model, index = load_from_index(models_dir, params.model)
    feature_params = model_feature_params(index)
    sr = feature_params.sr
    files = [FileResult(file, path) for file, path in _input_files(paths)]
    outputs = Outputs(out, [WINDOWS_FILE, EVENTS_FILE, SCORES_FILE, *_timeline_names(files)],
                      force=force, inputs=[*([answers] if answers is not None else []),
                                           *(f.path for f in files)])
    out = check_output_dir(out, "detect output folder")
    with outputs:
        return _detect(files, out, name=name, model=model, sr=sr, params=params,
                       feature_params=feature_params, annotations=annotations,
                       scheduler=scheduler, workers=workers, progress=progress,
                       started=started)


def _detect(files, out, *, name, model, sr, params, feature_params, annotations, scheduler,
            workers, progress, started) -> DetectResult:
    """:func:`detect` once its outputs are claimed."""
    import pandas as pd

    from pipeline.apps.detect.scores import score_events
    from pipeline.engine.batches import ItemError

    grids, blocks = _plan(files, sr, feature_params.hop_length, params)

    proba = {i: np.zeros((g.n_windows, len(CLASSES))) for i, g in grids.items()}
    power = {i: np.zeros(g.n_frames) for i, g in grids.items()}
    mel: dict[int, list] = defaultdict(list)
    for k, result in _run_blocks(blocks, feature_params, scheduler=scheduler, workers=workers,
                                 progress=progress):
        i = blocks[k].file
        if files[i].error is not None:
            continue
        if isinstance(result, ItemError):
            files[i].error = f"{result.kind}: {result.message}"
            continue
        b = result.block
        proba[i][b.first : b.stop] = _probabilities(model, result.features)
        mel[i].append((b.first, result.mel_power, result.column_edges))
        power[i][b.first : b.first + len(result.frame_power)] = result.frame_power

    out.mkdir(parents=True, exist_ok=True)
    windows, events = [], []
    reference = annotations.groupby("file") if annotations is not None else None
    for i, f, png in zip(range(len(files)), files, _timeline_names(files), strict=True):
        if f.error is not None:
            continue
        grid, p = grids[i], proba[i]
        scores = frame_scores(p, grid)
        allowed = energy_gate(power.pop(i), params.gate_db)
        f.events = find_events(scores, grid.frame_edges(), CLASSES, sr=sr,
                               threshold=params.threshold, merge_gap=params.merge_gap,
                               min_duration=params.min_duration, allowed=allowed)
        windows.append(_window_rows(f.file, grid, p, sr))
        events.append(events_table(f.file, f.events))
        ref = None
        if reference is not None and Path(f.path).name in reference.groups:
            rows = reference.get_group(Path(f.path).name)
            ref = list(zip(rows["start"], rows["end"], rows["class"], strict=True))
        title = (f"{f.file} — {name}, window {params.window:g} s, "
                 f"hop {grid.hop / sr:.4g} s, threshold {params.threshold:g}"
                 + ("" if params.gate_db is None else f", energy gate {params.gate_db:g} dB"))
        picture = _timeline(f, title, mel.pop(i), scores, grid, sr=sr,
                            threshold=params.threshold, reference=ref, allowed=allowed)
        atomic_write_bytes(out / png, picture)
        f.timeline = str(out / png)
    window_table = pd.concat(windows, ignore_index=True) if windows else pd.DataFrame(
        columns=WINDOW_COLUMNS)
    event_table = pd.concat(events, ignore_index=True) if events else events_table("", [])
    atomic_write_text(out / WINDOWS_FILE, window_table.to_csv(index=False, lineterminator="\n"))
    rounded = event_table.round({"start": 3, "end": 3, "probability": 4})
    atomic_write_text(out / EVENTS_FILE, rounded.to_csv(index=False, lineterminator="\n"))

    scored = None
    if annotations is not None:
        durations = {f.file: f.duration for f in files if f.error is None}
        scored = score_events(event_table, annotations, durations) if durations else None
        if scored is not None:
            atomic_write_json(out / SCORES_FILE, {"model": name, **scored})
    return DetectResult(model=name, files=files, out=str(out),
                        seconds=time.perf_counter() - started,
                        audio_seconds=sum(f.duration for f in files), scores=scored)


def summary_text(result: DetectResult) -> str:
    """The printed per-file summary of a run."""
    lines = []
    for f in result.files:
        if f.error is not None:
            lines.append(f"{f.file}: could not be read ({f.error})")
            continue
        per_class = f.per_class()
        lines.append(f"{f.file}: {f.duration:.1f} s, {len(f.events)} event(s)")
        for c, (n, seconds) in per_class.items():
            lines.append(f"  {c:17s} {n:4d} event(s)  {seconds:8.1f} s")
    speed = result.audio_seconds / max(result.seconds, 1e-9)
    failed = sum(f.error is not None for f in result.files)
    lines.append(f"{len(result.files) - failed} file(s) analysed, {failed} unreadable; "
                 f"{result.audio_seconds:.0f} s of audio in {result.seconds:.1f} s "
                 f"({speed:.0f}x real time) with model {result.model} -> {result.out}")
    return "\n".join(lines)
