"""Fit the final models on every labelled clip and save them to a models folder."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.classes import CLASSES
from pipeline.errors import UserError
from pipeline.estimators import build_models
from pipeline.persist import save_model, write_index

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
    cv_metrics: dict | None = None,
) -> dict:
    """Fit ``names`` on all labelled rows of ``features`` and save them in ``out_dir``.

    Parameters
    ----------
    features : DataFrame
        Feature table (``id, label, fold, group, split`` + feature columns).
    names : list of str
        Registry names to fit.
    train_params : dict
        ``{model name: hyper-parameters}`` (``train.<name>`` of params.yaml).
    seed : int
    out_dir : path
        Models folder; ``index.json`` there is rewritten, keeping models not refitted now.
    feature_params : dict, optional
        Feature extraction parameters, stored so prediction extracts the same features.
    cv_metrics : dict, optional
        Content of ``metrics.json``; its accuracies decide which model is ``best``.

    Returns
    -------
    dict
        The written index.
    """
    rows = labelled(features)
    columns = feature_columns(rows)
    X, y = xy(rows, columns)
    out_dir = Path(out_dir)
    index_path = out_dir / "index.json"
    models: dict = {}
    if index_path.is_file():
        from pipeline.persist import read_index

        previous = read_index(out_dir)
        if previous.get("feature_names") == columns:  # same features: keep the older fits
            models = previous["models"]
    scores = {n: m["accuracy_mean"] for n, m in (cv_metrics or {}).get("models", {}).items()}
    for name, estimator in build_models(names, train_params, seed=seed).items():
        start = time.perf_counter()
        estimator.fit(X, y)
        seconds = time.perf_counter() - start
        save_model(estimator, name, out_dir)
        models[name] = {"descriptor": f"{name}.json", "fit_seconds": round(seconds, 3)}
    for name, entry in models.items():
        entry["cv_accuracy"] = scores.get(name, entry.get("cv_accuracy"))
    scored = {n: m["cv_accuracy"] for n, m in models.items() if m.get("cv_accuracy") is not None}
    counts = pd.Series(y).value_counts()
    majority = sorted(counts[counts == counts.max()].index)[0]  # ties: alphabetical
    index = {
        "classes": sorted(set(y)),
        "majority_class": str(majority),
        "feature_names": columns,
        "feature_params": feature_params or {},
        "n_train": int(len(y)),
        "best": max(scored, key=scored.get) if scored else None,
        "models": models,
    }
    write_index(out_dir, index)
    return index
