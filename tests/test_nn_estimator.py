"""FFNNClassifier / FFNNRegressor: learning, determinism, the scikit-learn contract.

Estimator checks: all of ``parametrize_with_checks`` runs on both classes. The only check
not run is ``check_array_api_input``, which scikit-learn itself skips unless the
``SCIPY_ARRAY_API`` environment variable is set (the network is numpy-only, so the array
API does not apply).
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from pipeline.nn import FFNNClassifier, FFNNRegressor, NetworkParamsError

# Small and quick for the checks' tiny data sets, yet enough to pass their accuracy bars.
CHECK_KW = dict(hidden_layer_sizes=(16,), max_iter=60, learning_rate_init=0.01)


@parametrize_with_checks([FFNNClassifier(**CHECK_KW), FFNNRegressor(**CHECK_KW)])
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]] * 8, dtype=float)
XOR_Y = np.array([0, 1, 1, 0] * 8)


@pytest.mark.parametrize("solver", ["adam", "sgd", "rmsprop", "adagrad"])
def test_learns_xor(solver):
    lr = {"adam": 0.05, "sgd": 0.2, "rmsprop": 0.02, "adagrad": 0.2}[solver]
    clf = FFNNClassifier(hidden_layer_sizes=(8,), activation="tanh", solver=solver,
                         learning_rate_init=lr, batch_size=4, max_iter=300, alpha=0.0,
                         random_state=0, tol=0.0, n_iter_no_change=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(XOR_X, XOR_Y)
    assert clf.score(XOR_X, XOR_Y) == 1.0
    assert clf.loss_curve_[-1] < 0.1 < clf.loss_curve_[0]


def _blobs(seed=0, n=120):
    rng = np.random.default_rng(seed)
    centers = np.array([[0, 0], [3, 3], [0, 4]])
    y = rng.integers(0, 3, n)
    return centers[y] + rng.normal(0, 0.7, (n, 2)), y


def test_deterministic_under_random_state():
    X, y = _blobs()
    kw = dict(hidden_layer_sizes=(10,), max_iter=20, random_state=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a, b = FFNNClassifier(**kw).fit(X, y), FFNNClassifier(**kw).fit(X, y)
        c = FFNNClassifier(**{**kw, "random_state": 8}).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert a.loss_curve_ == b.loss_curve_
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])


def test_no_hidden_layer_is_logistic_regression_on_digits():
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    scaler = StandardScaler().fit(X_tr)
    X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
    # LogisticRegression(C=1) minimises Σ CE + ½‖W‖², i.e. mean CE + ‖W‖² / (2n).
    ours = FFNNClassifier(hidden_layer_sizes=(), alpha=1 / (2 * len(X_tr)), max_iter=100,
                          learning_rate_init=0.01, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X_tr, y_tr)
    ref = LogisticRegression(max_iter=2000).fit(X_tr, y_tr)
    assert len(ours.coefs_) == 1 and ours.coefs_[0].shape == (64, 10)
    assert abs(ours.score(X_te, y_te) - ref.score(X_te, y_te)) <= 0.01


def test_binary_uses_one_sigmoid_output():
    X, y = _blobs()
    labels = np.where(y == 0, "quiet", "loud")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = FFNNClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0,
                             learning_rate_init=0.02).fit(X, labels)
    assert clf.out_activation_ == "logistic" and clf.coefs_[-1].shape[1] == 1
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert clf.score(X, labels) > 0.9


def test_early_stopping_restores_the_best_weights():
    X, y = _blobs(n=300)
    clf = FFNNClassifier(hidden_layer_sizes=(16,), early_stopping=True, validation_fraction=0.2,
                         n_iter_no_change=3, max_iter=200, random_state=0,
                         learning_rate_init=0.02).fit(X, y)
    assert clf.n_iter_ < 200
    assert len(clf.validation_scores_) == len(clf.loss_curve_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    # Training stopped only once the patience had run out after the best epoch.
    best_epoch = int(np.argmax(clf.validation_scores_))
    assert clf.n_iter_ - 1 - best_epoch >= 3
    assert clf.score(X, y) > 0.9


def test_early_stopping_weights_are_those_of_the_best_epoch():
    # Replaying the same run for exactly best-epoch epochs must give the restored weights.
    X, y = _blobs(n=200)
    kw = dict(hidden_layer_sizes=(12,), early_stopping=True, n_iter_no_change=2,
              max_iter=100, random_state=3, learning_rate_init=0.05, tol=0.05)
    clf = FFNNClassifier(**kw).fit(X, y)
    best_epoch = int(np.argmax(clf.validation_scores_)) + 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        replay = FFNNClassifier(**{**kw, "early_stopping": True, "max_iter": best_epoch,
                                   "n_iter_no_change": 1000}).fit(X, y)
    np.testing.assert_array_equal(clf.coefs_[0], replay.coefs_[0])


@pytest.mark.parametrize("schedule, warns", [("constant", True), ("cosine", False)])
def test_running_all_epochs_warns_unless_the_schedule_planned_them(schedule, warns):
    X, y = _blobs()
    clf = FFNNClassifier(hidden_layer_sizes=(8,), max_iter=3, learning_rate=schedule,
                         random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    assert clf.n_iter_ == 3
    assert any(issubclass(w.category, ConvergenceWarning) for w in caught) == warns


def test_partial_fit_continues_training():
    X, y = _blobs()
    clf = FFNNClassifier(hidden_layer_sizes=(8,), random_state=0, learning_rate_init=0.02,
                         batch_size=16)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, y)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    first = clf.loss_curve_[0]
    for _ in range(30):
        clf.partial_fit(X, y)
    assert clf.n_iter_ == 31 and clf.loss_curve_[-1] < first
    assert clf.score(X, y) > 0.9


def test_regressor_fits_a_smooth_function():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (200, 2))
    y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2
    reg = FFNNRegressor(hidden_layer_sizes=(32,), activation="tanh", learning_rate_init=0.01,
                        max_iter=300, random_state=0, batch_size=32).fit(X, y)
    assert reg.score(X, y) > 0.95
    assert reg.predict(X).shape == (200,) and reg.predict(X).dtype == np.float64
    two = FFNNRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        two.fit(X, np.c_[y, -y])
    assert two.predict(X).shape == (200, 2)


@pytest.mark.parametrize("schedule", ["constant", "step", "exponential", "cosine"])
@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "elu", "tanh", "logistic"])
def test_every_schedule_and_activation_trains(schedule, activation):
    X, y = _blobs()
    clf = FFNNClassifier(hidden_layer_sizes=(8,), activation=activation, learning_rate=schedule,
                         lr_warmup=5, learning_rate_init=0.03, max_iter=40, random_state=0,
                         batch_size=16,
                         tol=0.0, n_iter_no_change=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert clf.score(X, y) > 0.85


@pytest.mark.parametrize(
    ("param", "value", "match"),
    [
        ("activation", "swish", "activation"),
        ("solver", "lbfgs", "solver"),
        ("learning_rate", "invscaling", "learning_rate"),
        ("init", "zeros", "init"),
        ("dtype", "float16", "dtype"),
        ("hidden_layer_sizes", (10, 0), "hidden_layer_sizes"),
        ("batch_size", 0, "batch_size"),
        ("min_batches", 0, "min_batches"),
        ("min_batches", 2.5, "min_batches"),
        ("max_iter", 0, "max_iter"),
        ("momentum", 1.5, "momentum"),
        ("validation_fraction", 1.0, "validation_fraction"),
        ("blas_threads", 0, "blas_threads"),
        ("label_smoothing", -0.1, "label_smoothing"),
        ("label_smoothing", 1.0, "label_smoothing"),
        ("dropout", -0.1, "dropout"),
        ("dropout", 1.0, "dropout"),
        ("alpha_rows", 0, "alpha_rows"),
        ("alpha_rows", 2.5, "alpha_rows"),
        ("alpha_rows", True, "alpha_rows"),
    ],
)
def test_bad_parameters_are_refused_in_fit(param, value, match):
    X, y = _blobs()
    clf = FFNNClassifier(**{param: value})  # __init__ only stores
    assert getattr(clf, param) == value
    # NetworkParamsError is a ValueError, as scikit-learn's estimators raise.
    with pytest.raises(NetworkParamsError, match=match):
        clf.fit(X, y)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_alpha_rows_scales_the_penalty_by_the_training_rows(early_stopping):
    # With alpha_rows the network trains exactly as with the fixed λ = alpha × rows / n,
    # n the rows it trains on (after the held-out part under early stopping).
    X, y = _blobs()
    kw = dict(hidden_layer_sizes=(8,), max_iter=5, early_stopping=early_stopping,
              random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scaled = FFNNClassifier(alpha=0.01, alpha_rows=30, **kw).fit(X, y)
        n_train = len(y) - (round(0.1 * len(y)) if early_stopping else 0)
        fixed = FFNNClassifier(alpha=0.01 * 30 / n_train, **kw).fit(X, y)
        plain = FFNNClassifier(alpha=0.01, **kw).fit(X, y)
    assert scaled.penalty(n_train) == pytest.approx(0.01 * 30 / n_train)
    assert scaled.loss_curve_ == fixed.loss_curve_
    assert scaled.loss_curve_ != plain.loss_curve_
    assert FFNNClassifier(alpha=0.01).penalty(n_train) == 0.01


@pytest.mark.parametrize(("n_rows", "batch_size", "min_batches", "updates_per_epoch"),
                         [(120, 256, 1, 1), (120, 256, 8, 8), (120, 32, 2, 4), (120, 256, 16, 18),
                          (5, 256, 16, 5)])
def test_min_batches_shrinks_the_batch_of_a_small_training_set(
        n_rows, batch_size, min_batches, updates_per_epoch):
    X, y = _blobs()
    X, y = X[:n_rows], y[:n_rows]
    clf = FFNNClassifier(hidden_layer_sizes=(4,), batch_size=batch_size,
                         min_batches=min_batches, max_iter=3, learning_rate="cosine",
                         random_state=0).fit(X, y)
    # batch = min(batch_size, n // min_batches): 120 // 16 = 7 rows, 18 updates an epoch.
    assert clf.t_ == 3 * updates_per_epoch


def test_label_smoothing_is_for_classifiers_only():
    X, y = _blobs()
    with pytest.raises(NetworkParamsError, match="classifiers only"):
        FFNNRegressor(label_smoothing=0.1).fit(X, y.astype(float))


@pytest.mark.parametrize(("n_classes", "eps"), [(3, 0.3), (2, 0.2)])
def test_label_smoothing_trains_towards_the_smoothed_targets(n_classes, eps):
    # Far-apart blobs are separable: without smoothing (and without L2) the probabilities
    # run towards 1; with it the optimum of the loss is the target itself, 1 − ε + ε/K.
    rng = np.random.default_rng(0)
    y = np.arange(90) % n_classes
    X = np.array([[0, 0], [3, 3], [0, 4]])[y] + rng.uniform(-0.5, 0.5, (90, 2))
    kw = dict(hidden_layer_sizes=(8,), alpha=0.0, learning_rate_init=0.01, max_iter=400,
              tol=0.0, n_iter_no_change=1000, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = FFNNClassifier(**kw).fit(X, y)
        smooth = FFNNClassifier(label_smoothing=eps, **kw).fit(X, y)
    assert smooth.score(X, y) == plain.score(X, y) == 1.0
    p_true = smooth.predict_proba(X)[np.arange(len(y)), y]
    assert np.median(p_true) == pytest.approx(1 - eps + eps / n_classes, abs=0.01)
    assert np.median(plain.predict_proba(X)[np.arange(len(y)), y]) > 0.995


def test_float64_dtype_and_verbose_progress(capsys):
    X, y = _blobs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = FFNNClassifier(hidden_layer_sizes=(4,), max_iter=3, dtype="float64", verbose=True,
                             random_state=0).fit(X, y)
    assert clf.coefs_[0].dtype == np.float64
    err = capsys.readouterr().err
    assert "epoch 3/3" in err and err.count("\n") == 1
