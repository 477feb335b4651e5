"""Building, checking and fitting the registered models (:mod:`pipeline.models.registry`).

Every model takes the feature matrix ``X`` (n_clips, n_features) and class-name labels ``y``
(n_clips,) and predicts class names, so evaluation, persistence and submission never need to
know which family they hold. Hyper-parameters come from ``params.yaml`` (``train.<name>``),
merged over the registry's defaults; the one ``seed`` becomes every ``random_state``.
"""

from __future__ import annotations

import json

from pipeline.core.errors import UserError, check_range, shown
from pipeline.models.registry import (
    BASE_MODELS,
    MODEL_NAMES,
    REGISTRY,
    entry,
    entry_of,
    groups_route,
)

__all__ = [
    "accepted_params", "build_estimator", "build_models", "check_model_params",
    "fit_setting", "fit_with_groups", "fitted_base_models", "model_params", "resolve_names",
]


def fit_with_groups(estimator, X, y, groups=None):
    """``estimator.fit(X, y)``, passing the recording ``groups`` to the model that uses them.

    A model's registry entry names the fit parameter that takes them
    (:func:`~pipeline.models.registry.groups_route`: the network's early-stopping split and
    the ensemble's weight splits keep recordings whole); other models are fitted without.

    Parameters
    ----------
    estimator : unfitted classifier built from the registry
    X : ndarray, shape (n_samples, n_features)
    y : ndarray, shape (n_samples,)
    groups : ndarray, shape (n_samples,), optional

    Returns
    -------
    The fitted ``estimator``.

    Raises
    ------
    UserError
        The estimator refuses its parameters (its own validation, at this first real fit),
        in one line naming the model.
    """
    model, param = entry_of(estimator), groups_route(estimator)
    try:
        if groups is None or param is None:
            return estimator.fit(X, y)
        return estimator.fit(X, y, **{param: groups})
    except (ValueError, TypeError) as exc:  # xgboost's XGBoostError is a ValueError
        if model is None:
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"train.{model.name}: invalid parameters: {first}") from None


# --- derived from the registry -------------------------------------------------------------
def model_params(name: str, overrides: dict | None = None) -> dict:
    """Registry defaults of model ``name`` with ``overrides`` (``train.<name>``) merged on top."""
    merged = entry(name).default_params()
    merged.update(overrides or {})
    return merged


def fit_setting(name: str, train_params: dict, *, seed: int) -> dict:
    """What a fit of model ``name`` depends on besides its rows: the seed and its merged
    hyper-parameters (a combination's members' too), as JSON values.

    It is recorded with the model's reports and saved fit, so that a fit is reused (by the
    ensemble, say) only for the very setting it was made with.
    """
    setting: dict = {"seed": seed, "params": model_params(name, train_params.get(name))}
    if entry(name).combines:
        setting["members"] = {m: model_params(m, train_params.get(m))
                              for m in fitted_base_models(name, train_params)}
    # Through JSON: tuples become lists, so a recorded setting compares equal to a fresh one.
    return json.loads(json.dumps(setting, sort_keys=True, default=str))


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


def fitted_base_models(name: str, train_params: dict) -> list[str]:
    """The base models that fitting model ``name`` fits: itself, or a combination's members."""
    if not entry(name).combines:
        return [name]
    members = model_params(name, train_params.get(name)).get("members")
    return [m for m in members if m in BASE_MODELS] if isinstance(members, list) else []


#: Trees of a forest or boosted model at most: more only adds time and memory.
MAX_TREES = 10_000


def check_model_params(names, train_params: dict, *, seed: int) -> None:
    """Refuse unknown or invalid hyper-parameters of models ``names`` before real work.

    Keys are checked against :func:`accepted_params`, and every model is built (which
    checks the values the registry's factories read: ``top_features``, ``members``, ...).
    The estimators' own validation of the other values speaks at their first real fit
    (:func:`fit_with_groups`), in one line naming the model; no made-up data is fitted.

    Raises
    ------
    UserError
    """
    fitted = list(dict.fromkeys(m for n in names for m in fitted_base_models(n, train_params)))
    for name in dict.fromkeys([*names, *fitted]):
        # key=str: YAML keys may be numbers or null too
        unknown = sorted(set(train_params.get(name) or {}) - accepted_params(name), key=str)
        if unknown:
            listed = ", ".join(str(k)[:40] for k in unknown[:5])
            raise UserError(
                f"train.{name}: unknown parameter(s) {listed}; "
                f"accepted: {', '.join(sorted(accepted_params(name)))}"
            )
    for name in fitted:
        trees = model_params(name, train_params.get(name)).get("n_estimators")
        if trees is not None:  # xgboost takes 0 trees and predicts the prior: refused too
            check_range(f"train.{name}.n_estimators", trees, 1, MAX_TREES, integer=True)
    for name in dict.fromkeys([*names, *fitted]):
        build_estimator(name, train_params.get(name), seed=seed, all_params=train_params)


def build_estimator(
    name: str, params: dict | None = None, *, seed: int = 42, all_params: dict | None = None
):
    """Build the unfitted estimator registered as ``name``.

    Parameters
    ----------
    name : str
        A name of :data:`pipeline.models.registry.REGISTRY`.
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
