"""The table helpers: a feature table's labelled rows, its feature columns, ``X`` and ``y``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.core.errors import UserError
from pipeline.datasets.classes import CLASSES

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
