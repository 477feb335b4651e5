"""Piecewise-linear codes of the network's strongest inputs.

A plain network sees each scaled input as one number and must spend hidden units to carve
it into ranges; trees split it where they like, which is much of why they win on small
tables. Here each of the ``k`` columns of highest F score also gets ``bins`` inputs, one per
range between its training quantiles: how far the value has climbed through that range
(0 below it, 1 above it, shifted to ±0.5). The network takes these codes beside the scaled
columns (:func:`network_inputs`), not instead of them. A saved network keeps them as a
JSON record in its descriptor (:func:`codes_record`, :mod:`pipeline.persist`).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import FeatureUnion
from sklearn.utils.validation import check_is_fitted

from pipeline.estimators import top_columns

#: Narrowest range: a column with tied quantiles steps across it instead of dividing by 0.
MIN_WIDTH = 1e-9


class PiecewiseLinearCodes(TransformerMixin, BaseEstimator):
    """Piecewise-linear codes of the ``k`` columns of highest ANOVA F score.

    ``X`` (n, d) → codes (n, k·bins): for each chosen column c (ascending) and range b,
    clip((x_c − e_cb) / (e_c,b+1 − e_cb), 0, 1) − 0.5, where e_c0 … e_c,bins are the
    column's training quantiles at 0, 1/bins, …, 1 (``edges_``, shape (k, bins + 1)).

    Parameters
    ----------
    k : int
        Columns coded (all of them when ``k`` >= d).
    bins : int, >= 2
    """

    def __init__(self, k: int = 120, bins: int = 8):
        self.k = k
        self.bins = bins

    def fit(self, X, y):
        """Choose the columns and their quantile edges on ``X`` (n, d), ``y`` (n,)."""
        X = np.asarray(X, dtype=np.float64)
        columns = top_columns(X, np.asarray(y), self.k)
        self.columns_ = np.arange(X.shape[1]) if columns is None else columns
        levels = np.linspace(0.0, 1.0, self.bins + 1)
        self.edges_ = np.quantile(X[:, self.columns_], levels, axis=0).T.astype(np.float32)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X) -> np.ndarray:
        """The codes, shape (n, k * bins)."""
        check_is_fitted(self, "edges_")
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"expected {self.n_features_in_} columns, got shape {X.shape}")
        low = self.edges_[:, :-1]
        width = np.maximum(np.diff(self.edges_, axis=1), MIN_WIDTH)
        codes = np.clip((X[:, self.columns_, None] - low) / width, 0.0, 1.0) - 0.5
        return codes.reshape(len(X), -1)


def network_inputs(scaler, codes: PiecewiseLinearCodes) -> FeatureUnion:
    """The scaled columns (n, d) followed by their codes (n, k·bins): (n, d + k·bins)."""
    return FeatureUnion([("scale", scaler), ("codes", codes)])


def codes_record(codes: PiecewiseLinearCodes) -> dict:
    """The fitted ``codes`` as a JSON-ready record: the columns and their edges."""
    return {"columns": [int(c) for c in codes.columns_], "edges": codes.edges_.tolist()}


def codes_from_record(record, n_selected: int, n_net: int) -> PiecewiseLinearCodes:
    """The fitted codes of ``record``, checked against the ``n_selected`` columns they read
    and the ``n_net`` inputs the network takes (those columns and the codes).

    Raises ValueError for a record that does not describe codes fitting them.
    """
    columns = record.get("columns") if isinstance(record, dict) else None
    try:
        edges = np.asarray(record.get("edges"), dtype=np.float32)
    except (AttributeError, TypeError, ValueError):
        raise ValueError("edges are not a table of numbers") from None
    valid = (isinstance(columns, list)
             and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c < n_selected
                     for c in columns)
             and edges.ndim == 2 and edges.shape[0] == len(columns) and edges.shape[1] >= 3
             and np.all(np.isfinite(edges))
             and n_selected + edges.size - len(columns) == n_net)
    if not valid:
        raise ValueError("the codes do not fit the network")
    codes = PiecewiseLinearCodes(k=len(columns), bins=edges.shape[1] - 1)
    codes.columns_, codes.edges_ = np.asarray(columns, dtype=np.intp), edges
    codes.n_features_in_ = n_selected
    return codes
