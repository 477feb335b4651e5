"""Bringing a feature store up to date with a manifest, incrementally and resumably.

:func:`update_store` reuses the cached rows of unchanged clips, featurizes the others in
batches (each persisted as a cache part when it completes), then rewrites the feature table
from the cache in manifest order and compacts the cache to the rows the manifest uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.batches import check_batch_size, map_batches
from pipeline.engine import Engine, Scheduler
from pipeline.errors import UserError
from pipeline.store.cache import (
    KEY_COLUMNS,
    PARTS_DIR,
    clean_cache,
    clip_key,
    combine,
    compact,
    fingerprint_digest,
    part_table,
    read_parts,
    write_part,
)
from pipeline.store.table import MANIFEST_COLUMNS, StoreSummary, write_outputs


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
    check_batch_size(batch_size)  # before the cache folder is made
    digest = fingerprint_digest({"fingerprint": fingerprint, "names": names})
    parts = folder / PARTS_DIR / digest
    try:
        parts.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create feature store {folder}: {exc.strerror}") from None
    clean_cache(folder / PARTS_DIR, digest)

    missing_ids = set(manifest.attrs.get("missing", ()))
    keys = [
        None if clip_id in missing_ids else clip_key(path)
        for clip_id, path in zip(manifest["id"], manifest["path"], strict=True)
    ]
    # The cache stays in memory: parts read now plus the parts this run writes.
    tables = read_parts(parts, len(names))
    cached = set(combine(tables, len(names)).keys())
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
        table = part_table(batch_keys, results, len(names))
        write_part(parts, table, start)
        tables.append(table)

    cache = combine(tables, len(names))
    row_of = {k: i for i, k in enumerate(cache.keys())}
    rows = np.array([row_of.get(k, -1) for k in keys], dtype=np.int64)
    summary = write_outputs(manifest, folder, keys, rows, cache, names, fingerprint, len(pending))
    used = np.zeros(cache.table.num_rows, dtype=bool)
    used[rows[rows >= 0]] = True
    compact(parts, cache, used)
    return summary
