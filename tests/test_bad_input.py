"""Whole jobs on bad input: every odd clip and bad table, killed submissions, refusing disks.

One Analytics Vidhya tree holds a tiny generated training set and, in ``Test/``, every case
of ``bad_audio.CASES``. ``urbansound features`` and ``urbansound submit`` run on it as a user
would; what each case must give is stated in docs/user_guide/bad_input.md.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from bad_audio import CASES, write_cases
from dask_cluster import REPO
from model_tables import TINY

from pipeline.apps.submission import validate_submission, warnings_path
from pipeline.cli import main
from pipeline.core.io import OUTPUT_RECORD
from pipeline.datasets.classes import CLASSES
from pipeline.datasets.synth import generate
from pipeline.evaluation.groups import GROUPS_FILE
from pipeline.models.model_index import read_index
from pipeline.models.persist import load_model
from pipeline.models.train import train_models
from pipeline.store import ERRORS_FILE, FEATURES_FILE, META_FILE, read_features, read_meta
from pipeline.store.rows import feature_columns

COUNTS = re.compile(r"(\d+) clips featurized, (\d+) failed(?: \(([^)]*)\))?; (\d+) processed")
BAD_ID_BASE = 90000


def run(capsys, *argv) -> tuple[int, str, str]:
    """``urbansound ARGV`` in-process: exit code, stdout, stderr."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def environment(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **extra}


