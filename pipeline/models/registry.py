"""The model registry: one entry per model, the only place a model is defined.

An entry names the model, builds its unfitted estimator from ``(params, seed)``, holds its
default hyper-parameters, names the format it is saved in (:mod:`pipeline.models.persist`), says
how its thread count is set and whether it combines other models. Everything else derives
from :data:`REGISTRY`: the CLI's ``--model`` choices, the ``train`` section of the params
(:class:`pipeline.core.config.TrainParams`), parameter validation and building
(:mod:`pipeline.models.estimators`), persistence, and the documentation's model table
(:func:`markdown_table`; ``urbansound models`` prints the defaults).

The user's ``train.<name>`` mapping in ``params.yaml`` is merged over the defaults here.
They are chosen for the full UrbanSound8K run on two cores: forests and boosting stay small
and subsample rows or columns; the measurements behind each are in the documentation
(docs/experiments.md).

This module imports no machine-learning library at import time (the CLI reads the model
names from it before any command runs); each factory imports what it builds.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.core.errors import UserError, shown
from pipeline.core.model_names import BASE_MODELS, MODEL_NAMES


@dataclass(frozen=True, eq=False)
class ModelEntry:
    """One registered model.

    Attributes
    ----------
    name : str
        The model's name: ``--model NAME``, ``train.NAME``, ``models/NAME/``.
    summary : str
        What the model is, in a few words (the documentation's table).
    defaults : mapping
        Default hyper-parameters (``train.NAME`` overrides them key by key).
    estimator : str
        ``"module:Class"`` of the fitted part (the last step of a scikit-learn
        ``Pipeline``); it recognises a model of this entry (saving, thread count).
    factory : callable or None
        ``factory(params, seed)`` → the unfitted estimator, ``params`` being the defaults
        merged with ``train.NAME``; a combining model's factory also gets
        ``members=[(name, estimator), ...]``. None: ``estimator`` itself,
        ``Class(random_state=seed, **params)`` (see :meth:`build`).
    persist : str
        The save/load format, a key of :data:`pipeline.models.persist.FORMATS`.
    set_threads : callable or None
        ``set_threads(fitted_part, n_jobs)`` sets its thread count in place; None for a
        model whose thread count is not set (it runs as it is built).
    params_from : str or None
        ``"module:Class"`` whose ``get_params()`` are the keys ``train.NAME`` accepts
        (default: ``estimator``); a combining model accepts exactly its ``defaults`` keys.
    own_params : frozenset of str
        Keys accepted besides those of ``params_from``: the factory's own
        (``top_features`` of ``rf`` and ``xgb``).
    combines : bool
        Built from the base models named in its ``members`` parameter.
    groups_param : str or None
        The parameter of the fitted part's ``fit`` that takes the recording of every
        training row (see :func:`groups_route`), or None for a model that does not use them.
    fit_cost : float
        Seconds per fold of a fit at the defaults, on one thread (official folds, 8732
        clips): only the order of the queued fits follows it, costliest first.
    """

    name: str
    summary: str
    defaults: Mapping[str, Any]
    estimator: str
    persist: str
    factory: Callable[..., Any] | None = None
    set_threads: Callable[[Any, int], None] | None = None
    params_from: str | None = None
    own_params: frozenset[str] = frozenset()
    combines: bool = False
    groups_param: str | None = None
    fit_cost: float = 1.0

    def build(self, params: dict, seed: int, **combined: Any) -> Any:
        """The unfitted estimator for merged ``params`` and ``seed`` (see ``factory``);
        ``combined`` is ``members=[...]`` for a combining model."""
        if self.factory is None:
            return load_class(self.estimator)(random_state=seed, **params)
        return self.factory(params, seed, **combined)

    def default_params(self) -> dict:
        """A fresh copy of the defaults (the caller may change it)."""
        return copy.deepcopy(dict(self.defaults))

    @property
    def uses_all_cores(self) -> bool:
        """Whether the defaults let the model use every core (``n_jobs: -1``)."""
        return self.set_threads is not None and self.defaults.get("n_jobs") == -1

    def accepted_params(self) -> frozenset[str]:
        """The keys ``train.NAME`` accepts (never ``random_state``: the one seed sets it)."""
        if self.combines:
            return frozenset(self.defaults)
        cls = load_class(self.params_from or self.estimator)
        return (frozenset(cls().get_params(deep=False)) | self.own_params) - {"random_state"}


def load_class(path: str) -> type:
    """The class named by ``"module:Class"`` (imported on first use)."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


# --- factories and thread setters --------------------------------------------------------
def _logreg(params: dict, seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([("scale", StandardScaler()),
                     ("clf", LogisticRegression(random_state=seed, **params))])


def _hidden_sizes(value: Any) -> tuple[int, ...]:
    values = value if isinstance(value, (list, tuple)) else [value]
    # Bounded so that a typo (an extra digit or three) is refused, not a weight matrix of
    # gigabytes: at most 16 layers of at most 16384 units.
    if not 0 < len(values) <= 16 or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 16384 for v in values):
        raise UserError(f"train.ffnn.hidden_layer_sizes must be an integer in 1..16384 or a "
                        f"list of at most 16 of them, e.g. [256, 128]; got {shown(value)}")
    return tuple(values)


def _top_features(params: dict, name: str) -> tuple[dict, int | None]:
    """``params`` without ``top_features``, and its validated value (None: all columns)."""
    params = dict(params)
    top = params.pop("top_features", None)
    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
        raise UserError(f"train.{name}.top_features must be null or a positive integer, "
                        f"got {shown(top)}")
    return params, top


def _ffnn(params: dict, seed: int):
    from pipeline.models.network_inputs import (
        PiecewiseLinearCodes,
        input_scaler,
        network_pipeline,
    )
    from pipeline.models.parts import top_f_columns
    from pipeline.models.seedbag import SeedBag
    from pipeline.nn import FFNNClassifier

    params, top = _top_features(params, "ffnn")
    scaling = params.pop("scaling", "standard")
    coded, bins = _codes(params.pop("coded_columns", 0), params.pop("code_bins", 8))
    networks = _networks(params.pop("networks", 1))
    if "hidden_layer_sizes" in params:  # YAML gives a list, the estimator wants a tuple
        params = {**params, "hidden_layer_sizes": _hidden_sizes(params["hidden_layer_sizes"])}
    network = FFNNClassifier(random_state=seed, **params)
    return network_pipeline(top_f_columns(top), input_scaler(scaling),
                            PiecewiseLinearCodes(coded, bins) if coded else None,
                            SeedBag(network, size=networks, random_state=seed))


def _networks(value: Any) -> int | str:
    """Validated ``train.ffnn.networks``: a count >= 1 or ``"auto"``."""
    if value == "auto" or (isinstance(value, int) and not isinstance(value, bool)
                           and 1 <= value <= 100):
        return value
    raise UserError(f"train.ffnn.networks must be an integer in 1..100 or \"auto\", "
                    f"got {shown(value)}")


def _codes(coded: Any, bins: Any) -> tuple[int, int]:
    """Validated ``train.ffnn.coded_columns`` (0: no codes) and ``code_bins``."""
    def whole(value: Any, low: int) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= low

    if not whole(coded, 0):
        raise UserError(f"train.ffnn.coded_columns must be an integer >= 0 (0: none), "
                        f"got {shown(coded)}")
    if not whole(bins, 2):
        raise UserError(f"train.ffnn.code_bins must be an integer >= 2, got {shown(bins)}")
    return coded, bins


def _rf(params: dict, seed: int):
    from sklearn.pipeline import Pipeline

    from pipeline.models.parts import BootstrapForest, top_f_columns

    params, top = _top_features(params, "rf")
    return Pipeline([("select", top_f_columns(top)),
                     ("clf", BootstrapForest(random_state=seed, **params))])


def _xgb(params: dict, seed: int):
    from sklearn.pipeline import Pipeline

    from pipeline.models.parts import EncodedXGBClassifier, top_f_columns

    params, top = _top_features(params, "xgb")
    # hist builds its histograms over every column it is given, whatever colsample_bytree
    # samples: fewer columns is what makes it faster.
    return Pipeline([("select", top_f_columns(top)),
                     ("clf", EncodedXGBClassifier(params=params, random_state=seed))])


def _soft_vote(params: dict, seed: int, members: list):
    from pipeline.models.ensemble import SoftVoteEnsemble

    weights = params.get("weights")
    if weights not in (None, "auto", "learnt") and not (
        isinstance(weights, list) and len(weights) == len(members)
        and all(isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0
                for w in weights) and sum(weights) > 0
    ):
        raise UserError(f"train.ensemble.weights must be null (equal), auto, learnt or "
                        f"{len(members)} non-negative numbers (one per member, not all 0), "
                        f"got {shown(weights)}")
    routes = {name: groups_route(est) for name, est in members}
    return SoftVoteEnsemble(members, weights=weights,
                            groups_params={n: r for n, r in routes.items() if r is not None})


def _n_jobs(part, n_jobs: int) -> None:
    part.set_params(n_jobs=n_jobs)


def _xgb_n_jobs(part, n_jobs: int) -> None:
    part.params = {**(part.params or {}), "n_jobs": n_jobs}


def _members_n_jobs(part, n_jobs: int) -> None:
    for _, member in part.estimators:
        set_n_jobs(member, n_jobs)


# --- the entries -------------------------------------------------------------------------
_BASE = (
    ModelEntry(
        name="logreg", summary="StandardScaler + multinomial LogisticRegression",
        factory=_logreg, defaults={"C": 0.5, "max_iter": 400, "tol": 1e-3},
        estimator="sklearn.linear_model:LogisticRegression", persist="skops", fit_cost=0.7,
    ),
    ModelEntry(
        name="ffnn", summary="the from-scratch `FFNNClassifier` on the top F-score columns, "
        "quantile-scaled, beside piecewise-linear codes of the strongest; a bag of 3 on "
        "small training sets", factory=_ffnn,
        # Every training row for a fixed number of epochs (no held-out tenth to stop on), the
        # strongest columns through their quantiles with piecewise-linear codes beside them,
        # a bag of networks on small sets, L2 that shrinks as rows grow: each measured better.
        defaults={"hidden_layer_sizes": [128, 64], "activation": "relu", "alpha": 1e-2,
                  "alpha_rows": 900, "dropout": 0.3, "learning_rate": "cosine",
                  "learning_rate_init": 2e-3, "batch_size": 256, "min_batches": 16,
                  "max_iter": 50, "early_stopping": False, "n_iter_no_change": 20,
                  "top_features": 485, "scaling": "quantile", "coded_columns": 60,
                  "code_bins": 8, "networks": "auto"},
        estimator="pipeline.models.seedbag:SeedBag", params_from="pipeline.nn:FFNNClassifier",
        persist="ffnn", groups_param="groups", fit_cost=3.6,
        own_params=frozenset({"top_features", "scaling", "coded_columns", "code_bins",
                              "networks"}),
    ),
    ModelEntry(
        name="rf", summary="RandomForestClassifier on the top F-score columns", factory=_rf,
        # Half the columns (the highest F), 40 % of the rows per tree, 60 trees: the ensemble
        # it serves scores as with more, in a fraction of the time.
        defaults={"n_estimators": 60, "max_features": "sqrt", "max_samples": 0.4,
                  "min_samples_leaf": 1, "top_features": 485, "n_jobs": -1},
        estimator="pipeline.models.parts:BootstrapForest", persist="skops",
        set_threads=_n_jobs, own_params=frozenset({"top_features"}), fit_cost=2.8,
    ),
    ModelEntry(
        name="xgb", summary="XGBoost, `tree_method hist`, labels encoded 0..k-1", factory=_xgb,
        # Half the columns (the highest F) and 16 bins: hist's cost grows with the columns
        # and bins it is given, and the score holds.
        defaults={"n_estimators": 100, "learning_rate": 0.25, "max_depth": 4, "max_bin": 16,
                  "subsample": 0.7, "colsample_bytree": 0.5, "top_features": 485,
                  "n_jobs": -1},
        estimator="pipeline.models.parts:EncodedXGBClassifier", persist="xgboost-json",
        set_threads=_xgb_n_jobs, params_from="xgboost:XGBClassifier",
        own_params=frozenset({"top_features"}), fit_cost=6.7,
    ),
)

_COMBINING = (
    ModelEntry(
        name="ensemble",
        summary="mean of the members' class probabilities (soft vote); on small training "
                "sets their log pool, its weights learnt by an inner cross-validation",
        factory=_soft_vote,
        # Each member is built with its own train.<member> parameters; the linear model is
        # left out because the vote without it scored as well or better.
        defaults={"members": ["ffnn", "rf", "xgb"], "weights": "auto"},
        estimator="pipeline.models.ensemble:SoftVoteEnsemble", persist="ensemble",
        set_threads=_members_n_jobs, combines=True, groups_param="groups",
    ),
)

#: Every model by name, base models first.
REGISTRY: dict[str, ModelEntry] = {entry.name: entry for entry in (*_BASE, *_COMBINING)}
if (tuple(REGISTRY) != MODEL_NAMES
        or BASE_MODELS != tuple(n for n, e in REGISTRY.items() if not e.combines)):
    raise RuntimeError("the registry's models differ from pipeline/core/model_names.py")


def entry(name: str) -> ModelEntry:
    """The entry of model ``name``; an unknown name is a :class:`UserError`."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise UserError(f"unknown model {shown(name)}; known: {', '.join(MODEL_NAMES)}") from None


def fitted_part(model: Any) -> Any:
    """The classifier of ``model``: the last step of a ``Pipeline``, else ``model`` itself."""
    steps = getattr(model, "steps", None)
    return steps[-1][1] if steps else model


def entry_of(model: Any) -> ModelEntry | None:
    """The entry whose estimator ``model`` is (by the class of its fitted part), or None."""
    cls = type(fitted_part(model))
    return next((e for e in REGISTRY.values() if load_class(e.estimator) is cls), None)


def groups_route(estimator: Any) -> str | None:
    """The fit parameter of ``estimator`` that takes the recording groups: its entry's
    ``groups_param``, routed to the last step of a ``Pipeline`` (``clf__groups``); None for
    a model that does not use them."""
    model = entry_of(estimator)
    if model is None or model.groups_param is None:
        return None
    steps = getattr(estimator, "steps", None)
    return f"{steps[-1][0]}__{model.groups_param}" if steps else model.groups_param


def set_n_jobs(estimator, n_jobs: int):
    """Set the thread count of ``estimator`` (in place), as its registry entry says.

    Cross-validation runs several fits at once; each then uses one thread so the
    machine is not oversubscribed. A model that is not registered is left as it is.
    """
    model = entry_of(estimator)
    if model is not None and model.set_threads is not None:
        model.set_threads(fitted_part(estimator), n_jobs)
    return estimator


# --- documentation -----------------------------------------------------------------------
def _value(value: Any) -> str:
    """A parameter value as it would be written in params.yaml."""
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


def _threads(e: ModelEntry) -> str:
    if e.combines:
        return "its members'"
    if e.set_threads is None:
        return "not set"
    return "all cores (`n_jobs -1`)" if e.uses_all_cores else "`n_jobs`"


def markdown_table() -> str:
    """The documentation's table of the registry (``docs/user_guide/models.md``;
    ``urbansound models --markdown`` prints it)."""
    rows = ["| name | model | kind | saved as | threads "
            "| defaults (`train.<name>` overrides them) |",
            "|---|---|---|---|---|---|"]
    for e in REGISTRY.values():
        kind = "combines base models" if e.combines else "base"
        defaults = ", ".join(f"`{k} {_value(v)}`" for k, v in e.defaults.items())
        rows.append(f"| `{e.name}` | {e.summary} | {kind} | {e.persist} | {_threads(e)} "
                    f"| {defaults} |")
    return "\n".join(rows)


def describe(train_params: Mapping[str, Mapping] | None = None) -> str:
    """Every model's parameters: the defaults merged with ``train_params`` (name → mapping,
    the user's ``train.<name>``); values the user set are marked ``*``."""
    train_params = train_params or {}
    lines = ["model parameters (defaults in pipeline/models/registry.py; * = set in train.<name>)"]
    for e in REGISTRY.values():
        given = dict(train_params.get(e.name) or {})
        merged = {**e.defaults, **given}
        values = " ".join(f"{k}={_value(v)}{'*' if k in given else ''}" for k, v in merged.items())
        lines.append(f"{e.name:<9} {values}")
    return "\n".join(lines)
