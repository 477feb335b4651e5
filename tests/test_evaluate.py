"""Cross-validation protocols, metrics and report files; fold-aware tuning."""

import json

import numpy as np
import pandas as pd
import pytest
from crashers import times_ten_abort_on_13
from model_tables import TINY, feature_table

from pipeline.core.errors import UserError
from pipeline.engine.batches import map_tasks
from pipeline.evaluation import (
    collect_reports,
    cross_validate,
    report_text,
    write_reports,
    write_summary,
)
from pipeline.evaluation.cv import SHARED_FROM, shared_parts
from pipeline.evaluation.groups import recording_groups
from pipeline.evaluation.splits import OPTIMISTIC_WARNING, make_splits
from pipeline.evaluation.tune import candidates, tune
from pipeline.models.estimators import build_estimator
from pipeline.models.persist import load_model
from pipeline.models.train import train_models
from pipeline.store.rows import feature_columns, xy

# Tiny networks stop before converging, by design.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

PNG = b"\x89PNG\r\n\x1a\n"


def test_official_folds_are_never_mixed():
    df = feature_table(200)
    protocol, optimistic, splits = make_splits(df, n_splits=5)
    assert protocol.startswith("official-folds") and not optimistic
    assert len(splits) == 10
    folds = df["fold"].to_numpy()
    for split in splits:
        test_folds = set(folds[split.test])
        assert len(test_folds) == 1
        assert test_folds.isdisjoint(folds[split.train])
        assert len(split.train) + len(split.test) == len(df)
    assert sorted(np.concatenate([s.test for s in splits])) == list(range(len(df)))


def test_groups_without_folds_keep_recordings_together():
    df = feature_table(200, folds=False)
    protocol, optimistic, splits = make_splits(df, n_splits=5)
    assert protocol.startswith("stratified-group-kfold") and not optimistic
    groups = df["group"].to_numpy()
    for split in splits:
        assert set(groups[split.test]).isdisjoint(groups[split.train])


def test_a_class_rarer_than_the_splits_is_said_in_the_protocol_not_warned(recwarn):
    df = feature_table(200, folds=False)
    rare = df["label"].iloc[0]
    keep = (df["label"] != rare) | (df.groupby("label").cumcount() < 3)
    protocol, _, splits = make_splits(df[keep].reset_index(drop=True), n_splits=5)
    assert f"{rare} has only 3 clips, so it is absent from some test parts" in protocol
    assert len(splits) == 5 and [str(w.message) for w in recwarn] == []
    assert "absent" not in make_splits(df, n_splits=5)[0]


@pytest.fixture(scope="module")
def av_metrics(tmp_path_factory):
    reports = tmp_path_factory.mktemp("reports")
    df = feature_table(150, folds=False, groups=False)
    metrics = cross_validate(df, ["logreg"], TINY, n_splits=3)
    write_reports(metrics, reports)
    return metrics, reports


def test_no_groups_is_flagged_optimistic_everywhere(av_metrics):
    metrics, reports = av_metrics
    assert "optimistic" in metrics.run.protocol and metrics.run.optimistic is True
    saved = json.loads((reports / "metrics.json").read_text())
    assert saved["warning"] == OPTIMISTIC_WARNING and "optimistic" in saved["protocol"]
    assert "OPTIMISTIC" in (reports / "summary.md").read_text()
    assert OPTIMISTIC_WARNING in report_text(metrics)


@pytest.fixture(scope="module")
def us8k_run(tmp_path_factory):
    reports = tmp_path_factory.mktemp("reports")
    df = feature_table(200)
    metrics = cross_validate(df, ["logreg", "rf", "ensemble"], TINY)
    write_reports(metrics, reports)
    return df, metrics, reports


def test_metrics_json_layout(us8k_run):
    df, metrics, reports = us8k_run
    saved = json.loads((reports / "metrics.json").read_text())
    assert saved["protocol"].startswith("official-folds")
    assert "warning" not in saved and "OPTIMISTIC" not in report_text(metrics)
    assert saved["best"] in saved["models"]
    assert set(saved["models"]) == {"logreg", "rf", "ensemble"}
    for name, m in saved["models"].items():
        # DVC's metrics file holds the headline figures; the detail is the model's own.
        assert set(m) == {"accuracy_mean", "accuracy_std", "macro_f1_mean"}
        assert 0.0 <= m["accuracy_mean"] <= 1.0
        detail = json.loads((reports / "cv" / name / "metrics.json").read_text())["summary"]
        assert {**m, "per_class_recall": detail["per_class_recall"],
                "fit_seconds": detail["fit_seconds"]} == detail
        assert set(detail["per_class_recall"]) == set(df["label"])


