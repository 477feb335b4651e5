"""The Parquet feature store: one folder per extracted dataset.

Layout of a store folder::

    features.parquet   id, label, fold, group, split + float32 feature columns, manifest order
    errors.csv         id, path, kind, message: every clip that could not be featurized
    meta.json          feature parameters, library versions, counts, layout, dataset root
    .parts/<digest>/   the cache: one Parquet part per completed batch

Every manifest row ends in exactly one of ``features.parquet`` and ``errors.csv``.

The cache makes extraction incremental and resumable. A clip's cache key is
``(path, size, mtime_ns)`` inside a folder named by a digest of the feature parameters,
the feature code revision and the library versions, so a rerun only processes new or
changed clips and changed parameters recompute everything. Each batch is written as a
part file the moment it completes, so a run killed at any point resumes from the
batches already done. Every file is written to a temporary name in its own folder and
moved into place with ``os.replace``: a final name never holds a half-written file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.batches import ItemError, map_batches
from pipeline.engine import Engine, Scheduler
from pipeline.errors import UserError
from pipeline.io import (
    atomic_write_json,
    atomic_write_parquet,
    atomic_write_text,
    check_output_dir,
    path_text,
)

FEATURES_FILE = "features.parquet"
ERRORS_FILE = "errors.csv"
META_FILE = "meta.json"
PARTS_DIR = ".parts"
MANIFEST_COLUMNS = ("id", "label", "fold", "group", "split")
ERROR_COLUMNS = ("id", "path", "kind", "message")
KEY_COLUMNS = ("path", "size", "mtime_ns")


@dataclass(frozen=True)
class StoreSummary:
    """What an extraction run produced.

    Attributes
    ----------
    folder : Path
        The store folder.
    clips : int
        Manifest rows.
    featurized : int
        Rows in ``features.parquet``.
    failed : dict of str to int
        Rows in ``errors.csv`` by kind.
    processed : int
        Clips computed by this run (the others came from the cache).
    reused : int
        Clips taken from the cache.
    """

    folder: Path
    clips: int
    featurized: int
    failed: dict[str, int] = field(default_factory=dict)
    processed: int = 0
    reused: int = 0


# --- cache keys ------------------------------------------------------------------------
def fingerprint_digest(fingerprint: dict[str, Any]) -> str:
    """A short stable digest of a JSON-able mapping (the feature parameters)."""
    text = json.dumps(fingerprint, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def clip_key(path: str) -> tuple[str, int, int] | None:
    """``(path, size, mtime_ns)`` of a file, or None when it cannot be stat'ed.

    The path is stored as text (:func:`pipeline.io.path_text`), so that a file name that is
    not valid UTF-8 can be cached like any other.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (path_text(path), st.st_size, st.st_mtime_ns)


# --- the cache of part files -----------------------------------------------------------
# A part holds the key columns, ``kind`` and ``message`` (null when the clip is ok) and the
# features of each clip as one fixed-size list column: one column instead of one per
# feature makes parts several times faster to write and read.
VALUES_COLUMN = "values"
_PART_COLUMNS = (*KEY_COLUMNS, "kind", "message", VALUES_COLUMN)


@dataclass(frozen=True)
class _Cache:
    """Cached rows, one per key: ``table`` (the part columns) and its features as an array.

    ``values`` has shape (n_rows, n_features), float32; NaN rows belong to failed clips.
    """

    table: pa.Table
    values: np.ndarray

    def keys(self) -> list[tuple[str, int, int]]:
        """The ``(path, size, mtime_ns)`` key of every row, as plain Python values."""
        return list(zip(*(self.table[c].to_pylist() for c in KEY_COLUMNS), strict=True))


def _part_table(
    keys: Sequence[tuple[str, int, int]], results: Sequence[Any], n_features: int
) -> pa.Table:
    """One batch as a part table (see :data:`_PART_COLUMNS`)."""
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
    # Hidden names are temporary files of writes in progress (pipeline.io.atomic_write).
    return sorted(p for p in parts.glob("*.parquet") if not p.name.startswith("."))


