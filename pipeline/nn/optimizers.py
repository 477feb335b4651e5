"""Optimisers: each owns its state and updates the parameters in place.

The network keeps every weight and bias in one flat vector, so an optimiser sees a single
array ``w`` and its gradient ``g`` (same shape) and runs a handful of whole-array numpy
operations per step, independent of the number of layers. ``step(w, g, lr)`` takes the
learning rate from the schedule each time.

Update rules (g = ∇C, η = learning rate):

* SGD:       w ← w − η g
* momentum:  v ← μ v + η g;  w ← w − v
* Nesterov:  v ← μ v + η g;  w ← w − (μ v + η g)   (the look-ahead step, rewritten so the
  gradient is taken at the current w)
* AdaGrad:   G ← G + g²;  w ← w − η g / (√G + ε)
* RMSprop:   G ← ρ G + (1 − ρ) g²;  w ← w − η g / (√G + ε)
* Adam:      m ← β₁ m + (1 − β₁) g;  v ← β₂ v + (1 − β₂) g²;
  η_t = η √(1 − β₂ᵗ) / (1 − β₁ᵗ);  w ← w − η_t m / (√v + ε)
  (the bias corrections folded into η_t, as in Kingma & Ba's Algorithm 1 remark)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pipeline.nn.exceptions import NetworkParamsError


def sgd_update(w, g, *, lr, scratch):
    """w ← w − η g, in place."""
    np.multiply(g, lr, out=scratch)
    w -= scratch


def momentum_update(w, g, v, *, lr, mu, scratch):
    """v ← μ v + η g; w ← w − v, in place."""
    v *= mu
    np.multiply(g, lr, out=scratch)
    v += scratch
    w -= v


def nesterov_update(w, g, v, *, lr, mu, scratch):
    """v ← μ v + η g; w ← w − (μ v + η g), in place."""
    v *= mu
    np.multiply(g, lr, out=scratch)
    v += scratch
    w -= scratch
    np.multiply(v, mu, out=scratch)
    w -= scratch


def adagrad_update(w, g, cache, *, lr, eps, scratch):
    """G ← G + g²; w ← w − η g / (√G + ε), in place."""
    np.multiply(g, g, out=scratch)
    cache += scratch
    _scaled_step(w, g, cache, lr=lr, eps=eps, scratch=scratch)


def rmsprop_update(w, g, cache, *, lr, rho, eps, scratch):
    """G ← ρ G + (1 − ρ) g²; w ← w − η g / (√G + ε), in place."""
    cache *= rho
    np.multiply(g, g, out=scratch)
    scratch *= 1.0 - rho
    cache += scratch
    _scaled_step(w, g, cache, lr=lr, eps=eps, scratch=scratch)


def adam_update(w, g, m, v, *, t, lr, beta_1, beta_2, eps, scratch):
    """One Adam step (t counts from 1), in place on ``w``, ``m`` and ``v``.

    The moments are kept unnormalised to save two passes over the parameters:
    ``m = m_Adam / (1 − β₁)`` and ``v = v_Adam / (1 − β₂)``, so they update as
    m ← β₁ m + g and v ← β₂ v + g², and the constant factors move into η_t and ε:
    η_t m_Adam / (√v_Adam + ε) = [η_t (1 − β₁)/√(1 − β₂)] m / (√v + ε/√(1 − β₂)).
    """
    m *= beta_1
    m += g
    np.multiply(g, g, out=scratch)
    v *= beta_2
    v += scratch
    # Python floats (math, not numpy): a numpy float64 scalar is not "weak" under NumPy 2's
    # promotion rules, so it would run every float32 update through a float64 loop (8× slower).
    root = math.sqrt(1.0 - beta_2)
    lr_t = lr * math.sqrt(1.0 - beta_2**t) / (1.0 - beta_1**t) * (1.0 - beta_1) / root
    _scaled_step(w, m, v, lr=lr_t, eps=eps / root, scratch=scratch)


def _scaled_step(w, num, sq, *, lr, eps, scratch):
    # w ← w − η num / (√sq + ε) with one scratch array.
    np.sqrt(sq, out=scratch)
    scratch += eps
    np.divide(num, scratch, out=scratch)
    scratch *= lr
    w -= scratch


@dataclass(frozen=True)
class Rule:
    """An update rule: ``update(w, g, *states, lr=, scratch=, **hyper)`` works in place.

    ``hyper`` names its hyper-parameters (in ``update``'s keyword order), ``states`` the
    arrays it keeps (shaped like ``w``); ``counts_steps``: it also takes the step ``t``.
    """

    update: Callable
    hyper: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    counts_steps: bool = False


RULES = {
    "sgd": Rule(sgd_update),
    "momentum": Rule(momentum_update, ("mu",), ("velocity",)),
    "nesterov": Rule(nesterov_update, ("mu",), ("velocity",)),
    "adagrad": Rule(adagrad_update, ("eps",), ("cache",)),
    "rmsprop": Rule(rmsprop_update, ("rho", "eps"), ("cache",)),
    "adam": Rule(adam_update, ("beta_1", "beta_2", "eps"), ("m", "v"), counts_steps=True),
}
OPTIMIZERS = tuple(RULES)


class Optimizer:
    """One rule of :data:`RULES` with its hyper-parameters and state.

    State arrays are created on the first ``step``, shaped like ``w``.
    """

    def __init__(self, name, **hyper):
        self.name, self.rule = name, RULES[name]
        # Python floats: a numpy scalar would promote float32 updates to float64.
        self.hyper = {k: float(hyper[k]) for k in self.rule.hyper}
        self.state = dict.fromkeys(self.rule.states)
        self.t = 0
        self._scratch = None

    def step(self, w, g, lr):
        """Update ``w`` in place from its gradient ``g`` with learning rate ``lr``."""
        self.t += 1
        if self._scratch is None or self._scratch.shape != w.shape:
            self._scratch = np.empty_like(w)
        for key, array in self.state.items():
            if array is None:
                self.state[key] = np.zeros_like(w)
        steps = {"t": self.t} if self.rule.counts_steps else {}
        self.rule.update(w, g, *self.state.values(), lr=lr, scratch=self._scratch,
                         **self.hyper, **steps)

    def __getstate__(self):
        # The scratch buffer is not state; don't carry it into pickles.
        return self.__dict__ | {"_scratch": None}

    def __repr__(self):
        args = ", ".join(f"{k}={v}" for k, v in self.hyper.items())
        return f"Optimizer({self.name!r}{', ' if args else ''}{args})"


def get_optimizer(name, *, momentum=0.9, nesterovs_momentum=True, beta_1=0.9, beta_2=0.999,
                  epsilon=1e-8, rho=0.9):
    """Build an optimiser from its name and the estimator's hyper-parameters.

    ``"sgd"`` follows scikit-learn: plain SGD when ``momentum == 0``, otherwise momentum,
    Nesterov's when ``nesterovs_momentum``. ``"momentum"`` and ``"nesterov"`` pick the
    variant explicitly.
    """
    if name == "sgd" and momentum > 0:
        name = "nesterov" if nesterovs_momentum else "momentum"
    if name not in RULES:
        raise NetworkParamsError(f"unknown solver {name!r}; choose one of {sorted(RULES)}")
    return Optimizer(name, mu=momentum, rho=rho, eps=epsilon, beta_1=beta_1, beta_2=beta_2)
