"""Synthetic feature tables for the model tests (the feature-store column layout)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.datasets import make_classification

from pipeline.datasets.classes import CLASSES

#: Small, fast hyper-parameters for every model.
TINY = {
    "logreg": {"max_iter": 200},
    "ffnn": {"hidden_layer_sizes": [16], "max_iter": 60, "batch_size": 32,
             "learning_rate_init": 0.01, "early_stopping": False,
             "networks": 1},  # one network: the bag has its own tests (test_seedbag.py)
    "rf": {"n_estimators": 12, "n_jobs": 1},
    "xgb": {"n_estimators": 12, "n_jobs": 1},
    # The plain mean: the learnt vote's inner fits would triple every ensemble fit here; it
    # has its own tests (test_vote.py) and the whole run keeps the default.
    "ensemble": {"members": ["logreg", "ffnn", "rf", "xgb"], "weights": None},
}


def feature_table(
    n: int = 200, *, n_features: int = 12, folds: bool = True, groups: bool = True, seed: int = 0
) -> pd.DataFrame:
    """A labelled feature table: ``id, label, fold, group, split`` + float32 features.

    Each recording (group) lies in one fold, as in UrbanSound8K.
    """
    X, y = make_classification(
        n_samples=n, n_features=n_features, n_informative=8, n_classes=len(CLASSES),
        n_clusters_per_class=1, class_sep=2.0, random_state=seed,
    )
    recording = np.arange(n) // 4
    fold = recording % 10 + 1
    df = pd.DataFrame(X.astype(np.float32), columns=[f"f{i:02d}" for i in range(n_features)])
    df.insert(0, "id", [f"clip{i:04d}" for i in range(n)])
    df.insert(1, "label", pd.array(np.asarray(CLASSES)[y], dtype="string"))
    df.insert(2, "fold", pd.array(fold if folds else [pd.NA] * n, dtype="Int64"))
    df.insert(3, "group", pd.array([f"r{r}" for r in recording] if groups else [pd.NA] * n,
                                    dtype="string"))
    df.insert(4, "split", "train")
    return df


def matrix(n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """``X`` (n, 12) float32 and class-name labels ``y`` (n,) of :func:`feature_table`."""
    from pipeline.store.rows import feature_columns, xy

    df = feature_table(n)
    return xy(df, feature_columns(df))
