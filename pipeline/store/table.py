"""The feature table of a store: ``features.parquet``, ``errors.csv`` and ``meta.json``.

Writing joins the manifest with the cache rows of its clips (:func:`write_outputs`);
reading checks that the files are the ones :func:`pipeline.store.update_store` writes and
names what a table is (:func:`store_digest`), so reports of different stores never mix.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import UserError
from pipeline.io import atomic_write_json, atomic_write_parquet, atomic_write_text, path_text
from pipeline.store.cache import Cache, fingerprint_digest

FEATURES_FILE = "features.parquet"
ERRORS_FILE = "errors.csv"
META_FILE = "meta.json"
MANIFEST_COLUMNS = ("id", "label", "fold", "group", "split")
ERROR_COLUMNS = ("id", "path", "kind", "message")


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


# --- writing ---------------------------------------------------------------------------
def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries that read, compute and store features."""
    from importlib.metadata import PackageNotFoundError, version
    from platform import python_version

    found = {"python": python_version()}
    for name in ("numpy", "scipy", "librosa", "soundfile", "soxr", "pandas", "pyarrow", "dask"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "absent"
    return found


def write_outputs(
    manifest: pd.DataFrame,
    folder: Path,
    keys: Sequence[tuple[str, int, int] | None],
    rows: np.ndarray,
    cache: Cache,
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
        "versions": library_versions(),
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
def written_by_extraction(folder: str | Path) -> bool:
    """Whether ``folder`` is a feature store that extraction wrote: its meta.json names the
    digest of a cache folder ``.parts/<digest>/`` beside it. The proof of a store written
    before output folders kept a record of their files (:class:`pipeline.io.Outputs`)."""
    from pipeline.store.cache import PARTS_DIR

    try:
        digest = json.loads((Path(folder) / META_FILE).read_text(encoding="utf-8"))["digest"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return (isinstance(digest, str) and digest.isalnum()
            and (Path(folder) / PARTS_DIR / digest).is_dir())


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
