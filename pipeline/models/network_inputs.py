"""The network's input steps, and the one function that assembles its pipeline.

``X`` (n, d) → the ``top_features`` columns of highest F score (:func:`top_f_columns`) → each
scaled (:func:`input_scaler`: standard, or through its quantiles onto a normal: heavy tails
and skew of spectral statistics then no longer squash most clips into a few units of the
first layer), beside piecewise-linear codes of the strongest (:class:`PiecewiseLinearCodes`)
→ the bag of networks. The registry builds this pipeline and :mod:`pipeline.models.persist`
rebuilds a saved one with the same :func:`network_pipeline`; the fitted scaler and codes are
saved as JSON records.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import QuantileTransformer, StandardScaler
from sklearn.utils.validation import check_is_fitted

from pipeline.core.errors import UserError, shown
from pipeline.models.parts import RowQuantiles, selected_columns, top_f_columns

#: Input scalings of a network: per column to mean 0 and variance 1, or through the
#: column's quantiles onto a standard normal.
SCALINGS = ("standard", "quantile")
#: Quantiles a ``quantile`` scaling keeps per column.
N_QUANTILES = 100
#: Narrowest range of a code: a column with tied quantiles steps across it instead of
#: dividing by 0.
MIN_WIDTH = 1e-9

Scaler = StandardScaler | QuantileTransformer


def network_pipeline(select, scaler: Scaler, codes: PiecewiseLinearCodes | None,
                     network: Any) -> Pipeline:
    """The network's pipeline: ``select`` → ``scaler`` (with ``codes`` beside it, if any) →
    ``network``, as built for fitting and as read back from a saved model."""
    inputs = ("scale", scaler) if codes is None else (
        "inputs", FeatureUnion([("scale", scaler), ("codes", codes)]))
    return Pipeline([("select", select), inputs, ("clf", network)])


def network_steps(model: Pipeline) -> tuple[Any, Scaler, PiecewiseLinearCodes | None, Any]:
    """``(select, scaler, codes, network)`` of a pipeline built by :func:`network_pipeline`
    (``codes`` None when it has none)."""
    inputs = model.named_steps.get("inputs")
    if inputs is None:
        return model.named_steps["select"], model.named_steps["scale"], None, model[-1]
    return (model.named_steps["select"], inputs.named_transformers["scale"],
            inputs.named_transformers["codes"], model[-1])


def input_scaler(scaling: str) -> Scaler:
    """The unfitted scaler of ``scaling`` (one of :data:`SCALINGS`); else a UserError."""
    if scaling == "standard":
        return StandardScaler()
    if scaling == "quantile":  # every row (no subsample): no random draw
        return RowQuantiles(n_quantiles=N_QUANTILES, output_distribution="normal",
                            subsample=None)
    raise UserError(f"train.ffnn.scaling must be one of {', '.join(SCALINGS)}, "
                    f"got {shown(scaling)}")


def scaler_record(scaler: Scaler) -> dict:
    """The fitted ``scaler`` as a JSON-ready record (its ``kind`` and fitted arrays)."""
    if isinstance(scaler, QuantileTransformer):
        return {"kind": "quantile", "quantiles": scaler.quantiles_.T.tolist(),
                "references": scaler.references_.tolist(),
                "output_distribution": scaler.output_distribution}
    return {"kind": "standard", "mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist(),
            "var": scaler.var_.tolist(), "n_samples_seen": int(np.max(scaler.n_samples_seen_))}


def scaler_from_record(record: dict) -> Scaler:
    """The fitted scaler of ``record`` (one saved before quantiles has no kind: standard).

    Raises KeyError, TypeError or ValueError for a record that does not describe one.
    """
    if record.get("kind", "standard") == "standard":
        scaler = StandardScaler()
        scaler.mean_ = np.asarray(record["mean"], dtype=np.float64)
        scaler.scale_ = np.asarray(record["scale"], dtype=np.float64)
        scaler.var_ = np.asarray(record["var"], dtype=np.float64)
        scaler.n_samples_seen_ = int(record["n_samples_seen"])
        scaler.n_features_in_ = scaler.mean_.shape[0]
        return scaler
    if record["kind"] != "quantile":
        raise ValueError(f"unknown kind {record['kind']!r}")
    quantiles = np.asarray(record["quantiles"], dtype=np.float64).T  # (n_quantiles, d)
    references = np.asarray(record["references"], dtype=np.float64)
    if quantiles.ndim != 2 or references.shape != (quantiles.shape[0],):
        raise ValueError("quantiles and references do not fit together")
    scaler = RowQuantiles(n_quantiles=len(references),
                          output_distribution=record["output_distribution"], subsample=None)
    scaler.quantiles_, scaler.references_ = quantiles, references
    scaler.n_quantiles_, scaler.n_features_in_ = len(references), quantiles.shape[1]
    return scaler


class PiecewiseLinearCodes(TransformerMixin, BaseEstimator):
    """Piecewise-linear codes of the ``k`` columns of highest ANOVA F score.

    A plain network sees each scaled input as one number and must spend hidden units to
    carve it into ranges; trees split it where they like. Each coded column gets ``bins``
    inputs, one per range between its training quantiles: how far the value has climbed
    through that range. ``X`` (n, d) → codes (n, k·bins): for each chosen column c
    (ascending) and range b, clip((x_c − e_cb) / (e_c,b+1 − e_cb), 0, 1) − 0.5, where
    e_c0 … e_c,bins are the column's training quantiles at 0, 1/bins, …, 1 (``edges_``,
    shape (k, bins + 1)).

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
        columns = None if self.k >= X.shape[1] else selected_columns(
            top_f_columns(self.k).fit(X, np.asarray(y)))
        self.columns_ = np.arange(X.shape[1]) if columns is None else np.asarray(columns)
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