def _write_part(parts: Path, table: pa.Table, tag: int) -> None:
    atomic_write_parquet(parts / f"{time.time_ns():020d}-{os.getpid()}-{tag:07d}.parquet", table)


def _read_parts(parts: Path, n_features: int) -> list[pa.Table]:
    """Every readable part of the expected layout, oldest first (others are recomputed)."""
    expected = pa.list_(pa.float32(), n_features)
    tables = []
    for part in _part_files(parts):
        try:
            table = pq.read_table(part)
        except (OSError, pa.ArrowException):
            continue  # its clips are simply recomputed
        if tuple(table.column_names) == _PART_COLUMNS and table.schema.field(
            VALUES_COLUMN
        ).type.equals(expected):
            tables.append(table)
    return tables


def _combine(tables: Sequence[pa.Table], n_features: int) -> _Cache:
    """One cache of the part tables, one row per key: the newest wins."""
    if not tables:
        return _Cache(_part_table([], [], n_features), np.empty((0, n_features), np.float32))
    table = pa.concat_tables(tables)
    keys = table.select(list(KEY_COLUMNS)).to_pandas()
    table = table.filter(pa.array(~keys.duplicated(keep="last").to_numpy()))
    flat = table[VALUES_COLUMN].combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return _Cache(table, flat.reshape(-1, n_features))


def _clean_cache(root: Path, digest: str) -> None:
    """Remove temporary leftovers of killed runs and caches of other parameters."""
    if not root.is_dir():
        return
    for entry in root.iterdir():
        if entry.is_dir() and entry.name != digest:
            shutil.rmtree(entry, ignore_errors=True)
    for tmp in (root / digest).glob(".*.tmp*"):
        tmp.unlink(missing_ok=True)


def _compact(parts: Path, cache: _Cache, used: np.ndarray) -> None:
    """Rewrite the cache as one part holding only the rows the manifest uses."""
    old = _part_files(parts)
    if len(old) <= 1 and used.all():
        return
    _write_part(parts, cache.table.filter(pa.array(used)), 0)
    # Deleted only after the compact part exists: a kill in between leaves duplicates,
    # which _combine collapses.
    for part in old:
        part.unlink(missing_ok=True)


