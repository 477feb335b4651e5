"""Fold-aware cross-validation, metrics, plots and the model comparison report.

The protocol follows what the data allows:

- official folds known (UrbanSound8K): leave-one-fold-out over them, never mixing folds;
- recording groups known but no folds: ``StratifiedGroupKFold`` (no recording on both sides);
- neither (the Analytics Vidhya training table): recording groups are inferred from the
  features (:mod:`pipeline.groups`) and ``StratifiedGroupKFold`` runs over them
  (``inferred-groups``); a random ``StratifiedKFold`` is reported beside it, labelled
  optimistic, since slices of one recording then sit in train and test;
- no groups can be inferred either (a table without band features): ``StratifiedKFold``
  alone, with a loud warning that the estimate is optimistic.

The best model is chosen from the honest protocol only (:func:`pipeline.selection.best_model`).

Every (model, fold) fit is one task for :mod:`pipeline.engine`.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score

from pipeline.classes import CLASSES
from pipeline.engine import Engine, map_tasks, threads_per_task
from pipeline.errors import UserError
from pipeline.estimators import (
    SoftVoteEnsemble,
    align_proba,
    build_models,
    fit_with_groups,
    set_n_jobs,
)
from pipeline.groups import recording_groups
from pipeline.io import atomic_write_bytes, atomic_write_json, atomic_write_text
from pipeline.selection import best_model
from pipeline.splits import (
    INFERRED_PROTOCOL,
    OPTIMISTIC_WARNING,
    RANDOM_SPLIT_NOTE,
    Split,
    make_splits,
    random_splits,
)
from pipeline.train import feature_columns, labelled, xy


# --- tasks ---------------------------------------------------------------------------------
def fit_predict(
    estimator, X_train, y_train, X_test, *, n_jobs: int | None = None, groups=None
) -> dict:
    """Fit a clone of ``estimator`` and predict the test rows (one CV task).

    Parameters
    ----------
    estimator : unfitted classifier
    X_train : ndarray, shape (n_train, n_features)
    y_train : ndarray, shape (n_train,)
    X_test : ndarray, shape (n_test, n_features)
    n_jobs : int, optional
        Threads of the model's own parallelism (forest, boosting); 1 when several fits
        run side by side.
    groups : ndarray, shape (n_train,), optional
        Recording of every training row; a network's early-stopping validation part then
        holds whole recordings (see :func:`pipeline.estimators.fit_with_groups`).

    Returns
    -------
    dict
        ``proba`` (n_test, n_classes), ``classes`` (n_classes,), ``fit_seconds``.
    """
    model = clone(estimator)
    if n_jobs is not None:
        set_n_jobs(model, n_jobs)
    start = time.perf_counter()
    fit_with_groups(model, X_train, y_train, groups)
    seconds = time.perf_counter() - start
    return {
        "proba": model.predict_proba(X_test),
        "classes": np.asarray(model.classes_),
        "fit_seconds": seconds,
    }


def _run_task(task: dict) -> dict:
    X, y, split = task["X"], task["y"], task["split"]
    groups = task.get("groups")
    result = fit_predict(
        task["estimator"], X[split.train], y[split.train], X[split.test], n_jobs=task["n_jobs"],
        groups=None if groups is None else groups[split.train],
    )
    return {"model": task["model"], "split": split.name, **result}


def _fit_name(task: dict) -> str:
    return f"fitting {task['model']} on {task['split'].name}"


# --- metrics -------------------------------------------------------------------------------
def _fold_metrics(y_true, y_pred) -> dict:
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
    }


def summarise(name: str, folds: list[dict], actual, predicted) -> dict:
    """Metrics of one model from its per-fold results and pooled out-of-fold predictions."""
    acc = np.array([f["accuracy"] for f in folds])
    f1 = np.array([f["macro_f1"] for f in folds])
    labels = [c for c in CLASSES if c in set(actual)]
    recall = recall_score(actual, predicted, labels=labels, average=None, zero_division=0)
    return {
        "accuracy_mean": round(float(acc.mean()), 4),
        "accuracy_std": round(float(acc.std()), 4),
        "macro_f1_mean": round(float(f1.mean()), 4),
        "per_class_recall": {c: round(float(r), 4) for c, r in zip(labels, recall, strict=True)},
        "fit_seconds": round(float(np.mean([f["fit_seconds"] for f in folds])), 3),
    }


def cross_validate(
    features: pd.DataFrame,
    names: list[str],
    train_params: dict,
    *,
    seed: int = 42,
    n_splits: int = 10,
    scheduler: Engine | str = "sync",
    workers: int = 1,
    reports_dir: str | Path | None = None,
    progress: bool = False,
) -> dict:
    """Cross-validate models ``names`` on the labelled rows of ``features``.

    Parameters
    ----------
    features : DataFrame
        Feature table (``id, label, fold, group, split`` + feature columns).
    names : list of str
        Registry names; ``ensemble`` is scored from its members' out-of-fold
        probabilities (identical to refitting the soft vote in every fold).
    train_params : dict
        ``{model name: hyper-parameters}``.
    seed, n_splits : int
    scheduler : Engine or str
        An open :class:`pipeline.engine.Engine`, or ``sync | threads | processes |
        tcp://HOST:PORT`` for one opened for this call.
    workers : int
    reports_dir : path, optional
        Where to write metrics.json, summary.md, cv/ and the plots.
    progress : bool
        Show a progress bar of the fits on stderr.

    Returns
    -------
    dict
        The content of ``metrics.json``: ``protocol``, ``optimistic``, ``best``, ``models``.
    """
    rows = labelled(features)
    X, y = xy(rows, feature_columns(rows))
    protocol, optimistic, splits = make_splits(rows, n_splits=n_splits, seed=seed)
    groups, _ = recording_groups(rows)
    # Beside inferred groups, the random split a user would otherwise run, to show the gap.
    compared = (random_splits(rows, n_splits=n_splits, seed=seed)[2]
                if protocol.startswith(INFERRED_PROTOCOL) else [])
    compared = [Split(f"random-{s.name}", s.train, s.test) for s in compared]
    estimators = build_models(names, train_params, seed=seed)
    # An ensemble needs its members' fold probabilities, fitted or not reported on their own.
    fitted = {n: e for n, e in estimators.items() if not isinstance(e, SoftVoteEnsemble)}
    for est in estimators.values():
        if isinstance(est, SoftVoteEnsemble):
            for member, member_est in est.estimators:
                fitted.setdefault(member, member_est)
    n_jobs = threads_per_task(scheduler, workers)
    tasks = [
        {"model": n, "estimator": e, "split": s, "X": X, "y": y, "n_jobs": n_jobs,
         "groups": groups}
        for n, e in fitted.items()
        for s in [*splits, *compared]
    ]
    results = map_tasks(_run_task, tasks, scheduler=scheduler, workers=workers,
                        desc="cross-validation fits", progress=progress, name=_fit_name)
    by_key = {(r["model"], r["split"]): r for r in results}
    classes = np.array(sorted(set(y)), dtype=object)
    out_of_fold = _out_of_fold(names, estimators, splits, by_key, classes)
    metrics = _collect(rows, y, protocol, optimistic, out_of_fold)
    if compared:
        random = _collect(rows, y, "random", True, _out_of_fold(names, estimators, compared,
                                                                 by_key, classes))
        for name, summary in random["models"].items():
            metrics["models"][name]["random_split"] = {
                "accuracy_mean": summary["accuracy_mean"],
                "accuracy_std": summary["accuracy_std"],
                "macro_f1_mean": summary["macro_f1_mean"],
                "optimistic": True,
            }
        metrics["random_split"] = RANDOM_SPLIT_NOTE
    metrics["store_digest"] = features.attrs.get("store_digest")
    if reports_dir is not None:
        write_reports(metrics, reports_dir)
    return metrics


def _out_of_fold(names, estimators, splits, by_key, classes) -> dict[str, list]:
    """Per model, ``(split, predicted classes, fit seconds)`` of every split; an ensemble's
    prediction is the soft vote of its members' fold probabilities."""
    out_of_fold: dict[str, list] = {}
    for name in names:
        est = estimators[name]
        per_split = []
        for s in splits:
            if isinstance(est, SoftVoteEnsemble):
                parts = [by_key[(m, s.name)] for m, _ in est.estimators]
                probas = [align_proba(p["proba"], p["classes"], classes) for p in parts]
                proba = np.average(np.stack(probas), axis=0, weights=est.weights)
                seconds = sum(p["fit_seconds"] for p in parts)
            else:
                r = by_key[(name, s.name)]
                proba = align_proba(r["proba"], r["classes"], classes)
                seconds = r["fit_seconds"]
            per_split.append((s, classes[np.argmax(proba, axis=1)], seconds))
        out_of_fold[name] = per_split
    return out_of_fold


