"""Safe saving and loading of fitted models, without raw pickle.

A models folder holds one subfolder per model ``NAME``, with a descriptor ``NAME.json``, the
files of its format, and an ``index.json`` (:mod:`pipeline.models.model_index`). Each model's
registry entry (:mod:`pipeline.models.registry`) names its format (:data:`FORMATS`):

- ``skops`` (scikit-learn models: ``logreg``, ``rf``): ``NAME.skops``, loaded with an explicit
  list of trusted types (:data:`TRUSTED_TYPES`), never ``trusted=True``;
- ``xgboost-json`` (``xgb``): the booster in XGBoost's JSON format, ``NAME.xgb.json`` (the
  columns it was boosted on, when ``top_features`` chose them, in the descriptor);
- ``ffnn``: each network of its bag via ``pipeline.nn.save`` (``NAME.ffnn.npz``, then
  ``NAME.ffnn-1.npz`` …), its input scaler (standard or quantile) as JSON, the columns it
  was chosen to take (``top_features``) and those it codes piecewise-linearly
  (``coded_columns``, with ``code_bins``) in the descriptor;
- ``ensemble``: each member saved as ``NAME__MEMBER`` in its own format, the weights it
  used (given, or learnt at fit time for a log pool) in the descriptor.

A file that is missing, corrupt or holds untrusted types is refused with one line
(:class:`~pipeline.core.errors.UserError`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from pipeline.core.errors import UserError
from pipeline.core.io import atomic_write, atomic_write_bytes, atomic_write_json, check_regular_file
from pipeline.models.ensemble import SoftVoteEnsemble
from pipeline.models.network_inputs import (
    codes_from_record,
    codes_record,
    network_pipeline,
    network_steps,
    scaler_from_record,
    scaler_record,
)
from pipeline.models.parts import EncodedXGBClassifier, fitted_top_f_columns, selected_columns
from pipeline.models.registry import entry_of
from pipeline.models.seedbag import SeedBag

FORMAT_VERSION = 1

#: Types that skops does not trust by default but a saved model of ours may contain.
#: Anything else in a ``.skops`` file makes loading fail.
TRUSTED_TYPES: tuple[str, ...] = ("sklearn.tree._tree.Tree", "pipeline.models.parts.f_scores",
                                  "pipeline.models.parts.BootstrapForest",
                                  "pipeline.models.parts.TopFColumns")
#: Types of ours that models saved before the package took its present layout hold.
FORMER_TYPES: tuple[str, ...] = ("pipeline.estimators.TopFColumns",)


def read_json(path: Path, what: str) -> Any:
    """The JSON document at ``path``; missing or unreadable: a UserError naming ``what``."""
    check_regular_file(path, what)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{what} not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"{what} {path} is unreadable or corrupt: {exc}") from None


# --- the formats ---------------------------------------------------------------------------
# Each format writes the files of one fitted model and returns its part of the descriptor;
# its loader rebuilds the model from that descriptor. A registry entry names its format.
def _save_skops(model: Any, name: str, folder: Path) -> dict:
    import skops.io as sio

    target = folder / f"{name}.skops"
    atomic_write_bytes(target, sio.dumps(model))
    return {"files": [target.name], "type": type(model).__name__}


def _load_skops(path: Path) -> Any:
    import skops.io as sio

    check_regular_file(path, "model file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"model file not found: {path}") from None
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # skops raises assorted errors on a damaged archive
        raise UserError(f"model file {path} is corrupt: {exc}") from None
    refused = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if set(refused) & set(FORMER_TYPES):
        raise UserError(f"model file {path} was saved by an earlier version of the pipeline; "
                        "fit it again with 'urbansound train'")
    if refused:
        raise UserError(f"model file {path} holds untrusted types: {', '.join(refused)}")
    try:
        return sio.loads(data, trusted=list(untrusted))
    except Exception as exc:
        raise UserError(f"model file {path} is corrupt: {exc}") from None


def _save_xgb(model: Pipeline, name: str, folder: Path) -> dict:
    select, booster = model.named_steps["select"], model[-1]
    target = folder / f"{name}.xgb.json"
    atomic_write(target, booster.model_.save_model)
    columns = selected_columns(select)
    return {"files": [target.name], "params": booster.params,
            "top_features": None if columns is None else select.k, "columns": columns,
            "n_features": int(model.n_features_in_)}


def _load_xgb(folder: Path, name: str, desc: dict) -> Pipeline:
    from xgboost import XGBClassifier

    path = folder / desc["files"][0]
    if not path.is_file():
        raise UserError(f"model file not found: {path}")
    booster = XGBClassifier()
    try:
        booster.load_model(str(path))
    except Exception as exc:  # XGBoostError carries a multi-line C++ trace
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"model file {path} is corrupt: {first}") from None
    model = EncodedXGBClassifier(params=desc.get("params"))
    model.model_ = booster
    model.classes_ = np.asarray(desc["classes"], dtype=object)
    model.n_features_in_ = booster.n_features_in_
    columns, n_features = _columns(desc, booster.n_features_in_, folder, name)
    return Pipeline([("select", fitted_top_f_columns(columns, n_features)), ("clf", model)])


def _columns(desc: dict, n_used: int, folder: Path, name: str) -> tuple[np.ndarray | None, int]:
    """The descriptor's feature columns (None: all) and the width of the rows they index,
    checked against the ``n_used`` columns the fitted model takes."""
    columns, n_features = desc.get("columns"), desc.get("n_features", n_used)
    valid = isinstance(n_features, int) and not isinstance(n_features, bool) and (
        (columns is None and n_features == n_used) or (
            isinstance(columns, list) and len(columns) == n_used
            and all(isinstance(c, int) and 0 <= c < n_features for c in columns)))
    if not valid:
        raise UserError(f"model descriptor {folder / (name + '.json')} is corrupt "
                        "(its feature columns do not fit the model)")
    return (None if columns is None else np.asarray(columns, dtype=np.intp)), n_features


def _save_ffnn(model: Pipeline, name: str, folder: Path) -> dict:
    from pipeline import nn

    select, scaler, codes, bag = network_steps(model)
    # The first network keeps the name of a lone one; a bag's others follow the scaler.
    targets = [folder / f"{name}.ffnn{'' if i == 0 else f'-{i}'}.npz"
               for i in range(len(bag.estimators_))]
    for target, net in zip(targets, bag.estimators_, strict=True):
        atomic_write(target, lambda tmp, net=net: nn.save(net, tmp))
    atomic_write_json(folder / f"{name}.scaler.json", scaler_record(scaler))
    desc = {"files": [targets[0].name, f"{name}.scaler.json", *(t.name for t in targets[1:])],
            "seed": bag.random_state, "columns": selected_columns(select),
            "n_features": int(model.n_features_in_)}
    if codes is not None:
        desc["codes"] = codes_record(codes)
    return desc


def _load_ffnn(folder: Path, name: str, desc: dict) -> Pipeline:
    first, scaler_path, *others = (folder / f for f in desc["files"])
    try:
        bag = SeedBag.of_fitted([_load_network(p) for p in (first, *others)], desc.get("seed"))
    except ValueError:
        raise UserError(f"model descriptor {folder / (name + '.json')} is corrupt (its "
                        "networks do not agree on their classes and inputs)") from None
    scale = read_json(scaler_path, "scaler file")
    try:
        scaler = scaler_from_record(scale)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UserError(f"scaler file {scaler_path} is corrupt: {exc}") from None
    codes = None
    if "codes" in desc:  # saved since the network takes piecewise-linear codes
        try:
            codes = codes_from_record(desc["codes"], scaler.n_features_in_, bag.n_features_in_)
        except ValueError:
            raise UserError(f"model descriptor {folder / (name + '.json')} is corrupt (its "
                            "piecewise-linear codes do not fit the network)") from None
    # Saved before the network chose its columns: it takes every one.
    columns, n_features = (_columns(desc, scaler.n_features_in_, folder, name)
                           if "columns" in desc else (None, scaler.n_features_in_))
    return network_pipeline(fitted_top_f_columns(columns, n_features), scaler, codes, bag)


def _load_network(path: Path) -> Any:
    """One saved network of an ``ffnn`` model; a missing or corrupt file is a UserError."""
    from pipeline import nn

    if not path.is_file():
        raise UserError(f"model file not found: {path}")
    try:
        return nn.load(path)
    except nn.ModelFileError as exc:  # its one line already names the file
        raise UserError(str(exc)) from None
    except Exception as exc:
        raise UserError(f"model file {path} is corrupt: {exc}") from None


def _save_ensemble(model: Any, name: str, folder: Path) -> dict:
    members = []
    for member, est in model.named_estimators_.items():
        save_model(est, f"{name}__{member}", folder)
        members.append(member)
    weights = None if model.weights_ is None else [float(w) for w in model.weights_]
    return {"members": members, "weights": model.weights, "weights_used": weights,
            "weights_learnt": bool(model.learnt_), "files": []}


def _load_ensemble(folder: Path, name: str, desc: dict) -> SoftVoteEnsemble:
    members = [(m, load_model(f"{name}__{m}", folder)) for m in desc["members"]]
    model = SoftVoteEnsemble(members, weights=desc.get("weights"))
    # Written before the weights could be learnt: the setting was a list or null.
    model.weights_ = desc["weights_used"] if "weights_used" in desc else desc.get("weights")
    model.learnt_ = bool(desc.get("weights_learnt", False))
    model.named_estimators_ = dict(members)
    model.classes_ = np.asarray(desc["classes"], dtype=object)
    model.n_features_in_ = members[0][1].n_features_in_
    return model


@dataclass(frozen=True)
class Format:
    """How one kind of model is written (``save(model, name, folder)`` → descriptor part)
    and read back (``load(folder, name, descriptor)`` → fitted model)."""

    save: Callable[[Any, str, Path], dict]
    load: Callable[[Path, str, dict], Any]


#: The save/load formats, by the tag a registry entry names (``ModelEntry.persist``) and a
#: model descriptor carries (``format``).
FORMATS: dict[str, Format] = {
    "skops": Format(_save_skops, lambda folder, name, desc: _load_skops(folder / desc["files"][0])),
    "xgboost-json": Format(_save_xgb, _load_xgb),
    "ffnn": Format(_save_ffnn, _load_ffnn),
    "ensemble": Format(_save_ensemble, _load_ensemble),
}


# --- one model -----------------------------------------------------------------------------
def save_model(model: Any, name: str, folder: str | Path) -> dict:
    """Save fitted ``model`` as ``folder/NAME.*``; return its descriptor (also in NAME.json).

    The format is the one of the model's registry entry (:mod:`pipeline.models.registry`).

    Parameters
    ----------
    model : fitted estimator built by :func:`pipeline.models.estimators.build_estimator`
    name : str
        File stem (the model's registry name, or ``ensemble__member``).
    folder : path

    Returns
    -------
    dict
        ``{"format": ..., "files": [...], "classes": [...], ...}``.
    """
    model_entry = entry_of(model)
    if model_entry is None:
        raise ValueError(f"cannot save a {type(model).__name__}: not a registered model")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    desc = {"format": model_entry.persist,
            **FORMATS[model_entry.persist].save(model, name, folder)}
    desc.update({"version": FORMAT_VERSION, "name": name,
                 "classes": [str(c) for c in model.classes_]})
    atomic_write_json(folder / f"{name}.json", desc)
    return desc


def load_model(name: str, folder: str | Path) -> Any:
    """Load model ``NAME`` saved by :func:`save_model` from ``folder``.

    Raises
    ------
    UserError
        The descriptor or a model file is missing, corrupt or holds untrusted types.
    """
    folder = Path(folder)
    desc = read_json(folder / f"{name}.json", f"model '{name}'")
    try:
        fmt, files, _ = desc["format"], desc["files"], desc["classes"]
    except (KeyError, TypeError):
        raise UserError(f"model descriptor {folder / (name + '.json')} is corrupt") from None
    # A tampered descriptor must not make us read files outside the model's folder.
    named = [*files, *desc.get("members", [])] if isinstance(files, list) else [files]
    if not all(isinstance(f, str) and f and Path(f).name == f and f != ".." for f in named):
        raise UserError(f"model descriptor {folder / (name + '.json')} names files that are "
                        "not a plain file name in its folder")
    if fmt not in FORMATS:
        raise UserError(f"model descriptor {folder / (name + '.json')} has unknown format "
                        f"{fmt!r}")
    return FORMATS[fmt].load(folder, name, desc)
