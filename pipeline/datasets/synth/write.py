"""Writing a generated dataset: clips rendered to WAV bytes, the two layouts, the CSVs.

Each clip has its own random generators, seeded by ``(seed, fsID, occurrence, slice)``, so
the bytes do not depend on the order in which clips are rendered nor on the worker count.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import time
from collections import Counter
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import soxr
from tqdm import tqdm

from pipeline.core.config import MAX_CLIPS
from pipeline.core.errors import UserError, check_range
from pipeline.core.io import (
    Outputs,
    atomic_write,
    atomic_write_bytes,
    fingerprint,
    fingerprint_bytes,
    write_target,
)
from pipeline.datasets.classes import CLASSES
from pipeline.datasets.synth.dsp import SR, db
from pipeline.datasets.synth.plan import AV_TRAIN_FOLDS, METADATA_COLUMNS, N_FOLDS, plan
from pipeline.datasets.synth.record import (
    av_file,
    claim,
    planned_files,
    remove_stale,
    us8k_file,
)
from pipeline.datasets.synth.scenes import generator, mix_scene, recording
from pipeline.engine.batches import map_tasks

LAYOUTS = ("us8k", "av", "both")


def render_clip(row, seed: int) -> tuple[np.ndarray, int]:
    """Render one planned clip.

    Parameters
    ----------
    row : mapping
        One row of :func:`~pipeline.datasets.synth.plan.plan` (needs ``fsID, occurrence,
        slice, start, end, salience, class, sr, channels``).
    seed : int
        The dataset's seed.

    Returns
    -------
    audio : numpy.ndarray, shape (frames, channels), float64 in [-1, 1]
    sr : int
        The clip's sample rate.
    """
    fsid, occ, slc = int(row["fsID"]), int(row["occurrence"]), int(row["slice"])
    n = max(1, int(round((row["end"] - row["start"]) * SR)))
    rng = generator(seed, 2, fsid, occ, slc)
    mix = mix_scene(row["class"], n, int(row["salience"]), seed, fsid, occ, rng)
    rec = recording(seed, fsid, row["class"])

    sr = int(row["sr"])
    if sr != SR:
        mix = soxr.resample(mix, SR, sr, quality="HQ")
        if len(mix) == 0:
            mix = np.zeros(1)
    # Levelled before the second channel is made from it, whose peak is no higher.
    peak = max(float(mix.max()), -float(mix.min())) or 1.0
    mix *= db(rec.level_db + rng.uniform(-2, 0)) / peak
    np.clip(mix, -1.0, 1.0, out=mix)
    if int(row["channels"]) == 1:
        return mix[:, None], sr
    # The recording's second channel: a lower gain and at most one sample of delay;
    # longer delays would comb-filter the mono downmix loaders compute.
    m = len(mix)
    delay = min(rec.stereo_delay, m - 1)
    audio = np.empty((m, 2))
    audio[:, 0] = mix
    audio[:delay, 1] = 0.0
    np.multiply(mix[: m - delay], rec.stereo_gain, out=audio[delay:, 1])
    return audio, sr


def _strip_peak_time(data: bytes) -> bytes:
    """Zero the timestamp libsndfile stores in a WAV ``PEAK`` chunk (float files).

    Without this, two runs with the same seed would differ in those four bytes.
    """
    pos = 12
    buf = bytearray(data)
    while pos + 8 <= len(buf):
        cid, size = bytes(buf[pos : pos + 4]), int.from_bytes(buf[pos + 4 : pos + 8], "little")
        if cid == b"PEAK":
            buf[pos + 12 : pos + 16] = b"\0\0\0\0"
            break
        pos += 8 + size + (size & 1)
    return bytes(buf)


def _write_wav(target, audio: np.ndarray, sr: int, subtype: str) -> None:
    """Write ``audio`` (shape (frames, channels), in [-1, 1]) as a WAV file to ``target``
    (a path or a binary file object)."""
    if subtype == "PCM_16":
        # libsndfile rounds floats to 16 bits one sample at a time, at several times the
        # cost of numpy's rounding; integers it copies as they are.
        scaled = audio * 32768.0
        audio = np.clip(np.rint(scaled, out=scaled), -32768, 32767, out=scaled).astype(np.int16)
    sf.write(target, audio, sr, subtype=subtype, format="WAV")


def wav_bytes(audio: np.ndarray, sr: int, subtype: str) -> bytes:
    """WAV file bytes of ``audio`` (shape (frames, channels), in [-1, 1]) at ``sr`` in
    ``subtype``: those :func:`generate` writes."""
    buf = io.BytesIO()
    _write_wav(buf, audio, sr, subtype)
    return _strip_peak_time(buf.getvalue()) if subtype == "FLOAT" else buf.getvalue()


def _link_atomic(src: Path, dst: Path) -> None:
    """Hard-link ``src`` to ``dst`` (copy where links are impossible), replacing ``dst``.

    A link, not a write, so it cannot go through ``atomic_write_bytes``; the temporary
    name carries the process id, so parallel workers never share one.
    """
    dst = write_target(dst)
    tmp = dst.with_name(f".{dst.name}.link{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    atomic_write_bytes(path, df.to_csv(index=False, lineterminator="\n").encode())


def _check_args(out: Path, layout: str, clips: int, seed: int) -> None:
    if layout not in LAYOUTS:
        raise UserError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    check_range("--clips", clips, 1, MAX_CLIPS, integer=True)
    check_range("--seed", seed, 0, 2**32 - 1, integer=True)
    if out.exists() and not out.is_dir():
        raise UserError(f"output {out} exists and is not a folder")


#: Clips rendered by one task of the engine: enough to amortise a task's overhead.
CHUNK = 16
#: Label of the progress bar.
PROGRESS = "generating clips"


def _run_all(write, rows: list[dict], workers: int, engine=None,
             progress: bool = True) -> dict[str, dict]:
    """Call ``write(row)`` for every row, on ``workers`` processes when more than one;
    return the union of the dicts the calls return.

    The one place that decides how clips are spread over processes: chunks of rows are
    tasks of a local cluster (:mod:`pipeline.engine.cluster`): ``engine`` when one is lent (an
    open local ``processes`` engine), else one of ``workers`` opened for the call. Every
    clip has its own random stream, so the files do not depend on the chunking or the
    worker count. ``progress`` shows a bar of the clips written on stderr.
    """
    chunks = _chunks(rows)
    if (engine is not None or workers > 1) and len(rows) > 1:
        done = map_tasks(partial(_write_rows, write), chunks, scheduler=engine or "processes",
                         workers=min(workers, len(chunks)), desc=PROGRESS, progress=progress,
                         sizes=[len(chunk) for chunk in chunks],
                         name=lambda chunk: f"rendering clip {chunk[0]['slice_file_name']} "
                                            f"and the {len(chunk) - 1} after it")
    else:
        done = []
        with tqdm(total=len(rows), desc=PROGRESS, file=sys.stderr, disable=not progress) as bar:
            for chunk in chunks:
                done.append(_write_rows(write, chunk))
                bar.update(len(chunk))
    return {key: value for result in done for key, value in result.items()}


def _chunks(rows: list[dict]) -> list[list[dict]]:
    """``rows`` cut into tasks of about :data:`CHUNK` clips, a recording's clips together:
    they share the recording's ambience, which a worker renders once (:mod:`.scenes`)."""
    chunks: list[list[dict]] = [[]]
    for row in rows:
        if len(chunks[-1]) >= CHUNK and row["fsID"] != chunks[-1][-1]["fsID"]:
            chunks.append([])
        chunks[-1].append(row)
    return chunks if rows else []


