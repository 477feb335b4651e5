"""Activation functions: value, derivative, and the in-place forms the network uses.

Each activation offers two faces:

* ``value(z)`` and ``derivative(z)`` are pure functions of the pre-activation ``z``
  (shape ``(n, k)``); they are the reference the tests check against.
* ``forward_(z, scratch)`` overwrites ``z`` with ``f(z)``, and ``backward_(delta, a, scratch)``
  multiplies ``delta`` in place by ``f'(z)`` *expressed through the output* ``a = f(z)``.
  Using ``a`` means the forward pass keeps only one array per layer, and no mask is rebuilt
  from ``z``. ``scratch`` is a caller-owned buffer of the same shape, so nothing is allocated
  per batch.

Names are looked up with :func:`get_activation`.
"""

from __future__ import annotations

import numpy as np

from pipeline.nn.exceptions import NetworkParamsError


class Activation:
    """Base class; subclasses implement the four methods below."""

    name = ""

    def value(self, z):
        """f(z), a new array of the shape of ``z``."""
        raise NotImplementedError

    def derivative(self, z):
        """f'(z) element-wise (the Jacobian's diagonal), a new array."""
        raise NotImplementedError

    def forward_(self, z, scratch):
        """Overwrite ``z`` with f(z)."""
        np.copyto(z, self.value(z))

    def backward_(self, delta, a, scratch):
        """``delta *= f'(z)`` where ``a = f(z)``; in place."""
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


class Identity(Activation):
    """f(z) = z (regression output)."""

    name = "identity"

    def value(self, z):
        return np.array(z, copy=True)

    def derivative(self, z):
        return np.ones_like(z)

    def forward_(self, z, scratch):
        pass

    def backward_(self, delta, a, scratch):
        pass


class Sigmoid(Activation):
    """f(z) = 1 / (1 + e^{-z}); f' = f (1 - f)."""

    name = "logistic"

    def value(self, z):
        # tanh form: never overflows, unlike 1 / (1 + exp(-z)) for very negative z.
        return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z)))

    def derivative(self, z):
        s = self.value(z)
        return s * (1.0 - s)

    def forward_(self, z, scratch):
        z *= 0.5
        np.tanh(z, out=z)
        z += 1.0
        z *= 0.5

    def backward_(self, delta, a, scratch):
        np.subtract(1.0, a, out=scratch)
        scratch *= a
        delta *= scratch


class Tanh(Activation):
    """f(z) = tanh z; f' = 1 - f²."""

    name = "tanh"

    def value(self, z):
        return np.tanh(z)

    def derivative(self, z):
        return 1.0 - np.tanh(z) ** 2

    def forward_(self, z, scratch):
        np.tanh(z, out=z)

    def backward_(self, delta, a, scratch):
        np.multiply(a, a, out=scratch)
        np.subtract(1.0, scratch, out=scratch)
        delta *= scratch


class ReLU(Activation):
    """f(z) = max(z, 0); f' = [z > 0] (0 at the kink)."""

    name = "relu"

    def value(self, z):
        return np.maximum(z, 0)

    def derivative(self, z):
        return (np.asarray(z) > 0).astype(np.result_type(z, np.float32))

    def forward_(self, z, scratch):
        # Against an array of zeros: numpy vectorises maximum of two arrays, but not of an
        # array and a scalar (3× slower on mini-batch shapes).
        scratch.fill(0)
        np.maximum(z, scratch, out=z)

    def backward_(self, delta, a, scratch):
        # a > 0 exactly where z > 0; the boolean lands in the float scratch as 0/1.
        np.greater(a, 0, out=scratch)
        delta *= scratch