# --- building the store ----------------------------------------------------------------
def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version
    from platform import python_version

    found = {"python": python_version()}
    for name in ("numpy", "scipy", "librosa", "soundfile", "soxr", "pandas", "pyarrow", "dask"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "absent"
    return found


def update_store(
    manifest: pd.DataFrame,
    folder: str | Path,
    *,
    featurize: Callable[[str], np.ndarray],
    names: Sequence[str],
    fingerprint: dict[str, Any],
    scheduler: Engine | Scheduler | str,
    workers: int = 1,
    batch_size: int = 100,
    progress: bool = True,
) -> StoreSummary:
    """Bring the store in ``folder`` up to date with ``manifest``.

    Clips whose cache key is already in the cache for this ``fingerprint`` are reused;
    the others are featurized in batches on ``scheduler`` and each completed batch is
    persisted at once. Then ``features.parquet``, ``errors.csv`` and ``meta.json`` are
    rewritten from the cache, in manifest order.

    Parameters
    ----------
    manifest : DataFrame, n rows
        Columns ``id, path, label, fold, group, split``; ``attrs`` ``layout``, ``root``,
        ``missing`` (ids whose file does not exist), as from ``read_dataset``.
    folder : str or Path
        The store folder (created if needed).
    featurize : callable
        Picklable ``path -> float32 array (n_features,)``; an exception is recorded as an
        error row (kind from its ``kind`` attribute, else ``"feature_error"``).
    names : sequence of str, length n_features
        Feature column names, in the order ``featurize`` returns them.
    fingerprint : dict
        JSON-able description of everything that determines the features (parameters,
        versions); a different fingerprint recomputes every clip.
    scheduler, workers, batch_size, progress
        As in :func:`pipeline.batches.map_batches`.

    Returns
    -------
    StoreSummary
    """
    folder = Path(folder)
    names = list(names)
    clash = sorted(set(names) & {*MANIFEST_COLUMNS, *KEY_COLUMNS, "kind", "message"})
    if clash:
        raise ValueError(f"feature names clash with store columns: {clash}")
    digest = fingerprint_digest({"fingerprint": fingerprint, "names": names})
    parts = folder / PARTS_DIR / digest
    try:
        parts.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create feature store {folder}: {exc.strerror}") from None
    _clean_cache(folder / PARTS_DIR, digest)

    missing_ids = set(manifest.attrs.get("missing", ()))
    keys = [
        None if clip_id in missing_ids else clip_key(path)
        for clip_id, path in zip(manifest["id"], manifest["path"], strict=True)
    ]
    # The cache stays in memory: parts read now plus the parts this run writes.
    tables = _read_parts(parts, len(names))
    cached = set(_combine(tables, len(names)).keys())
    pending = list(dict.fromkeys(k for k in keys if k is not None and k not in cached))
    path_of = dict(zip(keys, manifest["path"], strict=True))

    for start, results in map_batches(
        featurize,
        [path_of[k] for k in pending],
        scheduler=scheduler,
        workers=workers,
        batch_size=batch_size,
        default_kind="feature_error",
        desc="features",
        progress=progress,
    ):
        batch_keys = pending[start : start + len(results)]
        table = _part_table(batch_keys, results, len(names))
        _write_part(parts, table, start)
        tables.append(table)

    cache = _combine(tables, len(names))
    row_of = {k: i for i, k in enumerate(cache.keys())}
    rows = np.array([row_of.get(k, -1) for k in keys], dtype=np.int64)
    summary = _write_outputs(manifest, folder, keys, rows, cache, names, fingerprint, len(pending))
    used = np.zeros(cache.table.num_rows, dtype=bool)
    used[rows[rows >= 0]] = True
    _compact(parts, cache, used)
    return summary


def _write_outputs(
    manifest: pd.DataFrame,
    folder: Path,
    keys: Sequence[tuple[str, int, int] | None],
    rows: np.ndarray,
    cache: _Cache,
    names: list[str],
    fingerprint: dict[str, Any],
    processed: int,
) -> StoreSummary:
    """Join manifest and cache; write the features, the errors and the metadata.

    ``rows[i]`` is the cache row of manifest row ``i`` (-1 when it has none).
    """
    kinds = cache.table["kind"].to_pylist()
    messages = cache.table["message"].to_pylist()
    ok_row = np.array([kind is None for kind in kinds], dtype=bool)
    ok = np.array([r >= 0 and bool(ok_row[r]) for r in rows], dtype=bool)

    table = manifest.loc[ok, list(MANIFEST_COLUMNS)].reset_index(drop=True)
    table = table.astype({"id": "string", "label": "string", "fold": "Int64"})
    table = table.astype({"group": "string", "split": "string"})
    values = cache.values[rows[ok]]
    features = pd.concat([table, pd.DataFrame(values, columns=names, dtype=np.float32)], axis=1)
    table = pa.Table.from_pandas(features, preserve_index=False)
    atomic_write_parquet(folder / FEATURES_FILE, table)

    errors = []
    for i in np.flatnonzero(~ok):
        clip_id, path, r = manifest["id"].iat[i], path_text(manifest["path"].iat[i]), rows[i]
        if keys[i] is None:
            errors.append((clip_id, path, "missing", f"file does not exist: {path}"))
        elif r < 0:  # changed while the run was going on
            errors.append((clip_id, path, "changed", "file changed during extraction"))
        else:
            errors.append((clip_id, path, kinds[r], messages[r]))
    error_frame = pd.DataFrame(errors, columns=list(ERROR_COLUMNS))
    atomic_write_text(folder / ERRORS_FILE, error_frame.to_csv(index=False))

    failed = dict(sorted(Counter(e[2] for e in errors).items()))
    summary = StoreSummary(
        folder=folder,
        clips=len(manifest),
        featurized=int(ok.sum()),
        failed=failed,
        processed=processed,
        reused=sum(k is not None for k in keys) - processed,
    )
    meta = {
        "fingerprint": fingerprint,
        "digest": fingerprint_digest({"fingerprint": fingerprint, "names": names}),
        "n_features": len(names),
        "versions": _versions(),
        "counts": {
            "clips": summary.clips,
            "featurized": summary.featurized,
            "failed": sum(failed.values()),
            "failed_by_kind": failed,
            "processed": summary.processed,
            "reused": summary.reused,
        },
        "layout": manifest.attrs.get("layout"),
        "root": manifest.attrs.get("root"),
    }
    atomic_write_json(folder / META_FILE, meta)
    return summary


# --- reading ---------------------------------------------------------------------------
def read_features(folder: str | Path) -> pd.DataFrame:
    """Read ``features.parquet`` of a store.

    Returns
    -------
    DataFrame, (n_clips, 5 + n_features)
        ``id, label, fold, group, split`` then float32 feature columns, manifest order.

    Raises
    ------
    UserError
        When the store or its features file is missing or unreadable.
    """
    path = Path(folder) / FEATURES_FILE
    if not path.is_file():
        raise UserError(
            f"no feature store in {folder}: run 'urbansound features DATASET --out {folder}'"
        )
    try:
        frame = pq.read_table(path).to_pandas()
    except (OSError, pa.ArrowException) as exc:
        raise UserError(f"feature store {path} is unreadable: {exc}") from None
    absent = [c for c in MANIFEST_COLUMNS if c not in frame.columns]
    if absent:
        raise UserError(f"feature store {path} lacks columns {', '.join(absent)}")
    meta = read_meta(folder) if (Path(folder) / META_FILE).is_file() else {}
    frame.attrs["store_digest"] = store_digest(frame, meta.get("digest"))
    return frame


def store_digest(frame: pd.DataFrame, fingerprint_digest: str | None) -> str:
    """A short digest of what a feature table is: its clips (ids, labels) and the digest of
    the parameters and code that computed its features. Reports carry it, so reports of
    another store are never merged with this one's."""
    h = hashlib.sha256(str(fingerprint_digest).encode("utf-8"))
    for column in ("id", "label"):
        h.update("\x1f".join(map(str, frame[column].tolist())).encode("utf-8"))
    return h.hexdigest()[:16]


def _untrusted(path: Path, why: str) -> UserError:
    return UserError(f"feature store file {path} cannot be trusted ({why}); "
                     f"rerun 'urbansound features DATASET --out {path.parent}'")


def read_meta(folder: str | Path) -> dict[str, Any]:
    """Read ``meta.json`` of a store.

    Raises
    ------
    UserError
        Missing, unreadable, or not the mapping :func:`update_store` writes (with a
        ``fingerprint`` mapping).
    """
    path = Path(folder) / META_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"no feature store metadata {path}") from None
    except (OSError, ValueError) as exc:
        raise _untrusted(path, f"unreadable: {exc}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("fingerprint"), dict):
        raise _untrusted(path, "no fingerprint mapping in it")
    return meta


def read_feature_params(folder: str | Path) -> dict[str, Any]:
    """The feature parameters a store of :func:`extract_to_store` was computed with."""
    params = read_meta(folder)["fingerprint"].get("params")
    if not isinstance(params, dict):
        raise _untrusted(Path(folder) / META_FILE, "no feature parameters in it")
    return params


def feature_fingerprint(params: Any) -> dict[str, Any]:
    """What determines the features of a clip: ``params`` (a ``FeatureParams``), the
    feature code revision and the versions of the libraries that compute them."""
    from dataclasses import asdict

    from pipeline.features import REVISION

    versions = _versions()
    return {
        "params": asdict(params),
        "revision": REVISION,
        "versions": {k: versions[k] for k in ("numpy", "scipy", "librosa", "soundfile", "soxr")},
    }


def cached_features(
    folder: str | Path, params: Any, paths: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str] | None]]:
    """Features of ``paths`` from the cache of a store, only where they are certainly theirs.

    A row is reused only when the file's ``(path, size, mtime_ns)`` key is in the cache
    computed with the same feature parameters, code and libraries (the cache folder's
    digest); a clip with the same ID elsewhere, or a file changed since, is not found.

    Parameters
    ----------
    folder : path
        A feature store folder (missing or without cache: nothing is found).
    params : FeatureParams
        The feature parameters the features must have been computed with.
    paths : sequence of str, length n

    Returns
    -------
    values : ndarray, float32, shape (n, n_features)
        NaN where not found or failed.
    found : ndarray of bool, shape (n,)
        A cached result (features or a failure) exists for the clip.
    failures : list, length n
        ``(kind, message)`` of a clip the cache records as failed, else None.
    """
    from pipeline.features import feature_names

    names = feature_names(params)
    digest = fingerprint_digest({"fingerprint": feature_fingerprint(params), "names": names})
    n = len(paths)
    values = np.full((n, len(names)), np.nan, dtype=np.float32)
    found = np.zeros(n, dtype=bool)
    failures: list[tuple[str, str] | None] = [None] * n
    parts = Path(folder) / PARTS_DIR / digest
    if not parts.is_dir():
        return values, found, failures
    cache = _combine(_read_parts(parts, len(names)), len(names))
    row_of = {k: i for i, k in enumerate(cache.keys())}
    kinds, messages = cache.table["kind"].to_pylist(), cache.table["message"].to_pylist()
    for i, path in enumerate(paths):
        key = clip_key(str(path))
        r = row_of.get(key) if key is not None else None
        if r is None:
            continue
        found[i] = True
        if kinds[r] is None:
            values[i] = cache.values[r]
        else:
            failures[i] = (kinds[r], messages[r])
    return values, found, failures


