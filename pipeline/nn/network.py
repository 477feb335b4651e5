"""The feed-forward network: forward pass, back-propagation, gradients.

Notation (row-major: one sample per row). Layer l = 1..L has weights W_l, shape
(n_{l−1}, n_l), and bias b_l, shape (n_l,); a_0 = X.

* forward pass:           z_l = a_{l−1} W_l + b_l,   a_l = f(z_l)   (:func:`layer_forward`)
* δ of the output layer:  δ_L = (ŷ − y) / n          (:func:`pipeline.nn.losses.output_delta`)
* back-propagated δ:      δ_{l−1} = (δ_l W_lᵀ) ⊙ f′(z_{l−1})   (:func:`backprop_delta`)
* gradients:              ∂C/∂W_l = a_{l−1}ᵀ δ_l,  ∂C/∂b_l = Σ_rows δ_l   (:func:`layer_gradients`)
* L2 penalty λ‖W‖²:       ∂C/∂W_l += 2 λ W_l          (:func:`add_l2_gradient`)

Speed comes from the layout, not from cleverness per layer: all weights and biases live in
one flat float vector (``params``) — the per-layer arrays are views into it — and so do
their gradients (``grads``). The optimiser therefore updates everything with a few
whole-vector operations, and the L2 term is one fused multiply-add over the weight block.
Activations, δs and scratch arrays are allocated once per batch size and reused, and every
product is a BLAS call writing into its preallocated ``out``.
"""

from __future__ import annotations

import numpy as np

from pipeline.nn.activations import get_activation
from pipeline.nn.losses import get_loss


def layer_forward(a_prev, W, b, *, out):
    """z = a_prev W + b, written into ``out``.

    Parameters
    ----------
    a_prev : ndarray, shape (n, n_in)
    W : ndarray, shape (n_in, n_out)
    b : ndarray, shape (n_out,)
    out : ndarray, shape (n, n_out)

    Returns
    -------
    out
    """
    np.matmul(a_prev, W, out=out)
    out += b
    return out


def backprop_delta(delta, W, a_prev, activation, *, out, scratch):
    """δ_{l−1} = (δ_l W_lᵀ) ⊙ f′(z_{l−1}), written into ``out``.

    Parameters
    ----------
    delta : ndarray, shape (n, n_out)
        δ_l.
    W : ndarray, shape (n_in, n_out)
        W_l.
    a_prev : ndarray, shape (n, n_in)
        a_{l−1} = f(z_{l−1}); f′ is evaluated through it.
    activation : Activation
        f of layer l−1.
    out, scratch : ndarray, shape (n, n_in)

    Returns
    -------
    out
    """
    np.matmul(delta, W.T, out=out)
    activation.backward_(out, a_prev, scratch)
    return out


def layer_gradients(a_prev, delta, *, gW, gb, ones=None):
    """∂C/∂W = a_prevᵀ δ and ∂C/∂b = Σ_rows δ = 1ᵀ δ, written into ``gW`` and ``gb``.

    Parameters
    ----------
    a_prev : ndarray, shape (n, n_in)
    delta : ndarray, shape (n, n_out)
    gW : ndarray, shape (n_in, n_out)
    gb : ndarray, shape (n_out,)
    ones : ndarray, shape (n,), optional
        A vector of ones: the row sum as the BLAS product 1ᵀ δ, a few times faster than
        ``np.sum(axis=0)`` on mini-batch shapes.
    """
    np.matmul(a_prev.T, delta, out=gW)
    if ones is None:
        ones = np.ones(delta.shape[0], delta.dtype)
    np.matmul(ones, delta, out=gb)


def add_l2_gradient(g, w, *, alpha, scratch):
    """∂(λ‖W‖²)/∂W = 2 λ W added to ``g`` in place (``g``, ``w``, ``scratch`` alike in shape)."""
    np.multiply(w, 2.0 * alpha, out=scratch)
    g += scratch


