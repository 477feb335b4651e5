"""The estimators of the registered models, built and checked from :mod:`pipeline.registry`.

Every model takes the feature matrix ``X`` (n_clips, n_features) and class-name labels ``y``
(n_clips,) and predicts class names, so evaluation, persistence and submission never need to
know which family they hold. Hyper-parameters come from ``params.yaml`` (``train.<name>``),
merged over the registry's defaults; the one ``seed`` becomes every ``random_state``.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.validation import check_is_fitted

from pipeline.errors import UserError, check_range, shown
from pipeline.registry import BASE_MODELS, MODEL_NAMES, REGISTRY, entry, entry_of, fitted_part

__all__ = [
    "BASE_MODELS", "MODEL_NAMES", "EncodedXGBClassifier", "accepted_params",
    "align_proba", "build_estimator", "build_models", "check_model_params", "fit_with_groups",
    "model_params", "resolve_names", "set_n_jobs",
]

#: Trees of a forest or boosted model at most: more only adds time and memory.
MAX_TREES = 10_000


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
    top_features : int, optional
        Boost on only the ``top_features`` columns of highest ANOVA F score on the training
        rows (None: all). XGBoost's ``hist`` method builds its histograms over every column
        of a dense row, whatever ``colsample_bytree`` samples, so fewer columns is what
        makes it faster.
    """

    def __init__(self, params: dict | None = None, random_state: int | None = None,
                 top_features: int | None = None):
        self.params = params
        self.random_state = random_state
        self.top_features = top_features

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
        X = np.asarray(X, dtype=np.float32)
        self.columns_ = top_columns(X, codes, self.top_features)
        self.model_ = XGBClassifier(**self._booster_params())
        self.model_.fit(X if self.columns_ is None else X[:, self.columns_], codes)
        self.n_features_in_ = X.shape[1]
        return self

    def _kept(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        columns = getattr(self, "columns_", None)
        return X if columns is None else X[:, columns]

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_`` order."""
        check_is_fitted(self, "model_")
        proba = self.model_.predict_proba(self._kept(X))
        if proba.ndim == 1:  # a single class seen in training
            proba = proba.reshape(-1, 1)
        return proba

    def predict(self, X) -> np.ndarray:
        """Predicted labels, shape (n_samples,)."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def top_columns(X: np.ndarray, codes: np.ndarray, k: int | None) -> np.ndarray | None:
    """Indices (ascending) of the ``k`` columns of ``X`` (n, d) of highest ANOVA F score
    against the labels ``codes`` (n,), codes or class names; None when ``k`` is None or
    not below ``d``. A constant column scores lowest."""
    if k is None or k >= X.shape[1]:
        return None
    from sklearn.feature_selection import f_classif

    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")  # constant columns: F is undefined, ranked last
        scores, _ = f_classif(X, codes)
    scores = np.nan_to_num(scores, nan=-np.inf, posinf=np.finfo(np.float64).max)
    return np.sort(np.argsort(-scores, kind="stable")[:k])


class TopFColumns(TransformerMixin, BaseEstimator):
    """Keep the ``k`` columns of highest ANOVA F score on the training rows
    (:func:`top_columns`); None keeps all. ``X`` (n, d) → (n, k)."""

    def __init__(self, k: int | None = None):
        self.k = k

    def fit(self, X, y):
        """Choose the columns on ``X`` (n, d) and labels ``y`` (n,)."""
        X = np.asarray(X)
        self.columns_ = top_columns(X, np.asarray(y), self.k)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        """The chosen columns of ``X``, shape (n, k)."""
        check_is_fitted(self, "n_features_in_")
        X = np.asarray(X)
        return X if self.columns_ is None else X[:, self.columns_]


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



# --- derived from the registry -------------------------------------------------------------
def model_params(name: str, overrides: dict | None = None) -> dict:
    """Registry defaults of model ``name`` with ``overrides`` (``train.<name>``) merged on top."""
    merged = entry(name).default_params()
    merged.update(overrides or {})
    return merged


def accepted_params(name: str) -> set[str]:
    """Hyper-parameters model ``name`` accepts in ``train.<name>`` (its estimator's
    ``get_params()``, less ``random_state``, which the one seed sets)."""
    return set(entry(name).accepted_params())


def _members(name: str, params: dict) -> list[str]:
    """The validated ``members`` of combining model ``name`` (``params`` merged)."""
    members = params.get("members")
    members = list(members) if isinstance(members, (list, tuple)) else members
    if not members or not isinstance(members, list) or any(m not in BASE_MODELS
                                                           for m in members):
        raise UserError(f"train.{name}.members must name models among "
                        f"{', '.join(BASE_MODELS)}, got {shown(members)}")
    return members


def _fitted_models(name: str, train_params: dict) -> list[str]:
    """The base models that fitting model ``name`` fits: itself, or a combination's members."""
    if not entry(name).combines:
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
        # key=str: YAML keys may be numbers or null too
        unknown = sorted(set(train_params.get(name) or {}) - accepted_params(name), key=str)
        if unknown:
            listed = ", ".join(str(k)[:40] for k in unknown[:5])
            raise UserError(
                f"train.{name}: unknown parameter(s) {listed}; "
                f"accepted: {', '.join(sorted(accepted_params(name)))}"
            )
    for name in names:
        if entry(name).combines:  # members, weights
            build_estimator(name, train_params.get(name), all_params=train_params)
    for name in fitted:
        trees = model_params(name, train_params.get(name)).get("n_estimators")
        if trees is not None:  # xgboost takes 0 trees and predicts the prior: refused too
            check_range(f"train.{name}.n_estimators", trees, 1, MAX_TREES, integer=True)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(36, 6)).astype(np.float32)
    y = np.array(["a", "b", "c"] * 12, dtype=object)
    for name in fitted:
        try:
            model = build_estimator(name, train_params.get(name), seed=seed)
            part = fitted_part(model)
            trees = part.get_params().get("n_estimators")
            if isinstance(trees, int) and trees > 3:
                part.set_params(n_estimators=3)  # the values are validated, not the forest
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
    name : str
        A name of :data:`pipeline.registry.REGISTRY`.
    params : dict, optional
        Hyper-parameters of this model, merged over its registry defaults.
    seed : int
        ``random_state`` of every random part.
    all_params : dict, optional
        ``{model name: params}`` of every model; a combining model (the ensemble) builds
        its members from it.

    Returns
    -------
    estimator
        A scikit-learn classifier taking class-name labels.
    """
    model = entry(name)
    p = model_params(name, params)
    if not model.combines:
        return model.build(p, seed)
    members = _members(name, p)
    extra = sorted(set(p) - model.accepted_params())
    if extra:
        raise UserError(f"train.{name}: unknown key(s) {', '.join(extra)}")
    all_params = all_params or {}
    built = [(m, build_estimator(m, all_params.get(m), seed=seed)) for m in members]
    return model.build(p, seed, members=built)


def build_models(names, train_params: dict, *, seed: int) -> dict:
    """Build ``{name: estimator}`` for ``names`` with ``train_params[name]`` overrides."""
    return {
        name: build_estimator(name, train_params.get(name), seed=seed, all_params=train_params)
        for name in names
    }


def set_n_jobs(estimator, n_jobs: int):
    """Set the thread count of ``estimator`` (in place), as its registry entry says.

    Cross-validation runs several fits at once; each then uses one thread so the
    machine is not oversubscribed. A model that is not registered is left as it is.
    """
    model = entry_of(estimator)
    if model is not None and model.set_threads is not None:
        model.set_threads(fitted_part(estimator), n_jobs)
    return estimator


def resolve_names(choice: str, default: tuple[str, ...]) -> list[str]:
    """Turn a ``--model`` choice (a name or ``"all"``) into a list of model names.

    ``"all"`` is ``default`` (``train.models``) plus the combining models (the ensemble),
    so the soft vote is cross-validated, trained and may be chosen as ``best`` by default.
    """
    names = list(default) if choice in (None, "all") else [choice]
    if choice in (None, "all"):
        names += [n for n, e in REGISTRY.items() if e.combines and n not in names]
    unknown = [n for n in names if n not in MODEL_NAMES]
    if unknown:
        raise UserError(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(MODEL_NAMES)}")
    return names
