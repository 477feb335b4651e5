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

The modules: :mod:`.cache` (keys and part files), :mod:`.table` (the feature table and
its metadata, written and read), :mod:`.update` (the incremental run for any featurizer)
and :mod:`.extract` (the audio features: fingerprint, per-clip job, extraction, reuse).
"""

from pipeline.store.cache import KEY_COLUMNS, PARTS_DIR, VALUES_COLUMN, clip_key, fingerprint_digest
from pipeline.store.extract import (
    cached_features,
    extract_to_store,
    feature_fingerprint,
    featurize_clip,
)
from pipeline.store.table import (
    ERROR_COLUMNS,
    ERRORS_FILE,
    FEATURES_FILE,
    MANIFEST_COLUMNS,
    META_FILE,
    StoreSummary,
    read_feature_params,
    read_features,
    read_meta,
    store_digest,
    written_by_extraction,
)
from pipeline.store.update import update_store

__all__ = [
    "ERRORS_FILE",
    "ERROR_COLUMNS",
    "FEATURES_FILE",
    "KEY_COLUMNS",
    "MANIFEST_COLUMNS",
    "META_FILE",
    "PARTS_DIR",
    "VALUES_COLUMN",
    "StoreSummary",
    "cached_features",
    "clip_key",
    "extract_to_store",
    "feature_fingerprint",
    "featurize_clip",
    "fingerprint_digest",
    "read_feature_params",
    "read_features",
    "read_meta",
    "store_digest",
    "update_store",
    "written_by_extraction",
]
