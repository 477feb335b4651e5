"""Fixed fold fits for the golden cross-validation reports in ``tests/data/cv_golden/``.

The fits are not trained: every (model, split) gets seeded class probabilities and a fixed
fit time, so the rendered reports are exactly reproducible. The golden files were written
from these fits by the dict-based evaluation of commit 01c10aa (before the typed result);
the typed result must render the same files from the same fits.
"""

from __future__ import annotations

import numpy as np
from model_tables import TINY, feature_table

from pipeline.evaluation.splits import INFERRED_PROTOCOL, Split, make_splits, random_splits

NAMES = ["logreg", "rf", "ensemble"]
PARAMS = {**TINY, "ensemble": {"members": ["logreg", "rf"], "weights": [2.0, 1.0]}}
DIGEST = "golden-digest"
CASES = ("official", "inferred", "optimistic")


def case(name: str):
    """``(rows, protocol, optimistic, splits, compared)`` of one golden case.

    ``official``: leave-one-fold-out; ``inferred``: the inferred-groups protocol (its
    splits made here from the given groups) with the random split beside it;
    ``optimistic``: no folds, no groups.
    """
    if name == "official":
        rows = feature_table(60)
        protocol, optimistic, splits = make_splits(rows)
        return rows, protocol, optimistic, splits, []
    if name == "inferred":
        rows = feature_table(60, folds=False)
        _, _, splits = make_splits(rows, n_splits=3)
        protocol = f"{INFERRED_PROTOCOL} (stratified-group-kfold, 3 splits over 15 recordings)"
        _, _, random = random_splits(rows, n_splits=3)
        compared = [Split(f"random-{s.name}", s.train, s.test) for s in random]
        return rows, protocol, False, splits, compared
    rows = feature_table(60, folds=False, groups=False)
    protocol, optimistic, splits = make_splits(rows, n_splits=3)
    return rows, protocol, optimistic, splits, []


def fake_fits(rows, splits) -> dict[tuple[str, str], dict]:
    """``{(model, split name): {proba, classes, fit_seconds, rows}}`` for the fitted models."""
    y = rows["label"].astype(object).to_numpy()
    rng = np.random.default_rng(7)
    fits = {}
    for k, model in enumerate(["logreg", "rf"]):
        for i, split in enumerate(splits):
            # A model's classes are those of its training part, sorted (as scikit-learn's).
            classes = np.array(sorted(set(y[split.train])), dtype=object)
            proba = rng.dirichlet(np.ones(len(classes)), size=len(split.test))
            fits[(model, split.name)] = {"proba": proba, "classes": classes,
                                         "fit_seconds": 0.125 * (k + 1) + 0.01 * i,
                                         "rows": split.test}
    return fits
