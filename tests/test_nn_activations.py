"""Activations: values against references, derivatives against central differences,
and the in-place forms against the pure ones."""

import functools

import numpy as np
import pytest
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from pipeline.nn.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS, get_activation

Z = np.array([[-3.0, -0.5, 0.0, 0.7, 2.5], [1.5, -1.2, 0.3, -4.0, 0.9]])
ELEMENTWISE = ["identity", "logistic", "tanh", "relu", "leaky_relu", "elu"]

REFERENCE = {
    "identity": lambda z: z,
    "logistic": scipy.special.expit,
    "tanh": np.tanh,
    "relu": lambda z: np.where(z > 0, z, 0.0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "elu": lambda z: np.where(z > 0, z, np.exp(z) - 1.0),
    "softmax": lambda z: scipy.special.softmax(z, axis=1),
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_value_matches_reference(name):
    np.testing.assert_allclose(get_activation(name).value(Z), REFERENCE[name](Z), atol=1e-12)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_matches_central_difference(name):
    f = get_activation(name)
    z = Z + 0.05  # keep clear of the kink of relu-type functions at 0
    h = 1e-6
    numeric = (f.value(z + h) - f.value(z - h)) / (2 * h)
    np.testing.assert_allclose(f.derivative(z), numeric, atol=1e-6)


def test_softmax_jacobian_matches_central_difference():
    f = get_activation("softmax")
    h = 1e-6
    numeric = np.empty((Z.shape[0], Z.shape[1], Z.shape[1]))
    for j in range(Z.shape[1]):
        e = np.zeros_like(Z)
        e[:, j] = h
        numeric[:, :, j] = (f.value(Z + e) - f.value(Z - e)) / (2 * h)
    np.testing.assert_allclose(f.derivative(Z), numeric, atol=1e-8)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_in_place_forms_match_pure_ones(name, dtype):
    f = get_activation(name)
    z = (Z + 0.05).astype(dtype)
    a = z.copy()
    f.forward_(a, np.empty_like(a))
    np.testing.assert_allclose(a, f.value(z), rtol=1e-6, atol=1e-7)
    delta = np.linspace(-1, 1, z.size).reshape(z.shape).astype(dtype)
    expected = (
        np.einsum("nj,njk->nk", delta, f.derivative(z))
        if name == "softmax"
        else delta * f.derivative(z)
    )
    f.backward_(delta, a, np.empty_like(a))
    np.testing.assert_allclose(delta, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("name", "alpha"), [("leaky_relu", 0.2), ("elu", 0.5)])
def test_negative_side_parameter(name, alpha):
    f = get_activation(name, alpha)
    z = np.array([[-2.0, 3.0]])
    expected = [-2.0 * alpha, 3.0] if name == "leaky_relu" else [alpha * np.expm1(-2.0), 3.0]
    np.testing.assert_allclose(f.value(z), [expected])


def test_sigmoid_does_not_overflow():
    with np.errstate(all="raise"):
        out = get_activation("logistic").value(np.array([[-1000.0, 1000.0]], np.float32))
    np.testing.assert_array_equal(out, [[0.0, 1.0]])


@pytest.mark.parametrize(("name", "alpha"), [("nope", None), ("leaky_relu", 2.0), ("elu", -1.0)])
def test_bad_names_and_parameters_are_refused(name, alpha):
    with pytest.raises(ValueError):
        get_activation(name, alpha)


def test_hidden_activations_are_registered():
    assert set(HIDDEN_ACTIVATIONS) <= set(ACTIVATIONS)


# --- softmax property -------------------------------------------------------------------
_logits = arrays(
    st.sampled_from([np.float32, np.float64]),
    array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12),
    elements=st.floats(allow_nan=False, allow_infinity=False, width=32),
)


@settings(max_examples=200, deadline=None)
@given(_logits)
def test_softmax_rows_are_distributions_for_any_finite_logits(z):
    f = get_activation("softmax")
    p = f.value(z)
    assert p.shape == z.shape and np.isfinite(p).all()
    assert (p >= 0).all() and (p <= 1).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    # The in-place form, used in training, gives the same distributions.
    inplace = z.copy()
    f.forward_(inplace, np.empty_like(inplace))
    np.testing.assert_allclose(inplace.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 20), st.just(4)),
              elements=st.floats(-1e6, 1e6, allow_nan=False)))
def test_predict_proba_rows_sum_to_one_for_any_finite_input(X):
    proba = _fitted_classifier().predict_proba(X)
    assert proba.shape == (len(X), 3) and np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-9)


@functools.cache
def _fitted_classifier():
    from pipeline.nn import FFNNClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = np.argmax(X[:, :3], axis=1)
    return FFNNClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0).fit(X, y)
