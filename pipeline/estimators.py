"""Model registry: a name → a scikit-learn compatible classifier.

Every model takes the feature matrix ``X`` (n_clips, n_features) and class-name labels ``y``
(n_clips,) and predicts class names, so evaluation, persistence and submission never need to
know which family they hold. Hyper-parameters come from ``params.yaml`` (``train.<name>``),
merged over the defaults below; the one ``seed`` becomes every ``random_state``.

The defaults are chosen for the full UrbanSound8K run (8732 clips, ~600 features, 4 models ×
11 fits on 2 cores): forests and boosting stay at a few hundred trees and use histogram
splits or feature subsampling, the networks stop early.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import LabelEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from pipeline.errors import UserError

#: Models that are fitted on their own; ``ensemble`` combines them.
BASE_MODELS: tuple[str, ...] = ("logreg", "ffnn", "rf", "xgb")
MODEL_NAMES: tuple[str, ...] = (*BASE_MODELS, "ensemble")

DEFAULTS: dict[str, dict[str, Any]] = {
    "logreg": {"C": 0.5, "max_iter": 400, "tol": 1e-3},
    "ffnn": {
        "hidden_layer_sizes": [256, 128],
        "activation": "relu",
        "alpha": 1e-2,
        "learning_rate_init": 1e-3,
        "batch_size": 128,
        "max_iter": 200,
        "early_stopping": True,
        "n_iter_no_change": 20,
    },
    "rf": {
        "n_estimators": 200,
        "max_features": "sqrt",
        "max_samples": 0.5,
        "min_samples_leaf": 1,
        "n_jobs": -1,
    },
    "xgb": {
        "n_estimators": 100,
        "learning_rate": 0.25,
        "max_depth": 4,
        "max_bin": 32,
        "subsample": 0.7,
        "colsample_bytree": 0.25,
        "n_jobs": -1,
    },
    # Soft vote of these members (each built with its own train.<member> parameters).
    "ensemble": {"members": ["logreg", "ffnn", "rf", "xgb"], "weights": None},
}


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
        codes = self.encoder_.transform(np.asarray(y))
        self.model_ = XGBClassifier(**self._booster_params())
        self.model_.fit(np.asarray(X, dtype=np.float32), codes)
        self.n_features_in_ = self.model_.n_features_in_
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


class SoftVoteEnsemble(ClassifierMixin, BaseEstimator):
    """Average of the members' class probabilities (soft vote).

    Unlike ``VotingClassifier`` the members are kept by name, so each one can be saved in its
    own safe format and the ensemble rebuilt from them.

    Parameters
    ----------
    estimators : list of (str, estimator)
        Named members; clones are fitted.
    weights : list of float, optional
        Weight of each member's probabilities (default: equal).
    """

    def __init__(self, estimators: list, weights: list | None = None):
        self.estimators = estimators
        self.weights = weights

    def fit(self, X, y, groups=None):
        """Fit a clone of every member on ``X`` (n_samples, n_features), ``y`` (n_samples,).

        ``groups`` (n_samples,), the recording of every row, reaches the members that use
        it (the network's early stopping).
        """
        self.classes_ = np.unique(np.asarray(y))
        self.named_estimators_ = {
            name: fit_with_groups(clone(est), X, y, groups) for name, est in self.estimators
        }
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Weighted mean of the members' probabilities, shape (n_samples, n_classes)."""
        check_is_fitted(self, "named_estimators_")
        probas = [
            align_proba(est.predict_proba(X), est.classes_, self.classes_)
            for est in self.named_estimators_.values()
        ]
        return np.average(np.stack(probas), axis=0, weights=self.weights)

    def predict(self, X) -> np.ndarray:
        """Predicted labels, shape (n_samples,)."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def _takes_groups(estimator) -> bool:
    return "groups" in inspect.signature(estimator.fit).parameters


def fit_with_groups(estimator, X, y, groups=None):
    """``estimator.fit(X, y)``, passing the recording ``groups`` to the parts that use them.

    A scikit-learn ``Pipeline`` routes them to its final step as ``NAME__groups`` (its
    fit parameters), the ensemble hands them to its members; other models ignore them.

    Parameters
    ----------
    estimator : unfitted classifier
    X : ndarray, shape (n_samples, n_features)
    y : ndarray, shape (n_samples,)
    groups : ndarray, shape (n_samples,), optional

    Returns
    -------
    The fitted ``estimator``.
    """
    if groups is None:
        return estimator.fit(X, y)
    if isinstance(estimator, Pipeline):
        name, last = estimator.steps[-1]
        if _takes_groups(last):
            return estimator.fit(X, y, **{f"{name}__groups": groups})
        return estimator.fit(X, y)
    if _takes_groups(estimator):
        return estimator.fit(X, y, groups=groups)
    return estimator.fit(X, y)


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


def model_params(name: str, overrides: dict | None = None) -> dict:
    """Defaults of model ``name`` with ``overrides`` (from ``train.<name>``) merged on top."""
    if name not in DEFAULTS:
        raise UserError(f"unknown model {name!r}; known: {', '.join(MODEL_NAMES)}")
    merged = dict(DEFAULTS[name])
    merged.update(overrides or {})
    return merged


def _hidden_sizes(value: Any) -> tuple[int, ...]:
    values = value if isinstance(value, (list, tuple)) else [value]
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                             for v in values):
        raise UserError(f"train.ffnn.hidden_layer_sizes must be a positive integer or a list of "
                        f"them, e.g. [256, 128]; got {value!r}")
    return tuple(values)


def accepted_params(name: str) -> set[str]:
    """Hyper-parameters model ``name`` accepts in ``train.<name>`` (its estimator's
    ``get_params()``, less ``random_state``, which the one seed sets)."""
    if name == "ensemble":
        return {"members", "weights"}
    if name == "xgb":
        from xgboost import XGBClassifier

        inner = XGBClassifier()
    else:
        built = build_estimator(name, {}, seed=0)
        inner = built.steps[-1][1] if isinstance(built, Pipeline) else built
    return set(inner.get_params(deep=False)) - {"random_state"}


def _fitted_models(name: str, train_params: dict) -> list[str]:
    """The base models that fitting model ``name`` fits: itself, or an ensemble's members."""
    if name != "ensemble":
        return [name]
    members = model_params(name, train_params.get(name)).get("members")
    return [m for m in members if m in BASE_MODELS] if isinstance(members, list) else []


def check_model_params(names, train_params: dict, *, seed: int) -> None:
    """Refuse unknown or invalid hyper-parameters of models ``names`` before real work.

    Keys are checked against :func:`accepted_params`; values by fitting every model that
    ``names`` fit (as configured) on a tiny random problem, so the estimators' own
    validation speaks, in one line naming the model, instead of a traceback in the middle
    of a cross-validation.

    Raises
    ------
    UserError
    """
    from xgboost.core import XGBoostError

    fitted = list(dict.fromkeys(m for n in names for m in _fitted_models(n, train_params)))
    for name in dict.fromkeys([*names, *fitted]):
        unknown = sorted(set(train_params.get(name) or {}) - accepted_params(name))
        if unknown:
            raise UserError(
                f"train.{name}: unknown parameter(s) {', '.join(map(str, unknown))}; "
                f"accepted: {', '.join(sorted(accepted_params(name)))}"
            )
    if "ensemble" in names:  # members, weights
        build_estimator("ensemble", train_params.get("ensemble"), all_params=train_params)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(36, 6)).astype(np.float32)
    y = np.array(["a", "b", "c"] * 12, dtype=object)
    for name in fitted:
        try:
            model = build_estimator(name, train_params.get(name), seed=seed)
            trees = model.get_params().get("n_estimators")
            if isinstance(model, RandomForestClassifier) and isinstance(trees, int) and trees > 3:
                model.set_params(n_estimators=3)  # the values are validated, not the forest
            set_n_jobs(model, 1)  # threads cost more than they save on 36 rows
            model.fit(X, y).predict_proba(X[:3])
        except (ValueError, TypeError, XGBoostError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UserError(f"train.{name}: invalid parameters: {first}") from None


def build_estimator(
    name: str, params: dict | None = None, *, seed: int = 42, all_params: dict | None = None
):
    """Build the unfitted estimator registered as ``name``.

    Parameters
    ----------
    name : {"logreg", "ffnn", "rf", "xgb", "ensemble"}
    params : dict, optional
        Hyper-parameters of this model, merged over :data:`DEFAULTS`.
    seed : int
        ``random_state`` of every random part.
    all_params : dict, optional
        ``{model name: params}`` of every model; the ensemble builds its members from it.

    Returns
    -------
    estimator
        A scikit-learn classifier taking class-name labels.
    """
    p = model_params(name, params)
    if name == "logreg":
        clf = LogisticRegression(random_state=seed, **p)
        return Pipeline([("scale", StandardScaler()), ("clf", clf)])
    if name == "ffnn":
        try:
            from pipeline.nn import FFNNClassifier
        except ImportError as exc:  # the network package is optional at import time
            raise UserError(f"model 'ffnn' is not available: {exc}") from None
        if "hidden_layer_sizes" in p:
            p["hidden_layer_sizes"] = _hidden_sizes(p["hidden_layer_sizes"])
        return Pipeline(
            [("scale", StandardScaler()), ("clf", FFNNClassifier(random_state=seed, **p))]
        )
    if name == "rf":
        return RandomForestClassifier(random_state=seed, **p)
    if name == "xgb":
        return EncodedXGBClassifier(params=p, random_state=seed)
    # ensemble
    members = list(p.get("members") or [])
    unknown = [m for m in members if m not in BASE_MODELS]
    if not members or unknown:
        raise UserError(
            f"train.ensemble.members must name models among {', '.join(BASE_MODELS)}, "
            f"got {members!r}"
        )
    extra = sorted(set(p) - {"members", "weights"})
    if extra:
        raise UserError(f"train.ensemble: unknown key(s) {', '.join(extra)}")
    weights = p.get("weights")
    if weights is not None and not (
        isinstance(weights, list) and len(weights) == len(members)
        and all(isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0
                for w in weights) and sum(weights) > 0
    ):
        raise UserError(f"train.ensemble.weights must be null or {len(members)} non-negative "
                        f"numbers (one per member, not all 0), got {weights!r}")
    all_params = all_params or {}
    estimators = [(m, build_estimator(m, all_params.get(m), seed=seed)) for m in members]
    return SoftVoteEnsemble(estimators, weights=weights)


def build_models(names, train_params: dict, *, seed: int) -> dict:
    """Build ``{name: estimator}`` for ``names`` with ``train_params[name]`` overrides."""
    return {
        name: build_estimator(name, train_params.get(name), seed=seed, all_params=train_params)
        for name in names
    }


def set_n_jobs(estimator, n_jobs: int):
    """Set the thread count of every part of ``estimator`` that has one (in place).

    Cross-validation runs several fits at once; each then uses one thread so the
    machine is not oversubscribed.
    """
    if isinstance(estimator, Pipeline):
        for _, step in estimator.steps:
            set_n_jobs(step, n_jobs)
    elif isinstance(estimator, SoftVoteEnsemble):
        for _, member in estimator.estimators:
            set_n_jobs(member, n_jobs)
    elif isinstance(estimator, EncodedXGBClassifier):
        estimator.params = {**(estimator.params or {}), "n_jobs": n_jobs}
    elif isinstance(estimator, RandomForestClassifier):
        estimator.set_params(n_jobs=n_jobs)
    return estimator


def resolve_names(choice: str, default: tuple[str, ...]) -> list[str]:
    """Turn a ``--model`` choice (a name or ``"all"``) into a list of model names.

    ``"all"`` is ``default`` (``train.models``) plus the ``ensemble``, so the soft vote is
    cross-validated, trained and may be chosen as ``best`` by default.
    """
    names = list(default) if choice in (None, "all") else [choice]
    if choice in (None, "all") and "ensemble" not in names:
        names.append("ensemble")
    unknown = [n for n in names if n not in MODEL_NAMES]
    if unknown:
        raise UserError(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(MODEL_NAMES)}")
    return names
