"""Optimisers recomputed by hand for two steps; schedules and initialisers checked."""

import math

import numpy as np
import pytest

from pipeline.nn.initializers import INITIALIZERS, get_initializer
from pipeline.nn.optimizers import get_optimizer
from pipeline.nn.schedules import Schedule, step_decay

W0 = [1.0, -2.0]
G1 = [0.5, 1.0]
G2 = [-1.0, 0.25]
LR = 0.1

# Expected weights after step 1 and step 2, worked by hand (see the comments).
HAND = {
    # w ← w − η g
    "sgd": ([0.95, -2.1], [1.05, -2.125]),
    # v1 = η g1 = (0.05, 0.1); v2 = 0.9 v1 + η g2 = (−0.055, 0.115); w ← w − v
    "momentum": ([0.95, -2.1], [1.005, -2.215]),
    # w1 = w0 − (0.9 v1 + η g1) = w0 − (0.095, 0.19)
    # w2 = w1 − (0.9 v2 + η g2) = w1 − (−0.1495, 0.1285)
    "nesterov": ([0.905, -2.19], [1.0545, -2.3185]),
    # G1 = g1² ⇒ step η·sign(g1); G2 = (1.25, 1.0625) ⇒ w2 = w1 − η g2 / √G2
    "adagrad": ([0.9, -2.1], [0.9 + 0.1 / math.sqrt(1.25), -2.1 - 0.025 / math.sqrt(1.0625)]),
    # G1 = 0.1 g1² = (0.025, 0.1); G2 = 0.9 G1 + 0.1 g2² = (0.1225, 0.09625)
    "rmsprop": (
        [1 - 0.05 / math.sqrt(0.025), -2 - 0.1 / math.sqrt(0.1)],
        [
            1 - 0.05 / math.sqrt(0.025) + 0.1 / 0.35,
            -2 - 0.1 / math.sqrt(0.1) - 0.025 / math.sqrt(0.09625),
        ],
    ),
    # t=1: m = 0.1 g1, v = 0.001 g1², η_1 = η √0.001 / 0.1 ⇒ step η·sign(g1).
    # t=2: m = (−0.055, 0.115), v = (0.00124975, 0.0010615), η_2 = η √(1 − 0.999²) / 0.19
    "adam": (
        [0.9, -2.1],
        [
            0.9 + 0.1 * math.sqrt(1 - 0.999**2) / 0.19 * 0.055 / math.sqrt(0.00124975),
            -2.1 - 0.1 * math.sqrt(1 - 0.999**2) / 0.19 * 0.115 / math.sqrt(0.0010615),
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(HAND))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_two_steps_by_hand(name, dtype):
    opt = get_optimizer(name, momentum=0.9 if name != "sgd" else 0.0, rho=0.9, epsilon=1e-12)
    w = np.array(W0, dtype)
    opt.step(w, np.array(G1, dtype), LR)
    np.testing.assert_allclose(w, HAND[name][0], rtol=1e-5)
    opt.step(w, np.array(G2, dtype), LR)
    np.testing.assert_allclose(w, HAND[name][1], rtol=1e-5)
    assert w.dtype == dtype and opt.t == 2


@pytest.mark.parametrize(
    ("momentum", "nesterov", "expected"),
    [(0.0, True, "sgd"), (0.9, False, "momentum"), (0.9, True, "nesterov")],
)
def test_sgd_name_follows_scikit_learn(momentum, nesterov, expected):
    opt = get_optimizer("sgd", momentum=momentum, nesterovs_momentum=nesterov)
    assert opt.name == expected


def test_unknown_solver_is_refused():
    with pytest.raises(ValueError, match="unknown solver"):
        get_optimizer("lbfgs")


@pytest.mark.parametrize(
    ("name", "kwargs", "i", "expected"),
    [
        ("constant", {}, 50, 0.1),
        ("step", {"decay": 0.5}, 4, 0.1 / 3),  # η₀ / (1 + 4 · 0.5)
        ("exponential", {"decay": 0.5}, 2, 0.1 * math.exp(-1)),
        ("cosine", {"total": 10}, 5, 0.05),  # half-way: ½ η₀
        ("cosine", {"total": 10, "lr_min": 0.02}, 10, 0.02),
        ("cosine", {"total": 10}, 20, 0.0),  # past the end it stays at the floor
        ("step", {"decay": 0.5, "warmup": 4}, 1, 0.1 / 1.5 * 2 / 4),  # ramp-up factor (i+1)/4
        ("constant", {"warmup": 4}, 4, 0.1),
    ],
)
def test_schedules(name, kwargs, i, expected):
    assert Schedule(name, lr0=0.1, **kwargs)(i) == pytest.approx(expected)


def test_step_decay_equation():
    assert step_decay(10, lr0=1.0, decay=0.1) == pytest.approx(0.5)


def test_unknown_schedule_is_refused():
    with pytest.raises(ValueError, match="learning_rate"):
        Schedule("invscaling", lr0=0.1)


@pytest.mark.parametrize(
    ("name", "variance"),
    [
        ("glorot_normal", 2 / (400 + 200)),
        ("glorot_uniform", 2 / (400 + 200)),
        ("he_normal", 2 / 400),
        ("he_uniform", 2 / 400),
    ],
)
def test_initializer_variance_and_range(name, variance):
    W = INITIALIZERS[name](400, 200, rng=np.random.default_rng(0), dtype=np.float32)
    assert W.shape == (400, 200) and W.dtype == np.float32
    assert W.var() == pytest.approx(variance, rel=0.03)
    assert abs(W.mean()) < 0.01 * math.sqrt(variance) * 10
    if name.endswith("uniform"):
        assert np.abs(W).max() <= math.sqrt(3 * variance)


@pytest.mark.parametrize(
    ("activation", "expected"), [("relu", "he_uniform"), ("tanh", "glorot_uniform")]
)
def test_auto_init(activation, expected):
    assert get_initializer("auto", activation) is INITIALIZERS[expected]