def _write_rows(write, rows: list[dict]) -> dict:
    from pipeline.engine.allocator import retain_freed_memory

    # Rendering allocates and frees arrays of a clip's length by the dozen; Dask's workers
    # return freed memory to the kernel at once (MALLOC_TRIM_THRESHOLD_), so every such
    # array would cost fresh page faults. Once per process, keep it for reuse instead.
    retain_freed_memory()
    return {key: value for row in rows for key, value in write(row).items()}


def _write_clip(row: dict, *, seed: int, out: Path, layout: str) -> dict[str, dict]:
    """Render one planned clip and write it to the layouts asked for; return the
    fingerprints of the files written (:meth:`pipeline.core.io.Outputs.written`)."""
    audio, sr = render_clip(row, seed)
    names = [*([us8k_file(row["fold"], row["slice_file_name"])] if layout != "av" else []),
             *([av_file(row["fold"], row["av_id"])] if layout != "us8k" else [])]
    first = out / names[0]
    if row["subtype"] == "FLOAT":  # its PEAK chunk's time stamp is zeroed in the bytes
        data = wav_bytes(audio, sr, row["subtype"])
        atomic_write_bytes(first, data)
        written = fingerprint_bytes(data)
    else:
        # Written by libsndfile itself: through a file object it would call back into
        # Python for every few kilobytes.
        atomic_write(first, partial(_write_wav, audio=audio, sr=sr, subtype=row["subtype"]))
        written = fingerprint(first)
    for name in names[1:]:  # the AV copy of a clip of both layouts
        _link_atomic(first, out / name)
    return dict.fromkeys(names, written)


def outputs_of(out, *, layout: str, clips: int, seed: int, force: bool = False,
               test_only: bool = False) -> tuple[pd.DataFrame, Outputs]:
    """The plan of a run (its rows to render) and the files it writes under ``out``,
    checked (see :func:`generate`) without writing anything.

    Raises
    ------
    UserError
        Bad arguments or files the generator did not write where it would write.
    """
    out = Path(out)
    _check_args(out, layout, clips, seed)
    meta = plan(clips, seed)
    if test_only:
        meta = meta[~meta["fold"].isin(AV_TRAIN_FOLDS)].reset_index(drop=True)
    return meta, claim(out, planned_files(meta, layout), force=force)


