"""The network's input steps: the piecewise-linear codes of its strongest inputs (the codes,
the columns they choose, the registry's parameters, the saved model) and its scalers."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.preprocessing import QuantileTransformer

from pipeline.core.errors import UserError
from pipeline.models.estimators import build_estimator, model_params
from pipeline.models.network_inputs import (
    PiecewiseLinearCodes,
    input_scaler,
    scaler_from_record,
    scaler_record,
)
from pipeline.models.persist import load_model, save_model


def labelled_table(n=400, d=12, seed=0):
    """Rows whose class shows in column 3 only (the other columns are noise)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, d))
    X[:, 3] += 1.5 * y
    return X, y


def test_the_ranges_hold_equal_shares_of_the_training_rows():
    X, y = labelled_table()
    codes = PiecewiseLinearCodes(k=1, bins=4).fit(X, y)
    assert codes.columns_.tolist() == [3]  # the one informative column
    out = codes.transform(X)
    assert out.shape == (len(X), 4) and out.min() >= -0.5 and out.max() <= 0.5
    # A row is inside range b when its codes below b are full and those above b empty:
    # the training rows fall a quarter into each.
    inside = ((out > -0.5) & (out < 0.5)).sum(axis=0)
    np.testing.assert_allclose(inside / len(X), 0.25, atol=0.01)


def test_codes_follow_the_value_through_its_ranges():
    X = np.repeat(np.arange(9.0)[:, None], 2, axis=1)  # quantiles 0, 2, 4, 6, 8
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1])
    codes = PiecewiseLinearCodes(k=1, bins=4).fit(X, y)
    probe = np.repeat([[-5.0], [2.0], [5.0], [7.0], [99.0]], 2, axis=1)  # either column coded
    np.testing.assert_allclose(codes.transform(probe), [
        [-0.5, -0.5, -0.5, -0.5],   # below the training range
        [0.5, -0.5, -0.5, -0.5],    # at the first inner quantile: the first range is full
        [0.5, 0.5, 0.0, -0.5],      # half way through the third range
        [0.5, 0.5, 0.5, 0.0],       # half way through the last
        [0.5, 0.5, 0.5, 0.5],       # above the training range
    ])


def test_the_code_sum_rises_with_the_value():
    X, y = labelled_table()
    codes = PiecewiseLinearCodes(k=2, bins=8).fit(X, y)
    grid = np.zeros((200, X.shape[1]))
    grid[:, codes.columns_] = np.linspace(-9, 9, 200)[:, None]
    sums = codes.transform(grid).reshape(200, 2, 8).sum(axis=2)
    assert np.all(np.diff(sums, axis=0) >= 0) and sums[0, 0] == -4 and sums[-1, 0] == 4


def test_a_constant_column_steps_instead_of_dividing_by_zero():
    X, y = labelled_table(d=4)
    X[:, 1] = 7.0
    codes = PiecewiseLinearCodes(k=4, bins=4).fit(X, y)
    out = codes.transform(np.array([[0.0, 6.0, 0.0, 0.0], [0.0, 8.0, 0.0, 0.0]]))
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(out[:, 4:8], [[-0.5] * 4, [0.5] * 4])


def test_k_beyond_the_width_codes_every_column_and_a_wrong_width_is_refused():
    X, y = labelled_table(d=5)
    codes = PiecewiseLinearCodes(k=50, bins=3).fit(X, y)
    assert codes.columns_.tolist() == [0, 1, 2, 3, 4]
    assert codes.transform(X).shape == (len(X), 15)
    with pytest.raises(ValueError, match="expected 5 columns"):
        codes.transform(X[:, :4])


@pytest.mark.parametrize("bad, message", [
    ({"coded_columns": -1}, "coded_columns must be an integer >= 0"),
    ({"coded_columns": 2.5}, "coded_columns must be an integer >= 0"),
    ({"coded_columns": True}, "coded_columns must be an integer >= 0"),
    ({"code_bins": 1}, "code_bins must be an integer >= 2"),
    ({"code_bins": "8"}, "code_bins must be an integer >= 2"),
])
def test_bad_code_parameters_are_one_user_error(bad, message):
    with pytest.raises(UserError, match=message):
        build_estimator("ffnn", model_params("ffnn", bad), seed=0)