@pytest.mark.parametrize("name", ["logreg", "rf", "ensemble"])
def test_per_model_files(us8k_run, name):
    df, metrics, reports = us8k_run
    record = json.loads((reports / "cv" / name / "metrics.json").read_text())
    assert record["summary"] == metrics.models[name].summary()
    folds = record["folds"]
    assert [f["fold"] for f in folds] == [f"fold{i}" for i in range(1, 11)]
    assert [f["n_test"] for f in folds] == df["fold"].value_counts().sort_index().tolist()
    mean = np.mean([f["accuracy"] for f in folds])
    assert mean == pytest.approx(metrics.models[name].accuracy_mean, abs=1e-4)
    preds = pd.read_csv(reports / "cv" / name / "predictions.csv")
    assert {"actual", "predicted"} <= set(preds.columns)
    assert sorted(preds["id"]) == sorted(df["id"])
    # The out-of-fold probabilities, read back in the rows' order.
    read = collect_reports(reports, [name]).models[name]
    np.testing.assert_allclose(read.probabilities, metrics.models[name].probabilities,
                               rtol=1e-5)
    assert read.classes == metrics.models[name].classes
    assert (reports / "cv" / name / "confusion.png").read_bytes().startswith(PNG)


def test_summary_is_rebuilt_from_per_model_reports(us8k_run, tmp_path):
    _, metrics, reports = us8k_run
    rebuilt = collect_reports(reports, ["rf", "logreg", "not_run"])
    assert set(rebuilt.models) == {"rf", "logreg"}
    assert rebuilt.models["rf"].summary() == metrics.models["rf"].summary()
    assert rebuilt.run == metrics.run
    write_summary(rebuilt, tmp_path)
    folds = pd.read_csv(tmp_path / "folds.csv")
    assert folds["fold"].tolist() == [f"fold{i}" for i in range(1, 11)]
    assert folds["rf"].mean() == pytest.approx(metrics.models["rf"].accuracy_mean, abs=1e-4)
    assert json.loads((tmp_path / "metrics.json").read_text())["best"] in {"rf", "logreg"}


def test_no_reports_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no cross-validation reports"):
        collect_reports(tmp_path, ["rf"])


def test_summary_and_plots(us8k_run):
    _, metrics, reports = us8k_run
    summary = (reports / "summary.md").read_text()
    for name, m in metrics.models.items():
        assert f"| {name} | {m.accuracy_mean:.4f} ± {m.accuracy_std:.4f}" in summary
    assert (reports / "fold_accuracy.png").read_bytes().startswith(PNG)


@pytest.mark.parametrize("weights", [None, "learnt"])
def test_ensemble_score_equals_refitting_the_soft_vote(us8k_run, weights):
    """Scored from its members' fold fits (and, learning its weights, their fits on the
    inner parts the outer folds share), the vote is exactly the vote fitted in every fold
    on those parts."""
    df, metrics, reports = us8k_run
    _, _, splits = make_splits(df)
    assert len(splits) >= SHARED_FROM  # the ten official folds: the parts are shared
    parts = shared_parts(splits)[0]
    X, y = xy(df, feature_columns(df))
    groups = recording_groups(df)[0]
    tiny = {**TINY, "ensemble": {"members": ["logreg", "rf"], "weights": weights}}
    accs, probas = [], []
    for s in splits:
        model = build_estimator("ensemble", tiny["ensemble"], seed=42, all_params=tiny)
        at = {row: i for i, row in enumerate(s.train)}  # row -> position in the training part
        model.fit(X[s.train], y[s.train], groups[s.train], weight_parts=[
            ([at[r] for r in p.train], [at[r] for r in p.test]) for p in parts[s.name]])
        assert (model.weights_ is None) is (weights is None)
        accs.append(np.mean(model.predict(X[s.test]) == y[s.test]))
        probas.append(model.predict_proba(X[s.test]))
    refit = cross_validate(df, ["ensemble"], tiny).models["ensemble"]
    assert refit.accuracy_mean == pytest.approx(np.mean(accs), abs=1e-4)
    np.testing.assert_allclose(refit.probabilities, np.concatenate(probas), atol=1e-9)


