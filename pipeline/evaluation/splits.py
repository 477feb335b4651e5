"""Cross-validation splits: the protocol the data allows (see :func:`make_splits`)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from pipeline.core.errors import UserError
from pipeline.evaluation.groups import recording_groups

OPTIMISTIC_WARNING = (
    "WARNING: no official folds and no recording groups: clips of one recording can be in "
    "both train and test, so this accuracy is OPTIMISTIC (typically by 10-30 points)."
)
#: Name (and start) of the protocol over recording groups inferred from the features.
INFERRED_PROTOCOL = "inferred-groups"
RANDOM_SPLIT_NOTE = ("random split (stratified k-fold ignoring recordings): OPTIMISTIC, shown "
                     "for comparison only")


@dataclass(frozen=True)
class Split:
    """One cross-validation split: a name (the held-out fold) and row positions."""

    name: str
    train: np.ndarray
    test: np.ndarray


def _group_parts(y: np.ndarray, units: np.ndarray, k: int,
                 seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train, test)`` row positions of a shuffled ``StratifiedGroupKFold`` of ``k`` parts.

    A class with fewer clips than ``k`` cannot be in every test part; scikit-learn warns
    so, and the protocol text says it instead (:func:`rare_class_note`).
    """
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        return list(splitter.split(np.zeros(len(y)), y, units))


def rare_class_note(y: np.ndarray, k: int) -> str:
    """``"; ..."``: that the rarest class of ``y`` is missing from some of ``k`` test parts,
    when it has fewer clips than ``k``; else ``""``."""
    counts = pd.Series(y).value_counts()
    if counts.min() >= k:
        return ""
    return (f"; {counts.idxmin()} has only {counts.min()} clips, so it is absent from "
            "some test parts")


def make_splits(
    df: pd.DataFrame, *, n_splits: int = 10, seed: int = 42
) -> tuple[str, bool, list[Split]]:
    """Choose the protocol for labelled rows ``df`` and return its splits.

    Parameters
    ----------
    df : DataFrame
        Labelled rows (``label``; ``fold`` and ``group`` used when every row has one).
    n_splits : int
        Number of splits when there are no official folds.
    seed : int

    Returns
    -------
    protocol : str
    optimistic : bool
        True when the estimate can be inflated by recording leakage.
    splits : list of Split
    """
    y = df["label"].astype(str).to_numpy()
    folds = df["fold"] if "fold" in df.columns else pd.Series(pd.NA, index=df.index)
    if folds.notna().all() and folds.nunique() >= 2:
        values = folds.astype(int).to_numpy()
        splits = [
            Split(f"fold{f}", np.flatnonzero(values != f), np.flatnonzero(values == f))
            for f in sorted(set(values))
        ]
        return f"official-folds (leave-one-fold-out, {len(splits)} folds)", False, splits
    groups, source = recording_groups(df)
    if groups is not None and len(set(groups)) >= 2:
        k = min(n_splits, len(set(groups)))
        parts = _group_parts(y, groups, k, seed)
        if source == "given":
            protocol = (f"stratified-group-kfold ({k} splits, recordings kept together"
                        f"{rare_class_note(y, k)})")
        else:
            protocol = (f"{INFERRED_PROTOCOL} (stratified-group-kfold, {k} splits over "
                        f"{len(set(groups))} recordings inferred from the features"
                        f"{rare_class_note(y, k)})")
        return protocol, False, [Split(f"split{i + 1}", a, b) for i, (a, b) in enumerate(parts)]
    return random_splits(df, n_splits=n_splits, seed=seed)


def random_splits(
    df: pd.DataFrame, *, n_splits: int = 10, seed: int = 42
) -> tuple[str, bool, list[Split]]:
    """A stratified k-fold that ignores recordings (optimistic; see :func:`make_splits`)."""
    y = df["label"].astype(str).to_numpy()
    smallest = int(pd.Series(y).value_counts().min())
    k = min(n_splits, smallest)
    if k < 2:
        raise UserError("too few labelled clips per class for cross-validation (need >= 2)")
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    parts = splitter.split(np.zeros(len(y)), y)
    protocol = f"stratified-kfold ({k} splits; optimistic: no recording groups)"
    return protocol, True, [Split(f"split{i + 1}", a, b) for i, (a, b) in enumerate(parts)]


def inner_splits(
    df: pd.DataFrame, outer: Split, groups, *, n_splits: int = 3, seed: int = 42
) -> list[Split]:
    """Splits of the training part of ``outer`` for a nested search, as row positions of ``df``.

    Official folds stay whole (the folds are the groups of a ``StratifiedGroupKFold``),
    otherwise recordings (``groups``, given or inferred over the whole table) stay whole;
    without either, a stratified k-fold.

    Parameters
    ----------
    df : DataFrame
        The labelled rows the outer splits index.
    outer : Split
    groups : ndarray of str, shape (len(df),), or None
    n_splits : int
        Inner splits (fewer when the training part has fewer folds or groups).
    seed : int

    Returns
    -------
    list of Split
        Named ``OUTER/innerJ``; ``train`` and ``test`` are subsets of ``outer.train``.
    """
    part = df.iloc[outer.train]
    y = part["label"].astype(str).to_numpy()
    folds = part["fold"] if "fold" in part.columns else pd.Series(pd.NA, index=part.index)
    if folds.notna().all() and folds.nunique() >= 2:
        units = folds.astype(int).astype(str).to_numpy()
    elif groups is not None:
        units = np.asarray(groups)[outer.train]
    else:
        units = None
    if units is not None and len(set(units)) >= 2:
        k = min(n_splits, len(set(units)))
        parts = _group_parts(y, units, k, seed)
    else:
        k = min(n_splits, int(pd.Series(y).value_counts().min()))
        if k < 2:
            raise UserError("too few labelled clips per class for nested cross-validation")
        parts = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(
            np.zeros(len(y)), y)
    return [Split(f"{outer.name}/inner{j + 1}", outer.train[a], outer.train[b])
            for j, (a, b) in enumerate(parts)]
