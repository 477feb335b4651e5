"""The fitting logic FFNNClassifier and FFNNRegressor share: :class:`BaseFFNN`.

The contract: ``__init__`` only stores its arguments; names (activation, solver, schedule,
init) are validated (:mod:`.hyperparams`) and turned into objects in ``fit``; learned state
ends in ``_``; ``predict*`` call ``check_is_fitted``; ``random_state`` becomes a
``numpy.random.Generator`` (no global seeding). A subclass says what its targets are
(``_targets``, ``_loss_name``) and how validation is scored (``_validation_score``).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted, validate_data

from pipeline.nn.activations import get_activation
from pipeline.nn.holdout import validation_rows
from pipeline.nn.hyperparams import check_params
from pipeline.nn.initializers import get_initializer
from pipeline.nn.network import Network, forward
from pipeline.nn.optimizers import get_optimizer
from pipeline.nn.schedules import Schedule
from pipeline.nn.training import Stopper, train

# The output activation of each loss.
_OUTPUT = {
    "cross_entropy": "softmax",
    "binary_cross_entropy": "logistic",
    "squared_error": "identity",
}


def make_rng(random_state):
    """``random_state`` (None, int, Generator or RandomState) → ``numpy.random.Generator``."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**31 - 1))
    return np.random.default_rng(random_state)


