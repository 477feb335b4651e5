"""The model registry: every model fits, predicts class names and follows its parameters."""

import numpy as np
import pytest
from model_tables import TINY, matrix

from pipeline.core.errors import UserError
from pipeline.datasets.classes import CLASSES
from pipeline.models.estimators import (
    EncodedXGBClassifier,
    build_estimator,
    build_models,
    check_model_params,
    model_params,
    resolve_names,
    set_n_jobs,
)
from pipeline.models.registry import fitted_part

# Tiny networks stop before converging, by design.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

MODELS = ["logreg", "ffnn", "rf", "xgb", "ensemble"]


@pytest.fixture(scope="module")
def data():
    return matrix(200)


@pytest.mark.parametrize("name", MODELS)
def test_fits_and_predicts_class_names(data, name):
    X, y = data
    model = build_estimator(name, TINY[name], seed=1, all_params=TINY).fit(X, y)
    pred = model.predict(X)
    proba = model.predict_proba(X)
    assert set(pred) <= set(CLASSES)
    assert proba.shape == (len(X), len(set(y)))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert np.mean(pred == y) > 0.5  # separable synthetic classes are learnt


@pytest.mark.parametrize("name", MODELS)
def test_same_seed_same_predictions(data, name):
    X, y = data
    a = build_estimator(name, TINY[name], seed=3, all_params=TINY).fit(X, y).predict_proba(X)
    b = build_estimator(name, TINY[name], seed=3, all_params=TINY).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)


def test_xgb_accepts_a_subset_of_classes(data):
    X, y = data
    keep = np.isin(y, ["dog_bark", "siren", "gun_shot"])
    model = EncodedXGBClassifier({"n_estimators": 5}, random_state=0).fit(X[keep], y[keep])
    assert list(model.classes_) == ["dog_bark", "gun_shot", "siren"]
    assert set(model.predict(X)) <= {"dog_bark", "gun_shot", "siren"}


def test_params_merge_over_defaults():
    merged = model_params("rf", {"n_estimators": 7})
    assert merged["n_estimators"] == 7 and merged["max_features"] == "sqrt"
    rf = fitted_part(build_estimator("rf", {"n_estimators": 7}, seed=5))
    assert rf.n_estimators == 7 and rf.random_state == 5
    xgb = build_estimator("xgb", {"max_depth": 2}, seed=5)
    assert xgb.params["max_depth"] == 2 and xgb.random_state == 5
    assert xgb._booster_params()["tree_method"] == "hist"


def test_seed_reaches_every_ensemble_member():
    ens = build_estimator("ensemble", TINY["ensemble"], seed=9, all_params=TINY)
    seeds = [m.random_state if not hasattr(m, "steps") else m.steps[-1][1].random_state
             for _, m in ens.estimators]
    assert seeds == [9, 9, 9, 9]


def test_top_columns_keep_the_most_class_dependent_columns():
    from pipeline.models.estimators import top_columns

    rng = np.random.default_rng(0)
    codes = np.repeat(np.arange(3), 40)
    X = rng.normal(size=(120, 6)).astype(np.float32)
    X[:, 4] += 3.0 * codes  # strongly class-dependent
    X[:, 1] += 1.0 * codes  # less so
    X[:, 2] = 7.0  # constant: never chosen while others remain
    assert top_columns(X, codes, 2).tolist() == [1, 4]
    assert 2 not in top_columns(X, codes, 5).tolist()
    assert top_columns(X, codes, None) is None and top_columns(X, codes, 6) is None
    # The forest's step does the same on class names.
    from pipeline.models.estimators import TopFColumns

    names = np.array(["a", "b", "c"], dtype=object)[codes]
    np.testing.assert_array_equal(TopFColumns(2).fit(X, names).transform(X), X[:, [1, 4]])
    assert TopFColumns(None).fit(X, names).transform(X) is X


def test_ensemble_reuses_members_fitted_on_the_same_rows(data):
    X, y = data
    ens = build_estimator("ensemble", {"members": ["logreg", "rf"], "weights": None}, seed=3,
                          all_params=TINY)
    logreg = build_estimator("logreg", TINY["logreg"], seed=3).fit(X, y)
    ens.fit(X, y, fitted={"logreg": logreg})
    assert ens.named_estimators_["logreg"] is logreg  # used as it is, not fitted again
    rf = ens.named_estimators_["rf"]  # absent from `fitted`: fitted here
    assert rf.n_features_in_ == X.shape[1]
    expected = (logreg.predict_proba(X) + rf.predict_proba(X)) / 2
    np.testing.assert_allclose(ens.predict_proba(X), expected)


@pytest.mark.parametrize(
    ("name", "params", "needle"),
    [
        ("svm", None, "unknown model"),
        ("ensemble", {"members": ["logreg", "knn"]}, "members"),
        ("ensemble", {"members": []}, "members"),
        ("ensemble", {"members": ["rf"], "voting": "hard"}, "unknown key"),
        ("xgb", {"top_features": 0}, "top_features"),
        ("rf", {"top_features": -1}, "top_features"),
        ("xgb", {"top_features": "400"}, "top_features"),
    ],
)
def test_bad_model_requests_are_user_errors(name, params, needle):
    with pytest.raises(UserError, match=needle):
        build_estimator(name, params)


@pytest.mark.parametrize(("params", "needle"), [({"min_batches": 0}, "min_batches must be"),
                                               ({"dropout": 1.5}, "dropout must be"),
                                               ({"alpha_rows": 0}, "alpha_rows must be")])
def test_bad_network_parameters_are_one_line_user_errors(params, needle):
    with pytest.raises(UserError, match=f"train.ffnn: invalid parameters: {needle}"):
        check_model_params(["ffnn"], {"ffnn": params}, seed=0)


def test_set_n_jobs_reaches_nested_models():
    models = build_models(["rf", "xgb", "ensemble"], TINY, seed=0)
    for model in models.values():
        set_n_jobs(model, 1)
    assert fitted_part(models["rf"]).n_jobs == 1
    assert models["xgb"].params["n_jobs"] == 1
    rf_member = dict(models["ensemble"].estimators)["rf"]
    assert fitted_part(rf_member).n_jobs == 1


@pytest.mark.parametrize(
    ("choice", "expected"),
    [("all", ["logreg", "rf", "ensemble"]), ("xgb", ["xgb"]), (None, ["logreg", "rf", "ensemble"])],
)
def test_resolve_names(choice, expected):
    assert resolve_names(choice, ("logreg", "rf")) == expected