def _collect(rows, y, protocol, optimistic, out_of_fold) -> dict:
    models, details = {}, {}
    for name, per_split in out_of_fold.items():
        folds, frames = [], []
        for split, pred, seconds in per_split:
            fold = {"fold": split.name, "n_test": int(len(split.test)), "fit_seconds": seconds}
            fold.update(_fold_metrics(y[split.test], pred))
            folds.append(fold)
            frames.append(
                pd.DataFrame(
                    {
                        "id": rows["id"].to_numpy()[split.test],
                        "fold": split.name,
                        "actual": y[split.test],
                        "predicted": pred,
                    }
                )
            )
        predictions = pd.concat(frames, ignore_index=True)
        models[name] = summarise(name, folds, predictions["actual"], predictions["predicted"])
        details[name] = {"folds": folds, "predictions": predictions}
    return {
        "protocol": protocol,
        "optimistic": optimistic,
        **({"warning": OPTIMISTIC_WARNING} if optimistic else {}),
        "n_clips": int(len(y)),
        "best": best_model({n: m["accuracy_mean"] for n, m in models.items()},
                           optimistic=optimistic),
        "models": models,
        "_details": details,
    }


# --- reports -------------------------------------------------------------------------------
def summary_markdown(metrics: dict) -> str:
    """The model comparison table (Markdown) of a metrics dict."""
    lines = ["# Model comparison", ""]
    if metrics.get("optimistic"):
        lines += [f"> **{metrics['warning']}**", ""]
    lines += [
        f"Protocol: {metrics['protocol']}; {metrics['n_clips']} labelled clips; "
        f"best: **{metrics['best']}** (chosen on this protocol only).",
        "",
        *([f"Left out: {left_out_note(metrics)}", ""] if metrics.get("left_out") else []),
    ]
    random = "random_split" in metrics
    if random:
        lines += [f"The last column is a {metrics['random_split']}.", ""]
    extra = " random split (OPTIMISTIC) |" if random else ""
    lines += [
        "| model | accuracy (mean ± std) | macro F1 | fit s / fold |" + extra,
        "|---|---|---|---|" + ("---|" if random else ""),
    ]
    ranked = sorted(metrics["models"].items(), key=lambda kv: -kv[1]["accuracy_mean"])
    for name, m in ranked:
        cell = ""
        if random:
            r = m.get("random_split")
            cell = f" {r['accuracy_mean']:.4f} ± {r['accuracy_std']:.4f} |" if r else " - |"
        lines.append(
            f"| {name} | {m['accuracy_mean']:.4f} ± {m['accuracy_std']:.4f} "
            f"| {m['macro_f1_mean']:.4f} | {m['fit_seconds']:.2f} |" + cell
        )
    names = [n for n, _ in ranked]
    lines += ["", "Per-class recall:", "", "| class | " + " | ".join(names) + " |"]
    lines.append("|---" * (len(names) + 1) + "|")
    for c in CLASSES:
        cells = [metrics["models"][n]["per_class_recall"].get(c) for n in names]
        if all(v is None for v in cells):
            continue
        lines.append(
            f"| {c} | " + " | ".join("-" if v is None else f"{v:.3f}" for v in cells) + " |"
        )
    return "\n".join(lines) + "\n"


