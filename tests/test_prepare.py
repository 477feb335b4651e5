"""The prepare stage: generated default, a given dataset, an extra test folder."""

import subprocess
import sys

import pandas as pd
import pytest

from pipeline.datasets import read_dataset
from pipeline.errors import UserError
from pipeline.prepare import prepare_dataset


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared")
    return out, prepare_dataset(out, synth_clips=30, synth_test_clips=30, seed=3)


def test_synth_default_has_official_folds_and_an_independent_test_set(prepared):
    out, manifest = prepared
    back = read_dataset(out)
    assert back["id"].tolist() == manifest["id"].tolist()
    train, test = back[back["split"] == "train"], back[back["split"] == "test"]
    assert len(train) == 30 and train["fold"].notna().all() and train["label"].notna().all()
    assert len(test) > 0 and test["label"].isna().all()
    answers = pd.read_csv(out / "answers.csv", dtype=str)
    assert sorted(answers["ID"]) == sorted(test["id"])


def test_real_dataset_with_separate_test_folder(prepared, tmp_path):
    out, _ = prepared
    manifest = prepare_dataset(
        tmp_path / "p",
        dataset=str(out / "synth" / "UrbanSound8K"),
        test=str(out / "synth_test" / "av"),
    )
    assert manifest.attrs["answers"] is None
    assert not (tmp_path / "p" / "answers.csv").exists()
    assert (manifest["split"] == "test").sum() == len(pd.read_csv(out / "answers.csv"))


def test_same_dataset_twice_is_an_id_clash(prepared, tmp_path):
    out, _ = prepared
    av = str(out / "synth_test" / "av")
    with pytest.raises(UserError, match="both the dataset and the test set"):
        prepare_dataset(tmp_path / "p", dataset=av, test=av)


def test_cli_bad_dataset_is_one_line_exit_2(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "pipeline", "prepare", "--dataset", str(tmp_path / "none"),
         "--out", str(tmp_path / "p")],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "dataset not found" in run.stderr


def test_a_prepared_folder_is_a_dataset_with_its_answer_key(prepared, tmp_path):
    out, manifest = prepared
    again = prepare_dataset(tmp_path / "p", dataset=str(out))
    assert again["id"].tolist() == manifest["id"].tolist()
    assert again["path"].tolist() == manifest["path"].tolist()
    assert (tmp_path / "p" / "answers.csv").read_text() == (out / "answers.csv").read_text()


def test_prepare_never_replaces_a_dataset_it_did_not_generate(tmp_path):
    out = tmp_path / "prep"
    metadata = out / "synth" / "UrbanSound8K" / "metadata" / "UrbanSound8K.csv"
    metadata.parent.mkdir(parents=True)
    metadata.write_text("slice_file_name,fold\nreal.wav,1\n")
    with pytest.raises(UserError, match="did not write"):
        prepare_dataset(out, synth_clips=10, synth_test_clips=0, seed=3)
    assert metadata.read_text() == "slice_file_name,fold\nreal.wav,1\n"


def test_prepare_reruns_into_its_own_folder(tmp_path):
    prepare_dataset(tmp_path, synth_clips=12, synth_test_clips=10, seed=3)
    manifest = prepare_dataset(tmp_path, synth_clips=10, synth_test_clips=10, seed=3)
    assert (manifest["split"] == "train").sum() == 10
    wavs = list((tmp_path / "synth" / "UrbanSound8K" / "audio").rglob("*.wav"))
    assert len(wavs) == 10


def test_prepare_never_removes_an_answer_key_it_did_not_write(prepared, tmp_path):
    out, _ = prepared
    folder = tmp_path / "downloads"
    folder.mkdir()
    (folder / "answers.csv").write_text("ID,Class\n1,siren\n")
    with pytest.raises(UserError, match="answers.csv: it was not written by urbansound"):
        prepare_dataset(folder, dataset=str(out / "synth" / "UrbanSound8K"))
    assert (folder / "answers.csv").read_text() == "ID,Class\n1,siren\n"
    assert sorted(p.name for p in folder.iterdir()) == ["answers.csv"]