class BaseFFNN(BaseEstimator):
    """Shared fitting logic; see :class:`FFNNClassifier` for the parameters."""

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        solver="adam",
        alpha=1e-4,
        alpha_rows=None,
        dropout=0.0,
        batch_size="auto",
        min_batches=1,
        learning_rate="constant",
        learning_rate_init=1e-3,
        max_iter=200,
        momentum=0.9,
        nesterovs_momentum=True,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        random_state=None,
        verbose=False,
        dtype="float32",
        init="auto",
        activation_alpha=None,
        rho=0.9,
        lr_decay=1e-3,
        lr_warmup=0,
        lr_min=0.0,
        blas_threads=None,
        label_smoothing=0.0,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.alpha_rows = alpha_rows
        self.batch_size = batch_size
        self.min_batches = min_batches
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose
        self.dtype = dtype
        self.init = init
        self.activation_alpha = activation_alpha
        self.rho = rho
        self.lr_decay = lr_decay
        self.lr_warmup = lr_warmup
        self.lr_min = lr_min
        self.blas_threads = blas_threads
        self.label_smoothing = label_smoothing
        self.dropout = dropout

    # -- fitting ----------------------------------------------------------------------
    def fit(self, X, y, groups=None):
        """Train from scratch.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        y : array-like, shape (n_samples,) or (n_samples, n_outputs) for the regressor
        groups : array-like, shape (n_samples,), optional
            The recording (or any unit that must not be split) of every row. With
            ``early_stopping`` the validation part then holds whole groups, so the best
            epoch is not chosen on slices of recordings it trains on.

        Returns
        -------
        self
        """
        return self._fit(X, y, incremental=False, groups=groups)

    def _fit(self, X, y, *, incremental, classes=None, groups=None):
        hidden = check_params(self, classifier=self._is_classifier)
        dtype = np.dtype(self.dtype)
        first = not (incremental and hasattr(self, "coefs_"))
        X, y = validate_data(
            self, X, y, reset=first, dtype=dtype, order="C",
            multi_output=self._multi_output, y_numeric=not self._is_classifier,
        )
        Y = self._targets(y, first=first, classes=classes).astype(dtype, copy=False)
        if first:
            self._rng = make_rng(self.random_state)
            self._initialize(hidden, X.shape[1], Y.shape[1], dtype)
        validation = None
        if self.early_stopping and not incremental:
            X, Y, validation = self._split_validation(X, Y, y, groups)
        n_train = X.shape[0]
        net = Network(
            self.coefs_, self.intercepts_, activation=self.activation, loss=self._loss_name,
            alpha=self.penalty(n_train), activation_alpha=self.activation_alpha,
            dropout=self.dropout, rng=self._rng,
        )
        if self.label_smoothing:
            # Training targets only: validation accuracy is measured on the true labels.
            Y = Y * (1 - self.label_smoothing) + self.label_smoothing / self.classes_.size
        batch = min(200, n_train) if self.batch_size == "auto" else min(self.batch_size, n_train)
        # A small training set still gets min_batches updates per epoch, so a fixed epoch
        # budget means enough steps of the schedule (ceil: never fewer than min_batches).
        batch = max(1, min(batch, n_train // self.min_batches))
        epochs = 1 if incremental else self.max_iter
        steps_per_epoch = -(-n_train // batch)
        schedule = Schedule(
            self.learning_rate, lr0=self.learning_rate_init, decay=self.lr_decay,
            total=self.max_iter * steps_per_epoch, lr_min=self.lr_min, warmup=self.lr_warmup,
        )
        stopper = None
        if not incremental:
            stopper = Stopper(n_iter_no_change=self.n_iter_no_change, tol=self.tol,
                              maximize=validation is not None)
        result = train(
            net, self._optimizer, schedule, np.ascontiguousarray(X), np.ascontiguousarray(Y),
            batch_size=batch, epochs=epochs, rng=self._rng, t=self.t_, validation=validation,
            stopper=stopper, verbose=bool(self.verbose), threads=self.blas_threads,
        )
        self.coefs_, self.intercepts_ = net.coefs, net.intercepts
        self.t_ = result["t"]
        self.n_iter_ += len(result["loss_curve"])
        self.loss_curve_ += result["loss_curve"]
        self.loss_ = self.loss_curve_[-1]
        self.best_loss_ = min(self.loss_curve_)
        if validation is not None:
            self.validation_scores_ = result["validation_scores"]
            self.best_validation_score_ = max(self.validation_scores_)
            self.best_loss_ = None
        # A cosine schedule is planned to end at max_iter (η reaches lr_min there): running
        # all its epochs is the plan, not a failure to converge.
        if not incremental and not result["stopped"] and self.learning_rate != "cosine":
            warnings.warn(
                f"{type(self).__name__}: max_iter={self.max_iter} epochs reached before "
                "the optimisation converged", ConvergenceWarning, stacklevel=3,
            )
        return self

    def penalty(self, n_train: int) -> float:
        """λ of the L2 penalty when training on ``n_train`` rows: ``alpha``, or with
        ``alpha_rows`` set, ``alpha × alpha_rows / n_train``."""
        if self.alpha_rows is None:
            return float(self.alpha)
        return float(self.alpha) * self.alpha_rows / n_train

    def _initialize(self, hidden, n_features, n_outputs, dtype):
        init = get_initializer(self.init, self.activation)
        sizes = [n_features, *hidden, n_outputs]
        self.coefs_ = [
            init(n_in, n_out, rng=self._rng, dtype=dtype)
            for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
        ]
        self.intercepts_ = [np.zeros(n_out, dtype) for n_out in sizes[1:]]
        self.n_layers_ = len(sizes)
        self.n_outputs_ = n_outputs
        self.out_activation_ = get_activation(_OUTPUT[self._loss_name]).name
        self._optimizer = get_optimizer(
            self.solver, momentum=self.momentum, nesterovs_momentum=self.nesterovs_momentum,
            beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon, rho=self.rho,
        )
        self.t_ = 0
        self.n_iter_ = 0
        self.loss_curve_ = []
        self.validation_scores_ = None
        self.best_validation_score_ = None

    def _split_validation(self, X, Y, y, groups=None):
        val, tr = validation_rows(y, groups, fraction=self.validation_fraction, rng=self._rng,
                                  stratify=self._is_classifier)
        return X[tr], Y[tr], (self._validation_score, X[val], Y[val])

    def _forward(self, X):
        # Predictions run in float64 whatever the training dtype: BLAS picks different
        # kernels for different row counts, and in float32 that shows in the last digit, so
        # a row's output would depend on the rows predicted with it.
        check_is_fitted(self, "coefs_")
        X = validate_data(self, X, reset=False, dtype=np.float64, order="C")
        return forward(
            X, [W.astype(np.float64) for W in self.coefs_],
            [b.astype(np.float64) for b in self.intercepts_],
            activation=get_activation(self.activation, self.activation_alpha),
            out_activation=get_activation(self.out_activation_),
        )
