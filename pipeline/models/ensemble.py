"""The soft vote of several classifiers: the mean of their probabilities, or a learnt pool.

Equal weights let a much weaker member pull the vote below its best member. The learnt vote
is a logarithmic pool, P(c) ∝ Π_i p_i(c)^w_i with w_i ≥ 0, its weights fitted by maximum
likelihood on the members' out-of-fold probabilities (a logistic regression on their
log-probabilities with one weight per member): it can fall back to the best member alone,
and a weight is also a temperature, so a member whose probabilities are too flat (a forest)
or too sharp is corrected. Out-of-fold means a cross-validation of the training rows
(:func:`weight_splits`: :data:`WEIGHT_FOLDS` parts, whole recordings), which costs
(``WEIGHT_FOLDS`` − 1) × the members' fits: ``weights="auto"`` learns only up to
:data:`LEARN_ROWS` training rows, where fits are cheap and members differ most, and takes the
plain mean above. The cross-validation of the ensemble runs the member fits as tasks of its
own and learns the weights from them with the same :func:`vote_weights`; with ten folds or
more its outer folds share those fits (:func:`pipeline.evaluation.cv.shared_parts`).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.utils.validation import check_is_fitted

from pipeline.models.parts import align_proba

#: Parts of the cross-validation of the training rows that learns the weights.
WEIGHT_FOLDS = 3
#: ``weights="auto"`` learns the weights up to this many training rows, equal above.
LEARN_ROWS = 2048
#: Probabilities are floored here before their log: a forest's 0 for a class stays finite.
FLOOR = 1e-9


def learns_weights(weights, n_rows: int) -> bool:
    """Whether a vote with setting ``weights`` learns them on ``n_rows`` training rows."""
    return weights == "learnt" or (weights == "auto" and n_rows <= LEARN_ROWS)


def given_weights(weights) -> list | None:
    """The weights of a vote that does not learn them: a list as given, else None (equal)."""
    return None if isinstance(weights, str) else weights


def weight_splits(y: np.ndarray, groups: np.ndarray | None = None) -> list[tuple]:
    """``(train, test)`` row positions of the cross-validation of training rows ``y`` (n,)
    whose out-of-fold probabilities the weights are learnt from.

    :data:`WEIGHT_FOLDS` parts of whole recordings ``groups`` (n,; None: every row its own),
    stratified by class where the recordings allow; deterministic. Empty with fewer than
    two recordings (nothing to learn from: equal weights).
    """
    groups = np.arange(len(y)) if groups is None else np.asarray(groups)
    k = min(WEIGHT_FOLDS, np.unique(groups).size)
    if k < 2:
        return []
    with warnings.catch_warnings():  # a class in fewer recordings than parts: stratify what it can
        warnings.simplefilter("ignore", UserWarning)
        return list(StratifiedGroupKFold(n_splits=k).split(np.zeros((len(y), 1)), y, groups))


def learn_weights(probas: np.ndarray, y_index: np.ndarray) -> np.ndarray:
    """Weights (m,) ≥ 0 of the log pool of ``probas`` (m, n, n_classes) that maximise the
    likelihood of the classes ``y_index`` (n,) of the n rows (the pool: :func:`log_pool`).

    The negative log-likelihood is convex in the weights; L-BFGS-B from equal weights
    (1/m each: the normalised geometric mean) with its exact gradient.
    """
    logs = np.log(np.maximum(probas, FLOOR))  # (m, n, c)
    rows = np.arange(probas.shape[1])

    def loss_and_gradient(weights):
        pooled = log_softmax(np.tensordot(weights, logs, 1), axis=1)  # (n, c)
        expected = np.einsum("nc,mnc->m", np.exp(pooled), logs) / len(rows)
        return -pooled[rows, y_index].mean(), expected - logs[:, rows, y_index].mean(axis=1)

    m = probas.shape[0]
    fitted = minimize(loss_and_gradient, np.full(m, 1.0 / m), jac=True, method="L-BFGS-B",
                      bounds=[(0.0, None)] * m)
    return fitted.x


def vote_weights(weights, y: np.ndarray, classes: np.ndarray,
                 fold_probas) -> tuple[list | None, bool]:
    """The weights a vote with setting ``weights`` uses on training labels ``y`` (n,), and
    whether they are learnt (a log pool) rather than those of a mean.

    Parameters
    ----------
    weights : None, list, "learnt" or "auto"
        The vote's setting.
    y : ndarray, shape (n,)
    classes : ndarray, shape (n_classes,)
        Sorted classes the probabilities are aligned to (those of ``y`` among them).
    fold_probas : sequence of (test, member probabilities)
        For every part of the training rows that learns the weights (those of
        :func:`weight_splits`, or others given): the positions (into ``y``) of its test
        rows and, per member, ``(proba, proba_classes)`` predicted for them. Rows in no
        part's test are not learnt from. Only read when the setting learns its weights on
        ``len(y)`` rows; none: equal weights.
    """
    if not learns_weights(weights, len(y)):
        return given_weights(weights), False
    if not fold_probas:  # fewer than two recordings: nothing to learn from
        return None, False
    probas = np.zeros((len(fold_probas[0][1]), len(y), len(classes)))
    seen = np.zeros(len(y), dtype=bool)  # the parts may leave rows out: they do not count
    for test, members in fold_probas:
        seen[test] = True
        for i, (proba, proba_classes) in enumerate(members):
            probas[i, test] = align_proba(proba, proba_classes, classes)
    return learn_weights(probas[:, seen], np.searchsorted(classes, y[seen])).tolist(), True


def log_pool(probas, weights) -> np.ndarray:
    """Normalised Π_i p_i ** w_i of probabilities ``probas`` (each (n, n_classes))."""
    logs = np.log(np.maximum(np.stack(probas), FLOOR))
    return np.exp(log_softmax(np.tensordot(np.asarray(weights, dtype=float), logs, 1), axis=1))


def vote(probas, weights=None, *, learnt: bool = False) -> np.ndarray:
    """The vote of probabilities ``probas`` (each (n, n_classes)): their mean with
    ``weights`` (None: equal), or with ``learnt`` weights their log pool."""
    if learnt:
        return log_pool(probas, weights)
    return np.average(np.stack(probas), axis=0, weights=weights)


class SoftVoteEnsemble(ClassifierMixin, BaseEstimator):
    """Weighted mean of the members' class probabilities (soft vote).

    Unlike ``VotingClassifier`` the members are kept by name, so each one can be saved in its
    own safe format and the ensemble rebuilt from them.

    Parameters
    ----------
    estimators : list of (str, estimator)
        Named members; clones are fitted.
    weights : None, list of float, "learnt" or "auto"
        Weight of each member's probabilities: equal (None), these, learnt by a
        cross-validation of the training rows, or learnt up to :data:`LEARN_ROWS` rows
        and equal above. The ones used are ``weights_`` (None: equal); ``learnt_`` says
        whether they are the learnt weights of a log pool rather than those of a mean.
    groups_params : dict, optional
        Member name → the fit parameter that takes the recording groups (the registry's
        ``groups_param``); members not named are fitted without them.
    """

    def __init__(self, estimators: list, weights=None, groups_params: dict | None = None):
        self.estimators = estimators
        self.weights = weights
        self.groups_params = groups_params

    def fit(self, X, y, groups=None, fitted=None, fold_probas=None, weight_parts=None):
        """Fit a clone of every member on ``X`` (n_samples, n_features), ``y`` (n_samples,).

        ``groups`` (n_samples,), the recording of every row, reaches the members that use
        it (the network's early stopping) and keeps recordings whole in the inner
        cross-validation. ``fitted`` (name → model) holds members already fitted on these
        same rows with the same parameters: they are used as they are. ``fold_probas``
        holds the members' probabilities on the splits of :func:`weight_splits` of these
        rows (as :func:`vote_weights` reads them), computed elsewhere from the same fits
        (the cross-validation's queue): the weights are learnt from them instead.
        ``weight_parts``, a list of ``(train, test)`` row positions, replaces the parts of
        :func:`weight_splits` (the cross-validation shares its parts across outer folds:
        :func:`pipeline.evaluation.cv.shared_parts`).
        """
        fitted = fitted or {}
        X, y = np.asarray(X), np.asarray(y)
        self.classes_ = np.unique(y)
        if fold_probas is not None:
            folds = fold_probas
        else:
            folds = (self._fold_probas(X, y, groups, weight_parts)
                     if learns_weights(self.weights, len(y)) else [])
        self.weights_, self.learnt_ = vote_weights(self.weights, y, self.classes_, folds)
        self.named_estimators_ = {
            name: fitted[name] if name in fitted else self._fit_member(name, est, X, y, groups)
            for name, est in self.estimators
        }
        self.n_features_in_ = X.shape[1]
        return self

    def _fit_member(self, name: str, estimator, X, y, groups):
        """A fitted clone of member ``name``, given the groups if it takes them."""
        param = (self.groups_params or {}).get(name)
        extra = {} if groups is None or param is None else {param: groups}
        return clone(estimator).fit(X, y, **extra)

    def _fold_probas(self, X, y, groups, parts=None) -> list:
        """The members' probabilities on the test part of every split of ``parts``
        (default :func:`weight_splits`; see :func:`vote_weights`)."""
        folds = []
        for train, test in weight_splits(y, groups) if parts is None else parts:
            part_groups = None if groups is None else np.asarray(groups)[train]
            members = [self._fit_member(name, est, X[train], y[train], part_groups)
                       for name, est in self.estimators]
            folds.append((test, [(m.predict_proba(X[test]), m.classes_) for m in members]))
        return folds

    def predict_proba(self, X) -> np.ndarray:
        """Weighted mean of the members' probabilities, shape (n_samples, n_classes)."""
        check_is_fitted(self, "named_estimators_")
        return vote([align_proba(est.predict_proba(X), est.classes_, self.classes_)
                     for est in self.named_estimators_.values()], self.weights_,
                    learnt=self.learnt_)

    def predict(self, X) -> np.ndarray:
        """Predicted labels, shape (n_samples,)."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
