"""Back-propagation: central-difference gradient checks for every hidden activation × loss,
one step worked by hand, and the flat parameter layout."""

import numpy as np
import pytest

from pipeline.nn.activations import HIDDEN_ACTIVATIONS, get_activation
from pipeline.nn.losses import LOSSES
from pipeline.nn.network import (
    Network,
    add_l2_gradient,
    backprop_delta,
    l2_penalty,
    layer_forward,
    layer_gradients,
)

N_OUT = {"cross_entropy": 3, "binary_cross_entropy": 1, "squared_error": 2}


def _tiny(activation, loss, *, hidden=(5, 3), alpha=0.05, seed=0):
    rng = np.random.default_rng(seed)
    sizes = [4, *hidden, N_OUT[loss]]
    coefs = [rng.normal(0, 0.8, (a, b)) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    intercepts = [rng.normal(0, 0.3, b) for b in sizes[1:]]
    net = Network(coefs, intercepts, activation=activation, loss=loss, alpha=alpha)
    X = rng.normal(size=(6, 4))
    if loss == "cross_entropy":
        Y = np.eye(3)[rng.integers(0, 3, 6)]
    elif loss == "binary_cross_entropy":
        Y = rng.integers(0, 2, (6, 1)).astype(float)
    else:
        Y = rng.normal(size=(6, 2))
    return net, X, Y


@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("activation", [a for a in HIDDEN_ACTIVATIONS if a != "sigmoid"])
def test_gradient_matches_central_differences(activation, loss):
    net, X, Y = _tiny(activation, loss)
    summed = net.backward(X, Y)
    analytic = net.grads.copy()
    assert summed / len(X) + l2_penalty(net.weights, alpha=net.alpha) == pytest.approx(
        net.objective(X, Y), rel=1e-12
    )
    h = 1e-6
    numeric = np.empty_like(analytic)
    for i in range(net.params.size):
        old = net.params[i]
        net.params[i] = old + h
        up = net.objective(X, Y)
        net.params[i] = old - h
        down = net.objective(X, Y)
        net.params[i] = old
        numeric[i] = (up - down) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_no_hidden_layer_gradient(loss):
    net, X, Y = _tiny("relu", loss, hidden=())
    net.backward(X, Y)
    h = 1e-6
    i = net.n_weights - 1
    old = net.params[i]
    net.params[i] = old + h
    up = net.objective(X, Y)
    net.params[i] = old - h
    down = net.objective(X, Y)
    assert net.grads[i] == pytest.approx((up - down) / (2 * h), rel=1e-6)


def test_one_step_worked_by_hand():
    # x = (1, 2); hidden: one ReLU unit, W1 = (0.1, 0.2)ᵀ, b1 = 0 ⇒ z1 = 0.5, a1 = 0.5.
    # output: W2 = (0.3, −0.3), b2 = (0, 0.1) ⇒ z2 = (0.15, −0.05), softmax, target class 0.
    # p0 = 1 / (1 + e^{−0.2}) = 0.549834, loss = −ln p0 = 0.598139.
    # δ2 = p − y = (−0.450166, 0.450166); ∂W2 = a1 δ2 = (−0.225083, 0.225083); ∂b2 = δ2.
    # δ1 = δ2 W2ᵀ · relu′(0.5) = 0.3 (−0.450166) − 0.3 (0.450166) = −0.270100.
    # ∂W1 = xᵀ δ1 = (−0.270100, −0.540199)ᵀ; ∂b1 = −0.270100.
    net = Network(
        [np.array([[0.1], [0.2]]), np.array([[0.3, -0.3]])],
        [np.array([0.0]), np.array([0.0, 0.1])],
        activation="relu", loss="cross_entropy",
    )
    loss = net.backward(np.array([[1.0, 2.0]]), np.array([[1.0, 0.0]]))
    assert loss == pytest.approx(0.598139, abs=1e-6)
    np.testing.assert_allclose(net.grad_coefs[1], [[-0.225083, 0.225083]], atol=1e-6)
    np.testing.assert_allclose(net.grad_intercepts[1], [-0.450166, 0.450166], atol=1e-6)
    np.testing.assert_allclose(net.grad_coefs[0], [[-0.270100], [-0.540199]], atol=1e-6)
    np.testing.assert_allclose(net.grad_intercepts[0], [-0.270100], atol=1e-6)
    # One plain SGD step with η = 0.1: W1 ← W1 − η ∂W1.
    net.params -= 0.1 * net.grads
    np.testing.assert_allclose(net.coefs[0], [[0.1270100], [0.2540199]], atol=1e-6)


def test_equation_functions_by_hand():
    a = np.array([[1.0, -1.0]])
    W = np.array([[2.0, 0.0], [1.0, 3.0]])
    z = layer_forward(a, W, np.array([0.5, -0.5]), out=np.empty((1, 2)))
    np.testing.assert_allclose(z, [[1.5, -3.5]])  # (2 − 1 + 0.5, 0 − 3 − 0.5)
    gW, gb = np.empty((2, 2)), np.empty(2)
    layer_gradients(a, np.array([[1.0, 2.0]]), gW=gW, gb=gb)
    np.testing.assert_allclose(gW, [[1.0, 2.0], [-1.0, -2.0]])
    np.testing.assert_allclose(gb, [1.0, 2.0])
    a_prev = np.array([[0.7, 0.0]])  # ReLU outputs: the second unit is off
    d = backprop_delta(np.array([[1.0, 2.0]]), W, a_prev, get_activation("relu"),
                       out=np.empty((1, 2)), scratch=np.empty((1, 2)))
    np.testing.assert_allclose(d, [[2.0, 0.0]])  # (1·2 + 2·0, (1·1 + 2·3)·0)
    g = np.ones(2)
    add_l2_gradient(g, np.array([1.0, -2.0]), alpha=0.25, scratch=np.empty(2))
    np.testing.assert_allclose(g, [1.5, 0.0])  # g + 2λW
    assert l2_penalty(np.array([1.0, -2.0]), alpha=0.25) == pytest.approx(1.25)


def test_layer_arrays_are_views_of_the_flat_vectors():
    net, X, Y = _tiny("tanh", "cross_entropy")
    net.params[:] = 0.0
    assert all(not W.any() for W in net.coefs + net.intercepts)
    net.backward(X, Y)
    assert np.shares_memory(net.grad_coefs[0], net.grads)
    assert net.n_weights == sum(W.size for W in net.coefs)


def test_float32_backward_matches_float64():
    net64, X, Y = _tiny("relu", "cross_entropy")
    net32 = Network(
        [W.astype(np.float32) for W in net64.coefs],
        [b.astype(np.float32) for b in net64.intercepts],
        activation="relu", loss="cross_entropy", alpha=net64.alpha,
    )
    net64.backward(X, Y)
    net32.backward(X.astype(np.float32), Y.astype(np.float32))
    assert net32.grads.dtype == np.float32
    np.testing.assert_allclose(net32.grads, net64.grads, rtol=1e-4, atol=1e-5)


def _dropout_net(activation, masks_seed, p=0.4):
    net, X, Y = _tiny(activation, "cross_entropy", alpha=0.0)
    return Network(net.coefs, net.intercepts, activation=activation, loss="cross_entropy",
                   dropout=p, rng=np.random.default_rng(masks_seed)), X, Y


@pytest.mark.parametrize("activation", ["relu", "tanh", "elu"])
def test_dropout_gradient_matches_central_differences_under_the_same_masks(activation):
    net, X, Y = _dropout_net(activation, masks_seed=5)
    net.backward(X, Y)
    analytic = net.grads.copy()

    def loss_at(params):
        # A fresh network with the same mask seed draws the same masks.
        other, _, _ = _dropout_net(activation, masks_seed=5)
        other.params[:] = params
        return other.backward(X, Y) / len(X)

    h, p0 = 1e-6, net.params.copy()
    numeric = np.empty_like(p0)
    for i in range(p0.size):
        step = np.zeros_like(p0)
        step[i] = h
        numeric[i] = (loss_at(p0 + step) - loss_at(p0 - step)) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def test_dropout_masks_drop_about_p_and_scale_the_rest():
    net, X, Y = _dropout_net("relu", masks_seed=1, p=0.25)
    mask = np.empty((4000, 5))
    net._draw_mask(mask)
    assert set(np.unique(mask)) == {0.0, 1 / 0.75}
    assert (mask == 0).mean() == pytest.approx(0.25, abs=0.02)
    # Inference is the plain forward pass: no mask, the same output every time.
    np.testing.assert_array_equal(net.forward(X), net.forward(X))
