"""Report files of a cross-validation, and the comparison rebuilt from them.

One model's DVC stage writes ``cv/NAME/{metrics.json, predictions.csv, probabilities.csv,
confusion.png}``
(:func:`write_model_reports`); the summary stage reads every model's reports back
(:func:`collect_reports`) and writes ``metrics.json``, ``summary.md``, ``folds.csv`` and
``fold_accuracy.png`` (:func:`write_summary`). All render a :class:`CVResult`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from pipeline.core.errors import UserError
from pipeline.core.io import atomic_write_bytes, atomic_write_json, atomic_write_text
from pipeline.datasets.classes import CLASSES
from pipeline.evaluation.plots import confusion_png, fold_accuracy_png
from pipeline.evaluation.results import (
    PREDICTION_COLUMNS,
    CVResult,
    CVRun,
    FoldScore,
    ModelCV,
    SplitScore,
)

#: Out-of-fold class probabilities of a model, beside its predictions.csv.
PROBABILITIES_FILE = "probabilities.csv"


def summary_markdown(result: CVResult) -> str:
    """The model comparison table (Markdown)."""
    run, note = result.run, result.random_split_note
    lines = ["# Model comparison", ""]
    if run.warning:
        lines += [f"> **{run.warning}**", ""]
    lines += [
        f"Protocol: {run.protocol}; {run.n_clips} labelled clips; "
        f"best: **{result.best}** (chosen on this protocol only).",
        "",
        *([f"Left out: {left_out_note(result)}", ""] if result.left_out else []),
    ]
    if note:
        lines += [f"The last column is a {note}.", ""]
    lines += [
        "| model | accuracy (mean ± std) | macro F1 | fit s / fold |"
        + (" random split (OPTIMISTIC) |" if note else ""),
        "|---|---|---|---|" + ("---|" if note else ""),
    ]
    ranked = result.ranked()
    for m in ranked:
        cell = ""
        if note:
            r = m.random_split
            cell = f" {r.accuracy_mean:.4f} ± {r.accuracy_std:.4f} |" if r else " - |"
        lines.append(
            f"| {m.name} | {m.accuracy_mean:.4f} ± {m.accuracy_std:.4f} "
            f"| {m.macro_f1_mean:.4f} | {m.fit_seconds:.2f} |" + cell
        )
    names = [m.name for m in ranked]
    lines += ["", "Per-class recall:", "", "| class | " + " | ".join(names) + " |"]
    lines.append("|---" * (len(names) + 1) + "|")
    for c in CLASSES:
        cells = [m.per_class_recall.get(c) for m in ranked]
        if all(v is None for v in cells):
            continue
        lines.append(
            f"| {c} | " + " | ".join("-" if v is None else f"{v:.3f}" for v in cells) + " |"
        )
    return "\n".join(lines) + "\n"


def report_text(result: CVResult) -> str:
    """The plain-text report printed by ``urbansound evaluate``."""
    run = result.run
    lines = ["!" * 78, run.warning, "!" * 78] if run.warning else []
    lines.append(f"protocol: {run.protocol} ({run.n_clips} labelled clips)")
    for m in result.ranked():
        r = m.random_split
        lines.append(
            f"{m.name:9s} accuracy {m.accuracy_mean:.4f} ± {m.accuracy_std:.4f}  "
            f"macro-F1 {m.macro_f1_mean:.4f}  fit {m.fit_seconds:.2f} s/fold"
            + (f"  [random split {r.accuracy_mean:.4f}: OPTIMISTIC]" if r else "")
        )
    if result.random_split_note:
        lines.append(f"[...] is a {result.random_split_note}")
    lines.append(f"best: {result.best} (chosen on {run.protocol.split(' ')[0]})")
    if result.left_out:
        lines.append(f"left out: {left_out_note(result)}")
    return "\n".join(lines)


def left_out_note(result: CVResult) -> str:
    """Why some models' reports are not in the comparison."""
    return (f"{', '.join(result.left_out)} (reports of another feature store; rerun "
            "'urbansound evaluate --model NAME' to include them)")


def folds_csv(result: CVResult) -> str:
    """Accuracy per fold and model, one row per fold (a DVC plot of the per-fold accuracy)."""
    table = pd.DataFrame(
        {name: {f.fold: f.accuracy for f in m.folds} for name, m in result.models.items()}
    )
    return table.rename_axis("fold").reset_index().to_csv(index=False)


MODEL_FILES = ("metrics.json", "predictions.csv", "confusion.png", PROBABILITIES_FILE)
SUMMARY_FILES = ("fold_accuracy.png", "folds.csv", "summary.md", "metrics.json")


def report_files(names: list[str], *, per_model: bool = True,
                 summary: bool = True) -> list[str]:
    """The files (relative to the reports folder) that :func:`write_model_reports` of
    models ``names`` and :func:`write_summary` write."""
    files = [f"cv/{n}/{f}" for n in names for f in MODEL_FILES] if per_model else []
    return files + (list(SUMMARY_FILES) if summary else [])


