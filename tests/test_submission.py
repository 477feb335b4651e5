"""Submissions: validation, atomic writing, scoring, and predictions on real audio files."""

import json

import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from model_tables import TINY

from pipeline.apps.submission import (
    make_submission,
    predict_paths,
    score,
    score_text,
    validate_submission,
    warnings_path,
    write_submission,
)
from pipeline.cli import main
from pipeline.core.config import FeatureParams
from pipeline.core.errors import UserError
from pipeline.datasets import read_dataset
from pipeline.datasets.classes import CLASSES
from pipeline.models.model_index import read_index
from pipeline.models.train import train_models

IDS = ["7", "3", "12", "5"]


def _sub(rows):
    return pd.DataFrame(rows, columns=["ID", "Class"])


def test_valid_submission_is_written_in_order(tmp_path):
    out = write_submission(IDS, ["siren", "dog_bark", "siren", "gun_shot"], tmp_path / "s.csv")
    assert out.read_text().splitlines() == [
        "ID,Class", "7,siren", "3,dog_bark", "12,siren", "5,gun_shot"
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["s.csv"]


@pytest.mark.parametrize(
    ("rows", "needle"),
    [
        ([("7", "siren"), ("3", "siren"), ("12", "siren")], "lacks 1 test ID"),
        ([("7", "siren"), ("3", "siren"), ("12", "siren"), ("12", "siren")], "repeats"),
        ([("7", "siren"), ("3", "siren"), ("12", "siren"), ("5", "Siren")], "unknown class"),
        ([("7", "siren"), ("3", "siren"), ("12", "siren"), ("5", "car horn")], "unknown class"),
        ([("7", "siren"), ("3", "siren"), ("12", "siren"), ("5", "siren"), ("9", "siren")],
         "not in the test set"),
    ],
)
def test_validation_rejects_bad_rows(rows, needle):
    with pytest.raises(UserError, match=needle):
        validate_submission(_sub(rows), IDS)


def test_invalid_submission_is_not_written(tmp_path):
    with pytest.raises(UserError):
        write_submission(IDS, ["siren", "siren", "siren", "sirens"], tmp_path / "s.csv",
                         test_ids=IDS)
    assert list(tmp_path.iterdir()) == []


def _key_and_guess(tmp_path):
    key = tmp_path / "key.csv"
    _sub([("1", "siren"), ("2", "siren"), ("3", "dog_bark"), ("4", "gun_shot")]).to_csv(
        key, index=False)
    sub = tmp_path / "sub.csv"
    _sub([("2", "siren"), ("1", "dog_bark"), ("4", "gun_shot"), ("3", "dog_bark")]).to_csv(
        sub, index=False)
    return key, sub


def test_score_on_a_known_key(tmp_path, capsys):
    key, sub = _key_and_guess(tmp_path)
    result = score(sub, key)
    assert result["accuracy"] == 0.75
    assert result["per_class_recall"] == {"dog_bark": 1.0, "gun_shot": 1.0, "siren": 0.5}
    assert main(["score", str(sub), "--answers", str(key)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == "accuracy 0.7500"
    assert score_text(result).splitlines()[-1] == "accuracy 0.7500"


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("ID,Class\n1,siren\n2,siren\n3,dog_bark\n", "lacks 1 test ID"),
        ("ID,Label\n1,siren\n", "lacks column"),
        ("ID,Class\n1,siren\n2,siren\n3,dog_bark\n4,gunshot\n", "unknown class"),
    ],
)
def test_score_rejects_mismatched_files_with_one_line(tmp_path, capsys, content, needle):
    key, _ = _key_and_guess(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    assert main(["score", str(bad), "--answers", str(key)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


def test_score_missing_file(tmp_path, capsys):
    assert main(["score", str(tmp_path / "none.csv"), "--answers", str(tmp_path / "k.csv")]) == 2
    assert "not found" in capsys.readouterr().err


# --- on real audio ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def av_models(tmp_path_factory):
    """A generated AV tree with two damaged test clips, its feature store, trained models."""
    from pipeline.datasets.synth import generate
    from pipeline.store import extract_to_store, read_features, read_meta

    root = tmp_path_factory.mktemp("av")
    generate(root, layout="av", clips=40, seed=3)
    manifest = read_dataset(root / "av")
    test = manifest[manifest["split"] == "test"].reset_index(drop=True)
    bad_ids = list(test["id"][:2])
    with open(test["path"][0], "wb") as fh:  # undecodable
        fh.write(b"RIFF\x00\x00garbage")
    (root / "av" / "Test" / f"{bad_ids[1]}.wav").unlink()  # missing
    store = root / "features"
    extract_to_store(read_dataset(root / "av"), store, params=FeatureParams(),
                     scheduler="sync", progress=False)
    models = root / "models"
    train_models(read_features(store), ["logreg"], TINY, seed=0, out_dir=models,
                 feature_params=read_meta(store)["fingerprint"]["params"])
    return root, models, test, bad_ids


@pytest.mark.slow
def test_unreadable_test_clips_still_get_a_row_and_a_warning(av_models, tmp_path):
    root, models, test, bad_ids = av_models
    out = tmp_path / "submission.csv"
    result = make_submission(test, models, out, model="best")  # features extracted here
    sub = pd.read_csv(out, dtype=str)
    order = pd.read_csv(root / "av" / "test.csv", dtype=str)["ID"].tolist()
    assert sub["ID"].tolist() == order
    assert sub["Class"].isin(CLASSES).all()
    warn = pd.read_csv(warnings_path(out), dtype=str)
    assert sorted(warn["id"]) == sorted(bad_ids)
    assert set(warn["kind"]) == {"undecodable", "missing"}
    majority = read_index(models)["majority_class"]
    assert (sub.set_index("ID").loc[bad_ids, "Class"] == majority).all()
    assert result["n"] == len(order)


@pytest.mark.slow
def test_submit_command_prints_the_warning(av_models, tmp_path, capsys, cluster_params):
    root, models, _, bad_ids = av_models
    out = tmp_path / "sub.csv"
    code = main(["--params", str(cluster_params), "submit", "--test", str(root / "av"),
                 "--models", str(models), "--out", str(out), "--features", str(root / "features")])
    printed = capsys.readouterr().out
    assert code == 0 and out.is_file()
    assert "WARNING: 2 test clip(s)" in printed and all(i in printed for i in bad_ids)
    answers = root / "av_answer_key.csv"
    assert main(["score", str(out), "--answers", str(answers)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("accuracy 0.")
    # Features taken from the store and extracted afresh give the same submission.
    fresh = tmp_path / "fresh.csv"
    make_submission(read_dataset(root / "av").query("split == 'test'"), models, fresh)
    assert fresh.read_text() == out.read_text()


@pytest.mark.slow
def test_predict_on_a_folder(av_models, capsys, cluster_params):
    root, models, test, bad_ids = av_models
    folder = root / "av" / "Test"
    name, table = predict_paths([folder], models)
    assert name == "logreg"
    assert len(table) == len(test) - 1  # the deleted file is not in the folder
    errors = table[table["error"].notna()]
    assert errors["id"].tolist() == [bad_ids[0]]
    good = table[table["error"].isna()]
    assert good["class"].isin(CLASSES).all() and good["probability"].between(0, 1).all()
    assert main(["--params", str(cluster_params), "predict", str(folder), "--models", str(models),
                 "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == len(table)
    assert {r["id"] for r in records if r["class"] is None} == {bad_ids[0]}


# --- every single-row mutation of a valid file is rejected -------------------------------
def _mutations(draw, ids, classes):
    """One row of the valid submission (ids, classes) changed in one way; the new rows."""
    rows = list(zip(ids, classes, strict=True))
    i = draw(st.integers(0, len(rows) - 1))
    kind = draw(st.sampled_from(["drop", "duplicate", "change id", "misspell class"]))
    if kind == "drop":
        del rows[i]
    elif kind == "duplicate":
        rows.insert(draw(st.integers(0, len(rows))), rows[i])
    elif kind == "change id":
        new = draw(st.text("0123456789ab", min_size=1, max_size=6).filter(lambda v: v != ids[i]))
        rows[i] = (new, rows[i][1])
    else:
        name = rows[i][1]
        edit = draw(st.sampled_from(["case", "space", "cut", "extra", "other"]))
        wrong = {"case": name.capitalize(), "space": name.replace("_", " "),
                 "cut": name[:-1], "extra": name + "s",
                 "other": draw(st.text(min_size=0, max_size=12))}[edit]
        assume(wrong not in CLASSES)
        rows[i] = (rows[i][0], wrong)
    return kind, rows


@st.composite
def _valid_and_mutated(draw):
    ids = draw(st.lists(st.integers(0, 10**6).map(str), min_size=1, max_size=30, unique=True))
    classes = draw(st.lists(st.sampled_from(CLASSES), min_size=len(ids), max_size=len(ids)))
    return ids, classes, *_mutations(draw, ids, classes)


@settings(max_examples=150, deadline=None)
@given(_valid_and_mutated())
def test_validator_rejects_every_single_row_mutation(case):
    ids, classes, kind, rows = case
    validate_submission(_sub(list(zip(ids, classes, strict=True))), ids)  # the original passes
    with pytest.raises(UserError):
        validate_submission(_sub(rows), ids)