def test_no_coded_columns_means_the_scaled_columns_alone():
    model = build_estimator("ffnn", model_params("ffnn", {"coded_columns": 0}), seed=0)
    assert [name for name, _ in model.steps] == ["select", "scale", "clf"]
    model = build_estimator("ffnn", model_params("ffnn", {}), seed=0)
    assert [name for name, _ in model.steps] == ["select", "inputs", "clf"]


def small_network():
    X, y = labelled_table(n=300, d=30)
    labels = np.array(["air", "dog", "gun"])[y]
    params = model_params("ffnn", {"top_features": 20, "coded_columns": 4, "code_bins": 5,
                                    "max_iter": 3})
    return build_estimator("ffnn", params, seed=1).fit(X, labels), X


def test_the_network_takes_the_scaled_columns_and_their_codes(tmp_path):
    model, X = small_network()
    assert model[-1].n_features_in_ == 20 + 4 * 5
    inputs = model.named_steps["inputs"].transform(model.named_steps["select"].transform(X))
    scaled = model.named_steps["inputs"].named_transformers["scale"].transform(
        model.named_steps["select"].transform(X))
    np.testing.assert_allclose(inputs[:, :20], scaled, rtol=1e-6)


def test_a_saved_network_keeps_its_codes(tmp_path):
    model, X = small_network()
    desc = save_model(model, "ffnn", tmp_path)
    assert len(desc["codes"]["columns"]) == 4 and len(desc["codes"]["edges"][0]) == 6
    loaded = load_model("ffnn", tmp_path)
    assert [name for name, _ in loaded.steps] == ["select", "inputs", "clf"]
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize("change", [
    lambda codes: codes["columns"].pop(),             # a column short of the network's inputs
    lambda codes: codes["columns"].__setitem__(0, 99),  # a column the selection does not give
    lambda codes: codes["edges"][0].append(1.0),      # ragged edges
    lambda codes: codes["edges"][0].__setitem__(0, "x"),
    lambda codes: codes.clear(),
])
def test_a_corrupt_codes_record_is_one_user_error(tmp_path, change):
    model, _ = small_network()
    save_model(model, "ffnn", tmp_path)
    path = tmp_path / "ffnn.json"
    desc = json.loads(path.read_text())
    change(desc["codes"])
    path.write_text(json.dumps(desc))
    with pytest.raises(UserError, match="piecewise-linear codes do not fit"):
        load_model("ffnn", tmp_path)


@pytest.mark.parametrize("scaling", ["standard", "quantile"])
def test_the_network_scaler_survives_clone_and_its_record(scaling):
    X = np.random.default_rng(1).normal(size=(120, 3))
    scaler = input_scaler(scaling)
    fitted = clone(scaler).fit(X)
    again = scaler_from_record(scaler_record(fitted))
    assert type(again) is type(scaler)
    np.testing.assert_array_equal(again.transform(X), fitted.transform(X))


def test_the_quantile_scaling_is_scikit_learns_onto_a_normal():
    scaler = input_scaler("quantile")
    assert isinstance(scaler, QuantileTransformer)
    assert scaler.output_distribution == "normal" and scaler.subsample is None


def test_the_quantile_scaling_of_fewer_rows_than_quantiles_warns_nothing():
    # An inner fold of a small set: 36 rows against 100 quantiles (the whole-run tests
    # standardise instead, so this is the check that a small run stays quiet).
    X = np.random.default_rng(2).normal(size=(36, 3))
    scaler = clone(input_scaler("quantile"))
    assert scaler.n_quantiles > len(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = scaler.fit(X).transform(X)
    assert np.isfinite(out).all() and scaler.n_quantiles > len(X)  # given parameters kept