def report_text(metrics: dict) -> str:
    """The plain-text report printed by ``urbansound evaluate``."""
    lines = []
    if metrics.get("optimistic"):
        lines += ["!" * 78, metrics["warning"], "!" * 78]
    lines.append(f"protocol: {metrics['protocol']} ({metrics['n_clips']} labelled clips)")
    ranked = sorted(metrics["models"].items(), key=lambda kv: -kv[1]["accuracy_mean"])
    for name, m in ranked:
        r = m.get("random_split")
        lines.append(
            f"{name:9s} accuracy {m['accuracy_mean']:.4f} ± {m['accuracy_std']:.4f}  "
            f"macro-F1 {m['macro_f1_mean']:.4f}  fit {m['fit_seconds']:.2f} s/fold"
            + (f"  [random split {r['accuracy_mean']:.4f}: OPTIMISTIC]" if r else "")
        )
    if "random_split" in metrics:
        lines.append(f"[...] is a {metrics['random_split']}")
    lines.append(f"best: {metrics['best']} (chosen on {metrics['protocol'].split(' ')[0]})")
    if metrics.get("left_out"):
        lines.append(f"left out: {left_out_note(metrics)}")
    return "\n".join(lines)


def left_out_note(metrics: dict) -> str:
    """Why some models' reports are not in the comparison."""
    names = ", ".join(metrics["left_out"])
    return (f"{names} (reports of another feature store; rerun 'urbansound evaluate --model "
            f"NAME' to include them)")