def snapshot(root: Path, skip: Path | None = None) -> dict[str, tuple[int, int]]:
    """``{relative path: (size, mtime_ns)}`` of every file and folder under ``root``."""
    found = {}
    for path in sorted(root.rglob("*")):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        st = path.lstat()
        found[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return found


# --- one dataset holding every bad and odd clip --------------------------------------------
@pytest.fixture(scope="module")
def bad_tree(tmp_path_factory) -> tuple[Path, dict[str, str | None]]:
    """A generated AV tree whose test.csv also lists every case of ``bad_audio.CASES``."""
    root = tmp_path_factory.mktemp("bad")
    generate(root, layout="av", clips=40, seed=11)
    av = root / "av"
    expected = write_cases(av / "Test", lambda i, case: str(BAD_ID_BASE + i))
    with open(av / "test.csv", "a") as fh:
        fh.writelines(f"{clip_id}\n" for clip_id in expected)
    return av, expected


@pytest.fixture(scope="module")
def bad_store(bad_tree, tmp_path_factory, local_engine) -> tuple[Path, str]:
    """``urbansound features`` on the bad tree, on the session's two worker processes (by
    address: starting a cluster costs seconds); the store and the printed line."""
    av, _ = bad_tree
    out = tmp_path_factory.mktemp("store")
    argv = [sys.executable, "-m", "pipeline", "features", str(av), "--out", str(out),
            "--scheduler", local_engine.client().scheduler.address, "--batch-size", "4"]
    done = subprocess.run(argv, env=environment(), capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    return out, done.stdout


@pytest.fixture(scope="module")
def bad_models(bad_store, tmp_path_factory) -> Path:
    """A logistic regression trained on the tree's labelled clips."""
    store, _ = bad_store
    models = tmp_path_factory.mktemp("models")
    train_models(read_features(store), ["logreg"], TINY, seed=0, out_dir=models,
                 feature_params=read_meta(store)["fingerprint"]["params"])
    return models


@pytest.mark.slow
def test_features_job_on_every_bad_clip(bad_tree, bad_store):
    av, expected = bad_tree
    store, printed = bad_store
    features = read_features(store).set_index("id")
    errors = pd.read_csv(store / ERRORS_FILE, dtype=str).set_index("id")
    n_clips = len(pd.read_csv(av / "train.csv")) + len(pd.read_csv(av / "test.csv"))
    assert len(features) + len(errors) == n_clips
    assert set(features.index).isdisjoint(errors.index)
    for clip_id, kind in expected.items():
        if kind is None:
            assert clip_id in features.index, errors.loc[clip_id].to_dict()
        else:
            assert errors.loc[clip_id, "kind"] == kind
            assert errors.loc[clip_id, "message"]
    assert errors.index.isin(list(expected)).all()  # the generated clips are all good
    values = features.iloc[:, 4:].to_numpy()
    assert np.isfinite(values).all()
    # Odd lengths are measured, not padded away: the truncated file holds half its second.
    case_of = {str(BAD_ID_BASE + i): case for i, case in enumerate(CASES)}
    duration = {case_of[i]: d for i, d in features["duration"].items() if i in case_of}
    assert duration["one_sample"] == pytest.approx(1 / 22050)
    assert duration["ms_50"] == pytest.approx(0.05, abs=1e-3)
    assert duration["s_60"] == pytest.approx(60.0, abs=1e-3)
    assert duration["data_cut_in_half"] == pytest.approx(0.5, abs=1e-3)
    # The printed counts agree with the files.
    featurized, failed, by_kind, processed = COUNTS.search(printed).groups()
    assert (int(featurized), int(failed), int(processed)) == (len(features), len(errors),
                                                             n_clips)
    kinds = pd.Series([k for k in expected.values() if k]).value_counts()
    assert by_kind == ", ".join(f"{k}: {n}" for k, n in sorted(kinds.items()))
    assert read_meta(store)["counts"]["failed_by_kind"] == dict(sorted(kinds.items()))


@pytest.mark.slow
@pytest.mark.parametrize("reuse_store", [True, False])
def test_submission_has_a_row_for_every_test_id(capsys, bad_tree, bad_store, bad_models,
                                                tmp_path, reuse_store):
    av, expected = bad_tree
    store, _ = bad_store
    out = tmp_path / "submission.csv"
    features = store if reuse_store else tmp_path / "no-store"  # else: extracted by submit
    code, printed, err = run(capsys, "submit", "--test", av, "--models", bad_models,
                             "--features", features, "--out", out, "--model", "logreg")
    assert code == 0, err
    sub = pd.read_csv(out, dtype=str, keep_default_na=False)
    test_ids = pd.read_csv(av / "test.csv", dtype=str)["ID"].tolist()
    assert sub["ID"].tolist() == test_ids
    validate_submission(sub, test_ids)
    warned = pd.read_csv(warnings_path(out), dtype=str).set_index("id")
    bad = {i: k for i, k in expected.items() if k}
    assert warned["kind"].to_dict() == bad
    assert f"WARNING: {len(bad)} test clip(s)" in printed
    assert sub.set_index("ID").loc[list(bad), "Class"].isin(CLASSES).all()


# --- bad tables, through the command line ----------------------------------------------------
US8K_HEADER = "slice_file_name,fsID,start,end,salience,fold,classID,class"


def _us8k_tree(root: Path, lines: list[str] | None = None, raw: bytes | None = None) -> Path:
    """A three-clip UrbanSound8K tree; ``lines`` (header first) or ``raw`` replace its CSV."""
    import soundfile as sf

    rows = ["1-3-0-0.wav,1,0,1,1,1,3,dog_bark", "2-8-0-0.wav,2,0,1,1,2,8,siren",
            "3-6-0-0.wav,3,0,1,1,3,6,gun_shot"]
    for row in rows:
        name, fold = row.split(",")[0], row.split(",")[5]
        (root / "audio" / f"fold{fold}").mkdir(parents=True, exist_ok=True)
        tone = 0.3 * np.sin(np.arange(4410) * 0.2).astype(np.float32)
        sf.write(str(root / "audio" / f"fold{fold}" / name), tone, 22050)
    text = "\n".join(lines if lines is not None else [US8K_HEADER, *rows]) + "\n"
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    (root / "metadata" / "UrbanSound8K.csv").write_bytes(raw if raw is not None
                                                         else text.encode("utf-8"))
    return root


def _av_tree(root: Path, test_lines: list[str]) -> Path:
    (root / "Test").mkdir(parents=True, exist_ok=True)
    (root / "test.csv").write_text("\n".join(test_lines) + "\n")
    return root


GOOD = "1-3-0-0.wav,1,0,1,1,1,3,dog_bark"
TABLE_ERRORS = {
    "missing column": (lambda r: _us8k_tree(r, ["slice_file_name,fold", "1-3-0-0.wav,1"]),
                       "missing column 'class' or 'classID'"),
    "unknown class": (lambda r: _us8k_tree(r, [US8K_HEADER, GOOD.replace("dog_bark", "dog")]),
                      "unknown class 'dog' on line 2"),
    "duplicate ID": (lambda r: _us8k_tree(r, [US8K_HEADER, GOOD, GOOD]), "duplicate"),
    "file name with ../": (
        lambda r: _us8k_tree(r, [US8K_HEADER, "../../../etc/passwd" + GOOD[11:]]),
        "must be a plain file name",
    ),
    "absolute file name": (lambda r: _us8k_tree(r, [US8K_HEADER, "/etc/passwd" + GOOD[11:]]),
                           "must be a plain file name"),
    "AV ID with ../": (lambda r: _av_tree(r, ["ID", "1", "../../outside"]),
                       "must be a plain file name"),
    "AV absolute ID": (lambda r: _av_tree(r, ["ID", "/tmp/outside"]), "must be a plain file name"),
    "empty CSV": (lambda r: _us8k_tree(r, raw=b""), "empty CSV"),
    "header only": (lambda r: _us8k_tree(r, [US8K_HEADER]), "no clips"),
}


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """A private temporary folder for the run, so that its writes there can be seen."""
    folder = tmp_path / "tmpdir"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.mark.parametrize("case", sorted(TABLE_ERRORS))
def test_bad_table_is_one_line_and_exit_2(capsys, tmp_path, private_tmp, case):
    make, needle = TABLE_ERRORS[case]
    dataset = make(tmp_path / "dataset")
    out = tmp_path / "out"
    before = snapshot(tmp_path)
    code, printed, err = run(capsys, "features", dataset, "--out", out, "--scheduler", "sync")
    assert code == 2
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err
    assert printed == ""
    assert snapshot(tmp_path) == before  # nothing written anywhere, not even the store
    assert not out.exists() and not list(private_tmp.iterdir())


def _semicolons(root: Path) -> Path:
    tree = _us8k_tree(root)
    csv = tree / "metadata" / "UrbanSound8K.csv"
    csv.write_text(csv.read_text().replace(",", ";"))
    return tree


def _bom(root: Path) -> Path:
    tree = _us8k_tree(root)
    csv = tree / "metadata" / "UrbanSound8K.csv"
    csv.write_bytes(b"\xef\xbb\xbf" + csv.read_bytes())
    return tree


def _missing_file(root: Path) -> Path:
    tree = _us8k_tree(root)
    (tree / "audio" / "fold2" / "2-8-0-0.wav").unlink()
    return tree


@pytest.mark.parametrize(
    ("make", "featurized", "missing"),
    [(_semicolons, 3, []), (_bom, 3, []), (_missing_file, 2, ["2-8-0-0"])],
    ids=["semicolon separator", "UTF-8 BOM", "listed file missing"],
)
def test_tolerated_tables_are_read(capsys, tmp_path, private_tmp, make, featurized, missing):
    dataset = make(tmp_path / "dataset")
    out = tmp_path / "out"
    before = snapshot(tmp_path, skip=out)
    code, printed, err = run(capsys, "features", dataset, "--out", out, "--scheduler", "sync")
    assert code == 0, err
    assert COUNTS.search(printed).group(1) == str(featurized)
    errors = pd.read_csv(out / ERRORS_FILE)
    assert errors["id"].tolist() == missing and set(errors["kind"]) <= {"missing"}
    assert read_features(out)["label"].tolist()[0] == "dog_bark"
    assert snapshot(tmp_path, skip=out) == before
    assert not list(private_tmp.iterdir())


# --- killed submissions ------------------------------------------------------------------
@pytest.mark.slow
def test_killed_submit_never_leaves_a_partial_file(bad_tree, bad_store, bad_models, tmp_path,
                                                  capsys):
    av, _ = bad_tree
    store, _ = bad_store

    def argv(out: Path) -> list[str]:
        return [sys.executable, "-m", "pipeline", "submit", "--test", str(av), "--models",
                str(bad_models), "--features", str(store), "--out", str(out)]

    reference = tmp_path / "reference" / "submission.csv"
    reference.parent.mkdir()
    started = time.perf_counter()
    subprocess.run(argv(reference), env=environment(), check=True, capture_output=True, cwd=REPO)
    duration = time.perf_counter() - started
    expected = {reference.name: reference.read_bytes(),
                warnings_path(reference).name: warnings_path(reference).read_bytes()}

    out = tmp_path / "killed" / "submission.csv"
    out.parent.mkdir()
    rng = np.random.default_rng(0)
    kills = 0
    for _ in range(3):
        proc = subprocess.Popen(argv(out), env=environment(), cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Kill at a random moment of the run's second half (the first is mostly start-up),
        # polling the final names until then: whatever is there must be a complete file.
        deadline = rng.uniform(0.5, 1.0) * duration
        waited = 0.0
        while proc.poll() is None and waited < deadline:
            for name, content in expected.items():
                final = out.parent / name
                if final.exists():
                    assert final.read_bytes() == content
            try:
                proc.wait(timeout=0.01)
            except subprocess.TimeoutExpired:
                waited += 0.01
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        for name, content in expected.items():
            final = out.parent / name
            assert not final.exists() or final.read_bytes() == content
    assert kills >= 1
    # The rerun in this process: the same command, without another interpreter's start-up.
    code, _, err = run(capsys, *argv(out)[3:])
    assert code == 0, err
    for name, content in expected.items():
        assert (out.parent / name).read_bytes() == content
    # The rerun also removed any temporary file a killed write left behind.
    assert not [p.name for p in out.parent.iterdir()
                if p.name.startswith(".") and p.name != OUTPUT_RECORD]


# --- outputs that cannot be written ----------------------------------------------------------
def _file_size_limit(limit: int):
    """A ``preexec_fn``: files may not grow beyond ``limit`` bytes (as on a full disk)."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes fail with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def _outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.slow
def test_full_disk_keeps_the_previous_store(bad_tree, bad_store, tmp_path):
    av, _ = bad_tree
    store = tmp_path / "store"
    shutil.copytree(bad_store[0], store)
    before = _outputs(store)
    params = tmp_path / "params.yaml"
    params.write_text("features: {hop_length: 256}\n")  # so that everything is recomputed
    argv = [sys.executable, "-m", "pipeline", "--params", str(params), "features", str(av),
            "--out", str(store), "--scheduler", "sync", "--batch-size", "20"]
    done = subprocess.run(argv, env=environment(), capture_output=True, text=True,
                          preexec_fn=_file_size_limit(64_000), cwd=REPO)
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert re.fullmatch(r"urbansound features: error: cannot write .*: File too large", last)
    assert "Traceback" not in done.stderr
    assert _outputs(store) == before
    # An AV table has no recordings: its store also holds the inferred groups.
    assert sorted(before) == sorted([FEATURES_FILE, ERRORS_FILE, META_FILE, GROUPS_FILE,
                                     OUTPUT_RECORD])


@pytest.mark.slow
def test_full_disk_keeps_the_previous_submission(bad_tree, bad_store, bad_models, tmp_path):
    av, _ = bad_tree
    out = tmp_path / "submission.csv"
    out.write_text("previous\n")  # the user's: replaced only with --force
    argv = [sys.executable, "-m", "pipeline", "submit", "--test", str(av), "--models",
            str(bad_models), "--features", str(bad_store[0]), "--out", str(out), "--force"]
    done = subprocess.run(argv, env=environment(), capture_output=True, text=True,
                          preexec_fn=_file_size_limit(100), cwd=REPO)
    assert done.returncode == 2
    assert re.fullmatch(rf"urbansound submit: error: cannot write {re.escape(str(tmp_path))}/"
                        r"\S+: File too large", done.stderr.strip())
    assert out.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def _a_file_where_a_folder_goes(tmp_path: Path) -> Path:
    (tmp_path / "taken").write_text("a file")
    return tmp_path / "taken" / "out"


@pytest.mark.parametrize(
    "where",
    [lambda tmp: Path("/proc/urbansound/out"), _a_file_where_a_folder_goes],
    ids=["under /proc", "under a file"],
)
def test_unwritable_store_folder_is_one_line(capsys, tmp_path, where):
    dataset = _us8k_tree(tmp_path / "dataset")
    code, _, err = run(capsys, "features", dataset, "--out", where(tmp_path),
                       "--scheduler", "sync")
    assert code == 2 and err.count("\n") == 1
    assert "cannot write feature store" in err


@pytest.mark.slow
@pytest.mark.parametrize(
    "where",
    [lambda tmp: Path("/proc/urbansound/submission.csv"),
     lambda tmp: _a_file_where_a_folder_goes(tmp) / "submission.csv"],
    ids=["under /proc", "under a file"],
)
def test_unwritable_submission_is_one_line(capsys, bad_tree, bad_store, bad_models, tmp_path,
                                           where):
    av, _ = bad_tree
    code, _, err = run(capsys, "submit", "--test", av, "--models", bad_models, "--features",
                       bad_store[0], "--out", where(tmp_path))
    assert code == 2 and err.count("\n") == 1
    assert "cannot write" in err


# --- killed training -------------------------------------------------------------------------
def _predictions(models: Path, X: np.ndarray) -> dict[str, list]:
    """Every complete model of ``models`` → its predictions on ``X``."""
    index = read_index(models)
    return {name: load_model(name, models / name).predict(X).tolist() for name in index["models"]}


def _first_write(proc: subprocess.Popen, out: Path) -> float:
    """Seconds from now until ``out`` holds its first entry (a model being written), or
    until ``proc`` ends."""
    started = time.perf_counter()
    while proc.poll() is None and not (out.is_dir() and any(out.iterdir())):
        try:
            proc.wait(timeout=0.01)
        except subprocess.TimeoutExpired:
            pass
    return time.perf_counter() - started


@pytest.mark.slow
def test_killed_training_leaves_only_complete_models(bad_store, tmp_path, capsys):
    store, _ = bad_store
    table = read_features(store)
    columns = feature_columns(table)
    X = table[columns].to_numpy(dtype=np.float32)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"train": TINY}))  # every model, small and quick

    def argv(out: Path) -> list[str]:
        return [sys.executable, "-m", "pipeline", "--params", str(params), "train",
                "--features", str(store), "--out", str(out),
                "--reports", str(tmp_path / "no-reports")]

    reference = tmp_path / "reference"
    proc = subprocess.Popen(argv(reference), env=environment(), cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.perf_counter()
    writing = _first_write(proc, reference)  # the first fits and writes start about here
    assert proc.wait() == 0
    duration = time.perf_counter() - started
    expected = _predictions(reference, X)
    assert read_index(reference)["feature_names"] == columns

    out = tmp_path / "killed"
    rng = np.random.default_rng(1)
    for _ in range(3):
        proc = subprocess.Popen(argv(out), env=environment(), cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # A random moment between the start of the writes and the end of the run.
            proc.wait(timeout=rng.uniform(writing, duration))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        if any(out.glob("[!.]*/index.json")):
            # whatever is visible is a complete fit, equal to the uninterrupted one
            for name, predicted in _predictions(out, X).items():
                assert predicted == expected[name]
    code, _, err = run(capsys, *argv(out)[3:])  # the rerun, in this process
    assert code == 0, err
    assert _predictions(out, X) == expected
