"""Which clips the report lists: the labels the models doubt most, and the clips of every
cell of every model's confusion matrix, within a bound on the clips the page carries.

The doubt of a clip's label is the idea of confident learning (Northcutt, Jiang and Chuang,
"Confident learning: estimating uncertainty in dataset labels", JAIR 2021): an
out-of-fold probability of the given label that is low under every model marks a clip
worth listening to again. Here it is the mean of that probability over the models.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Clips listed per confusion cell and in the doubted list, and the most distinct clips
#: the page may carry (each has an excerpt and a thumbnail: this bounds its size).
CELL_CAP = 20
DOUBTED_CAP = 50
MAX_CLIPS = 320


def given_probabilities(models: Mapping) -> pd.DataFrame:
    """Each model's out-of-fold probability of every clip's given label.

    Parameters
    ----------
    models : mapping of str to ModelCV
        Models whose ``probabilities`` are known (the others are skipped).

    Returns
    -------
    DataFrame, shape (n_clips, n_models)
        Indexed by clip id (the first model's row order), one column per model.
    """
    columns = {}
    index = None
    for name, m in models.items():
        if m.probabilities is None:
            continue
        ids = m.predictions["id"].astype(str).to_numpy()
        at = {c: i for i, c in enumerate(m.classes)}
        col = np.array([at.get(a, -1) for a in m.predictions["actual"]])
        p = np.where(col >= 0, m.probabilities[np.arange(len(ids)), np.maximum(col, 0)], 0.0)
        series = pd.Series(p, index=ids)
        index = series.index if index is None else index
        columns[name] = series
    return pd.DataFrame(columns, index=index)


def doubted_labels(models: Mapping, clips: pd.DataFrame) -> pd.DataFrame:
    """Every labelled clip ranked by the models' doubt of its label, most doubted first.

    Parameters
    ----------
    models : mapping of str to ModelCV
    clips : DataFrame
        Indexed by clip id: ``fold``, ``label`` and ``salience`` (may be NA).

    Returns
    -------
    DataFrame, shape (n_clips, 6 + n_models)
        ``id, fold, label, salience, probability`` (mean over the models of the
        out-of-fold probability of ``label``), ``likely`` (the class of highest mean
        probability), then ``p_<model>`` for each model; sorted by ``probability``, then
        id. Empty when no model has probabilities.
    """
    given = given_probabilities(models)
    if given.empty:
        return pd.DataFrame(columns=["id", "fold", "label", "salience", "probability", "likely"])
    mean = given.mean(axis=1)
    likely = _likely_class(models, given.index)
    out = pd.DataFrame({"id": given.index, "fold": clips["fold"].reindex(given.index).to_numpy(),
                        "label": clips["label"].reindex(given.index).to_numpy(),
                        "salience": clips["salience"].reindex(given.index).to_numpy(),
                        "probability": mean.to_numpy(), "likely": likely})
    for name in given.columns:
        out[f"p_{name}"] = given[name].round(6).to_numpy()
    out = out.sort_values(["probability", "id"], kind="stable").reset_index(drop=True)
    return out.assign(probability=out["probability"].round(6))


def _likely_class(models: Mapping, ids: pd.Index) -> np.ndarray:
    """The class of highest mean probability over the models, for every id."""
    total: dict[str, np.ndarray] = {}
    for m in models.values():
        if m.probabilities is None:
            continue
        order = pd.Index(m.predictions["id"].astype(str)).get_indexer(ids)
        for j, c in enumerate(m.classes):
            total[c] = total.get(c, 0.0) + m.probabilities[order, j]
    names = list(total)
    return np.array(names, dtype=object)[np.argmax(np.stack([total[c] for c in names]), axis=0)]


@dataclass(frozen=True)
class Selection:
    """The clips the page lists.

    Attributes
    ----------
    cells : dict of (model name, actual class, predicted class) to list of str
        The ids listed for each non-empty confusion cell, at most ``cap`` each.
    cap : int
        The most clips listed in a cell (``CELL_CAP`` at most, less when the bound on
        clips required).
    doubted : list of str
        The most doubted ids (at most ``DOUBTED_CAP``).
    """

    cells: dict
    cap: int
    doubted: list

    @property
    def ids(self) -> list[str]:
        """Every listed id once, in a stable order."""
        listed = dict.fromkeys(self.doubted)
        for ids in self.cells.values():
            listed.update(dict.fromkeys(ids))
        return list(listed)


def select_clips(models: Mapping, doubt: pd.Series, doubted: list[str], *,
                 cell_cap: int = CELL_CAP, max_clips: int = MAX_CLIPS) -> Selection:
    """The clips of every confusion cell of every model, at most ``cell_cap`` each.

    Within a cell, clips that more models put in that same cell come first, then the more
    doubted ones (lower ``doubt``), then by id: the models' lists then share most of their
    clips. When the cells and ``doubted`` together would list more than ``max_clips``
    distinct clips, fewer are listed per cell: the same number ``k`` in every cell (one at
    least), and ``k + 1`` in the largest cells while the bound allows.

    Parameters
    ----------
    models : mapping of str to ModelCV
    doubt : Series
        Mean probability of the given label, by clip id (missing: 0.5).
    doubted : list of str
    cell_cap, max_clips : int

    Returns
    -------
    Selection
    """
    frames = []
    for name, m in models.items():
        p = m.predictions
        frames.append(pd.DataFrame({"model": name, "id": p["id"].astype(str).to_numpy(),
                                    "actual": p["actual"].to_numpy(),
                                    "predicted": p["predicted"].to_numpy()}))
    rows = pd.concat(frames, ignore_index=True)
    rows["agree"] = rows.groupby(["id", "actual", "predicted"])["model"].transform("size")
    rows["doubt"] = rows["id"].map(doubt).fillna(0.5).to_numpy()
    rows = rows.sort_values(["agree", "doubt", "id"], ascending=[False, True, True],
                            kind="stable")
    rows["rank"] = rows.groupby(["model", "actual", "predicted"]).cumcount()
    cap = cell_cap
    while cap > 1 and len(set(rows["id"][rows["rank"] < cap]) | set(doubted)) > max_clips:
        cap -= 1
    chosen = rows["rank"] < cap
    if cap < cell_cap:  # what the bound leaves goes to one more clip of the largest cells
        listed = set(rows["id"][chosen]) | set(doubted)
        size = rows.groupby(["model", "actual", "predicted"])["id"].transform("size")
        for i in size[rows["rank"] == cap].sort_values(ascending=False, kind="stable").index:
            if rows.at[i, "id"] in listed or len(listed) < max_clips:
                listed.add(rows.at[i, "id"])
                chosen[i] = True
    picked = rows[chosen]
    cells = {key: list(group["id"])
             for key, group in picked.groupby(["model", "actual", "predicted"], sort=False)}
    return Selection(cells, max(map(len, cells.values()), default=0), list(doubted))
