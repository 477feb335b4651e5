"""The typed result of a cross-validation, and the JSON records rendered from it.

A :class:`CVResult` holds one :class:`ModelCV` per model: its scores on every held-out fold,
its out-of-fold predictions and probabilities and, beside an
inferred-groups protocol, its scores under a random split. Every summary figure (mean
accuracy, per-class recall, ``best``) is derived from those, in one place; ``metrics.json``
(the headline figures) and the per-model ``cv/NAME/metrics.json`` (with per-class recall
and fit times) are :meth:`CVResult.to_json` and :meth:`ModelCV.record`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, recall_score

from pipeline.datasets.classes import CLASSES
from pipeline.evaluation.splits import OPTIMISTIC_WARNING, RANDOM_SPLIT_NOTE
from pipeline.models.selection import best_model

#: Columns of :attr:`ModelCV.predictions` (and of ``cv/NAME/predictions.csv``).
PREDICTION_COLUMNS = ("id", "fold", "actual", "predicted")


def _over_folds(field: str, stat, doc: str, digits: int = 4) -> cached_property:
    """A cached property: ``stat`` of ``field`` over a :class:`ModelCV`'s folds, rounded."""

    def summary(self) -> float:
        return round(float(stat([getattr(f, field) for f in self.folds])), digits)

    summary.__doc__ = doc
    return cached_property(summary)


@dataclass(frozen=True)
class CVRun:
    """What every score of one cross-validation shares."""

    protocol: str
    optimistic: bool  # True when recordings can straddle a split (the figures are inflated)
    n_clips: int  # labelled clips
    store_digest: str | None = None  # of the feature store (:func:`pipeline.store.store_digest`)

    @property
    def warning(self) -> str | None:
        """The loud warning of an optimistic protocol, else None."""
        return OPTIMISTIC_WARNING if self.optimistic else None


@dataclass(frozen=True)
class FoldScore:
    """One model's scores on one held-out fold (a row of ``folds`` in its report)."""

    fold: str
    n_test: int
    fit_seconds: float
    accuracy: float
    macro_f1: float

    @classmethod
    def of(cls, fold: str, actual, predicted, fit_seconds: float) -> FoldScore:
        """Scores of ``predicted`` against ``actual`` (both shape (n_test,))."""
        return cls(fold, int(len(actual)), fit_seconds, float(accuracy_score(actual, predicted)),
                   float(f1_score(actual, predicted, average="macro", zero_division=0)))


@dataclass(frozen=True)
class SplitScore:
    """Mean scores of a model under another split (the random one beside inferred groups)."""

    accuracy_mean: float
    accuracy_std: float
    macro_f1_mean: float

    def to_json(self) -> dict:
        """The model's ``random_split`` entry in ``metrics.json`` (always optimistic)."""
        return {**asdict(self), "optimistic": True}

    @classmethod
    def from_json(cls, record: Mapping | None) -> SplitScore | None:
        """The scores of a ``random_split`` entry; None for none."""
        if record is None:
            return None
        return cls(record["accuracy_mean"], record["accuracy_std"], record["macro_f1_mean"])


