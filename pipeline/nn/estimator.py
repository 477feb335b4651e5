"""scikit-learn estimators around the from-scratch network: FFNNClassifier, FFNNRegressor.

The contract: ``__init__`` only stores its arguments; names (activation, solver, schedule,
init) are validated and turned into objects in ``fit``; learned state ends in ``_``;
``predict*`` call ``check_is_fitted``; ``random_state`` becomes a ``numpy.random.Generator``
(no global seeding). Parameter names follow ``sklearn.neural_network.MLPClassifier``.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MultiOutputMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from pipeline.nn.activations import HIDDEN_ACTIVATIONS, get_activation
from pipeline.nn.initializers import get_initializer
from pipeline.nn.network import Network, forward
from pipeline.nn.optimizers import OPTIMIZERS, get_optimizer
from pipeline.nn.schedules import Schedule
from pipeline.nn.training import Stopper, train

_DTYPES = ("float32", "float64")


def make_rng(random_state):
    """``random_state`` (None, int, Generator or RandomState) → ``numpy.random.Generator``."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**31 - 1))
    return np.random.default_rng(random_state)


def _require(ok, message):
    if not ok:
        raise ValueError(message)


class _BaseFFNN(BaseEstimator):
    """Shared fitting logic; see :class:`FFNNClassifier` for the parameters."""

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        solver="adam",
        alpha=1e-4,
        batch_size="auto",
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
        self.batch_size = batch_size
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

    # -- validation -------------------------------------------------------------------
    def _check_params(self):
        hidden = self.hidden_layer_sizes
        if isinstance(hidden, numbers.Integral):
            hidden = (hidden,)
        hidden = tuple(hidden)
        _require(
            all(isinstance(h, numbers.Integral) and h > 0 for h in hidden),
            f"hidden_layer_sizes must be positive integers, got {self.hidden_layer_sizes!r}",
        )
        _require(self.activation in HIDDEN_ACTIVATIONS,
                 f"activation must be one of {list(HIDDEN_ACTIVATIONS)}, got {self.activation!r}")
        get_activation(self.activation, self.activation_alpha)
        _require(self.solver in OPTIMIZERS,
                 f"solver must be one of {sorted(OPTIMIZERS)}, got {self.solver!r}")
        _require(self.learning_rate in Schedule.names,
                 f"learning_rate must be one of {list(Schedule.names)}, got {self.learning_rate!r}")
        get_initializer(self.init, self.activation)
        _require(str(np.dtype(self.dtype)) in _DTYPES,
                 f"dtype must be float32 or float64, got {self.dtype!r}")
        for name in ("alpha", "tol", "lr_decay", "lr_min"):
            _require(getattr(self, name) >= 0, f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("learning_rate_init", "epsilon"):
            _require(getattr(self, name) > 0, f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("max_iter", "n_iter_no_change"):
            value = getattr(self, name)
            _require(isinstance(value, numbers.Integral) and value >= 1,
                     f"{name} must be an integer >= 1, got {value!r}")
        _require(isinstance(self.lr_warmup, numbers.Integral) and self.lr_warmup >= 0,
                 f"lr_warmup must be an integer >= 0, got {self.lr_warmup!r}")
        for name in ("momentum", "beta_1", "beta_2", "rho"):
            value = getattr(self, name)
            _require(0 <= value < 1, f"{name} must be in [0, 1), got {value}")
        _require(0 < self.validation_fraction < 1,
                 f"validation_fraction must be in (0, 1), got {self.validation_fraction}")
        _require(0 <= self.label_smoothing < 1,
                 f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        _require(self._is_classifier or self.label_smoothing == 0,
                 "label_smoothing applies to classifiers only")
        bt = self.blas_threads
        _require(bt is None or (isinstance(bt, numbers.Integral) and bt >= 1),
                 f"blas_threads must be None or an integer >= 1, got {bt!r}")
        bs = self.batch_size
        _require(bs == "auto" or (isinstance(bs, numbers.Integral) and bs >= 1),
                 f"batch_size must be 'auto' or an integer >= 1, got {bs!r}")
        return hidden

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
        hidden = self._check_params()
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
        net = Network(
            self.coefs_, self.intercepts_, activation=self.activation, loss=self._loss_name,
            alpha=self.alpha, activation_alpha=self.activation_alpha,
        )
        n_train = X.shape[0]
        validation = None
        if self.early_stopping and not incremental:
            X, Y, validation = self._split_validation(X, Y, y, groups)
            n_train = X.shape[0]
        if self.label_smoothing:
            # Training targets only: validation accuracy is measured on the true labels.
            Y = Y * (1 - self.label_smoothing) + self.label_smoothing / self.classes_.size
        batch = min(200, n_train) if self.batch_size == "auto" else min(self.batch_size, n_train)
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
        if not incremental and not result["stopped"]:
            warnings.warn(
                f"{type(self).__name__}: max_iter={self.max_iter} epochs reached before "
                "the optimisation converged", ConvergenceWarning, stacklevel=3,
            )
        return self

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
        n = X.shape[0]
        if groups is not None:
            val, tr = self._group_validation(y, groups)
            return X[tr], Y[tr], (self._validation_score, X[val], Y[val])
        n_val = max(1, int(round(self.validation_fraction * n)))
        _require(n - n_val >= 1, "early_stopping needs more samples than the validation part")
        order = self._rng.permutation(n)
        if self._is_classifier:
            # Stratify: deal each class's shuffled rows into validation in proportion.
            labels = y[order]
            ranks = np.empty(n)
            for c in np.unique(labels):
                idx = np.flatnonzero(labels == c)
                ranks[idx] = (np.arange(idx.size) + 0.5) / idx.size
            order = order[np.argsort(ranks, kind="stable")]
        val, tr = order[:n_val], order[n_val:]
        validation = (self._validation_score, X[val], Y[val])
        return X[tr], Y[tr], validation

    def _group_validation(self, y, groups):
        """Validation and training rows with no group on both sides.

        One part of a shuffled ``StratifiedGroupKFold`` (regression: ``GroupKFold``) with
        about ``1 / validation_fraction`` parts, so the validation part holds roughly that
        share of the rows, stratified by class where the groups allow.
        """
        from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

        groups = np.asarray(groups)
        _require(groups.shape == (y.shape[0],),
                 f"groups must have one entry per sample, got shape {groups.shape}")
        n_groups = np.unique(groups).size
        _require(n_groups >= 2, "early_stopping with groups needs at least 2 groups")
        k = int(min(max(2, round(1 / self.validation_fraction)), n_groups))
        seed = int(self._rng.integers(2**31 - 1))
        rows = np.zeros((y.shape[0], 1))
        if self._is_classifier:
            splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
            try:
                with warnings.catch_warnings():  # few groups per class: stratify what it can
                    warnings.simplefilter("ignore", UserWarning)
                    tr, val = next(splitter.split(rows, y, groups))
                return val, tr
            except ValueError:  # every class smaller than k: split by groups alone
                pass
        codes = np.unique(groups, return_inverse=True)[1]
        shuffled = self._rng.permutation(n_groups)[codes]
        tr, val = next(GroupKFold(n_splits=k).split(rows, None, shuffled))
        return val, tr

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


_OUTPUT = {
    "cross_entropy": "softmax",
    "binary_cross_entropy": "logistic",
    "squared_error": "identity",
}


class FFNNClassifier(ClassifierMixin, _BaseFFNN):
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
    batch_size : int or "auto", default "auto"
        "auto" is min(200, n_samples).
    learning_rate : {"constant", "step", "exponential", "cosine"}, default "constant"
        The schedule; see :mod:`pipeline.nn.schedules`.
    learning_rate_init : float, default 1e-3
        η₀.
    max_iter : int, default 200
        Maximum number of epochs.
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
        BLAS threads while training (None leaves the BLAS setting alone: on an idle 2-core
        machine two threads train 20 % faster). Set 1 where cores are shared; the
        pipeline's parallel stages already give each task one BLAS thread.
    label_smoothing : float in [0, 1), default 0
        ε of label smoothing: the network is trained towards (1 − ε)·one-hot + ε/K (K
        classes; the sigmoid of a two-class problem towards 1 − ε/2 and ε/2), which keeps
        it from pushing its logits without bound on separable data. The gradient of
        cross-entropy stays p − y. Classifiers only; ``loss_curve_`` then reports the loss
        against the smoothed targets.

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


class FFNNRegressor(MultiOutputMixin, RegressorMixin, _BaseFFNN):
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
