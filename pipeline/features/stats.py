"""Summary statistics of frame-wise features, computed in one vectorised pass.

The recipe is the one of the UrbanSound8K paper: every frame-wise feature is summarised
over time by its minimum, maximum, median, mean, variance, skewness and kurtosis.
"""

from __future__ import annotations

import numpy as np

STAT_NAMES: tuple[str, ...] = ("min", "max", "median", "mean", "var", "skew", "kurt")

# A row whose variance is below this fraction of its squared mean is treated as
# constant: the features are computed in float32, so smaller spreads are rounding noise
# and would otherwise give arbitrary skewness and kurtosis.
_RELATIVE_SPREAD_FLOOR = 1e-6


def moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean, variance, skewness and excess kurtosis along the last axis.

    Population (biased) estimators, as ``scipy.stats.skew`` / ``kurtosis`` with
    ``bias=True``. A constant row has variance, skewness and kurtosis 0.

    Parameters
    ----------
    x : np.ndarray, shape (..., n), n >= 1
        Finite values.

    Returns
    -------
    mean, var, skew, kurt : np.ndarray, shape (...,), float64
    """
    d = np.array(x, dtype=np.float64)  # a copy: deviations are formed in place
    n = d.shape[-1]
    mean = d.mean(axis=-1)
    d -= mean[..., None]
    d2 = d * d
    m2 = d2.sum(axis=-1) / n
    if d.ndim == 1:
        # Dot products of vectors go to BLAS, several times faster than einsum here.
        m3, m4 = (d2 @ d) / n, (d2 @ d2) / n
    else:
        m3 = np.einsum("...i,...i->...", d2, d) / n
        m4 = np.einsum("...i,...i->...", d2, d2) / n
    constant = m2 <= (_RELATIVE_SPREAD_FLOOR * mean) ** 2
    constant |= m2 <= 0.0
    safe_m2 = np.where(constant, 1.0, m2)
    skew = np.where(constant, 0.0, m3 / safe_m2**1.5)
    kurt = np.where(constant, 0.0, m4 / (safe_m2 * safe_m2) - 3.0)
    var = np.where(constant, 0.0, m2)
    return mean, var, skew, kurt


def summary_stats(x: np.ndarray) -> np.ndarray:
    """Summary statistics of each row of a stacked frame-wise feature matrix.

    Parameters
    ----------
    x : np.ndarray, shape (n_features, n_frames), n_frames >= 1
        Frame-wise features, one feature per row.

    Returns
    -------
    np.ndarray, shape (n_features, 7), float64
        Columns in the order of :data:`STAT_NAMES`: min, max, median, mean, var,
        skew, kurt.
    """
    # One sort gives min, max and median (np.median partitions row by row, slower).
    ordered = np.sort(x, axis=-1).astype(np.float64)
    n = ordered.shape[-1]
    median = 0.5 * (ordered[..., (n - 1) // 2] + ordered[..., n // 2])
    mean, var, skew, kurt = moments(ordered)
    constant = ordered[..., 0] == ordered[..., -1]
    var[constant] = skew[constant] = kurt[constant] = 0.0
    return np.stack([ordered[..., 0], ordered[..., -1], median, mean, var, skew, kurt], axis=-1)