def l2_penalty(w, *, alpha):
    """λ‖W‖² for the flat weight block ``w``."""
    return alpha * float(np.vdot(w, w))


def forward(X, coefs, intercepts, *, activation, out_activation):
    """Forward pass through all layers: ŷ = f_L(… f(X W_1 + b_1) … W_L + b_L).

    Parameters
    ----------
    X : array-like, shape (n, n_features)
    coefs, intercepts : lists of ndarray
        W_l, shape (n_{l−1}, n_l), and b_l, shape (n_l,).
    activation, out_activation : Activation
        Hidden and output activations.

    Returns
    -------
    ndarray, shape (n, n_outputs), the dtype of the weights
    """
    dtype = coefs[0].dtype
    a = np.asarray(X, dtype=dtype)
    last = len(coefs) - 1
    for i, (W, b) in enumerate(zip(coefs, intercepts, strict=True)):
        z = layer_forward(a, W, b, out=np.empty((a.shape[0], W.shape[1]), dtype))
        f = out_activation if i == last else activation
        f.forward_(z, np.empty_like(z))
        a = z
    return a


class _Buffers:
    """Per-batch-size work arrays: the activations and δ of every layer, and scratch."""

    def __init__(self, n, sizes, dtype, dropout=False):
        self.acts = [np.empty((n, k), dtype) for k in sizes[1:]]
        self.deltas = [np.empty((n, k), dtype) for k in sizes[1:-1]]
        self.scratch = [np.empty((n, k), dtype) for k in sizes[1:-1]]
        self.ones = np.ones(n, dtype)
        # With dropout, each hidden layer's scaled keep-mask and its dropped output (the
        # next layer's input); ``acts`` keeps f(z), through which f' is evaluated.
        hidden = sizes[1:-1] if dropout else []
        self.masks = [np.empty((n, k), dtype) for k in hidden]
        self.dropped = [np.empty((n, k), dtype) for k in hidden]