@pytest.mark.parametrize(
    ("search", "n_iter", "expected"), [("grid", 0, 6), ("random", 4, 4), ("random", 50, 6)]
)
def test_candidates(search, n_iter, expected):
    space = {"C": [0.1, 1.0, 10.0], "tol": [1e-3, 1e-4]}
    combos = candidates(space, search=search, n_iter=n_iter, seed=0)
    assert len(combos) == expected
    assert all(c["C"] in space["C"] and c["tol"] in space["tol"] for c in combos)


def test_tune_writes_best_params_and_heatmap(tmp_path):
    df = feature_table(150)
    space = {"C": [0.001, 1.0], "max_iter": [50, 200]}
    out = tune(df, "logreg", space, base_params=TINY["logreg"], reports_dir=tmp_path)
    saved = json.loads((tmp_path / "tune_logreg.json").read_text())
    assert saved["best_params"] in candidates(space)
    assert len(saved["results"]) == 4
    assert saved["best_accuracy"] == max(r["accuracy_mean"] for r in saved["results"])
    assert out["protocol"].startswith("official-folds")
    assert (tmp_path / "tune_logreg.png").read_bytes().startswith(PNG)


@pytest.mark.slow
@pytest.mark.parametrize("scheduler", ["threads", "processes"])
def test_parallel_schedulers_give_the_sync_result(scheduler, local_engine):
    df = feature_table(120)
    names = ["logreg", "xgb"]
    sync = cross_validate(df, names, TINY, scheduler="sync")
    other = cross_validate(df, names, TINY, workers=2,
                           scheduler=local_engine if scheduler == "processes" else scheduler)
    for name in names:
        assert other.models[name].accuracy_mean == sync.models[name].accuracy_mean
        pd.testing.assert_frame_equal(other.models[name].predictions,
                                      sync.models[name].predictions)
        np.testing.assert_array_equal(other.models[name].probabilities,
                                      sync.models[name].probabilities)


@pytest.mark.slow
def test_a_fit_that_kills_its_worker_is_a_named_error_not_a_traceback(local_engine):
    # Tasks 1 and 2 may die with the worker that task 13 kills; they are rerun, not blamed.
    on = {"scheduler": local_engine}
    assert map_tasks(times_ten_abort_on_13, [1, 2], **on) == [10, 20]
    with pytest.raises(UserError, match=r"^fitting 13 killed its worker process; .*--workers"):
        map_tasks(times_ten_abort_on_13, [1, 13, 2], name=lambda task: f"fitting {task}", **on)
    with pytest.raises(UserError, match=r"^task 2 of 3 killed its worker process"):
        map_tasks(times_ten_abort_on_13, [1, 13, 2], **on)


@pytest.mark.slow
def test_refit_queues_the_final_fits_and_train_saves_them_with_their_own_threads(
        local_engine, tmp_path):
    df = feature_table(120)
    df.attrs["store_digest"] = "d1"
    params = {**TINY, "rf": {"n_estimators": 12, "n_jobs": -1},
              "ensemble": {"members": ["logreg", "rf"]}}
    names = ["logreg", "rf", "ensemble"]
    cv = cross_validate(df, names, params, scheduler=local_engine, workers=2, refit=True)
    # The vote is made of its members' final fits and their fits on the parts of all rows.
    assert set(cv.refitted) == {"logreg", "rf", "ensemble"}
    assert cross_validate(df, names, params, scheduler="sync").models["rf"].accuracy_mean == \
        cv.models["rf"].accuracy_mean  # the final fits change no fold's score
    rf_fold_fit, seconds = cv.refitted["rf"]
    assert rf_fold_fit[-1].n_jobs == 1 and seconds > 0  # fitted beside another task
    X, _ = xy(df, feature_columns(df))
    # With the recording groups the cross-validation used, as the train stage passes them
    # (the vote's weights are learnt on parts of whole recordings).
    groups = recording_groups(df)[0]
    reused = train_models(df, names, params, seed=42, out_dir=tmp_path / "reused",
                          cv_metrics=cv, groups=groups)
    fresh = train_models(df, names, params, seed=42, out_dir=tmp_path / "fresh", groups=groups)
    for name in names:
        saved = load_model(name, tmp_path / "reused" / name)
        np.testing.assert_allclose(saved.predict_proba(X),
                                   load_model(name, tmp_path / "fresh" / name).predict_proba(X))
    assert load_model("rf", tmp_path / "reused" / "rf")[-1].n_jobs == -1  # its own again
    assert reused["models"]["rf"]["fit_seconds"] == round(seconds, 3)
    assert fresh["models"]["rf"]["cv_accuracy"] is None
    # Refitted models of another store are not taken for this one's.
    # (The reused fit is given a time no fit of 120 rows takes, so a fresh fit cannot match it.)
    df.attrs["store_digest"] = "d2"
    cv.refitted["rf"] = (rf_fold_fit, 999.0)
    other = train_models(df, ["rf"], params, seed=42, out_dir=tmp_path / "other", cv_metrics=cv)
    assert other["models"]["rf"]["fit_seconds"] < 999.0



