"""The model registry: every model fits, predicts class names and follows its parameters."""

import warnings

import numpy as np
import pytest
from model_tables import TINY, matrix

from pipeline.core.errors import UserError
from pipeline.datasets.classes import CLASSES
from pipeline.models.estimators import (
    build_estimator,
    build_models,
    check_model_params,
    fit_with_groups,
    model_params,
    resolve_names,
)
from pipeline.models.parts import EncodedXGBClassifier, top_f_columns
from pipeline.models.registry import fitted_part, set_n_jobs

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
    xgb = fitted_part(build_estimator("xgb", {"max_depth": 2}, seed=5))
    assert xgb.params["max_depth"] == 2 and xgb.random_state == 5
    assert xgb._booster_params()["tree_method"] == "hist"


def test_seed_reaches_every_ensemble_member():
    ens = build_estimator("ensemble", TINY["ensemble"], seed=9, all_params=TINY)
    seeds = [m.random_state if not hasattr(m, "steps") else m.steps[-1][1].random_state
             for _, m in ens.estimators]
    assert seeds == [9, 9, 9, 9]


@pytest.mark.filterwarnings("error")  # the constant column's undefined F warns nothing
def test_top_f_columns_keep_the_most_class_dependent_columns():
    rng = np.random.default_rng(0)
    codes = np.repeat(np.arange(3), 40)
    X = rng.normal(size=(120, 6)).astype(np.float32)
    X[:, 4] += 3.0 * codes  # strongly class-dependent
    X[:, 1] += 1.0 * codes  # less so
    X[:, 2] = 7.0  # constant: never chosen while others remain
    names = np.array(["a", "b", "c"], dtype=object)[codes]
    assert top_f_columns(2).fit(X, names).get_support(indices=True).tolist() == [1, 4]
    assert 2 not in top_f_columns(5).fit(X, codes).get_support(indices=True).tolist()
    np.testing.assert_array_equal(top_f_columns(2).fit(X, names).transform(X), X[:, [1, 4]])
    np.testing.assert_array_equal(top_f_columns(None).fit(X, names).transform(X), X)


def test_columns_without_variance_are_chosen_without_a_warning_even_from_threads():
    # The `threads` scheduler fits side by side in one process. Silencing the note per call
    # (warnings.catch_warnings) swapped the process's filter list, and one thread restored
    # another's: the note reached the terminal in some runs.
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(1)
    codes = np.repeat(np.arange(3), 30)
    X = rng.normal(size=(90, 40))
    X[:, [3, 17]] = 0.0  # no variance at all
    X[:, 5] = codes  # none inside the classes
    top_f_columns(10).fit(X, codes)  # its first call may add its filter, once
    before = list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        with ThreadPoolExecutor(4) as pool:
            chosen = list(pool.map(lambda _: top_f_columns(10).fit(X, codes).get_support(),
                                   range(200)))
        assert not [str(w.message) for w in caught]
    assert warnings.filters == before
    assert all((c == chosen[0]).all() for c in chosen) and chosen[0][5]
    assert not chosen[0][3] and not chosen[0][17]


def test_rf_ffnn_and_xgb_choose_their_columns_with_one_selection(data):
    X, y = data
    for name in ("rf", "ffnn", "xgb"):
        select = build_estimator(name, {**TINY[name], "top_features": 5}, seed=0)[0]
        assert type(select) is type(top_f_columns(5)) and select.k == 5


def test_more_top_features_than_columns_keep_them_all_without_a_warning(data):
    X, y = data
    for name in ("rf", "ffnn", "xgb"):
        model = build_estimator(name, {**TINY[name], "top_features": X.shape[1] + 1}, seed=0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(X, y)
        assert not [str(w.message) for w in caught], name
        assert model[0].get_support().all() and model[0].k == X.shape[1] + 1
        assert model.predict_proba(X).shape == (len(X), len(set(y)))


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
def test_bad_network_parameters_are_one_line_user_errors_at_the_first_fit(data, params,
                                                                           needle):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no made-up data is fitted, so nothing warns
        check_model_params(["ffnn"], {"ffnn": params}, seed=0)
    with pytest.raises(UserError, match=f"^train.ffnn: invalid parameters: {needle}"):
        fit_with_groups(build_estimator("ffnn", params, seed=0), X, y)


@pytest.mark.parametrize(("name", "params", "needle"),
                         [("rf", {"n_estimators": -1}, "'n_estimators'"),
                          ("xgb", {"tree_method": "sideways"}, "sideways")])  # XGBoostError
def test_a_bad_library_parameter_names_the_model_and_key(data, name, params, needle):
    X, y = data
    with pytest.raises(UserError, match=f"^train.{name}: invalid parameters: .*{needle}"):
        fit_with_groups(build_estimator(name, params, seed=0), X, y)


def test_set_n_jobs_reaches_nested_models():
    models = build_models(["rf", "xgb", "ensemble"], TINY, seed=0)
    for model in models.values():
        set_n_jobs(model, 1)
    assert fitted_part(models["rf"]).n_jobs == 1
    assert fitted_part(models["xgb"]).params["n_jobs"] == 1
    rf_member = dict(models["ensemble"].estimators)["rf"]
    assert fitted_part(rf_member).n_jobs == 1


@pytest.mark.parametrize(
    ("choice", "expected"),
    [("all", ["logreg", "rf", "ensemble"]), ("xgb", ["xgb"]), (None, ["logreg", "rf", "ensemble"])],
)
def test_resolve_names(choice, expected):
    assert resolve_names(choice, ("logreg", "rf")) == expected
