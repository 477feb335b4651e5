"""Fold-aware cross-validation of the models, its typed result, and the report files.

The protocol follows what the data allows (:func:`pipeline.evaluation.splits.make_splits`):

- official folds known (UrbanSound8K): leave-one-fold-out over them, never mixing folds;
- recording groups known but no folds: ``StratifiedGroupKFold`` (no recording on both sides);
- neither (the Analytics Vidhya training table): recording groups are inferred from the
  features (:mod:`pipeline.evaluation.groups`) and ``StratifiedGroupKFold`` runs over them
  (``inferred-groups``); a random ``StratifiedKFold`` is reported beside it, labelled
  optimistic, since slices of one recording then sit in train and test;
- no groups can be inferred either (a table without band features): ``StratifiedKFold``
  alone, with a loud warning that the estimate is optimistic.

The best model is chosen from the honest protocol only
(:func:`pipeline.models.selection.best_model`).

Modules: :mod:`.cv` (the run: one engine task per (model, split) fit), :mod:`.results`
(:class:`CVResult`, :class:`ModelCV`), :mod:`.reports` (metrics.json, summary.md,
folds.csv, ``cv/NAME/``, read back by :func:`collect_reports`), :mod:`.plots` (PNGs).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

#: Public name → the module that defines it. They load on first use (PEP 562), so a command
#: that needs one module of the package (``features`` needs :mod:`.groups`) does not import
#: the models and scikit-learn's metrics with it.
_EXPORTS = {
    **dict.fromkeys(["CVData", "FoldFit", "FoldResult", "assemble", "cross_validate", "fit_fold",
                     "fit_folds", "fitted_models"], "cv"),
    **dict.fromkeys(["confusion_png", "fold_accuracy_png", "png_bytes", "pyplot"], "plots"),
    **dict.fromkeys(["collect_reports", "folds_csv", "left_out_note", "report_files",
                     "report_text", "summary_markdown", "write_model_reports", "write_reports",
                     "write_summary"], "reports"),
    **dict.fromkeys(["CVResult", "CVRun", "FoldScore", "ModelCV", "SplitScore"], "results"),
}

__all__ = [
    "CVData", "CVResult", "CVRun", "FoldFit", "FoldResult", "FoldScore", "ModelCV", "SplitScore",
    "assemble", "collect_reports", "confusion_png", "cross_validate", "fit_fold", "fit_folds",
    "fitted_models", "fold_accuracy_png", "folds_csv", "left_out_note", "png_bytes", "pyplot",
    "report_files", "report_text", "summary_markdown", "write_model_reports", "write_reports",
    "write_summary",
]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:
    from pipeline.evaluation.cv import (
        CVData,
        FoldFit,
        FoldResult,
        assemble,
        cross_validate,
        fit_fold,
        fit_folds,
        fitted_models,
    )
    from pipeline.evaluation.plots import confusion_png, fold_accuracy_png, png_bytes, pyplot
    from pipeline.evaluation.reports import (
        collect_reports,
        folds_csv,
        left_out_note,
        report_files,
        report_text,
        summary_markdown,
        write_model_reports,
        write_reports,
        write_summary,
    )
    from pipeline.evaluation.results import CVResult, CVRun, FoldScore, ModelCV, SplitScore