def _fits_of(monkeypatch) -> list:
    """The fold fits queued by every cross-validation from now on (which then runs them)."""
    import pipeline.evaluation.cv as cv_module

    queued, real = [], cv_module.fit_folds

    def spy(fits, *args, **kwargs):
        queued.extend(fits)
        return real(fits, *args, **kwargs)

    monkeypatch.setattr(cv_module, "fit_folds", spy)
    return queued


def _splits_fitted(queued: list) -> dict[str, set[str]]:
    """Model → the names of the splits it was fitted on, from the fits ``queued`` (emptied)."""
    names: dict[str, set[str]] = {}
    for fit in queued:
        names.setdefault(fit.key, set()).add(fit.split.name)
    queued.clear()
    return names


@pytest.mark.slow
def test_the_ensemble_stage_reuses_its_members_fits_only_when_their_setting_matches(
        tmp_path, monkeypatch):
    from dataclasses import replace

    from pipeline import stages
    from pipeline.core.config import ParallelParams, Params, TrainParams
    from pipeline.evaluation.cv import ALL_ROWS
    from pipeline.stages.common import read_store

    store, reports, models = tmp_path / "features", tmp_path / "reports", tmp_path / "models"
    store.mkdir()
    df = feature_table(120)
    df.to_parquet(store / "features.parquet")
    (store / "meta.json").write_text(json.dumps({"fingerprint": {"params": {}}}))
    X, _ = xy(df, feature_columns(df))
    params = Params(parallel=ParallelParams(scheduler="sync", workers=1), train=TrainParams(
        models=("logreg", "rf"), logreg=TINY["logreg"], rf=TINY["rf"],
        ensemble={"members": ["logreg", "rf"], "weights": "learnt"}))
    for name in ("logreg", "rf"):  # the model stages, one command each
        stages.train(store, models, params=params, model=name, reports=reports, with_cv=True)
    queued = _fits_of(monkeypatch)

    def ensemble_stage(params: Params) -> dict[str, set[str]]:
        """Run it; check its figures and saved vote against a vote that fits every member
        itself; return what it fitted."""
        result = stages.train(store, models, params=params, model="ensemble", reports=reports,
                              with_cv=True)
        ran = _splits_fitted(queued)
        table = read_store(store)[0]
        alone = cross_validate(table, ["ensemble"], stages.train_params(params), refit=True)
        queued.clear()
        ours, fresh = result.evaluated.metrics.models["ensemble"], alone.models["ensemble"]
        assert ours.accuracy_mean == fresh.accuracy_mean
        np.testing.assert_array_equal(ours.probabilities, fresh.probabilities)
        np.testing.assert_allclose(load_model("ensemble", models / "ensemble").predict_proba(X),
                                   alone.refitted["ensemble"][0].predict_proba(X), atol=1e-12)
        return ran

    reused = ensemble_stage(params)
    # The members' folds and final fits come from their stages: only the fits that learn
    # the vote's weights inside every outer training part (and all rows) run: the ten
    # outer folds share one fit per pair of their five blocks, the final fit has 3 parts.
    outer = {s.name for s in make_splits(df)[2]} | {ALL_ROWS}
    for member in ("logreg", "rf"):
        assert len(reused[member]) == 10 + 3 and not reused[member] & outer
        assert sum(s.startswith(f"{ALL_ROWS}/") for s in reused[member]) == 3
    # rf's parameters change but its stage has not rerun: its reports and saved fit are of
    # another setting, so the ensemble fits rf itself (and still reuses logreg's).
    other = replace(params, train=replace(params.train, rf={**TINY["rf"], "n_estimators": 7}))
    refit = ensemble_stage(other)
    assert {"fold1", ALL_ROWS} <= refit["rf"]
    assert refit["logreg"] == reused["logreg"]
