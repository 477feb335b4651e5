"""The feature store with a toy featurizer: outputs, errors, cache, resumption, atomicity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from crashers import CRASH_MARK, file_stats_abort_on_mark

from pipeline.core.errors import UserError
from pipeline.store import (
    ERRORS_FILE,
    FEATURES_FILE,
    META_FILE,
    PARTS_DIR,
    read_features,
    read_meta,
    update_store,
)

NAMES = ["n_bytes", "mean_byte"]


class BrokenClipError(Exception):
    """A toy load failure carrying its kind, like the audio errors."""

    kind = "broken"


def toy_featurize(path: str) -> np.ndarray:
    """Two features of a text file; files starting with 'broken' fail, 'bug' raises plainly."""
    data = Path(path).read_bytes()
    if data.startswith(b"broken"):
        raise BrokenClipError(f"cannot read {Path(path).name}")
    if data.startswith(b"bug"):
        raise RuntimeError("unexpected")
    codes = np.frombuffer(data, dtype=np.uint8)
    return np.array([codes.size, codes.mean()], dtype=np.float32)


def interrupt_at_c07(path: str) -> np.ndarray:
    """Like a kill in the middle of the run: an exception that is not an item failure."""
    if path.endswith("c07.txt"):
        raise KeyboardInterrupt
    return toy_featurize(path)


def make_manifest(root: Path, n: int = 12) -> pd.DataFrame:
    """n toy clips: one broken, one buggy, one missing; the others hold distinct text.

    Existing files are left alone, so a larger manifest over the same folder only adds clips.
    """
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        path = root / f"c{i:02d}.txt"
        if path.exists():
            pass
        elif i == 3:
            path.write_text("broken clip")
        elif i == 5:
            path.write_text("bug")
        elif i != 8:  # c08 does not exist
            path.write_text("x" * (i + 1) + chr(65 + i))
        rows.append(
            {
                "id": f"c{i:02d}",
                "path": str(path),
                "label": None if i % 4 == 0 else f"class{i % 3}",
                "fold": pd.NA if i % 4 == 0 else i % 3 + 1,
                "group": f"g{i // 2}",
                "split": "test" if i % 4 == 0 else "train",
            }
        )
    frame = pd.DataFrame(rows).astype({"fold": "Int64"})
    frame.attrs.update(layout="folder", root=str(root), missing=["c08"])
    return frame


def update(manifest, out, *, featurize=toy_featurize, fingerprint=None, scheduler="sync", **kw):
    return update_store(
        manifest,
        out,
        featurize=featurize,
        names=NAMES,
        fingerprint=fingerprint or {"version": 1},
        scheduler=scheduler,
        progress=False,
        **{"batch_size": 3, "workers": 2, **kw},
    )


def test_every_clip_ends_in_exactly_one_file(tmp_path):
    manifest = make_manifest(tmp_path / "clips")
    summary = update(manifest, tmp_path / "store")
    features = read_features(tmp_path / "store")
    errors = pd.read_csv(tmp_path / "store" / ERRORS_FILE)
    assert sorted([*features["id"], *errors["id"]]) == sorted(manifest["id"])
    assert set(features["id"]).isdisjoint(errors["id"])
    assert list(errors.columns) == ["id", "path", "kind", "message"]
    assert dict(zip(errors["id"], errors["kind"], strict=True)) == {
        "c03": "broken",
        "c05": "feature_error",
        "c08": "missing",
    }
    assert (summary.clips, summary.featurized) == (12, 9)
    assert summary.failed == {"broken": 1, "feature_error": 1, "missing": 1}


def test_features_table_follows_the_manifest(tmp_path):
    manifest = make_manifest(tmp_path / "clips")
    update(manifest, tmp_path / "store")
    features = read_features(tmp_path / "store")
    ok = manifest[~manifest["id"].isin(["c03", "c05", "c08"])].reset_index(drop=True)
    assert list(features.columns) == ["id", "label", "fold", "group", "split", *NAMES]
    assert list(features["id"]) == list(ok["id"])
    assert features["fold"].dtype == "Int64"
    assert features["fold"].isna().tolist() == ok["fold"].isna().tolist()
    assert features["label"].isna().tolist() == ok["label"].isna().tolist()
    assert all(features[name].dtype == np.float32 for name in NAMES)
    expected = np.stack([toy_featurize(p) for p in ok["path"]])
    np.testing.assert_array_equal(features[NAMES].to_numpy(), expected)


def test_meta_describes_the_run(tmp_path):
    manifest = make_manifest(tmp_path / "clips")
    update(manifest, tmp_path / "store", fingerprint={"n_fft": 2048})
    meta = json.loads((tmp_path / "store" / META_FILE).read_text())
    assert meta == read_meta(tmp_path / "store")
    assert meta["fingerprint"] == {"n_fft": 2048}
    assert meta["layout"] == "folder"
    assert meta["root"] == str(tmp_path / "clips")
    assert meta["counts"]["featurized"] == 9
    assert meta["counts"]["failed_by_kind"] == {"broken": 1, "feature_error": 1, "missing": 1}
    assert {"numpy", "pandas", "pyarrow", "dask"} <= set(meta["versions"])


@pytest.mark.parametrize("scheduler", ["threads", "processes"])
def test_schedulers_write_identical_stores(tmp_path, scheduler, local_engine):
    manifest = make_manifest(tmp_path / "clips")
    update(manifest, tmp_path / "sync", scheduler="sync")
    update(manifest, tmp_path / scheduler,
           scheduler=local_engine if scheduler == "processes" else scheduler)
    pd.testing.assert_frame_equal(
        read_features(tmp_path / scheduler), read_features(tmp_path / "sync")
    )
    sync_errors = (tmp_path / "sync" / ERRORS_FILE).read_text()
    assert (tmp_path / scheduler / ERRORS_FILE).read_text() == sync_errors


def test_rerun_processes_only_new_or_changed_clips(tmp_path):
    manifest = make_manifest(tmp_path / "clips")
    first = update(manifest, tmp_path / "store")
    assert (first.processed, first.reused) == (11, 0)
    again = update(manifest, tmp_path / "store")
    assert (again.processed, again.reused) == (0, 11)

    changed = Path(manifest["path"][1])
    changed.write_text("a longer, different text")
    bigger = make_manifest(tmp_path / "clips", n=14)
    third = update(bigger, tmp_path / "store")
    assert (third.processed, third.reused) == (1 + 2, 10)
    features = read_features(tmp_path / "store").set_index("id")
    assert features.loc["c01", "n_bytes"] == len("a longer, different text")


def test_changed_parameters_recompute_everything(tmp_path):
    manifest = make_manifest(tmp_path / "clips")
    update(manifest, tmp_path / "store", fingerprint={"n_fft": 2048})
    second = update(manifest, tmp_path / "store", fingerprint={"n_fft": 1024})
    assert (second.processed, second.reused) == (11, 0)
    # Only the cache of the current parameters is kept.
    assert len(list((tmp_path / "store" / PARTS_DIR).iterdir())) == 1


def test_interrupted_run_resumes_from_completed_batches(tmp_path):
    manifest = make_manifest(tmp_path / "clips")
    with pytest.raises(KeyboardInterrupt):
        update(manifest, tmp_path / "store", featurize=interrupt_at_c07, batch_size=2)
    assert not (tmp_path / "store" / FEATURES_FILE).exists()
    # Batches c00-c01, c02-c03, c04-c05 completed before the batch holding c07.
    resumed = update(manifest, tmp_path / "store", batch_size=2)
    assert (resumed.processed, resumed.reused) == (5, 6)
    update(manifest, tmp_path / "fresh", batch_size=2)
    pd.testing.assert_frame_equal(
        read_features(tmp_path / "store"), read_features(tmp_path / "fresh")
    )


def test_cache_is_compacted_to_one_part(tmp_path):
    manifest = make_manifest(tmp_path / "clips")
    update(manifest, tmp_path / "store", batch_size=2)
    [digest] = (tmp_path / "store" / PARTS_DIR).iterdir()
    assert len(list(digest.iterdir())) == 1


def test_leftover_and_corrupt_parts_are_ignored(tmp_path):
    manifest = make_manifest(tmp_path / "clips")
    update(manifest, tmp_path / "store")
    [digest] = (tmp_path / "store" / PARTS_DIR).iterdir()
    [part] = digest.iterdir()
    part.write_bytes(b"PAR1 not really parquet")
    # What a write killed before its rename leaves (pipeline.core.io.atomic_write).
    (digest / f".{part.name}.abcdefgh.tmp.parquet").write_bytes(b"PAR1")
    again = update(manifest, tmp_path / "store")
    assert again.processed == 11
    assert read_features(tmp_path / "store").shape == (9, 5 + len(NAMES))
    assert not list(digest.glob(".*"))


def test_a_part_of_another_layout_is_recomputed(tmp_path):
    # A valid Parquet part whose columns are not the part layout (e.g. one column per
    # feature, as an older store wrote) is not trusted: its clips are computed again.
    manifest = make_manifest(tmp_path / "clips")
    first = update(manifest, tmp_path / "store")
    [digest] = (tmp_path / "store" / PARTS_DIR).iterdir()
    [part] = digest.iterdir()
    table = pq.read_table(part)
    values = np.stack(table.column("values").to_numpy(zero_copy_only=False))
    wide = table.drop(["values"])
    for j, name in enumerate(NAMES):
        wide = wide.append_column(name, pa.array(values[:, j], pa.float32()))
    pq.write_table(wide, part)
    again = update(manifest, tmp_path / "store")
    assert again.processed == first.processed == 11
    fresh = update(manifest, tmp_path / "fresh")
    assert fresh.featurized == again.featurized
    pd.testing.assert_frame_equal(
        read_features(tmp_path / "store"), read_features(tmp_path / "fresh")
    )


def test_no_temporary_files_remain_after_a_run(tmp_path):
    update(make_manifest(tmp_path / "clips"), tmp_path / "store")
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == sorted(
        [FEATURES_FILE, ERRORS_FILE, META_FILE, PARTS_DIR]
    )


@pytest.mark.parametrize("content", [None, b"", b"garbage", b"PAR1\x00\x00PAR1"])
def test_read_features_of_a_missing_or_corrupt_store_is_a_user_error(tmp_path, content):
    if content is not None:
        (tmp_path / FEATURES_FILE).write_bytes(content)
    with pytest.raises(
        UserError, match=FEATURES_FILE if content is not None else "no feature store"
    ):
        read_features(tmp_path)


def test_read_meta_of_a_missing_store_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="metadata"):
        read_meta(tmp_path / "nowhere")


@pytest.mark.slow
def test_a_clip_that_kills_its_worker_is_an_error_row(tmp_path, local_engine):
    manifest = make_manifest(tmp_path / "clips", n=6)
    crash = tmp_path / "clips" / f"c06-{CRASH_MARK}.txt"
    crash.write_text("takes its worker down")
    row = {"id": "c06", "path": str(crash), "label": "class0", "fold": 1, "group": "g3",
           "split": "train"}
    manifest = pd.concat([manifest, pd.DataFrame([row])], ignore_index=True)
    manifest.attrs.update(layout="folder", root=str(tmp_path / "clips"), missing=["c08"])
    summary = update(manifest, tmp_path / "store", featurize=file_stats_abort_on_mark,
                     scheduler=local_engine, batch_size=3)
    errors = pd.read_csv(tmp_path / "store" / ERRORS_FILE)
    assert errors.loc[errors["id"] == "c06", "kind"].tolist() == ["worker_crash"]
    assert summary.featurized == 6 and summary.failed == {"worker_crash": 1}
    # The crash is remembered like any error row: a rerun does not crash workers again.
    again = update(manifest, tmp_path / "store", featurize=file_stats_abort_on_mark,
                   scheduler=local_engine, batch_size=3)
    assert (again.processed, again.failed) == (0, {"worker_crash": 1})
