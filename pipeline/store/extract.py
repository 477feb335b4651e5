"""Featurization into a store: the feature fingerprint, the per-clip job, extraction, reuse.

:func:`extract_to_store` runs :func:`featurize_clip` over a manifest through
:func:`~pipeline.store.update_store`; :func:`cached_features` looks clips up in a store's
cache for callers outside a store run (predicting reuses what extraction computed).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.io import check_output_dir
from pipeline.engine.cluster import Engine, Scheduler
from pipeline.store.cache import PARTS_DIR, clip_key, combine, fingerprint_digest, read_parts
from pipeline.store.table import StoreSummary, library_versions
from pipeline.store.update import update_store


def feature_fingerprint(params: Any) -> dict[str, Any]:
    """What determines the features of a clip: ``params`` (a ``FeatureParams``), the
    feature code revision and the versions of the libraries that compute them."""
    from dataclasses import asdict

    from pipeline.features import REVISION

    versions = library_versions()
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
    cache = combine(read_parts(parts, len(names)), len(names))
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
    pipeline.datasets.audio.AudioError
        When the clip cannot be loaded (its ``kind`` becomes the error row's kind), also
        when it is longer than :data:`pipeline.core.config.MAX_CLIP_SECONDS` (``too_long``).
    ValueError
        When a feature is not finite.
    """
    from pipeline.core.config import MAX_CLIP_SECONDS
    from pipeline.datasets.audio import load_clip
    from pipeline.engine.allocator import retain_freed_memory
    from pipeline.features import extract_features

    retain_freed_memory()  # once per process: the per-clip arrays then reuse memory
    y = load_clip(path, sr=params.sr, max_seconds=MAX_CLIP_SECONDS)
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
    second one is refused at once (:func:`pipeline.engine.writer_lock.single_writer`).
    """
    from functools import partial

    from pipeline.engine.batches import check_batch_size
    from pipeline.engine.writer_lock import single_writer
    from pipeline.features import feature_names

    fingerprint = feature_fingerprint(params)
    # Impossible parameters and an output place that cannot be written are refused before
    # the lock creates the folder.
    names = feature_names(params)
    check_batch_size(batch_size)
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