class _Rectifier(Activation):
    """f(z) = z for z > 0, a negative branch g(z) with parameter α otherwise."""

    default_alpha = 1.0

    def __init__(self, alpha=None):
        self.alpha = float(self.default_alpha if alpha is None else alpha)

    def negative(self, z):
        """g(z) for z ≤ 0."""
        raise NotImplementedError

    def negative_slope(self, z):
        """g'(z) for z ≤ 0."""
        raise NotImplementedError

    def value(self, z):
        z = np.asarray(z)
        return np.where(z > 0, z, self.negative(np.minimum(z, 0)))

    def derivative(self, z):
        z = np.asarray(z)
        slope = np.where(z > 0, 1.0, self.negative_slope(np.minimum(z, 0)))
        return slope.astype(np.result_type(z, np.float32))

    def __repr__(self):
        return f"{type(self).__name__}(alpha={self.alpha})"


class LeakyReLU(_Rectifier):
    """f(z) = z for z > 0, α z otherwise (0 < α < 1); f' = 1 or α."""

    name, default_alpha = "leaky_relu", 0.01

    def negative(self, z):
        return self.alpha * z

    def negative_slope(self, z):
        return self.alpha

    def forward_(self, z, scratch):
        # max(z, αz) equals the piecewise form for 0 < α < 1.
        np.multiply(z, self.alpha, out=scratch)
        np.maximum(z, scratch, out=z)

    def backward_(self, delta, a, scratch):
        np.greater(a, 0, out=scratch)
        scratch *= 1.0 - self.alpha
        scratch += self.alpha
        delta *= scratch


class ELU(_Rectifier):
    """f(z) = z for z > 0, α (e^z − 1) otherwise; f' = 1 or α e^z = f + α."""

    name = "elu"

    def negative(self, z):
        return self.alpha * np.expm1(z)

    def negative_slope(self, z):
        return self.alpha * np.exp(z)

    def forward_(self, z, scratch):
        np.minimum(z, 0, out=scratch)
        np.expm1(scratch, out=scratch)
        scratch *= self.alpha
        np.maximum(z, 0, out=z)
        z += scratch

    def backward_(self, delta, a, scratch):
        np.add(a, self.alpha, out=scratch)
        np.copyto(scratch, 1.0, where=a > 0)
        delta *= scratch


class Softmax(Activation):
    """Row-wise f(z)_j = e^{z_j} / Σ_k e^{z_k}; its Jacobian is diag(f) − f fᵀ."""

    name = "softmax"

    def value(self, z):
        z = np.asarray(z)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def derivative(self, z):
        """The full Jacobian per row, shape ``(n, k, k)`` (softmax couples the outputs)."""
        s = self.value(z)
        return s[:, :, None] * np.eye(s.shape[1], dtype=s.dtype) - s[:, :, None] * s[:, None, :]

    def forward_(self, z, scratch):
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)

    def backward_(self, delta, a, scratch):
        # Jᵀ δ = (δ − ⟨δ, a⟩) ⊙ a, row by row.
        np.multiply(delta, a, out=scratch)
        delta -= scratch.sum(axis=1, keepdims=True)
        delta *= a


ACTIVATIONS = {
    "identity": Identity,
    "logistic": Sigmoid,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "elu": ELU,
    "softmax": Softmax,
}
HIDDEN_ACTIVATIONS = ("identity", "logistic", "sigmoid", "tanh", "relu", "leaky_relu", "elu")


def get_activation(name, alpha=None):
    """Look up an activation by name.

    Parameters
    ----------
    name : str
        One of :data:`ACTIVATIONS`.
    alpha : float or None
        The slope (``leaky_relu``, default 0.01) or scale (``elu``, default 1.0) of the
        negative side; ignored by the others.

    Returns
    -------
    Activation
    """
    if name not in ACTIVATIONS:
        raise NetworkParamsError(
            f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}"
        )
    cls = ACTIVATIONS[name]
    if cls in (LeakyReLU, ELU) and alpha is not None:
        if cls is LeakyReLU and not 0.0 < alpha < 1.0:
            raise NetworkParamsError(f"leaky_relu needs 0 < activation_alpha < 1, got {alpha}")
        if cls is ELU and not alpha > 0.0:
            raise NetworkParamsError(f"elu needs activation_alpha > 0, got {alpha}")
        return cls(alpha)
    return cls()