class Network:
    """Weights of a fully connected network, with its forward and backward passes.

    Parameters
    ----------
    coefs : list of ndarray, shapes (n_{l−1}, n_l)
        Initial weights, copied into the flat parameter vector.
    intercepts : list of ndarray, shapes (n_l,)
        Initial biases, copied likewise.
    activation : str
        Hidden activation name.
    loss : str
        Loss name; it fixes the output activation.
    alpha : float
        L2 strength λ of the penalty λ‖W‖² (weights only, not biases).
    activation_alpha : float or None
        Negative-side parameter of ``leaky_relu``/``elu``.
    dropout : float
        Probability p of zeroing each hidden unit in training (inverted dropout: the kept
        ones are scaled by 1/(1 − p), so prediction uses the weights as they are).
    rng : numpy.random.Generator, optional
        Draws the dropout masks (needed when ``dropout > 0``).

    Attributes
    ----------
    params, grads : ndarray, shape (n_params,)
        All weights then all biases, flat; ``coefs``/``intercepts`` and
        ``grad_coefs``/``grad_intercepts`` are views into them.
    """

    def __init__(self, coefs, intercepts, *, activation, loss, alpha=0.0, activation_alpha=None,
                 dropout=0.0, rng=None):
        dtype = np.result_type(*coefs)
        self.sizes = [coefs[0].shape[0]] + [W.shape[1] for W in coefs]
        self.n_weights = sum(W.size for W in coefs)
        n_params = self.n_weights + sum(b.size for b in intercepts)
        self.params = np.empty(n_params, dtype)
        self.grads = np.zeros(n_params, dtype)
        self.coefs, self.intercepts = self._views(self.params)
        self.grad_coefs, self.grad_intercepts = self._views(self.grads)
        for dst, src in zip(self.coefs + self.intercepts, [*coefs, *intercepts], strict=True):
            dst[...] = src
        self.activation = get_activation(activation, activation_alpha)
        self.loss = get_loss(loss)
        self.out_activation = get_activation(self.loss.output_activation)
        self.alpha = float(alpha)
        self.dropout, self._rng = float(dropout), rng
        self._buffers = {}
        self._l2_scratch = np.empty(self.n_weights, dtype) if self.alpha else None

    @property
    def dtype(self):
        """The floating-point type the network trains in."""
        return self.params.dtype

    @property
    def weights(self):
        """The flat block of all weights (no biases), shape (n_weights,)."""
        return self.params[: self.n_weights]

    def _views(self, flat):
        coefs, intercepts, pos = [], [], 0
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            coefs.append(flat[pos : pos + n_in * n_out].reshape(n_in, n_out))
            pos += n_in * n_out
        for n_out in self.sizes[1:]:
            intercepts.append(flat[pos : pos + n_out])
            pos += n_out
        return coefs, intercepts

    def _buffers_for(self, n):
        buf = self._buffers.get(n)
        if buf is None:
            # Two sizes occur in an epoch (full batches and the remainder); keep both.
            if len(self._buffers) > 2:
                self._buffers.clear()
            buf = self._buffers[n] = _Buffers(n, self.sizes, self.dtype, self.dropout > 0)
        return buf

    def _draw_mask(self, out):
        """A fresh keep-mask in ``out``: 1/(1 − p) with probability 1 − p, else 0."""
        self._rng.random(out=out, dtype=out.dtype)
        keep = 1.0 - self.dropout
        np.less(out, keep, out=out)
        out *= 1.0 / keep

    def forward(self, X):
        """Network output ŷ (after the output activation) for ``X``, shape (n, n_outputs)."""
        return forward(
            X, self.coefs, self.intercepts,
            activation=self.activation, out_activation=self.out_activation,
        )

    def objective(self, X, Y):
        """Mean loss plus λ‖W‖² — the cost C that training minimises."""
        return self.loss.value(Y, self.forward(X)) + l2_penalty(self.weights, alpha=self.alpha)

    def backward(self, X, Y):
        """Fill ``grads`` with ∇C for the batch; return the *summed* data loss of the batch.

        Parameters
        ----------
        X : ndarray, shape (n, n_features), dtype of the network, C-contiguous
        Y : ndarray, shape (n, n_outputs), same dtype

        Returns
        -------
        float
            Σ_i loss_i over the batch (the penalty is not included).
        """
        n = X.shape[0]
        buf = self._buffers_for(n)
        coefs, intercepts, acts = self.coefs, self.intercepts, buf.acts
        last = len(coefs) - 1
        inputs = buf.dropped if buf.masks else acts  # what each next layer sees
        a = X
        for i in range(last):
            z = layer_forward(a, coefs[i], intercepts[i], out=acts[i])
            self.activation.forward_(z, buf.scratch[i])
            if buf.masks:
                self._draw_mask(buf.masks[i])
                np.multiply(z, buf.masks[i], out=buf.dropped[i])
            a = inputs[i]
        z = layer_forward(a, coefs[last], intercepts[last], out=acts[last])
        loss = self.loss.output_(z, Y, 1.0 / n)  # z now holds δ_L = (ŷ − y)/n
        delta = z
        for i in range(last, 0, -1):
            layer_gradients(inputs[i - 1], delta, gW=self.grad_coefs[i],
                            gb=self.grad_intercepts[i], ones=buf.ones)
            delta = backprop_delta(
                delta, coefs[i], acts[i - 1], self.activation,
                out=buf.deltas[i - 1], scratch=buf.scratch[i - 1],
            )
            if buf.masks:  # ∂a_dropped/∂a = the mask
                delta *= buf.masks[i - 1]
        layer_gradients(X, delta, gW=self.grad_coefs[0], gb=self.grad_intercepts[0],
                        ones=buf.ones)
        if self.alpha:
            add_l2_gradient(
                self.grads[: self.n_weights], self.weights, alpha=self.alpha,
                scratch=self._l2_scratch,
            )
        return loss
