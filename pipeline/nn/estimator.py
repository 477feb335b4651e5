"""scikit-learn estimators around the from-scratch network: FFNNClassifier, FFNNRegressor.

Both fit with :class:`~pipeline.nn.base.BaseFFNN`; here is what differs: the targets
(one-hot classes or real values), the validation score early stopping watches, and the
predictions. Parameter names follow ``sklearn.neural_network.MLPClassifier``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin, MultiOutputMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from pipeline.nn.base import BaseFFNN, make_rng

__all__ = ["FFNNClassifier", "FFNNRegressor", "make_rng"]


class FFNNClassifier(ClassifierMixin, BaseFFNN):
    """Feed-forward neural network classifier, trained by mini-batch gradient descent.

    Softmax output with cross-entropy for three or more classes; one sigmoid unit with
    binary cross-entropy for two. ``hidden_layer_sizes=()`` is multinomial logistic
    regression.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (100,)
        Units per hidden layer.
    activation : {"relu", "leaky_relu", "elu", "tanh", "logistic", "identity"}, default "relu"
    solver : {"adam", "sgd", "momentum", "nesterov", "adagrad", "rmsprop"}, default "adam"
        ``"sgd"`` uses ``momentum``/``nesterovs_momentum`` as scikit-learn does.
    alpha : float, default 1e-4
        λ of the L2 penalty λ‖W‖² added to the mean loss (weights only).
    alpha_rows : int or None, default None
        The training rows at which ``alpha`` holds: on n rows λ = alpha × alpha_rows / n,
        so the penalty, a prior on the weights, counts as much as that many rows' loss
        whatever the data's size (the MAP view; more data, weaker prior). None: λ = alpha.
    batch_size : int or "auto", default "auto"
        "auto" is min(200, n_samples).
    min_batches : int, default 1
        At least this many mini-batches per epoch: on a training set smaller than
        ``min_batches × batch_size`` the batch shrinks to n_samples // min_batches, so a
        budget of ``max_iter`` epochs still makes enough updates.
    learning_rate : {"constant", "step", "exponential", "cosine"}, default "constant"
        The schedule; see :mod:`pipeline.nn.schedules`.
    learning_rate_init : float, default 1e-3
        η₀.
    max_iter : int, default 200
        Maximum number of epochs (the length of the cosine schedule: running all of them
        then raises no ``ConvergenceWarning``).
    momentum, nesterovs_momentum : float, bool
        μ for the momentum solvers.
    beta_1, beta_2, epsilon : float
        Adam's decay rates and ε (ε also for AdaGrad and RMSprop).
    early_stopping : bool, default False
        Hold out ``validation_fraction`` (stratified), stop when the validation accuracy
        has not improved by ``tol`` for ``n_iter_no_change`` epochs, and restore the best
        weights. Without it, training stops when the training loss stalls likewise.
    validation_fraction, n_iter_no_change, tol
        See ``early_stopping``.
    random_state : None, int or numpy.random.Generator
        Seeds the initial weights, the shuffling and the validation split.
    verbose : bool
        One-line progress display on stderr.
    dtype : {"float32", "float64"}, default "float32"
        Precision of weights and computation.
    init : {"auto", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal"}
        "auto": He for the ReLU family, Glorot otherwise.
    activation_alpha : float or None
        Negative-side parameter of leaky_relu (slope, default 0.01) and elu (scale, 1.0).
    rho : float, default 0.9
        RMSprop's decay.
    lr_decay : float, default 1e-3
        τ of the step (η₀/(1 + iτ)) and exponential (η₀e^{−iτ}) schedules; i counts updates.
    lr_warmup : int, default 0
        Linear ramp-up of the learning rate over this many updates.
    lr_min : float, default 0
        Floor of the cosine schedule.
    blas_threads : int or None, default None
        BLAS threads while training (None leaves the BLAS setting alone: on an idle machine
        more threads train faster). Set 1 where cores are shared; the
        pipeline's parallel stages already give each task one BLAS thread.
    label_smoothing : float in [0, 1), default 0
        ε of label smoothing: the network is trained towards (1 − ε)·one-hot + ε/K (K
        classes; the sigmoid of a two-class problem towards 1 − ε/2 and ε/2), which keeps
        it from pushing its logits without bound on separable data. The gradient of
        cross-entropy stays p − y. Classifiers only; ``loss_curve_`` then reports the loss
        against the smoothed targets.
    dropout : float in [0, 1), default 0
        Probability of zeroing each hidden unit at each training step (inverted dropout:
        kept units are scaled by 1/(1 − p), so prediction needs no rescaling). It keeps
        co-adapted units from memorising a small training set.

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
    coefs_, intercepts_ : lists of ndarray
        W_l, shape (n_{l−1}, n_l), and b_l, shape (n_l,).
    loss_curve_ : list of float
        Training cost (mean loss + λ‖W‖²) after each epoch.
    validation_scores_ : list of float or None
        Validation accuracy after each epoch (early stopping only).
    best_validation_score_ : float or None
    n_iter_ : int
        Epochs run.
    t_ : int
        Updates (mini-batches) run.
    n_features_in_, n_layers_, n_outputs_, out_activation_, loss_, best_loss_
    """

    _is_classifier = True
    _multi_output = False

    def partial_fit(self, X, y, classes=None):
        """One epoch on ``(X, y)``, continuing from the current weights.

        ``classes`` (all labels that will ever be seen) is required on the first call.
        """
        if not hasattr(self, "coefs_") and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit")
        return self._fit(X, y, incremental=True, classes=classes)

    def _targets(self, y, *, first, classes):
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if first:
            labels = np.unique(y) if classes is None else np.unique(np.asarray(classes))
            if labels.size < 2:
                raise ValueError(
                    f"{type(self).__name__} needs at least 2 classes in y; got {labels.size} class"
                )
            self.classes_ = labels
            self._loss_name = "binary_cross_entropy" if labels.size == 2 else "cross_entropy"
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"classes {classes!r} differ from the first call's {self.classes_!r}")
        idx = np.searchsorted(self.classes_, y)
        idx = np.clip(idx, 0, self.classes_.size - 1)
        if not np.all(self.classes_[idx] == y):
            unseen = np.setdiff1d(y, self.classes_)
            raise ValueError(f"y contains labels not in classes_: {unseen[:5]!r}")
        if self.classes_.size == 2:
            return idx.reshape(-1, 1).astype(np.float64)
        Y = np.zeros((y.size, self.classes_.size))
        Y[np.arange(y.size), idx] = 1.0
        return Y

    @staticmethod
    def _validation_score(Y, out):
        if out.shape[1] == 1:
            return np.mean((out[:, 0] > 0.5) == (Y[:, 0] > 0.5))
        return np.mean(out.argmax(axis=1) == Y.argmax(axis=1))

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_`` order."""
        out = self._forward(X)
        if out.shape[1] == 1:
            return np.hstack([1.0 - out, out])
        return out

    def predict_log_proba(self, X):
        """log of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """Most probable class per row, shape (n_samples,)."""
        out = self._forward(X)
        if out.shape[1] == 1:
            idx = (out[:, 0] > 0.5).astype(np.intp)
        else:
            idx = out.argmax(axis=1)
        return self.classes_[idx]


class FFNNRegressor(MultiOutputMixin, RegressorMixin, BaseFFNN):
    """Feed-forward neural network regressor: identity output, squared error (½ mean).

    Same parameters as :class:`FFNNClassifier`; early stopping watches the validation R².
    ``y`` may have several columns. Attributes as for the classifier, without ``classes_``.
    """

    _is_classifier = False
    _multi_output = True
    _loss_name = "squared_error"

    def partial_fit(self, X, y):
        """One epoch on ``(X, y)``, continuing from the current weights."""
        return self._fit(X, y, incremental=True)

    def _targets(self, y, *, first, classes):
        y = np.asarray(y, dtype=np.float64)
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        if not first and Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {Y.shape[1]} outputs, the model was fitted with "
                             f"{self.n_outputs_}")
        return Y

    @staticmethod
    def _validation_score(Y, out):
        ss_res = np.sum((Y - out) ** 2, axis=0, dtype=np.float64)
        ss_tot = np.sum((Y - Y.mean(axis=0)) ** 2, axis=0, dtype=np.float64)
        ss_tot[ss_tot == 0] = 1.0
        return float(np.mean(1.0 - ss_res / ss_tot))

    def predict(self, X):
        """Predictions, shape (n_samples,) or (n_samples, n_outputs)."""
        out = self._forward(X)
        return out[:, 0] if out.shape[1] == 1 else out
