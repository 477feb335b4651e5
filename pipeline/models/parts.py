"""The estimator parts the registry's factories assemble: the xgboost wrapper that takes
class names, the random forest and the quantile scaling sized to small training sets, the
top-F column selection (scikit-learn's ``SelectKBest``), and the alignment of probability
columns between class sets."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.preprocessing import LabelEncoder, QuantileTransformer
from sklearn.utils.validation import check_is_fitted


class EncodedXGBClassifier(ClassifierMixin, BaseEstimator):
    """``xgboost.XGBClassifier`` that accepts any labels (class names).

    XGBoost wants integer labels 0..k-1; this wrapper encodes them in ``fit`` and decodes
    predictions, so a training fold that lacks a class still works.

    Parameters
    ----------
    params : dict, optional
        Keyword arguments of ``xgboost.XGBClassifier`` (``tree_method`` defaults to ``"hist"``).
    random_state : int, optional
        Seed of the booster.
    """

    def __init__(self, params: dict | None = None, random_state: int | None = None):
        self.params = params
        self.random_state = random_state

    def _booster_params(self) -> dict:
        kwargs = {"tree_method": "hist", **(self.params or {})}
        kwargs["random_state"] = self.random_state
        return kwargs

    def fit(self, X, y):
        """Fit on ``X`` (n_samples, n_features) and labels ``y`` (n_samples,)."""
        from xgboost import XGBClassifier

        self.encoder_ = LabelEncoder().fit(np.asarray(y))
        self.classes_ = self.encoder_.classes_
        X = np.asarray(X, dtype=np.float32)
        self.model_ = XGBClassifier(**self._booster_params())
        self.model_.fit(X, self.encoder_.transform(np.asarray(y)))
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_`` order."""
        check_is_fitted(self, "model_")
        proba = self.model_.predict_proba(np.asarray(X, dtype=np.float32))
        if proba.ndim == 1:  # a single class seen in training
            proba = proba.reshape(-1, 1)
        return proba

    def predict(self, X) -> np.ndarray:
        """Predicted labels, shape (n_samples,)."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


#: Fewest rows a tree of :class:`BootstrapForest` draws (all of them when there are fewer).
MIN_BOOTSTRAP = 10


class BootstrapForest(RandomForestClassifier):
    """``RandomForestClassifier`` whose fractional ``max_samples`` never draws fewer than
    :data:`MIN_BOOTSTRAP` rows per tree.

    A fraction of a tiny training part (an inner fold of a few dozen clips) would grow trees
    on a handful of rows, which scikit-learn rightly warns about; the floor keeps such trees
    meaningful and leaves every larger fit exactly as the fraction says.
    """

    def fit(self, X, y, sample_weight=None):
        """Fit on ``X`` (n_samples, n_features), ``y`` (n_samples,)."""
        fraction, n = self.max_samples, len(y)
        if not (self.bootstrap and isinstance(fraction, float)
                and int(fraction * n) < MIN_BOOTSTRAP):
            return super().fit(X, y, sample_weight=sample_weight)
        with fit_parameters(self, max_samples=min(n, MIN_BOOTSTRAP)):
            return super().fit(X, y, sample_weight=sample_weight)


class RowQuantiles(QuantileTransformer):
    """``QuantileTransformer`` that keeps no more quantiles than it has training rows.

    scikit-learn makes the same reduction on its own, with a warning for every small fit
    (an inner fold of a few dozen clips); here it is the stated behaviour.
    """

    def fit(self, X, y=None):
        """Fit the quantiles of ``X`` (n_samples, n_features)."""
        rows = len(X)
        if rows >= self.n_quantiles:
            return super().fit(X, y)
        with fit_parameters(self, n_quantiles=max(rows, 1)):
            return super().fit(X, y)


@contextmanager
def fit_parameters(estimator, **params) -> Iterator[None]:
    """Set ``params`` on ``estimator`` for one fit and restore them after it: a fit must
    leave the parameters as they were given."""
    given = {name: getattr(estimator, name) for name in params}
    estimator.set_params(**params)
    try:
        yield
    finally:
        estimator.set_params(**given)


#: ``f_classif``'s note on columns without variance inside the classes, which
#: :func:`f_scores` expects: their F is undefined (NaN) and ``SelectKBest`` ranks them last.
_CONSTANT_NOTE = {"message": r"(?s)Features \[.*\] are constant\.", "category": UserWarning,
                  "module": r"sklearn\.feature_selection"}


def _ignore_constant_note() -> None:
    """Put the filter of :data:`_CONSTANT_NOTE` in the process's list, once.

    Not ``warnings.catch_warnings`` around each call: it swaps the process's filter list,
    so fits running side by side in threads (the ``threads`` scheduler) restored one
    another's lists and let the note through. Checked at every call, as a harness (pytest)
    may reset the list.
    """
    ignore = ("ignore", re.compile(_CONSTANT_NOTE["message"], re.I), UserWarning,
              re.compile(_CONSTANT_NOTE["module"]), 0)
    if ignore not in warnings.filters:
        warnings.filterwarnings("ignore", **_CONSTANT_NOTE)


def f_scores(X, y) -> tuple[np.ndarray, np.ndarray]:
    """``f_classif(X, y)`` without its note about columns without variance, nor numpy's
    warnings for them: their F is undefined (NaN), ranked last by ``SelectKBest``."""
    _ignore_constant_note()
    with np.errstate(divide="ignore", invalid="ignore"):  # numpy's state is per thread
        return f_classif(X, y)


class TopFColumns(SelectKBest):
    """``SelectKBest`` whose ``k`` at or above the columns of ``X`` keeps them all, as a
    stated behaviour: scikit-learn does the same with a warning at every fit, which a store
    of fewer columns than ``top_features`` (other feature settings, a table of one's own)
    would print for every model and fold."""

    def fit(self, X, y=None):
        """Score the columns of ``X`` (n_samples, n_features) against the classes ``y``."""
        if self.k == "all" or self.k < np.shape(X)[1]:
            return super().fit(X, y)
        with fit_parameters(self, k="all"):
            return super().fit(X, y)


def top_f_columns(k: int | None) -> TopFColumns:
    """The unfitted selection of the ``k`` columns of highest ANOVA F score on the training
    rows (None: every column); ``X`` (n, d) → (n, min(k, d))."""
    return TopFColumns(f_scores, k="all" if k is None else k)


def fitted_top_f_columns(columns, n_features: int) -> TopFColumns:
    """The fitted selection that keeps ``columns`` (ascending indices; None: all) of rows of
    ``n_features`` columns: a saved model's selection read back."""
    select = top_f_columns(None if columns is None else len(columns))
    scores = np.ones(n_features) if columns is None else np.zeros(n_features)
    if columns is not None:
        scores[np.asarray(columns, dtype=np.intp)] = 1.0  # exactly these rank in the top k
    select.scores_, select.pvalues_ = scores, 1.0 - scores
    select.n_features_in_ = n_features
    return select


def selected_columns(select: SelectKBest) -> list[int] | None:
    """The ascending column indices ``select`` keeps; None when it keeps every column."""
    if select.k == "all":
        return None
    return [int(c) for c in select.get_support(indices=True)]


def align_proba(proba: np.ndarray, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Reorder probability columns from classes ``source`` to classes ``target``.

    Parameters
    ----------
    proba : ndarray, shape (n_samples, len(source))
    source, target : ndarray of labels

    Returns
    -------
    ndarray, shape (n_samples, len(target))
        Classes missing from ``source`` get probability 0.
    """
    out = np.zeros((proba.shape[0], len(target)), dtype=np.float64)
    where = {label: i for i, label in enumerate(target)}
    for j, label in enumerate(source):
        out[:, where[label]] = proba[:, j]
    return out
