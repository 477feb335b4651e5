"""The network's input scalers: built from ``train.ffnn.scaling``, written to and read from
the JSON record of a saved model (``NAME.scaler.json``, :mod:`pipeline.persist`)."""

from __future__ import annotations

import numpy as np
from sklearn.preprocessing import QuantileTransformer, StandardScaler

from pipeline.errors import UserError

#: Input scalings of a network: per column to mean 0 and variance 1, or through the
#: column's quantiles onto a standard normal (heavy tails and skew of spectral statistics
#: then no longer squash most clips into a few units of the first layer).
SCALINGS = ("standard", "quantile")
#: Quantiles a ``quantile`` scaling keeps per column.
N_QUANTILES = 100

Scaler = StandardScaler | QuantileTransformer


def input_scaler(scaling: str) -> Scaler:
    """The unfitted scaler of ``scaling`` (one of :data:`SCALINGS`); else a UserError."""
    if scaling == "standard":
        return StandardScaler()
    if scaling == "quantile":
        return QuantileTransformer(n_quantiles=N_QUANTILES, output_distribution="normal",
                                   subsample=None)  # every row: no random draw
    raise UserError(f"train.ffnn.scaling must be one of {', '.join(SCALINGS)}, got {scaling!r}")


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
    scaler = QuantileTransformer(n_quantiles=len(references),
                                 output_distribution=record["output_distribution"])
    scaler.quantiles_, scaler.references_ = quantiles, references
    scaler.n_quantiles_, scaler.n_features_in_ = len(references), quantiles.shape[1]
    return scaler
