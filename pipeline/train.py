"""Fit the final models on every labelled clip and save them to a models folder."""

from __future__ import annotations

import json
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline.classes import CLASSES
from pipeline.errors import UserError
from pipeline.estimators import build_models, fit_with_groups, model_params, set_n_jobs
from pipeline.groups import recording_groups
from pipeline.io import check_output_dir
from pipeline.model_index import (
    INDEX_FILE,
    is_model_folder,
    model_folders,
    read_index,
    write_index,
)
from pipeline.persist import save_model
from pipeline.vote import SoftVoteEnsemble

if TYPE_CHECKING:
    from pipeline.evaluate import CVResult

#: Columns of a feature table that are not features.
META_COLUMNS: tuple[str, ...] = ("id", "label", "fold", "group", "split", "path")


def feature_columns(df: pd.DataFrame) -> list[str]:
    """Names of the feature columns of a feature table, in table order."""
    return [c for c in df.columns if c not in META_COLUMNS]


def labelled(df: pd.DataFrame) -> pd.DataFrame:
    """Rows with a known label (index reset); no such row is a :class:`UserError`."""
    if "label" not in df.columns:
        raise UserError("the feature table has no 'label' column")
    out = df[df["label"].notna()].reset_index(drop=True)
    if out.empty:
        raise UserError("the feature table has no labelled clips to train on")
    unknown = sorted(set(out["label"]) - set(CLASSES))
    if unknown:
        raise UserError(f"unknown class name(s) in the labels: {', '.join(map(str, unknown))}")
    return out


def xy(df: pd.DataFrame, columns: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Feature matrix ``X`` (n, n_features) float32 and labels ``y`` (n,) of object dtype."""
    columns = columns if columns is not None else feature_columns(df)
    if not columns:
        raise UserError("the feature table has no feature columns")
    X = df[columns].to_numpy(dtype=np.float32)
    y = df["label"].astype(object).to_numpy() if "label" in df.columns else None
    return X, y


def train_models(
    features: pd.DataFrame,
    names: list[str],
    train_params: dict,
    *,
    seed: int,
    out_dir: str | Path,
    feature_params: dict | None = None,
    cv_metrics: CVResult | None = None,
    force: bool = False,
) -> dict:
    """Fit ``names`` on all labelled rows of ``features`` and save them in ``out_dir``.

    A model the cross-validation already fitted on these rows (``cv_metrics.refitted``,
    a run with ``refit``) is saved as it is, not fitted again.

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
    cv_metrics : CVResult, optional
        The cross-validation of the models (:func:`pipeline.evaluate.collect_reports`, or
        the fresh result of :func:`pipeline.evaluate.cross_validate`): each model's mean
        accuracy is stored with it, and the honest ones decide ``best``.
    force : bool
        Replace folders the tool did not write where models go (see
        :func:`check_model_places`).

    Returns
    -------
    dict
        The folder's merged index (:func:`pipeline.model_index.read_index`).
    """
    rows = labelled(features)
    columns = feature_columns(rows)
    X, y = xy(rows, columns)
    out_dir = Path(out_dir)
    check_model_places(out_dir, names, force=force)
    scores = {n: m.accuracy_mean for n, m in cv_metrics.models.items()} if cv_metrics else {}
    optimistic = bool(cv_metrics and cv_metrics.run.optimistic)
    groups, _ = recording_groups(rows)  # whole recordings in the network's validation part
    counts = pd.Series(y).value_counts()
    majority = sorted(counts[counts == counts.max()].index)[0]  # ties: alphabetical
    fits = _refitted(cv_metrics, features, train_params)  # an ensemble reuses its members'
    for name, estimator in _members_first(build_models(names, train_params, seed=seed)):
        start = time.perf_counter()
        if name in fits:
            estimator, seconds = fits[name]
        elif isinstance(estimator, SoftVoteEnsemble):
            reused = {m: fits[m][0] for m, _ in estimator.estimators if m in fits}
            estimator.fit(X, y, groups, fitted=reused)
            # Its cost is its members' fits, as in cross-validation.
            seconds = time.perf_counter() - start + sum(fits[m][1] for m in reused)
        else:
            fit_with_groups(estimator, X, y, groups)
            seconds = time.perf_counter() - start
        fits[name] = (estimator, seconds)
        entry = {"descriptor": f"{name}.json", "fit_seconds": round(seconds, 3),
                 "cv_accuracy": scores.get(name), "cv_optimistic": optimistic}
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


def _refitted(cv_metrics: CVResult | None, features: pd.DataFrame,
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
    models of those names (:func:`pipeline.evaluate.fitted_models` relies on the same).
    """
    return sorted(estimators.items(), key=lambda item: isinstance(item[1], SoftVoteEnsemble))


def check_model_places(out_dir: str | Path, names: list[str], *, force: bool = False) -> None:
    """Refuse, before any fit, to replace anything that is not one of our model folders.

    ``out_dir`` must be a writable folder; ``out_dir/NAME`` must be absent or a model folder
    (:func:`pipeline.model_index.is_model_folder`: its descriptor is the proof that the tool
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
