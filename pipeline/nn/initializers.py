"""Weight initialisers: Glorot/Xavier and He, normal and uniform.

Glorot keeps the variance of activations and gradients equal across a layer for
symmetric, roughly linear activations (tanh, logistic): Var W = 2 / (fan_in + fan_out).
He compensates for ReLU zeroing half its inputs: Var W = 2 / fan_in. The uniform variants
draw from [−L, L] with L = √(3 Var). Biases start at zero.
"""

from __future__ import annotations

import numpy as np

from pipeline.nn.exceptions import NetworkParamsError


def glorot_normal(fan_in, fan_out, *, rng, dtype=np.float32):
    """W ~ N(0, 2 / (fan_in + fan_out)), shape ``(fan_in, fan_out)``."""
    std = np.sqrt(2.0 / (fan_in + fan_out))
    return (rng.standard_normal((fan_in, fan_out)) * std).astype(dtype)


def glorot_uniform(fan_in, fan_out, *, rng, dtype=np.float32):
    """W ~ U(−L, L), L = √(6 / (fan_in + fan_out)), shape ``(fan_in, fan_out)``."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, (fan_in, fan_out)).astype(dtype)


def he_normal(fan_in, fan_out, *, rng, dtype=np.float32):
    """W ~ N(0, 2 / fan_in), shape ``(fan_in, fan_out)``."""
    std = np.sqrt(2.0 / fan_in)
    return (rng.standard_normal((fan_in, fan_out)) * std).astype(dtype)


def he_uniform(fan_in, fan_out, *, rng, dtype=np.float32):
    """W ~ U(−L, L), L = √(6 / fan_in), shape ``(fan_in, fan_out)``."""
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, (fan_in, fan_out)).astype(dtype)


INITIALIZERS = {
    "glorot_normal": glorot_normal,
    "glorot_uniform": glorot_uniform,
    "xavier_normal": glorot_normal,
    "xavier_uniform": glorot_uniform,
    "he_normal": he_normal,
    "he_uniform": he_uniform,
}
_RELU_FAMILY = ("relu", "leaky_relu", "elu")


def get_initializer(name, activation):
    """Look up an initialiser; ``"auto"`` is He for the ReLU family, Glorot otherwise (uniform)."""
    if name == "auto":
        name = "he_uniform" if activation in _RELU_FAMILY else "glorot_uniform"
    if name not in INITIALIZERS:
        choices = sorted(INITIALIZERS) + ["auto"]
        raise NetworkParamsError(f"unknown init {name!r}; choose one of {choices}")
    return INITIALIZERS[name]
