"""Fit the final models on every labelled clip and save them to a models folder."""

from __future__ import annotations

import json
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.errors import UserError
from pipeline.core.io import check_output_dir
from pipeline.models.ensemble import SoftVoteEnsemble
from pipeline.models.estimators import build_models, fit_setting, fit_with_groups, model_params
from pipeline.models.model_index import (
    INDEX_FILE,
    is_model_folder,
    model_folders,
    read_index,
    write_index,
)
from pipeline.models.persist import load_model, save_model
from pipeline.models.registry import set_n_jobs
from pipeline.store.rows import feature_columns, labelled, xy


def train_models(
    features: pd.DataFrame,
    names: list[str],
    train_params: dict,
    *,
    seed: int,
    out_dir: str | Path,
    feature_params: dict | None = None,
    cv_metrics: Any = None,
    groups: np.ndarray | None = None,
    force: bool = False,
) -> dict:
    """Fit ``names`` on all labelled rows of ``features`` and save them in ``out_dir``.

    A model the cross-validation already fitted on these rows (``cv_metrics.refitted``,
    a run with ``refit``) is saved as it is, not fitted again; so is an ensemble's member
    saved in ``out_dir`` from this store with the same setting (:func:`saved_fit`).

    Parameters
    ----------
    features : DataFrame
        Feature table; every labelled row is a training row, whatever its fold.
    names : list of str
        Registry names to fit.
    train_params : dict
        ``{model name: hyper-parameters}`` (``train.<name>`` of params.yaml).
    seed : int
    out_dir : path
        Models folder; each model goes to its own subfolder ``out_dir/NAME/`` (model files
        plus an ``index.json`` of that model), so models can be refitted independently.
    feature_params : dict, optional
        Feature extraction parameters, stored so prediction extracts the same features.
    cv_metrics : pipeline.evaluation.CVResult, optional
        The cross-validation of the models (:func:`pipeline.evaluation.collect_reports`, or
        the fresh result of :func:`pipeline.evaluation.cross_validate`): each model's mean
        accuracy is stored with it, and the honest ones decide ``best``.
    groups : ndarray, shape (n_labelled,), optional
        The recording of every labelled row
        (:func:`pipeline.evaluation.groups.recording_groups`),
        so a network's validation part and the ensemble's inner folds hold whole recordings.
    force : bool
        Replace folders the tool did not write where models go (see
        :func:`check_model_places`).

    Returns
    -------
    dict
        The folder's merged index (:func:`pipeline.models.model_index.read_index`).
    """
    rows = labelled(features)
    columns = feature_columns(rows)
    X, y = xy(rows, columns)
    out_dir = Path(out_dir)
    check_model_places(out_dir, names, force=force)
    scores = {n: m.accuracy_mean for n, m in cv_metrics.models.items()} if cv_metrics else {}
    optimistic = bool(cv_metrics and cv_metrics.run.optimistic)
    counts = pd.Series(y).value_counts()
    majority = sorted(counts[counts == counts.max()].index)[0]  # ties: alphabetical
    fits = _refitted(cv_metrics, features, train_params)  # an ensemble reuses its members'
    digest = features.attrs.get("store_digest")
    for name, estimator in _members_first(build_models(names, train_params, seed=seed)):
        start = time.perf_counter()
        setting = fit_setting(name, train_params, seed=seed)
        if name in fits:
            estimator, seconds = fits[name]
        elif isinstance(estimator, SoftVoteEnsemble):
            for m, _ in estimator.estimators:
                saved = None if m in fits else saved_fit(
                    out_dir, m, digest, fit_setting(m, train_params, seed=seed))
                if saved is not None:
                    fits[m] = saved
            reused = {m: fits[m][0] for m, _ in estimator.estimators if m in fits}
            estimator.fit(X, y, groups, fitted=reused)
            # Its cost is its members' fits, as in cross-validation.
            seconds = time.perf_counter() - start + sum(fits[m][1] for m in reused)
        else:
            fit_with_groups(estimator, X, y, groups)
            seconds = time.perf_counter() - start
        fits[name] = (estimator, seconds)
        entry = {"descriptor": f"{name}.json", "fit_seconds": round(seconds, 3),
                 "cv_accuracy": scores.get(name), "cv_optimistic": optimistic,
                 "store_digest": digest, "setting": setting}
        with _model_folder(out_dir, name) as folder:
            save_model(estimator, name, folder)
            write_index(folder, {
                "classes": sorted(set(y)),
                "majority_class": str(majority),
                "feature_names": columns,
                "feature_params": feature_params or {},
                "n_train": int(len(y)),
                "models": {name: entry},
            })
    removed = _remove_stale(out_dir, columns, feature_params or {})
    index = read_index(out_dir)
    index["removed"] = removed
    return index