def generate(
    out, *, layout: str = "both", clips: int = 1000, seed: int = 42, workers: int = 1,
    engine=None, force: bool = False, progress: bool = True, test_only: bool = False,
) -> dict:
    """Write the synthetic dataset under ``out``.

    The files written are listed in ``out/.urbansound-files.json``
    (:class:`pipeline.core.io.Outputs`;
    the ``.urbansound-synth.json`` of earlier versions is read too); a later run into the
    same folder replaces them and removes those it no longer writes, and never touches any
    other file. A folder that already holds, where a run would write, anything not listed
    there (a real UrbanSound8K or AV tree, for instance) is refused before anything is
    written.

    Parameters
    ----------
    out : str or path-like
        Output folder (created; one written by an earlier run is updated in place).
    layout : {"us8k", "av", "both"}
        ``us8k`` writes ``out/UrbanSound8K/{metadata/UrbanSound8K.csv, audio/fold1..10/}``;
        ``av`` writes ``out/av/{train.csv, test.csv, Train/, Test/}`` (train = folds 1–6,
        test = folds 7–10) and ``out/av_answer_key.csv``; ``both`` writes both from the same
        clips (the AV files are hard links where possible).
    clips : int
        Number of clips.
    seed : int
        Random seed; the same seed gives byte-identical files.
    workers : int
        Processes rendering clips; every clip has its own random stream, so the files do not
        depend on it.
    engine : pipeline.engine.cluster.Engine, optional
        An open local ``processes`` engine to render on instead (its workers write to this
        machine's disk), so that a run does not start a second cluster.
    force : bool
        Replace files the generator did not write, too.
    progress : bool
        Show a progress bar of the clips written on stderr.
    test_only : bool
        Render only the clips of the plan's AV test folds (7–10), the same bytes as in a
        full run: an independent test set without its training part (no ``train.csv``).

    Returns
    -------
    dict
        ``clips, seed, layout, seconds, per_class, per_fold, rates, subtypes, channels,
        us8k`` (path or None), ``av`` (path or None), ``answer_key`` (path or None).

    Raises
    ------
    UserError
        Bad arguments, an output folder holding files the generator did not write, or an
        output place that cannot be written.
    """
    out = Path(out)
    started = time.perf_counter()
    meta, outputs = outputs_of(out, layout=layout, clips=clips, seed=seed, force=force,
                               test_only=test_only)
    try:
        with outputs:
            # Recorded before the first clip, so a run killed midway still owns what it wrote.
            outputs.begin()
            us8k = out / "UrbanSound8K" if layout in ("us8k", "both") else None
            av = out / "av" if layout in ("av", "both") else None
            if us8k is not None:
                (us8k / "metadata").mkdir(parents=True, exist_ok=True)
                for k in range(1, N_FOLDS + 1):
                    (us8k / "audio" / f"fold{k}").mkdir(parents=True, exist_ok=True)
            if av is not None:
                for name in ("Train", "Test"):
                    (av / name).mkdir(parents=True, exist_ok=True)

            write = partial(_write_clip, seed=seed, out=out, layout=layout)
            written = _run_all(write, meta.to_dict("records"), workers, engine, progress)
            for name, fp in written.items():
                outputs.written(name, fp)

            train = meta["fold"].isin(AV_TRAIN_FOLDS)
            if us8k is not None:
                _write_csv(meta[list(METADATA_COLUMNS)],
                           us8k / "metadata" / "UrbanSound8K.csv")
            if av is not None:
                by_id = meta.sort_values("av_id")
                tr, te = (
                    by_id[by_id["fold"].isin(AV_TRAIN_FOLDS)],
                    by_id[~by_id["fold"].isin(AV_TRAIN_FOLDS)],
                )
                if len(tr):
                    _write_csv(pd.DataFrame({"ID": tr["av_id"], "Class": tr["class"]}),
                               av / "train.csv")
                _write_csv(pd.DataFrame({"ID": te["av_id"]}), av / "test.csv")
                _write_csv(pd.DataFrame({"ID": te["av_id"], "Class": te["class"]}),
                           out / "av_answer_key.csv")
            remove_stale(outputs)
    except OSError as exc:
        raise UserError(f"cannot write the dataset under {out}: {exc.strerror or exc}") from None

    return {
        "clips": len(meta),
        "seed": seed,
        "layout": layout,
        "seconds": time.perf_counter() - started,
        "per_class": {c: int((meta["class"] == c).sum()) for c in CLASSES},
        "per_fold": {int(k): int(v) for k, v in sorted(Counter(meta["fold"]).items())},
        "train": int(train.sum()),
        "test": int((~train).sum()),
        "rates": dict(sorted(Counter(int(r) for r in meta["sr"]).items())),
        "subtypes": dict(Counter(meta["subtype"]).most_common()),
        "channels": dict(sorted(Counter(int(c) for c in meta["channels"]).items())),
        "us8k": str(us8k) if us8k is not None else None,
        "av": str(av) if av is not None else None,
        "answer_key": str(out / "av_answer_key.csv") if av is not None else None,
    }