def write_model_reports(result: CVResult, reports_dir: str | Path) -> None:
    """Write ``cv/NAME/{metrics.json, predictions.csv, probabilities.csv, confusion.png}``
    for every model of ``result``, each file atomically (what one model's DVC stage owns).

    ``probabilities.csv`` (``id`` and one column per class, out of fold) is what the HTML
    report reads its probabilities and doubted labels from.
    """
    for name, model in result.models.items():
        folder = Path(reports_dir) / "cv" / name
        metrics, predictions, confusion, _ = (folder / f for f in MODEL_FILES)
        atomic_write_json(metrics, model.record())
        preds = model.predictions
        atomic_write_text(predictions, preds.to_csv(index=False))
        if model.probabilities is not None:
            proba = pd.DataFrame(model.probabilities, columns=list(model.classes))
            proba.insert(0, "id", preds["id"].to_numpy())
            # Every digit: an ensemble may vote with these instead of refitting the model.
            atomic_write_text(folder / PROBABILITIES_FILE, proba.to_csv(index=False))
        png = confusion_png(preds["actual"], preds["predicted"], f"{name} (normalised by row)")
        atomic_write_bytes(confusion, png)


def collect_reports(
    reports_dir: str | Path, names: list[str], store_digest: str | None = None
) -> CVResult:
    """Rebuild the comparison of models ``names`` from their ``cv/NAME/`` reports.

    Models without reports are skipped. With ``store_digest`` (of the current feature
    store, :func:`pipeline.store.store_digest`), reports of another store are left out and
    named in ``left_out``; without it, reports of different stores are a
    :class:`UserError`, as is having no report at all.
    """
    cv = Path(reports_dir) / "cv"
    models = {n: _read_model(cv, n) for n in names if (cv / n / "metrics.json").is_file()}
    left_out = []
    if store_digest is not None:
        left_out = [n for n, m in models.items() if m.run.store_digest != store_digest]
        models = {n: m for n, m in models.items() if n not in left_out}
    if not models:
        stale = f" (those of {', '.join(left_out)} are of another feature store)" \
            if left_out else ""
        raise UserError(f"no cross-validation reports in {cv}{stale}: run 'urbansound evaluate'")
    runs = {m.run for m in models.values()}
    if len(runs) > 1:
        raise UserError(f"reports in {cv} come from different feature stores; rerun evaluate")
    return CVResult(runs.pop(), models, tuple(left_out))


def readable_reports(reports_dir: str | Path, names: list[str]) -> dict[str, ModelCV]:
    """The ``cv/NAME/`` reports of ``names`` that can be read, whatever their store: what an
    ensemble may reuse (:func:`pipeline.evaluation.cross_validate`'s ``earlier``, which
    checks them); missing or unreadable ones are left out."""
    found = {}
    for name in names:
        try:
            found[name] = _read_model(Path(reports_dir) / "cv", name)
        except UserError:
            continue
    return found


def _read_model(cv: Path, name: str) -> ModelCV:
    """One model's cross-validation from ``cv/NAME/metrics.json`` and ``predictions.csv``."""
    try:
        record = json.loads((cv / name / "metrics.json").read_text(encoding="utf-8"))
        predictions = pd.read_csv(cv / name / "predictions.csv",
                                  dtype={"actual": str, "predicted": str})
        missing = [c for c in PREDICTION_COLUMNS if c not in predictions.columns]
        if missing:
            raise ValueError(f"predictions.csv lacks {', '.join(missing)}")
        run = CVRun(record["protocol"], record["optimistic"], record["n_clips"],
                    record.get("store_digest"))
        folds = tuple(FoldScore(**f) for f in record["folds"])
        random_split = SplitScore.from_json(record["summary"].get("random_split"))
        proba, classes = _read_probabilities(cv / name / PROBABILITIES_FILE, predictions)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"cross-validation report of {name} in {cv} is unreadable: {exc}") \
            from None
    return ModelCV(name, run, folds, predictions, proba, classes, random_split=random_split,
                   setting=record.get("setting"))


def _read_probabilities(path: Path, predictions: pd.DataFrame) -> tuple:
    """``(probabilities (n_clips, n_classes), classes)`` of ``probabilities.csv``, rows in
    the order of ``predictions``; ``(None, ())`` when the file is absent (older reports)."""
    if not path.is_file():
        return None, ()
    table = pd.read_csv(path, dtype={"id": str}).set_index("id")
    classes = tuple(c for c in table.columns if c in CLASSES)
    if len(classes) != len(table.columns):
        raise ValueError(f"{PROBABILITIES_FILE} has columns that are not classes")
    ids = predictions["id"].astype(str)
    if len(table) != len(ids) or not ids.isin(table.index).all():
        raise ValueError(f"{PROBABILITIES_FILE} does not hold the clips of predictions.csv")
    return table.loc[ids, list(classes)].to_numpy(dtype=float), classes


def write_summary(result: CVResult, reports_dir: str | Path) -> None:
    """Write metrics.json, summary.md, folds.csv and fold_accuracy.png, each atomically."""
    reports = Path(reports_dir)
    atomic_write_bytes(reports / "fold_accuracy.png", fold_accuracy_png(result))
    atomic_write_text(reports / "folds.csv", folds_csv(result))
    atomic_write_text(reports / "summary.md", summary_markdown(result))
    atomic_write_json(reports / "metrics.json", result.to_json())


def write_reports(result: CVResult, reports_dir: str | Path) -> None:
    """Write the per-model reports and the comparison of ``result``."""
    write_model_reports(result, reports_dir)
    write_summary(result, reports_dir)