# --- the feature job -------------------------------------------------------------------
def featurize_clip(path: str, *, params: Any) -> np.ndarray:
    """Load one clip and compute its features.

    Parameters
    ----------
    path : str
        Audio file.
    params : FeatureParams
        Feature parameters (``sr`` and the analysis settings).

    Returns
    -------
    ndarray, float32, shape (n_features,)
        In ``pipeline.features.feature_names(params)`` order.

    Raises
    ------
    pipeline.audio.AudioError
        When the clip cannot be loaded (its ``kind`` becomes the error row's kind).
    ValueError
        When a feature is not finite.
    """
    from pipeline.allocator import retain_freed_memory
    from pipeline.audio import load_clip
    from pipeline.features import extract_features

    retain_freed_memory()  # once per process: the per-clip arrays then reuse memory
    y = load_clip(path, sr=params.sr)
    values = np.fromiter(extract_features(y, sr=params.sr, params=params).values(), np.float32)
    if not np.isfinite(values).all():
        raise ValueError("non-finite feature values")
    return values


def extract_to_store(
    manifest: pd.DataFrame,
    folder: str | Path,
    *,
    params: Any,
    scheduler: Engine | Scheduler | str,
    workers: int = 1,
    batch_size: int = 100,
    progress: bool = True,
) -> StoreSummary:
    """Featurize a dataset manifest into the store in ``folder`` (see :func:`update_store`).

    ``params`` is a ``FeatureParams``; it and the versions of the libraries that compute
    the features form the cache fingerprint. One run at a time writes into a store: a
    second one is refused at once (:func:`pipeline.writer_lock.single_writer`).
    """
    from functools import partial

    from pipeline.features import feature_names
    from pipeline.writer_lock import single_writer

    fingerprint = feature_fingerprint(params)
    # Impossible parameters and an output place that cannot be written are refused before
    # the lock creates the folder.
    names = feature_names(params)
    check_output_dir(folder, "feature store")
    with single_writer(folder):
        return update_store(
            manifest,
            folder,
            featurize=partial(featurize_clip, params=params),
            names=names,
            fingerprint=fingerprint,
            scheduler=scheduler,
            workers=workers,
            batch_size=batch_size,
            progress=progress,
        )
