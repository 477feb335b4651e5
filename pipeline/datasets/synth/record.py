"""The generator's claim on its output folder: only files it wrote are ever replaced.

The record is the one of every output folder (:class:`pipeline.core.io.Outputs`,
``OUT/.urbansound-files.json``); a folder written before it shared that record keeps its
``OUT/.urbansound-synth.json``, which is read the same way. A later run replaces the files
listed there and removes those it no longer writes; it never touches anything else, and it
refuses (before writing anything) a folder that holds, where it would write, files without a
record of the generator having written them: a real UrbanSound8K or AV tree, for instance.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from pipeline.core.errors import UserError
from pipeline.core.io import (
    LEGACY_RECORDS,
    OUTPUT_RECORD,
    RECORD_FORMAT,
    Outputs,
    read_record,
    unchanged,
)
from pipeline.datasets.synth.plan import AV_TRAIN_FOLDS

RECORD = OUTPUT_RECORD
LEGACY_RECORD = next(iter(LEGACY_RECORDS))
# What a run may write directly under OUT; without a record none of these may exist.
TOP_LEVEL = ("UrbanSound8K", "av", "av_answer_key.csv")
# Temporary files of the atomic writes (.NAME.XXXXXXXX.tmp*) and links (.NAME.linkPID.tmp).
_TEMP_RE = re.compile(r"^\.(.+)\.(?:[^.]{8}\.tmp.*|link\d+\.tmp)$")

__all__ = ["LEGACY_RECORD", "RECORD", "RECORD_FORMAT", "claim", "planned_files",
           "remove_stale"]


def planned_files(meta: pd.DataFrame, layout: str) -> list[str]:
    """Every file a run writes, as POSIX paths relative to OUT (the record excluded)."""
    files = []
    if layout in ("us8k", "both"):
        files.append("UrbanSound8K/metadata/UrbanSound8K.csv")
        files += [
            f"UrbanSound8K/audio/fold{f}/{n}"
            for f, n in zip(meta["fold"], meta["slice_file_name"], strict=True)
        ]
    if layout in ("av", "both"):
        if meta["fold"].isin(AV_TRAIN_FOLDS).any():
            files.append("av/train.csv")
        files += ["av/test.csv", "av_answer_key.csv"]
        files += [
            f"av/{'Train' if f in AV_TRAIN_FOLDS else 'Test'}/{i}.wav"
            for f, i in zip(meta["fold"], meta["av_id"], strict=True)
        ]
    return files


def claim(out: Path, planned: list[str], *, force: bool = False) -> Outputs:
    """Check that this run only replaces files the generator wrote; return its outputs
    (``removes``: the earlier run's files it no longer writes, when unchanged).

    Raises
    ------
    UserError
        When ``out`` holds, where this run would write, anything without a record of the
        generator having written it (a real dataset, say), unless ``force``.
    """
    record = read_record(out) if out.is_dir() else None
    if record is None and not force:
        found = [name for name in TOP_LEVEL if os.path.lexists(out / name)]
        if found:
            raise UserError(
                f"{out} already holds {found[0]}, which 'urbansound synth' did not write "
                f"(no {RECORD}); nothing was changed: choose an empty or new folder, remove "
                f"{out} first, or --force"
            )
    record = record or {}
    stale = [f for f in sorted(set(record) - set(planned))
             if (out / f).is_file() and not (out / f).is_symlink()
             and unchanged(out / f, record[f])]
    return Outputs(out, planned, removes=stale, force=force)


def remove_stale(outputs: Outputs) -> None:
    """Remove files of an earlier run (listed in the record) that this run did not write.

    Temporary files that a killed write of one of the generator's own files left behind
    (``.NAME.XXXXXXXX.tmp*`` of the atomic writes, ``.NAME.linkPID.tmp`` of the links) go
    too; nothing else is touched.
    """
    for name in outputs.removes:
        outputs.remove(name)
    by_folder: dict[Path, set[str]] = {}
    for name in (*outputs.removes, *outputs.names):
        path = outputs.path(name)
        by_folder.setdefault(path.parent, set()).add(path.name)
    for folder, names in by_folder.items():
        if not folder.is_dir():
            continue
        for entry in os.scandir(folder):
            match = _TEMP_RE.match(entry.name)
            if match and match.group(1) in names and entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
