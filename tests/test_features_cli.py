"""``urbansound features`` end to end on small generated datasets, local and on a real cluster."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from dask_cluster import REPO, dask_cluster  # noqa: F401  (fixture)

from pipeline.cli import main
from pipeline.datasets.synth import generate
from pipeline.store import ERRORS_FILE, FEATURES_FILE, PARTS_DIR, read_features, read_meta

COUNTS = re.compile(r"(\d+) clips featurized, (\d+) failed.*; (\d+) processed, (\d+) from cache")


def features(capsys, dataset, out, *args, params=None) -> tuple[int, ...]:
    """Run the command in-process; return (featurized, failed, processed, reused)."""
    first = [] if params is None else ["--params", str(params)]
    assert main([*first, "features", str(dataset), "--out", str(out), *map(str, args)]) == 0
    match = COUNTS.search(capsys.readouterr().out)
    assert match, "the summary line is missing"
    return tuple(int(g) for g in match.groups())


def cli(dataset, out, *args) -> list[str]:
    """The command line of the same run in a subprocess."""
    return [
        sys.executable,
        "-m",
        "pipeline",
        "features",
        str(dataset),
        "--out",
        str(out),
        *map(str, args),
    ]


def environment() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def wait_for_parts(proc: subprocess.Popen, out: Path, count: int) -> None:
    """Return once ``count`` batches are persisted (the process must still be running)."""
    while len(list(out.glob(f"{PARTS_DIR}/*/[!.]*.parquet"))) < count:
        try:
            proc.wait(timeout=0.02)
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"the run ended (exit {proc.returncode}) before {count} batches were written")


def assert_same_store(out: Path, reference: Path) -> None:
    """Same tables, and byte-identical files (so a content hash, e.g. DVC's, is unchanged)."""
    pd.testing.assert_frame_equal(read_features(out), read_features(reference))
    for name in (FEATURES_FILE, ERRORS_FILE):
        assert (out / name).read_bytes() == (reference / name).read_bytes()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """A generated UrbanSound8K tree of a few dozen clips in the real formats."""
    root = tmp_path_factory.mktemp("synth")
    generate(root, layout="us8k", clips=30, seed=7)
    return root / "UrbanSound8K"


@pytest.fixture(scope="module")
def reference(dataset, tmp_path_factory) -> Path:
    """The store written by an uninterrupted sync run."""
    out = tmp_path_factory.mktemp("reference")
    assert main(["features", str(dataset), "--out", str(out), "--scheduler", "sync"]) == 0
    return out


@pytest.fixture
def broken(dataset, tmp_path) -> tuple[Path, dict[str, str]]:
    """A copy of the dataset with broken files in place of some clips, and their kinds."""
    root = tmp_path / "broken"
    shutil.copytree(dataset, root)
    clips = pd.read_csv(root / "metadata" / "UrbanSound8K.csv")
    path = {
        row.slice_file_name: root / "audio" / f"fold{row.fold}" / row.slice_file_name
        for row in clips.itertuples()
    }
    names = list(path)
    path[names[0]].write_bytes(b"")  # a 0-byte .wav
    path[names[1]].write_bytes(np.random.default_rng(0).bytes(5000))  # random bytes
    nan = np.full(2000, np.nan, dtype=np.float32)
    sf.write(path[names[2]], nan, 22050, subtype="FLOAT")  # a float WAV of NaN
    sf.write(path[names[3]], np.zeros(0, dtype=np.float32), 22050)  # a header, 0 frames
    path[names[4]].unlink()  # listed in the metadata, not on disk
    kinds = ["undecodable", "undecodable", "non_finite", "empty", "missing"]
    return root, {Path(n).stem: k for n, k in zip(names, kinds, strict=False)}


@pytest.mark.parametrize(("scheduler", "workers"), [("threads", 2), ("processes", 1),
                                                    ("processes", 2)])
def test_schedulers_write_identical_stores(capsys, dataset, reference, tmp_path, scheduler,
                                           workers):
    counts = features(
        capsys, dataset, tmp_path, "--scheduler", scheduler, "--workers", workers,
        "--batch-size", 4
    )
    assert counts == (30, 0, 30, 0)
    assert_same_store(tmp_path, reference)


def test_store_holds_one_row_per_clip_in_manifest_order(dataset, reference):
    table = read_features(reference)
    clips = pd.read_csv(dataset / "metadata" / "UrbanSound8K.csv")
    assert list(table["id"]) == [Path(n).stem for n in clips["slice_file_name"]]
    assert table.columns[:5].tolist() == ["id", "label", "fold", "group", "split"]
    values = table.iloc[:, 5:]
    assert (values.dtypes == np.float32).all()
    assert np.isfinite(values.to_numpy()).all()
    meta = read_meta(reference)
    assert (meta["layout"], meta["counts"]["featurized"]) == ("us8k", 30)


def test_broken_files_become_error_rows(capsys, broken, tmp_path, local_engine):
    root, kinds = broken
    address = local_engine.client().scheduler.address  # worker processes, already started
    counts = features(capsys, root, tmp_path, "--scheduler", address, "--batch-size", 3)
    assert counts[:2] == (25, 5)
    errors = pd.read_csv(tmp_path / ERRORS_FILE)
    assert dict(zip(errors["id"], errors["kind"], strict=True)) == kinds
    assert errors["message"].str.len().gt(0).all()
    table = read_features(tmp_path)
    assert sorted([*table["id"], *errors["id"]]) == sorted(
        Path(n).stem for n in pd.read_csv(root / "metadata" / "UrbanSound8K.csv")["slice_file_name"]
    )


def test_rerun_is_incremental_and_new_parameters_recompute(capsys, dataset, tmp_path):
    same, other = tmp_path / "same.yaml", tmp_path / "other.yaml"
    same.write_text("features: {hop_length: 512}\n")
    other.write_text("features: {hop_length: 256}\n")
    out = tmp_path / "store"
    args = ("--scheduler", "sync")
    assert features(capsys, dataset, out, *args, params=same)[2:] == (30, 0)
    assert features(capsys, dataset, out, *args, params=same)[2:] == (0, 30)
    assert features(capsys, dataset, out, *args, params=other)[2:] == (30, 0)
    assert read_meta(out)["fingerprint"]["params"]["hop_length"] == 256


@pytest.mark.slow
def test_killed_run_resumes_where_it_stopped(capsys, dataset, reference, tmp_path):
    out = tmp_path / "store"
    proc = subprocess.Popen(
        cli(dataset, out, "--scheduler", "sync", "--batch-size", 2),
        env=environment(),
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_parts(proc, out, 3)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # Nothing under a final name is half-written: every part file reads back whole.
    parts = [p for p in out.glob(f"{PARTS_DIR}/*/*.parquet") if not p.name.startswith(".")]
    done = sum(pq.read_table(p).num_rows for p in parts)
    assert not (out / FEATURES_FILE).exists()
    assert 6 <= done < 30
    counts = features(capsys, dataset, out, "--scheduler", "sync", "--batch-size", 2)
    assert counts == (30, 0, 30 - done, done)
    assert_same_store(out, reference)


@pytest.mark.slow
def test_cluster_run_survives_a_killed_worker(capsys, dataset, reference, tmp_path, dask_cluster):  # noqa: F811
    address = dask_cluster.address
    counts = features(
        capsys, dataset, tmp_path / "plain", "--scheduler", address, "--batch-size", 5
    )
    assert counts == (30, 0, 30, 0)
    assert_same_store(tmp_path / "plain", reference)

    out = tmp_path / "killed"
    proc = subprocess.Popen(
        cli(dataset, out, "--scheduler", address, "--batch-size", 1),
        env=environment(),
        stderr=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_parts(proc, out, 2)
        dask_cluster.kill_worker(0)
        stdout, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert COUNTS.search(stdout).groups() == ("30", "0", "30", "0")
    assert_same_store(out, reference)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scheduler", "mpi"], "unknown scheduler"),
        (["--workers", "0"], "workers must be at least 1"),
        (["--batch-size", "0"], "batch size must be at least 1"),
    ],
)
def test_bad_arguments_are_one_line_user_errors(capsys, dataset, tmp_path, args, message):
    assert main(["features", str(dataset), "--out", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_impossible_feature_parameters_are_one_line_exit_2(capsys, dataset, tmp_path):
    # The features package refuses them with its own ValueError; the CLI reports it as it
    # reports a user error, before the store folder is created.
    params = tmp_path / "params.yaml"
    params.write_text("features: {n_fft: 1001}\n")
    out = tmp_path / "store"
    assert main(["--params", str(params), "features", str(dataset), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == ("urbansound features: error: params: features.n_fft must be an even "
                   "integer >= 4, got 1001\n")
    assert not out.exists()


def test_a_missing_dataset_is_a_user_error(capsys, tmp_path):
    assert main(["features", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 2
    assert "Traceback" not in capsys.readouterr().err
