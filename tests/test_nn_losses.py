"""Losses against scikit-learn/scipy, and the fused in-place step against the pure forms."""

import numpy as np
import pytest
import scipy.special
from sklearn.metrics import log_loss, mean_squared_error

from pipeline.nn.losses import LOSSES, get_loss, output_delta

rng = np.random.default_rng(3)
Z = rng.normal(0, 2, (7, 4))
LABELS = np.array([0, 1, 2, 3, 1, 0, 2])
ONE_HOT = np.eye(4)[LABELS]


def test_softmax_cross_entropy_matches_sklearn_log_loss():
    p = scipy.special.softmax(Z, axis=1)
    assert get_loss("cross_entropy").value(ONE_HOT, p) == pytest.approx(log_loss(LABELS, p))


def test_binary_cross_entropy_matches_sklearn_log_loss():
    y = (LABELS % 2).astype(float).reshape(-1, 1)
    p = scipy.special.expit(Z[:, :1])
    assert get_loss("binary_cross_entropy").value(y, p) == pytest.approx(log_loss(y[:, 0], p[:, 0]))


def test_squared_error_is_half_the_summed_mse():
    y = rng.normal(size=(7, 2))
    y_hat = rng.normal(size=(7, 2))
    expected = 0.5 * 2 * mean_squared_error(y, y_hat)  # ½ mean over rows of ‖·‖²
    assert get_loss("squared_error").value(y, y_hat) == pytest.approx(expected)


def _targets(name, z):
    if name == "cross_entropy":
        return ONE_HOT, z
    if name == "binary_cross_entropy":
        return (LABELS % 2).astype(float).reshape(-1, 1), z[:, :1]
    return rng.normal(size=(7, 2)), z[:, :2]


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_delta_is_the_gradient_of_the_mean_loss(name):
    loss = get_loss(name)
    from pipeline.nn.activations import get_activation

    y, z = _targets(name, Z)
    link = get_activation(loss.output_activation)
    h = 1e-6
    numeric = np.empty_like(z)
    for idx in np.ndindex(z.shape):
        e = np.zeros_like(z)
        e[idx] = h
        up, down = loss.value(y, link.value(z + e)), loss.value(y, link.value(z - e))
        numeric[idx] = (up - down) / (2 * h)
    np.testing.assert_allclose(loss.delta(y, link.value(z)), numeric, atol=1e-7)
    np.testing.assert_allclose(output_delta(y, link.value(z)), numeric, atol=1e-7)


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_step_matches_pure_forms(name, dtype):
    from pipeline.nn.activations import get_activation

    loss = get_loss(name)
    y, z = _targets(name, Z)
    y, z = y.astype(dtype), np.array(z, dtype=dtype)
    y_hat = get_activation(loss.output_activation).value(z.astype(np.float64))
    work = z.copy()
    summed = loss.output_(work, y, 1.0 / len(y))
    assert summed / len(y) == pytest.approx(loss.value(y.astype(np.float64), y_hat), rel=1e-5)
    np.testing.assert_allclose(work, loss.delta(y, y_hat), rtol=1e-4, atol=1e-6)


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    z = np.array([[1000.0, 0.0, -1000.0]])
    summed = get_loss("cross_entropy").output_(z, np.array([[0.0, 1.0, 0.0]]), 1.0)
    assert summed == pytest.approx(1000.0)
    np.testing.assert_allclose(z, [[1.0, -1.0, 0.0]])


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="unknown loss"):
        get_loss("hinge")