def pyplot():
    """matplotlib.pyplot with the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_bytes(fig) -> bytes:
    """Render ``fig`` to PNG bytes and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    pyplot().close(fig)
    return buf.getvalue()


def confusion_png(actual, predicted, title: str) -> bytes:
    """A row-normalised confusion matrix (recall on the diagonal) as PNG bytes."""
    plt = pyplot()
    labels = [c for c in CLASSES if c in set(actual) | set(predicted)]
    cm = confusion_matrix(actual, predicted, labels=labels).astype(float)
    cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7, 6))
    im = ax.imshow(cm, vmin=0, vmax=1, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{cm[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(title)
    fig.colorbar(im, ax=ax)
    return png_bytes(fig)


def fold_accuracy_png(metrics: dict) -> bytes:
    """Accuracy of every model on every fold, as PNG bytes."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    for name, detail in metrics["_details"].items():
        folds = detail["folds"]
        ax.plot([f["fold"] for f in folds], [f["accuracy"] for f in folds], marker="o",
                label=f"{name} ({metrics['models'][name]['accuracy_mean']:.3f})")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(metrics["protocol"])
    ax.grid(alpha=0.3)
    ax.legend()
    ax.tick_params(axis="x", rotation=45)
    return png_bytes(fig)


def write_model_reports(metrics: dict, reports_dir: str | Path) -> None:
    """Write ``cv/NAME/{metrics.json, predictions.csv, confusion.png}`` for every model of
    ``metrics``, each file atomically (what one model's DVC stage owns)."""
    for name, detail in metrics["_details"].items():
        folder = Path(reports_dir) / "cv" / name
        record = {
            "model": name,
            "protocol": metrics["protocol"],
            "optimistic": metrics["optimistic"],
            "n_clips": metrics["n_clips"],
            "store_digest": metrics.get("store_digest"),
            "summary": metrics["models"][name],
            "folds": detail["folds"],
        }
        atomic_write_json(folder / "metrics.json", record)
        preds = detail["predictions"]
        atomic_write_text(folder / "predictions.csv", preds.to_csv(index=False))
        png = confusion_png(preds["actual"], preds["predicted"], f"{name} (normalised by row)")
        atomic_write_bytes(folder / "confusion.png", png)


def collect_reports(
    reports_dir: str | Path, names: list[str], store_digest: str | None = None
) -> dict:
    """Rebuild the metrics of models ``names`` from their ``cv/NAME/`` reports.

    Models without reports are skipped. With ``store_digest`` (of the current feature
    store, :func:`pipeline.store.store_digest`), reports of another store are left out and
    named in ``left_out``; without it, reports of different stores are a
    :class:`UserError`, as is having no report at all.
    """
    cv = Path(reports_dir) / "cv"
    records, details = {}, {}
    for name in names:
        path = cv / name / "metrics.json"
        if not path.is_file():
            continue
        try:
            records[name] = json.loads(path.read_text(encoding="utf-8"))
            preds = pd.read_csv(cv / name / "predictions.csv", dtype={"actual": str,
                                                                       "predicted": str})
        except (OSError, ValueError) as exc:
            raise UserError(f"cross-validation report of {name} in {cv} is unreadable: {exc}") \
                from None
        details[name] = {"folds": records[name]["folds"], "predictions": preds}
    left_out = []
    if store_digest is not None:
        left_out = [n for n, r in records.items() if r.get("store_digest") != store_digest]
        records = {n: r for n, r in records.items() if n not in left_out}
    if not records:
        stale = f" (those of {', '.join(left_out)} are of another feature store)" \
            if left_out else ""
        raise UserError(f"no cross-validation reports in {cv}{stale}: run 'urbansound evaluate'")
    first = next(iter(records.values()))
    runs = {(r["protocol"], r["n_clips"], r.get("store_digest")) for r in records.values()}
    if len(runs) > 1:
        raise UserError(f"reports in {cv} come from different feature stores; rerun evaluate")
    details = {n: d for n, d in details.items() if n in records}
    models = {n: r["summary"] for n, r in records.items()}
    return {
        "store_digest": first.get("store_digest"),
        "left_out": left_out,
        "protocol": first["protocol"],
        "optimistic": first["optimistic"],
        **({"warning": OPTIMISTIC_WARNING} if first["optimistic"] else {}),
        "n_clips": first["n_clips"],
        "best": best_model({n: m["accuracy_mean"] for n, m in models.items()},
                           optimistic=first["optimistic"]),
        **({"random_split": RANDOM_SPLIT_NOTE}
           if any("random_split" in m for m in models.values()) else {}),
        "models": models,
        "_details": details,
    }


def folds_csv(metrics: dict) -> str:
    """Accuracy per fold and model, one row per fold (a DVC plot of the per-fold accuracy)."""
    table = pd.DataFrame(
        {name: {f["fold"]: f["accuracy"] for f in d["folds"]} for name, d in
         metrics["_details"].items()}
    )
    return table.rename_axis("fold").reset_index().to_csv(index=False)


def write_summary(metrics: dict, reports_dir: str | Path) -> None:
    """Write metrics.json, summary.md, folds.csv and fold_accuracy.png, each atomically."""
    reports = Path(reports_dir)
    atomic_write_bytes(reports / "fold_accuracy.png", fold_accuracy_png(metrics))
    atomic_write_text(reports / "folds.csv", folds_csv(metrics))
    atomic_write_text(reports / "summary.md", summary_markdown(metrics))
    atomic_write_json(reports / "metrics.json", public(metrics))


def write_reports(metrics: dict, reports_dir: str | Path) -> None:
    """Write the per-model reports and the comparison of ``metrics``."""
    write_model_reports(metrics, reports_dir)
    write_summary(metrics, reports_dir)


def public(metrics: dict) -> dict:
    """``metrics`` without the in-memory details (what metrics.json holds)."""
    return {k: v for k, v in metrics.items() if not k.startswith("_")}
