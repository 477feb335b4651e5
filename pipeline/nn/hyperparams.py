"""Validation of the estimators' hyper-parameters, done in ``fit`` as scikit-learn asks.

:func:`check_params` checks every parameter of an ``FFNNClassifier``/``FFNNRegressor``
and raises :class:`~pipeline.nn.exceptions.NetworkParamsError` naming the first bad one.
"""

from __future__ import annotations

import numbers

import numpy as np

from pipeline.nn.activations import HIDDEN_ACTIVATIONS, get_activation
from pipeline.nn.exceptions import NetworkParamsError
from pipeline.nn.initializers import get_initializer
from pipeline.nn.optimizers import OPTIMIZERS
from pipeline.nn.schedules import Schedule

DTYPES = ("float32", "float64")


def require(ok, message):
    """Raise :class:`NetworkParamsError` with ``message`` unless ``ok``."""
    if not ok:
        raise NetworkParamsError(message)


def check_params(est, *, classifier: bool) -> tuple[int, ...]:
    """Check the hyper-parameters of the estimator ``est``; return its hidden layer sizes.

    Parameters
    ----------
    est : FFNNClassifier or FFNNRegressor
    classifier : bool
        ``est`` is a classifier (label smoothing is allowed).

    Returns
    -------
    tuple of int, length n_hidden_layers
        ``hidden_layer_sizes`` as a tuple (an int means one layer).

    Raises
    ------
    NetworkParamsError
        For the first parameter out of its range or not one of its names.
    """
    hidden = est.hidden_layer_sizes
    if isinstance(hidden, numbers.Integral):
        hidden = (hidden,)
    hidden = tuple(hidden)
    require(
        all(isinstance(h, numbers.Integral) and h > 0 for h in hidden),
        f"hidden_layer_sizes must be positive integers, got {est.hidden_layer_sizes!r}",
    )
    require(est.activation in HIDDEN_ACTIVATIONS,
            f"activation must be one of {list(HIDDEN_ACTIVATIONS)}, got {est.activation!r}")
    get_activation(est.activation, est.activation_alpha)
    require(est.solver in OPTIMIZERS,
            f"solver must be one of {sorted(OPTIMIZERS)}, got {est.solver!r}")
    require(est.learning_rate in Schedule.names,
            f"learning_rate must be one of {list(Schedule.names)}, got {est.learning_rate!r}")
    get_initializer(est.init, est.activation)
    require(str(np.dtype(est.dtype)) in DTYPES,
            f"dtype must be float32 or float64, got {est.dtype!r}")
    for name in ("alpha", "tol", "lr_decay", "lr_min"):
        require(getattr(est, name) >= 0, f"{name} must be >= 0, got {getattr(est, name)}")
    for name in ("learning_rate_init", "epsilon"):
        require(getattr(est, name) > 0, f"{name} must be > 0, got {getattr(est, name)}")
    for name in ("max_iter", "n_iter_no_change"):
        value = getattr(est, name)
        require(isinstance(value, numbers.Integral) and value >= 1,
                f"{name} must be an integer >= 1, got {value!r}")
    require(isinstance(est.lr_warmup, numbers.Integral) and est.lr_warmup >= 0,
            f"lr_warmup must be an integer >= 0, got {est.lr_warmup!r}")
    for name in ("momentum", "beta_1", "beta_2", "rho"):
        value = getattr(est, name)
        require(0 <= value < 1, f"{name} must be in [0, 1), got {value}")
    require(0 < est.validation_fraction < 1,
            f"validation_fraction must be in (0, 1), got {est.validation_fraction}")
    require(0 <= est.dropout < 1, f"dropout must be in [0, 1), got {est.dropout}")
    require(0 <= est.label_smoothing < 1,
            f"label_smoothing must be in [0, 1), got {est.label_smoothing}")
    require(classifier or est.label_smoothing == 0,
            "label_smoothing applies to classifiers only")
    ar = est.alpha_rows
    require(ar is None or (isinstance(ar, numbers.Integral) and not isinstance(ar, bool)
                           and ar >= 1),
            f"alpha_rows must be None or an integer >= 1, got {ar!r}")
    bt = est.blas_threads
    require(bt is None or (isinstance(bt, numbers.Integral) and bt >= 1),
            f"blas_threads must be None or an integer >= 1, got {bt!r}")
    bs = est.batch_size
    require(bs == "auto" or (isinstance(bs, numbers.Integral) and bs >= 1),
            f"batch_size must be 'auto' or an integer >= 1, got {bs!r}")
    mb = est.min_batches
    require(isinstance(mb, numbers.Integral) and mb >= 1,
            f"min_batches must be an integer >= 1, got {mb!r}")
    return hidden
