"""The validation part early stopping holds out of the training rows.

Without groups: a shuffled share of the rows, stratified by class for classifiers. With
groups (the recording of every row): whole groups, so the best epoch is never chosen on
slices of recordings the network trains on.
"""

from __future__ import annotations

import warnings

import numpy as np

from pipeline.nn.hyperparams import require


def validation_rows(y, groups, *, fraction, rng, stratify):
    """Rows of the validation part and of the training part.

    Parameters
    ----------
    y : ndarray, shape (n_samples,) or (n_samples, n_outputs)
        Targets (class labels when ``stratify``).
    groups : array-like, shape (n_samples,), or None
        The unit of every row that must not be split.
    fraction : float in (0, 1)
        Share of the rows (roughly, with groups) that is held out.
    rng : numpy.random.Generator
        The estimator's generator; the draws are part of its reproducible sequence.
    stratify : bool
        Keep the class proportions in both parts (classifiers).

    Returns
    -------
    val, train : ndarray of int
        Row indices; together they are every row once.
    """
    if groups is not None:
        return _group_rows(y, groups, fraction=fraction, rng=rng, stratify=stratify)
    n = y.shape[0]
    n_val = max(1, int(round(fraction * n)))
    require(n - n_val >= 1, "early_stopping needs more samples than the validation part")
    order = rng.permutation(n)
    if stratify:
        # Deal each class's shuffled rows into validation in proportion.
        labels = y[order]
        ranks = np.empty(n)
        for c in np.unique(labels):
            idx = np.flatnonzero(labels == c)
            ranks[idx] = (np.arange(idx.size) + 0.5) / idx.size
        order = order[np.argsort(ranks, kind="stable")]
    return order[:n_val], order[n_val:]


def _group_rows(y, groups, *, fraction, rng, stratify):
    """Validation and training rows with no group on both sides.

    One part of a shuffled ``StratifiedGroupKFold`` (without ``stratify``: ``GroupKFold``)
    with about ``1 / fraction`` parts, so the validation part holds roughly that share of
    the rows, stratified by class where the groups allow.
    """
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    groups = np.asarray(groups)
    if groups.shape != (y.shape[0],):
        raise ValueError(f"groups must have one entry per sample, got shape {groups.shape}")
    n_groups = np.unique(groups).size
    require(n_groups >= 2, "early_stopping with groups needs at least 2 groups")
    k = int(min(max(2, round(1 / fraction)), n_groups))
    seed = int(rng.integers(2**31 - 1))
    rows = np.zeros((y.shape[0], 1))
    if stratify:
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        try:
            with warnings.catch_warnings():  # few groups per class: stratify what it can
                warnings.simplefilter("ignore", UserWarning)
                tr, val = next(splitter.split(rows, y, groups))
            return val, tr
        except ValueError:  # every class smaller than k: split by groups alone
            pass
    codes = np.unique(groups, return_inverse=True)[1]
    shuffled = rng.permutation(n_groups)[codes]
    tr, val = next(GroupKFold(n_splits=k).split(rows, None, shuffled))
    return val, tr
