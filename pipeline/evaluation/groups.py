"""Recording groups inferred from features, for tables that carry none (AV ``train.csv``).

The Analytics Vidhya training table lists slices of the same recordings under unrelated
IDs, so a random k-fold puts slices of one recording on both sides and the estimate
leaks. Slices of one recording share their background and the coloration of the
microphone and room, which show in the clip's *mean spectrum*: the ``band_*_logenergy``
features (log energy of log-spaced bands). The method:

1. standardise the band energies over the table, divide by √d (so a distance is a
   root-mean-square z-score difference);
2. within each class, cluster the clips by average linkage and cut the tree at
   :data:`LINK_THRESHOLD`: two clusters merge while their mean pairwise distance is below it.

Linking only clips of the same class uses the labels of the table, which are the
training labels the splits are made of; it decides which clips are held out together,
never what a model sees, so it does not leak (a recording has one class in UrbanSound8K).

Why these choices: on generated data, where the true recordings are known, the band energies
recover recordings far better than all the features or the MFCC means, and linking within a
class is far more precise. Both ways a grouping can fail bias the estimate (a missed link is
optimistic, over-merging pessimistic), so the cut was chosen as the one whose CV comes
closest to the CV over the true recordings (``benchmarks/group_threshold.py``; the figures
are in the documentation, docs/experiments.md); it serves small and UrbanSound8K-sized sets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.core.errors import UserError

#: Average-linkage distance (RMS of standardised band-energy differences) below which
#: clusters of clips of one class are taken to come from one recording.
LINK_THRESHOLD = 0.6
#: Feature columns that carry the recording's identity (background, coloration, level).
IDENTITY_PREFIX = "band_"
GROUPS_FILE = "groups.csv"
#: Prefix of an inferred group's name, so it never equals a user-supplied group.
INFERRED_PREFIX = "inferred-"


def identity_columns(columns) -> list[str]:
    """The feature columns used to recognise a recording (the mean-spectrum bands)."""
    return [c for c in columns if str(c).startswith(IDENTITY_PREFIX)]


def infer_groups(
    features: pd.DataFrame, *, threshold: float = LINK_THRESHOLD
) -> np.ndarray:
    """Infer which rows of a labelled feature table come from one recording.

    Parameters
    ----------
    features : DataFrame, n rows
        ``label`` and the ``band_*`` feature columns (other columns are ignored).
    threshold : float
        Link distance, see :data:`LINK_THRESHOLD`.

    Returns
    -------
    ndarray of str, shape (n,)
        A group name per row (``inferred-<class>-<k>``); rows of one group share a class.

    Raises
    ------
    UserError
        When the table has no band-energy features to infer recordings from.
    """
    columns = identity_columns(features.columns)
    if not columns:
        raise UserError("cannot infer recording groups: the feature table has no "
                        f"'{IDENTITY_PREFIX}*' columns")
    # Imported here: commands that infer no groups (most) need not load scipy.cluster.
    from scipy.cluster.hierarchy import fcluster, linkage

    X = features[columns].to_numpy(dtype=np.float64)
    scale = X.std(axis=0)
    X = (X - X.mean(axis=0)) / np.where(scale > 0, scale, 1.0) / np.sqrt(X.shape[1])
    labels = features["label"].astype(str).to_numpy()
    groups = np.empty(len(features), dtype=object)
    for cls in np.unique(labels):
        rows = np.flatnonzero(labels == cls)
        if rows.size == 1:
            component = np.array([1])
        else:
            component = fcluster(linkage(X[rows], method="average"), threshold,
                                 criterion="distance")
        groups[rows] = [f"{INFERRED_PREFIX}{cls}-{k}" for k in component]
    return groups


def recording_groups(features: pd.DataFrame) -> tuple[np.ndarray | None, str]:
    """The recording group of every row: given where known, inferred for the rest.

    Parameters
    ----------
    features : DataFrame, n rows
        Labelled feature table (``label``, ``group`` optional, ``band_*`` features).

    Returns
    -------
    groups : ndarray of str, shape (n,), or None
        None when the table has no groups and none can be inferred (no band features).
    source : {"given", "inferred", "none"}
        ``given`` when every row had a group (a user-supplied column always wins).
    """
    given = features["group"] if "group" in features.columns else pd.Series(
        pd.NA, index=features.index)
    if given.notna().all():
        return given.astype(str).to_numpy(), "given"
    if not identity_columns(features.columns):
        return None, "none"
    groups = given.astype(object).to_numpy().copy()
    missing = given.isna().to_numpy()
    groups[missing] = infer_groups(features[missing].reset_index(drop=True))
    return groups.astype(str), "inferred"


def write_groups(ids, groups, folder: str | Path) -> Path:
    """Write ``folder/groups.csv`` (``id, group``) atomically, for a user to inspect.

    Parameters
    ----------
    ids : sequence of str, shape (n,)
    groups : sequence of str, shape (n,)
    folder : path
        The feature store folder.
    """
    from pipeline.core.io import atomic_write_text

    path = Path(folder) / GROUPS_FILE
    table = pd.DataFrame({"id": [str(i) for i in ids], "group": [str(g) for g in groups]})
    atomic_write_text(path, table.to_csv(index=False))
    return path


def write_inferred_groups(folder: str | Path) -> tuple[Path, int, int] | None:
    """Infer the groups of a feature store's labelled rows and write ``groups.csv``.

    Nothing is written when the table has official folds or its own groups.

    Returns
    -------
    (path, number of groups, number of labelled clips), or None
    """
    from pipeline.store import read_features
    from pipeline.store.rows import labelled

    table = read_features(folder)
    rows = table[table["label"].notna()]
    if rows.empty or rows["fold"].notna().all():
        return None
    groups, source = recording_groups(labelled(rows))
    if source != "inferred":
        return None
    return write_groups(rows["id"], groups, folder), len(set(groups)), len(rows)


def pairwise_precision_recall(predicted, true) -> tuple[float, float]:
    """Pairwise precision and recall of a grouping against the true one.

    A pair of rows is *predicted* together when both have the same predicted group and
    *truly* together when both have the same true group; precision is the share of
    predicted pairs that are true, recall the share of true pairs that are predicted.

    Parameters
    ----------
    predicted, true : sequence, shape (n,)

    Returns
    -------
    precision, recall : float
        1.0 when there is no pair to count.
    """
    frame = pd.DataFrame({"p": pd.factorize(pd.Series(list(predicted)))[0],
                          "t": pd.factorize(pd.Series(list(true)))[0]})

    def pairs(counts: pd.Series) -> int:
        return int((counts * (counts - 1) // 2).sum())

    both = pairs(frame.groupby(["p", "t"]).size())
    predicted_pairs, true_pairs = pairs(frame["p"].value_counts()), pairs(frame["t"].value_counts())
    precision = both / predicted_pairs if predicted_pairs else 1.0
    recall = both / true_pairs if true_pairs else 1.0
    return precision, recall
