"""Nested estimate of a hyper-parameter search; ``tune --apply`` edits params.yaml minimally."""

import json

import numpy as np
import pytest
import yaml
from model_tables import TINY, feature_table

from pipeline.cli import main
from pipeline.core.config import load_params
from pipeline.core.errors import UserError
from pipeline.core.params_update import updated_text
from pipeline.evaluation import CVData, FoldFit, fit_fold
from pipeline.evaluation.splits import inner_splits, make_splits
from pipeline.evaluation.tune import tune
from pipeline.models.estimators import build_estimator
from pipeline.store.rows import feature_columns, xy

SPACE = {"C": [0.0005, 1.0]}


@pytest.fixture(scope="module")
def search():
    df = feature_table(160, folds=False, seed=4)
    out = tune(df, "logreg", SPACE, base_params=TINY["logreg"], n_splits=4,
               inner_splits_count=2)
    return df, out


def _accuracy(df, params, split, groups):
    X, y = xy(df, feature_columns(df))
    model = build_estimator("logreg", {**TINY["logreg"], **params}, seed=42)
    r = fit_fold(FoldFit("logreg", model, split), CVData(X, y, groups))
    return float(np.mean(r.predicted == y[split.test]))


def test_nested_estimate_is_recomputed_by_hand(search):
    df, out = search
    _, _, outer = make_splits(df, n_splits=4)
    groups = df["group"].to_numpy()
    nested = out["nested"]
    assert len(nested["folds"]) == len(outer) == 4
    for split, fold in zip(outer, nested["folds"], strict=True):
        inner = inner_splits(df, split, groups, n_splits=2)
        means = [np.mean([_accuracy(df, c, s, groups) for s in inner]) for c in
                 ({"C": v} for v in SPACE["C"])]
        chosen = {"C": SPACE["C"][int(np.argmax(means))]}
        assert fold["fold"] == split.name and fold["chosen"] == chosen
        assert fold["accuracy"] == pytest.approx(_accuracy(df, chosen, split, groups), abs=1e-4)
    assert nested["accuracy_mean"] == pytest.approx(
        np.mean([f["accuracy"] for f in nested["folds"]]), abs=1e-4)
    assert out["best_accuracy"] == max(r["accuracy_mean"] for r in out["results"])
    assert "selection-biased" in out["best_accuracy_note"] and "nested" in nested["note"]


def test_inner_splits_stay_inside_the_outer_training_part():
    df = feature_table(160, folds=False, seed=4)
    groups = df["group"].to_numpy()
    _, _, outer = make_splits(df, n_splits=4)
    for split in outer:
        for inner in inner_splits(df, split, groups, n_splits=3):
            assert set(inner.train) | set(inner.test) == set(split.train)
            assert set(groups[inner.test]).isdisjoint(groups[inner.train])
            assert set(groups[inner.test]).isdisjoint(groups[split.test])


def test_inner_splits_keep_official_folds_whole():
    df = feature_table(200)
    _, _, outer = make_splits(df)
    folds = df["fold"].to_numpy()
    inner = inner_splits(df, outer[0], None, n_splits=3)
    assert len(inner) == 3
    for s in inner:
        assert set(folds[s.test]).isdisjoint(folds[s.train])
        assert outer[0].name.replace("fold", "") not in {str(f) for f in folds[s.train]}


PARAMS = """\
# top comment
seed: 7
train:
  models: [logreg]   # fitted by train
  # about the models
  logreg: {C: 0.5, max_iter: 400,
           tol: 0.001}   # keep me
  rf: {n_estimators: 10}

tune:
  spaces:
    logreg:
      C: [0.0005, 1.0]
"""


def test_updated_text_changes_only_the_models_lines():
    new = updated_text(PARAMS, "logreg", {"C": 1.0})
    old_lines, new_lines = PARAMS.splitlines(), new.splitlines()
    changed = [line for line in new_lines if line not in old_lines]
    assert changed == ["  logreg: {C: 1.0, max_iter: 400, tol: 0.001}   # keep me"]
    assert [line for line in old_lines if line not in new_lines] == [
        "  logreg: {C: 0.5, max_iter: 400,", "           tol: 0.001}   # keep me"]
    data = yaml.safe_load(new)
    assert data["train"]["logreg"] == {"C": 1.0, "max_iter": 400, "tol": 0.001}
    assert data["train"]["rf"] == {"n_estimators": 10} and data["seed"] == 7
    added = updated_text(PARAMS, "xgb", {"max_depth": 3})
    assert yaml.safe_load(added)["train"]["xgb"] == {"max_depth": 3}
    assert "# about the models" in added and "# keep me" in added


def test_updated_text_refuses_a_train_section_that_is_not_a_mapping():
    with pytest.raises(UserError, match="not a mapping"):
        updated_text("train: [1, 2]\n", "logreg", {"C": 1.0})


def test_tune_apply_writes_best_params(tmp_path, capsys):
    store = tmp_path / "features"
    store.mkdir()
    feature_table(120, folds=False, seed=4).to_parquet(store / "features.parquet")
    (store / "meta.json").write_text(json.dumps({"fingerprint": {"params": {}}}))
    params = tmp_path / "params.yaml"
    params.write_text(PARAMS.replace("seed: 7", "seed: 7\nevaluate: {n_splits: 3}")
                      .replace("spaces:", "inner_splits: 2\n  spaces:"))
    code = main(["--params", str(params), "tune", "--model", "logreg", "--features", str(store),
                 "--reports", str(tmp_path / "reports"), "--scheduler", "sync", "--apply"])
    printed = capsys.readouterr().out
    assert code == 0 and "selection-biased" in printed and "nested CV estimate" in printed
    report = json.loads((tmp_path / "reports" / "tune_logreg.json").read_text())
    assert report["nested"]["accuracy_mean"] is not None
    assert load_params(params).train.logreg == {"max_iter": 400, "tol": 0.001,
                                                **report["best_params"]}
    assert "# top comment" in params.read_text() and "# keep me" in params.read_text()


def test_tune_apply_adds_a_train_section_and_runs_without_nesting(tmp_path):
    store = tmp_path / "features"
    store.mkdir()
    feature_table(80, folds=False, seed=4).to_parquet(store / "features.parquet")
    (store / "meta.json").write_text(json.dumps({"fingerprint": {"params": {}}}))
    params = tmp_path / "p.yaml"
    params.write_text("tune: {spaces: {logreg: {C: [1.0]}}, nested: false}\n"
                      "evaluate: {n_splits: 2}\n")
    params_text = params.read_text()
    code = main(["--params", str(params), "tune", "--model", "logreg", "--features",
                 str(store), "--reports", str(tmp_path / "r"), "--scheduler", "sync", "--apply"])
    report = json.loads((tmp_path / "r" / "tune_logreg.json").read_text())
    assert code == 0 and report["nested"] is None
    assert yaml.safe_load(params.read_text())["train"]["logreg"] == {"C": 1.0}
    assert yaml.safe_load(params.read_text())["tune"] == yaml.safe_load(params_text)["tune"]
