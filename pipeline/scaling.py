"""The network's input scalers: built from ``train.ffnn.scaling``, written to and read from
the JSON record of a saved model (``NAME.scaler.json``, :mod:`pipeline.persist`)."""

from __future__ import annotations

import numpy as np
from scipy.sparse import issparse
from scipy.special import ndtri
from sklearn.preprocessing import QuantileTransformer, StandardScaler
from sklearn.utils.validation import FLOAT_DTYPES, check_is_fitted, validate_data

from pipeline.errors import UserError, shown

#: Input scalings of a network: per column to mean 0 and variance 1, or through the
#: column's quantiles onto a standard normal (heavy tails and skew of spectral statistics
#: then no longer squash most clips into a few units of the first layer).
SCALINGS = ("standard", "quantile")
#: Quantiles a ``quantile`` scaling keeps per column.
N_QUANTILES = 100

#: scikit-learn's margin (``BOUNDS_THRESHOLD``): a value this close to a column's extreme
#: quantile maps to the extreme normal score.
BOUNDS = 1e-7


class NormalQuantiles(QuantileTransformer):
    """``QuantileTransformer(output_distribution="normal")`` with the same fit and the same
    scores (to the bit), computed for all columns at once.

    scikit-learn calls ``scipy.stats.norm.ppf`` three times per column, ~0.1 ms each: 0.44 of
    the 3.3 s of a network's fit and prediction at 1000 clips (485 columns, scaled for the
    training and the test rows), and half of the cross-validation of a 30-clip set. Here one
    ``ndtri`` (what ``norm.ppf`` computes) maps the whole array.
    """

    def __init__(self, n_quantiles: int = N_QUANTILES, subsample: int | None = None):
        super().__init__(n_quantiles=n_quantiles, output_distribution="normal",
                         subsample=subsample)

    def transform(self, X) -> np.ndarray:
        """X (n, d) → normal scores (n, d) in X's float type (float32 stays float32, as
        in scikit-learn; other types become float64); NaN stays NaN."""
        check_is_fitted(self, "quantiles_")
        X = validate_data(self, X, reset=False, accept_sparse="csc", copy=True,
                          dtype=FLOAT_DTYPES, ensure_all_finite="allow-nan")
        if issparse(X):
            return super().transform(X)
        refs, quantiles = self.references_, self.quantiles_
        uniform = np.empty_like(X)  # rounded to X's type before the bounds, as there
        for j in range(X.shape[1]):
            # Interpolated upwards and downwards, then averaged: repeated quantiles (ties)
            # map to the middle of their range, as scikit-learn does.
            col, q = X[:, j], quantiles[:, j]
            uniform[:, j] = 0.5 * (np.interp(col, q, refs)
                                   - np.interp(-col, -q[::-1], -refs[::-1]))
        with np.errstate(invalid="ignore"):  # NaN compares False: it stays NaN
            uniform[X + BOUNDS > quantiles[-1]] = 1.0
            uniform[X - BOUNDS < quantiles[0]] = 0.0
        edge = BOUNDS - np.spacing(1)
        scores = np.clip(ndtri(uniform.astype(np.float64)), ndtri(edge), ndtri(1 - edge))
        return scores.astype(X.dtype, copy=False)


Scaler = StandardScaler | QuantileTransformer


def input_scaler(scaling: str) -> Scaler:
    """The unfitted scaler of ``scaling`` (one of :data:`SCALINGS`); else a UserError."""
    if scaling == "standard":
        return StandardScaler()
    if scaling == "quantile":
        return NormalQuantiles(N_QUANTILES, subsample=None)  # every row: no random draw
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
    if record["output_distribution"] == "normal":
        scaler = NormalQuantiles(n_quantiles=len(references))
    else:
        scaler = QuantileTransformer(n_quantiles=len(references),
                                     output_distribution=record["output_distribution"])
    scaler.quantiles_, scaler.references_ = quantiles, references
    scaler.n_quantiles_, scaler.n_features_in_ = len(references), quantiles.shape[1]
    return scaler