def saved_fit(out_dir: str | Path, name: str, store_digest: str | None,
              setting: dict) -> tuple[Any, float] | None:
    """``(model, fit seconds)`` of model ``name`` saved in ``out_dir`` when it was fitted on
    every labelled row of the store ``store_digest`` with ``setting``
    (:func:`pipeline.models.estimators.fit_setting`), else None (also when it cannot be
    read): a fit an ensemble can use as its member."""
    folder = Path(out_dir) / name
    if store_digest is None or not is_model_folder(folder):
        return None
    try:
        entry = json.loads((folder / INDEX_FILE).read_text(encoding="utf-8"))["models"][name]
        if entry.get("store_digest") != store_digest or entry.get("setting") != setting:
            return None
        return load_model(name, folder), float(entry["fit_seconds"])
    except (OSError, UserError, KeyError, TypeError, ValueError):
        return None


def _refitted(cv_metrics: Any, features: pd.DataFrame,
              train_params: dict) -> dict[str, tuple]:
    """``name -> (model, seconds)`` fitted on every labelled row of this very store by the
    cross-validation, their thread count set back from one to their own."""
    if cv_metrics is None or cv_metrics.run.store_digest != features.attrs.get("store_digest"):
        return {}
    for name, (model, _) in cv_metrics.refitted.items():
        threads = model_params(name, train_params.get(name)).get("n_jobs")
        if threads is not None:
            set_n_jobs(model, threads)
    return dict(cv_metrics.refitted)


def _members_first(estimators: dict) -> list:
    """``(name, estimator)`` with the ensembles last, so they can reuse fitted members.

    The members are built from the same ``train.<member>`` parameters and seed as the
    models of those names (:func:`pipeline.evaluation.fitted_models` relies on the same).
    """
    return sorted(estimators.items(), key=lambda item: isinstance(item[1], SoftVoteEnsemble))


def check_model_places(out_dir: str | Path, names: list[str], *, force: bool = False) -> None:
    """Refuse, before any fit, to replace anything that is not one of our model folders.

    ``out_dir`` must be a writable folder; ``out_dir/NAME`` must be absent or a model folder
    (:func:`pipeline.models.model_index.is_model_folder`: its descriptor is the proof that the tool
    wrote it); the hidden ``.NAME.new``/``.NAME.old`` of a killed run must hold nothing but
    model files of NAME. ``force`` replaces such folders all the same.
    """
    out_dir = check_output_dir(out_dir, "models folder")
    for name in names:
        final = out_dir / name
        if os.path.lexists(final) and (final.is_symlink() or not final.is_dir()):
            raise UserError(f"cannot write model folder {final}: it is a file or a link")
        if force:
            continue
        if final.exists() and not is_model_folder(final):
            raise UserError(
                f"refusing to replace {final}: it is not a model folder written by "
                "'urbansound train'; nothing was changed (--force replaces it)"
            )
        for leftover in (out_dir / f".{name}.new", out_dir / f".{name}.old"):
            if leftover.exists() and not _only_model_files(leftover, name):
                raise UserError(f"refusing to replace {leftover}: it holds files that are not "
                                f"model files of {name}; nothing was changed (--force "
                                "replaces it)")


def _only_model_files(folder: Path, name: str) -> bool:
    """Whether ``folder`` holds only files that saving model ``name`` writes."""
    if not folder.is_dir():
        return False
    ours = (f"{name}.", f"{name}__", f".{name}.", f".{name}__", INDEX_FILE, f".{INDEX_FILE}.")
    return all(p.is_file() and p.name.startswith(ours) for p in folder.iterdir())


@contextmanager
def _model_folder(out_dir: Path, name: str):
    """A fresh hidden folder to write model ``name`` into, swapped in as ``out_dir/name``.

    A model spans several files; writing them beside the old ones would let a killed run
    leave a mix of two fits. Readers ignore hidden folders, so ``out_dir/name`` is always
    one complete fit (or, for a moment between two renames, absent).
    """
    final, new, old = out_dir / name, out_dir / f".{name}.new", out_dir / f".{name}.old"
    for leftover in (new, old):
        shutil.rmtree(leftover, ignore_errors=True)
    new.mkdir(parents=True)
    try:
        yield new
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)  # a full disk leaves no half-written fit
        raise
    if final.exists():
        os.replace(final, old)
    os.replace(new, final)
    shutil.rmtree(old, ignore_errors=True)


def _remove_stale(out_dir: Path, columns: list[str], feature_params: dict) -> list[str]:
    """Delete model folders of ``out_dir`` fitted on other feature columns than ``columns`` or
    with other feature parameters than ``feature_params``.

    They cannot be compared with (or chosen as ``best`` over) models of the current feature
    store; returns their names.
    """
    removed = []
    for folder in model_folders(out_dir):  # never a folder that is not provably a model
        try:
            index = json.loads((folder / INDEX_FILE).read_text(encoding="utf-8"))
            stale = (index.get("feature_names") != columns
                     or index.get("feature_params", {}) != feature_params)
        except (OSError, ValueError, AttributeError):
            stale = True
        if stale:
            shutil.rmtree(folder)
            removed.append(folder.name)
    return removed