@dataclass(frozen=True, eq=False)
class ModelCV:
    """The cross-validation of one model.

    Attributes
    ----------
    name : str
    run : CVRun
    folds : tuple of FoldScore
        One per split, in split order.
    predictions : DataFrame, shape (n_clips, 4)
        ``id, fold, actual, predicted`` of every labelled clip, when it was held out.
    probabilities : ndarray, shape (n_clips, n_classes), or None
        Out-of-fold class probabilities, rows as ``predictions``, columns ``classes``
        (written to ``cv/NAME/probabilities.csv``); None for reports written without them.
    classes : tuple of str
    random_split : SplitScore or None
        The same model under a random split (optimistic), beside inferred groups only.
    setting : dict or None
        Seed and hyper-parameters the model was fitted with
        (:func:`pipeline.models.estimators.fit_setting`): an ensemble reuses the folds of a
        member whose setting is its own. None for reports written without it.
    """

    name: str
    run: CVRun
    folds: tuple[FoldScore, ...]
    predictions: pd.DataFrame
    probabilities: np.ndarray | None = None
    classes: tuple[str, ...] = ()
    random_split: SplitScore | None = None
    setting: dict | None = None

    # Fold summaries, rounded as reported (and as compared for best).
    accuracy_mean = _over_folds("accuracy", np.mean, "Mean fold accuracy.")
    accuracy_std = _over_folds("accuracy", np.std, "Population std of the fold accuracies.")
    macro_f1_mean = _over_folds("macro_f1", np.mean, "Mean fold macro-F1.")
    fit_seconds = _over_folds("fit_seconds", np.mean, "Mean fit time per fold (an ensemble's: "
                              "its members' sum, with their inner fits if it learns weights).", 3)

    @cached_property
    def per_class_recall(self) -> dict[str, float]:
        """Recall of every class present, pooled over the out-of-fold predictions."""
        actual, predicted = self.predictions["actual"], self.predictions["predicted"]
        labels = [c for c in CLASSES if c in set(actual)]
        recall = recall_score(actual, predicted, labels=labels, average=None, zero_division=0)
        return {c: round(float(r), 4) for c, r in zip(labels, recall, strict=True)}

    def headline(self) -> dict:
        """The model's entry under ``models`` in ``metrics.json``: the figures a run is
        compared by (per-class recall and fit times stay in ``cv/NAME/metrics.json``)."""
        out = {"accuracy_mean": self.accuracy_mean, "accuracy_std": self.accuracy_std,
               "macro_f1_mean": self.macro_f1_mean}
        if self.random_split is not None:
            out["random_split"] = self.random_split.to_json()
        return out

    def summary(self) -> dict:
        """The model's summary in ``cv/NAME/metrics.json``: the headline figures, per-class
        recall and the mean fit time."""
        return {**self.headline(), "per_class_recall": self.per_class_recall,
                "fit_seconds": self.fit_seconds}

    def record(self) -> dict:
        """The content of ``cv/NAME/metrics.json`` (what one model's DVC stage writes)."""
        setting = {} if self.setting is None else {"setting": self.setting}  # None: not known
        return {"model": self.name, "protocol": self.run.protocol,
                "optimistic": self.run.optimistic, "n_clips": self.run.n_clips,
                "store_digest": self.run.store_digest, **setting,
                "summary": self.summary(), "folds": [asdict(f) for f in self.folds]}


@dataclass(frozen=True, eq=False)
class CVResult:
    """A comparison of cross-validated models under one protocol.

    ``left_out`` names models whose reports were of another feature store (a comparison
    rebuilt from reports, :func:`pipeline.evaluation.collect_reports`); None for a fresh run.
    ``refitted`` maps a model name to ``(model fitted on every labelled row, fit seconds)``
    after a run with ``refit`` (:func:`pipeline.evaluation.cross_validate`); never written.
    """

    run: CVRun
    models: Mapping[str, ModelCV]
    left_out: tuple[str, ...] | None = None
    refitted: Mapping[str, tuple[Any, float]] = field(default_factory=dict)

    @property
    def best(self) -> str | None:
        """The model of highest honest accuracy (:func:`pipeline.models.selection.best_model`)."""
        return best_model({n: m.accuracy_mean for n, m in self.models.items()},
                          optimistic=self.run.optimistic)

    @property
    def random_split_note(self) -> str | None:
        """What the random-split figures are, when any model has them."""
        has = any(m.random_split is not None for m in self.models.values())
        return RANDOM_SPLIT_NOTE if has else None

    def ranked(self) -> list[ModelCV]:
        """The models, best mean accuracy first (ties: in order)."""
        return sorted(self.models.values(), key=lambda m: -m.accuracy_mean)

    def to_json(self) -> dict:
        """The content of ``metrics.json``."""
        run = self.run
        out: dict = {"store_digest": run.store_digest}
        if self.left_out is not None:
            out["left_out"] = list(self.left_out)
        out.update(protocol=run.protocol, optimistic=run.optimistic)
        if run.warning:
            out["warning"] = run.warning
        out.update(n_clips=run.n_clips, best=self.best)
        if self.random_split_note:
            out["random_split"] = self.random_split_note
        out["models"] = {n: m.headline() for n, m in self.models.items()}
        return out
