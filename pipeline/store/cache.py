"""The cache of a feature store: clip keys and the Parquet part files under ``.parts/``.

A clip's cache key is ``(path, size, mtime_ns)``; the parts live in a folder named by a
digest of everything that determines the features (:func:`fingerprint_digest`). Each batch
is written as a part the moment it completes, so a killed run resumes from the batches
already done; reading collapses the parts into one row per key, the newest winning.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core.io import atomic_write_parquet, path_text
from pipeline.engine.batches import ItemError

PARTS_DIR = ".parts"
KEY_COLUMNS = ("path", "size", "mtime_ns")

# A part holds the key columns, ``kind`` and ``message`` (null when the clip is ok) and the
# features of each clip as one fixed-size list column: one column instead of one per
# feature makes parts several times faster to write and read.
VALUES_COLUMN = "values"
PART_COLUMNS = (*KEY_COLUMNS, "kind", "message", VALUES_COLUMN)


# --- cache keys ------------------------------------------------------------------------
def fingerprint_digest(fingerprint: dict[str, Any]) -> str:
    """A short stable digest of a JSON-able mapping (the feature parameters)."""
    text = json.dumps(fingerprint, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def clip_key(path: str) -> tuple[str, int, int] | None:
    """``(path, size, mtime_ns)`` of a file, or None when it cannot be stat'ed.

    The path is stored as text (:func:`pipeline.core.io.path_text`), so that a file name that is
    not valid UTF-8 can be cached like any other.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (path_text(path), st.st_size, st.st_mtime_ns)


# --- the part files --------------------------------------------------------------------
@dataclass(frozen=True)
class Cache:
    """Cached rows, one per key: ``table`` (the part columns) and its features as an array.

    ``values`` has shape (n_rows, n_features), float32; NaN rows belong to failed clips.
    """

    table: pa.Table
    values: np.ndarray

    def keys(self) -> list[tuple[str, int, int]]:
        """The ``(path, size, mtime_ns)`` key of every row, as plain Python values."""
        return list(zip(*(self.table[c].to_pylist() for c in KEY_COLUMNS), strict=True))


def part_table(
    keys: Sequence[tuple[str, int, int]], results: Sequence[Any], n_features: int
) -> pa.Table:
    """One batch as a part table (see :data:`PART_COLUMNS`).

    ``results[i]`` is the feature array, shape (n_features,), of clip ``keys[i]`` or the
    :class:`~pipeline.engine.batches.ItemError` it failed with.
    """
    values = np.full((len(keys), n_features), np.nan, dtype=np.float32)
    kinds: list[str | None] = []
    messages: list[str | None] = []
    for i, result in enumerate(results):
        if not isinstance(result, ItemError):
            row = np.asarray(result, dtype=np.float32)
            if row.shape == (n_features,):
                values[i] = row
                kinds.append(None)
                messages.append(None)
                continue
            result = ItemError("feature_error", f"{row.shape} values for {n_features} features")
        kinds.append(result.kind)
        messages.append(result.message)
    return pa.table(
        {
            "path": pa.array([k[0] for k in keys], pa.string()),
            "size": pa.array([k[1] for k in keys], pa.int64()),
            "mtime_ns": pa.array([k[2] for k in keys], pa.int64()),
            "kind": pa.array(kinds, pa.string()),
            "message": pa.array(messages, pa.string()),
            VALUES_COLUMN: pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), n_features),
        }
    )


def _part_files(parts: Path) -> list[Path]:
    """Completed part files, oldest first (names start with a nanosecond timestamp)."""
    # Hidden names are temporary files of writes in progress (pipeline.core.io.atomic_write).
    return sorted(p for p in parts.glob("*.parquet") if not p.name.startswith("."))


def write_part(parts: Path, table: pa.Table, tag: int) -> None:
    """Write ``table`` as a new part in the folder ``parts`` (``tag`` keeps names unique)."""
    atomic_write_parquet(parts / f"{time.time_ns():020d}-{os.getpid()}-{tag:07d}.parquet", table)


def read_parts(parts: Path, n_features: int) -> list[pa.Table]:
    """Every readable part of the expected layout, oldest first (others are recomputed)."""
    expected = pa.list_(pa.float32(), n_features)
    tables = []
    for part in _part_files(parts):
        try:
            table = pq.read_table(part)
        except (OSError, pa.ArrowException):
            continue  # its clips are simply recomputed
        if tuple(table.column_names) == PART_COLUMNS and table.schema.field(
            VALUES_COLUMN
        ).type.equals(expected):
            tables.append(table)
    return tables


def combine(tables: Sequence[pa.Table], n_features: int) -> Cache:
    """One cache of the part tables, one row per key: the newest wins."""
    if not tables:
        return Cache(part_table([], [], n_features), np.empty((0, n_features), np.float32))
    table = pa.concat_tables(tables)
    keys = table.select(list(KEY_COLUMNS)).to_pandas()
    table = table.filter(pa.array(~keys.duplicated(keep="last").to_numpy()))
    flat = table[VALUES_COLUMN].combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return Cache(table, flat.reshape(-1, n_features))


def clean_cache(root: Path, digest: str) -> None:
    """Remove temporary leftovers of killed runs and caches of other parameters."""
    if not root.is_dir():
        return
    for entry in root.iterdir():
        if entry.is_dir() and entry.name != digest:
            shutil.rmtree(entry, ignore_errors=True)
    for tmp in (root / digest).glob(".*.tmp*"):
        tmp.unlink(missing_ok=True)


def compact(parts: Path, cache: Cache, used: np.ndarray) -> None:
    """Rewrite the cache as one part holding only the rows the manifest uses.

    ``used`` is a boolean array, shape (n_cache_rows,).
    """
    old = _part_files(parts)
    if len(old) <= 1 and used.all():
        return
    write_part(parts, cache.table.filter(pa.array(used)), 0)
    # Deleted only after the compact part exists: a kill in between leaves duplicates,
    # which combine collapses.
    for part in old:
        part.unlink(missing_ok=True)
