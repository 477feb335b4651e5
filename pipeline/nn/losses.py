"""Losses, each paired with the output activation that makes its gradient simple.

With the canonical pairing (softmax + cross-entropy, sigmoid + binary cross-entropy,
identity + squared error) the δ of the output layer — the derivative of the *mean* loss with
respect to the output pre-activation ``z_L`` — is in every case

    δ_L = (ŷ − y) / n,

so the network never forms the softmax Jacobian. ``y`` is always 2-D: one-hot rows for
softmax, a 0/1 column for sigmoid, target columns for squared error.

Each loss has a pure ``value``/``delta`` pair (the reference for the tests) and ``output_``,
the fused in-place step used in training: it turns ``z_L`` into δ_L and returns the summed
loss of the batch, with the log-sum-exp computed once.
"""

from __future__ import annotations

import numpy as np

from pipeline.nn.errors import NetworkParamsError


def output_delta(y, y_hat):
    """δ of the output layer for a canonical pairing: ``(ŷ − y) / n``.

    Parameters
    ----------
    y : ndarray, shape (n, k)
        Targets (one-hot, 0/1 or real).
    y_hat : ndarray, shape (n, k)
        Network output after the output activation.

    Returns
    -------
    ndarray, shape (n, k)
    """
    return (y_hat - y) / y.shape[0]


class Loss:
    """Base class: ``value`` (mean loss), ``delta`` (∂ value / ∂ z_L) and ``output_``."""

    name = ""
    output_activation = ""

    def value(self, y, y_hat):
        """Mean loss of predictions ``y_hat`` against targets ``y``, both (n, k)."""
        raise NotImplementedError

    def delta(self, y, y_hat):
        """∂(mean loss)/∂z_L, shape (n, k)."""
        return output_delta(y, y_hat)

    def output_(self, z, y, inv_n):
        """Overwrite the output pre-activation ``z`` with δ_L; return the *summed* loss."""
        loss = self._activate_(z, y)
        z -= y
        z *= inv_n
        return loss

    def _activate_(self, z, y):
        """Overwrite ``z`` with the output ŷ; return the summed loss of the batch."""
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


class SoftmaxCrossEntropy(Loss):
    """L = −(1/n) Σ_i Σ_j y_ij log softmax(z_i)_j."""

    name = "cross_entropy"
    output_activation = "softmax"

    def value(self, y, y_hat):
        """Mean loss of predictions ``y_hat`` against targets ``y``, both (n, k)."""
        eps = np.finfo(np.result_type(y_hat, np.float32)).tiny
        return float(-np.sum(y * np.log(np.maximum(y_hat, eps))) / y.shape[0])

    def _activate_(self, z, y):
        row = z.max(axis=1, keepdims=True)
        z -= row
        # log p_true = z_true − log Σ e^z, so the loss needs only the shifted true logits.
        true_logits = float(np.vdot(y, z))
        np.exp(z, out=z)
        np.sum(z, axis=1, keepdims=True, out=row)
        loss = float(np.log(row).sum()) - true_logits
        z /= row
        return loss


class SigmoidBinaryCrossEntropy(Loss):
    """L = −(1/n) Σ_i [y_i log σ(z_i) + (1 − y_i) log(1 − σ(z_i))], one output column."""

    name = "binary_cross_entropy"
    output_activation = "logistic"

    def value(self, y, y_hat):
        """Mean loss of predictions ``y_hat`` against targets ``y``, both (n, k)."""
        eps = np.finfo(np.result_type(y_hat, np.float32)).eps
        p = np.clip(y_hat, eps, 1.0 - eps)
        return float(-np.sum(y * np.log(p) + (1.0 - y) * np.log1p(-p)) / y.shape[0])

    def _activate_(self, z, y):
        # −log σ(z) = softplus(−z), −log(1 − σ(z)) = softplus(z) ⇒ loss = softplus(z) − y z.
        loss = float(np.logaddexp(0.0, z).sum()) - float(np.vdot(y, z))
        z *= 0.5
        np.tanh(z, out=z)
        z += 1.0
        z *= 0.5
        return loss


class MeanSquaredError(Loss):
    """L = (1/2n) Σ_i ‖ŷ_i − y_i‖² with the identity output."""

    name = "squared_error"
    output_activation = "identity"

    def value(self, y, y_hat):
        """Mean loss of predictions ``y_hat`` against targets ``y``, both (n, k)."""
        return float(0.5 * np.sum((y_hat - y) ** 2) / y.shape[0])

    def output_(self, z, y, inv_n):
        # The loss is read off the residual ŷ − y, which z holds first.
        z -= y
        loss = 0.5 * float(np.vdot(z, z))
        z *= inv_n
        return loss


LOSSES = {
    "cross_entropy": SoftmaxCrossEntropy,
    "binary_cross_entropy": SigmoidBinaryCrossEntropy,
    "squared_error": MeanSquaredError,
}


def get_loss(name):
    """Look up a loss by name (one of :data:`LOSSES`)."""
    if name not in LOSSES:
        raise NetworkParamsError(f"unknown loss {name!r}; choose one of {sorted(LOSSES)}")
    return LOSSES[name]()
