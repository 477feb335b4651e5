"""The generator's record of its own files: only files listed there are ever replaced.

``OUT/.urbansound-synth.json`` lists, relative to OUT, every file a run wrote. A later run
replaces those and removes those it no longer writes; it never touches anything else, and it
refuses (before writing anything) a folder that holds, where it would write, files without a
record of the generator having written them: a real UrbanSound8K or AV tree, for instance.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pandas as pd

from pipeline.datasets.synth.plan import AV_TRAIN_FOLDS
from pipeline.errors import UserError
from pipeline.io import atomic_write_json

RECORD = ".urbansound-synth.json"
RECORD_FORMAT = "urbansound-synth/1"
# What a run may write directly under OUT; without a record none of these may exist.
TOP_LEVEL = ("UrbanSound8K", "av", "av_answer_key.csv")
# Temporary files of the atomic writes (.NAME.XXXXXXXX.tmp*) and links (.NAME.linkPID.tmp).
_TEMP_RE = re.compile(r"^\.(.+)\.(?:[^.]{8}\.tmp.*|link\d+\.tmp)$")


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
        files += ["av/train.csv", "av/test.csv", "av_answer_key.csv"]
        files += [
            f"av/{'Train' if f in AV_TRAIN_FOLDS else 'Test'}/{i}.wav"
            for f, i in zip(meta["fold"], meta["av_id"], strict=True)
        ]
    return files


def _safe_relative(name: object) -> bool:
    """Whether a record entry names a file inside OUT (no absolute path, no ``..``)."""
    if not isinstance(name, str) or not name or name.startswith("/") or "\\" in name:
        return False
    return all(part not in ("", ".", "..") for part in name.split("/"))


def _read_record(out: Path) -> set[str] | None:
    """Files an earlier run recorded under ``out``; None when there is no usable record."""
    try:
        record = json.loads((out / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = record.get("files") if isinstance(record, dict) else None
    if record.get("format") != RECORD_FORMAT or not isinstance(files, list):
        return None
    if not all(_safe_relative(f) for f in files):
        return None
    return set(files)


def claim(out: Path, planned: list[str]) -> set[str]:
    """Check that this run only replaces files the generator wrote; return those files.

    Raises
    ------
    UserError
        When ``out`` holds, where this run would write, anything without a record of the
        generator having written it (a real dataset, say).
    """
    how = f"choose an empty or new folder, or remove {out} first"
    owned = _read_record(out) if out.is_dir() else set()
    if owned is None:
        owned = set()
        found = [name for name in TOP_LEVEL if os.path.lexists(out / name)]
        if found:
            raise UserError(
                f"{out} already holds {found[0]}, which 'urbansound synth' did not write "
                f"(no {RECORD}); nothing was changed: {how}"
            )
    foreign = [f for f in planned if f not in owned and os.path.lexists(out / f)]
    if foreign:
        raise UserError(
            f"{out / foreign[0]} was not written by 'urbansound synth' and would be "
            f"replaced; nothing was changed: {how}"
        )
    return owned


def write_record(out: Path, files, *, layout: str, clips: int, seed: int) -> None:
    """Write ``out``'s record of the files this generator owns (atomically)."""
    atomic_write_json(
        out / RECORD,
        {"format": RECORD_FORMAT, "layout": layout, "clips": clips, "seed": seed,
         "files": sorted(files)},
    )  # fmt: skip


def remove_stale(out: Path, stale: set[str], written: set[str]) -> None:
    """Remove files of an earlier run (listed in its record) that this run did not write.

    Temporary files that a killed write of one of the generator's own files left behind
    (``.NAME.XXXXXXXX.tmp*`` of the atomic writes, ``.NAME.linkPID.tmp`` of the links) go
    too; nothing else is touched.
    """
    for name in sorted(stale):
        path = out / name
        if path.is_file() and not path.is_symlink():
            path.unlink()
    by_folder: dict[Path, set[str]] = {}
    for name in stale | written:
        path = out / name
        by_folder.setdefault(path.parent, set()).add(path.name)
    for folder, names in by_folder.items():
        if not folder.is_dir():
            continue
        for entry in os.scandir(folder):
            match = _TEMP_RE.match(entry.name)
            if match and match.group(1) in names and entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
