"""Write ``index.html`` of a reports folder, with the files it links, all inside the folder.

The page is rendered from Jinja2 templates (package data, ``templates/``) with its style
inline and no script, so it opens from the file system without a server or the network,
and the folder can be zipped and sent. Layout of what it writes::

    index.html           the page
    doubted_labels.csv   every labelled clip, most doubted label first (a relabelling worklist)
    clips/NAME.wav       a 16-bit PCM excerpt at 22050 Hz of every listed clip
    clips/NAME.png       its mel-spectrogram thumbnail
    figures/             per-class recall, copies of detection timelines
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.apps.report.figures import class_recall_png
from pipeline.apps.report.media import EXCERPT_SECONDS, extract_media, media_name
from pipeline.apps.report.selection import (
    CELL_CAP,
    DOUBTED_CAP,
    doubted_labels,
    select_clips,
)
from pipeline.apps.report.sources import (
    Sources,
    clip_table,
    commit,
    read_json,
    source_layout,
    store_info,
    submission_info,
    tuning_info,
)
from pipeline.batches import ItemError
from pipeline.classes import CLASSES
from pipeline.io import atomic_write_bytes, atomic_write_text

INDEX = "index.html"
DOUBTED_CSV = "doubted_labels.csv"
CLIPS_DIR = "clips"
FIGURES_DIR = "figures"
#: The report's files of fixed names (the clips' and timelines' names follow the run).
PAGE_FILES = (INDEX, DOUBTED_CSV, f"{FIGURES_DIR}/class_recall.png")
#: Failed clips listed on the page (all of them are in the store's errors.csv).
ERRORS_SHOWN = 100


@dataclass(frozen=True)
class ReportSummary:
    """What :func:`write_report` wrote: the page, the clips it lists (with an excerpt:
    ``with_audio``), the clips per confusion cell, and the seconds it took."""

    index: Path
    clips: int
    with_audio: int
    cell_cap: int
    doubted: int
    seconds: float


def write_report(result, reports: str | Path, *, sources: Sources | None = None,
                 params_digest: str | None = None, scheduler="sync",
                 progress: bool = False) -> ReportSummary:
    """Write the HTML report of a cross-validation into ``reports``.

    Parameters
    ----------
    result : pipeline.evaluate.CVResult
        The comparison (its models' out-of-fold probabilities, when known, rank the
        doubted labels and fill the clip lists' probabilities).
    reports : path
        The reports folder (``metrics.json``, ``fold_accuracy.png`` and ``tune_*`` are
        linked when present).
    sources : Sources, optional
        Feature store (clips, failures, dataset, audio files), submission, detection folder.
    params_digest : str, optional
        :func:`pipeline.config.params_digest` of the run's parameters.
    scheduler : Engine or str
        Where excerpts and thumbnails are computed.
    progress : bool

    Returns
    -------
    ReportSummary
    """
    started = time.perf_counter()
    reports = Path(reports)
    sources = sources or Sources()
    store = store_info(sources.features)
    clips = clip_table(store["meta"], store["table"])
    models = {m.name: m for m in result.ranked()}
    first = next(iter(models.values())).predictions
    labelled = pd.DataFrame({"fold": first["fold"].to_numpy(),
                             "label": first["actual"].to_numpy()},
                            index=first["id"].astype(str).to_numpy())
    labelled["salience"] = clips["salience"].reindex(labelled.index).to_numpy()

    ranking = doubted_labels(models, labelled)
    worklist = ranking.assign(path=clips["path"].reindex(ranking["id"]).to_numpy())
    atomic_write_text(reports / DOUBTED_CSV, worklist.to_csv(index=False))
    doubt = ranking.set_index("id")["probability"]
    selection = select_clips(models, doubt, list(ranking["id"][:DOUBTED_CAP]))

    media = _write_media(selection.ids, clips, reports / CLIPS_DIR, scheduler, progress)
    figures = reports / FIGURES_DIR
    # In the comparison's order, so every model has the colour of the fold-accuracy plot.
    atomic_write_bytes(figures / "class_recall.png",
                       class_recall_png(list(result.models.values())))
    timelines = _copy_timelines(sources.detect, figures)

    rows = {name: _clip_rows(m, labelled) for name, m in models.items()}
    context = {
        "title": f"Urban sound report: {result.run.protocol.split(' ')[0]}",
        "run": _run_context(result, store, clips, sources, params_digest),
        "models": _models_context(result, models),
        "fold_png": "fold_accuracy.png" if (reports / "fold_accuracy.png").is_file() else None,
        "recall_png": f"{FIGURES_DIR}/class_recall.png",
        "salience": _salience_context(models, labelled),
        "confusions": [_confusion(name, m, rows[name], selection, media)
                       for name, m in models.items()],
        "cap": selection.cap,
        "excerpt_seconds": EXCERPT_SECONDS,
        "doubted": [_doubted_row(r, media) for r in ranking.head(DOUBTED_CAP).to_dict("records")],
        "doubted_models": [c[2:] for c in ranking.columns if c.startswith("p_")],
        "doubted_total": len(ranking),
        "errors": _errors_context(store),
        "tuning": tuning_info(reports),
        "timelines": timelines,
        "detect_scores": _detect_scores(sources.detect),
        "submission": submission_info(sources.submission, store["prior"]),
    }
    atomic_write_text(reports / INDEX, render(context))
    return ReportSummary(reports / INDEX, len(selection.ids),
                         sum(1 for v in media.values() if "wav" in v), selection.cap,
                         min(DOUBTED_CAP, len(ranking)), time.perf_counter() - started)


def render(context: Mapping) -> str:
    """The page of ``context`` (see :func:`write_report`), from the package's templates."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("pipeline.apps.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = lambda v, d=1: "–" if v is None or pd.isna(v) else f"{100 * v:.{d}f} %"
    env.filters["num"] = lambda v, d=3: "–" if v is None or pd.isna(v) else f"{v:.{d}f}"
    # Probabilities near 0 or 1 keep their figures (0.00012, not 0.000).
    env.filters["prob"] = lambda v: "–" if v is None or pd.isna(v) else f"{v:.3g}"
    return env.get_template("index.html.j2").render(**context)


# --- media ------------------------------------------------------------------------------
def _write_media(ids: list[str], clips: pd.DataFrame, folder: Path, scheduler,
                 progress: bool) -> dict[str, dict]:
    """Excerpt and thumbnail of every listed clip with a known audio file, written to
    ``folder`` (files of clips no longer listed are removed); ``{id: {wav, png} or
    {error}}`` with the paths relative to the reports folder."""
    paths = clips["path"].reindex(ids)
    known = [(i, p) for i, p in zip(ids, paths, strict=True) if isinstance(p, str)]
    results = extract_media([p for _, p in known], scheduler=scheduler, progress=progress)
    out: dict[str, dict] = {}
    keep = set()
    for (clip_id, _), res in zip(known, results, strict=True):
        if isinstance(res, ItemError):
            out[clip_id] = {"error": f"{res.kind}: {res.message}"}
            continue
        name = media_name(clip_id)
        atomic_write_bytes(folder / f"{name}.wav", res.wav)
        atomic_write_bytes(folder / f"{name}.png", res.png)
        keep |= {f"{name}.wav", f"{name}.png"}
        out[clip_id] = {"wav": f"{CLIPS_DIR}/{name}.wav", "png": f"{CLIPS_DIR}/{name}.png",
                        "start": res.start}
    if folder.is_dir():
        for stale in folder.iterdir():
            if stale.is_file() and stale.name not in keep:
                stale.unlink()
    return out


def _copy_timelines(detect: Path | None, figures: Path) -> list[str]:
    """Copies of the detection timelines in ``figures`` (paths relative to the reports)."""
    for old in figures.glob("timeline_*.png"):
        old.unlink()
    if detect is None or not detect.is_dir():
        return []
    copied = []
    for png in sorted(detect.glob("timeline_*.png")):
        atomic_write_bytes(figures / png.name, png.read_bytes())
        copied.append(f"{FIGURES_DIR}/{png.name}")
    return copied


def _detect_scores(detect: Path | None) -> dict | None:
    """The detection's scores (``scores.json``), when it was scored against annotations."""
    return read_json(detect / "scores.json") if detect is not None else None


# --- context ----------------------------------------------------------------------------
def _run_context(result, store: dict, clips: pd.DataFrame, sources: Sources,
                 params_digest: str | None) -> dict:
    meta = store["meta"] or {}
    counts = meta.get("counts") or {}
    run = result.run
    return {
        "dataset": meta.get("root"),
        "layout": source_layout(store["meta"], clips),
        "store": str(sources.features) if sources.features else None,
        "clips": counts.get("clips"),
        "featurized": counts.get("featurized"),
        "failed": counts.get("failed"),
        "failed_by_kind": counts.get("failed_by_kind") or {},
        "protocol": run.protocol,
        "optimistic": run.optimistic,
        "warning": run.warning,
        "random_split_note": result.random_split_note,
        "n_clips": run.n_clips,
        "best": result.best,
        "left_out": list(result.left_out or ()),
        "params_digest": params_digest,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit(),
    }


def _models_context(result, models: Mapping) -> list[dict]:
    return [{"name": name, "accuracy_mean": m.accuracy_mean, "accuracy_std": m.accuracy_std,
             "macro_f1": m.macro_f1_mean, "fit_seconds": m.fit_seconds,
             "best": name == result.best, "folds": [(f.fold, f.accuracy) for f in m.folds],
             "random": m.random_split}
            for name, m in models.items()]


def _salience_context(models: Mapping, labelled: pd.DataFrame) -> list[dict] | None:
    """Accuracy of every model on foreground and background clips; None without salience."""
    salience = labelled["salience"]
    if salience.isna().all():
        return None
    out = []
    for name, m in models.items():
        p = m.predictions
        hit = pd.Series((p["actual"] == p["predicted"]).to_numpy(),
                        index=p["id"].astype(str).to_numpy())
        row = {"model": name}
        for kind in ("foreground", "background"):
            ids = salience.index[salience == kind]
            row[kind] = (float(hit.reindex(ids).mean()) if len(ids) else None, len(ids))
        out.append(row)
    return out


def _clip_rows(m, labelled: pd.DataFrame) -> pd.DataFrame:
    """One model's row of every clip: fold, salience, true and predicted class, and the
    model's probabilities of both (NaN when unknown), indexed by id."""
    p = m.predictions
    ids = p["id"].astype(str).to_numpy()
    out = pd.DataFrame({"fold": p["fold"].to_numpy(), "actual": p["actual"].to_numpy(),
                        "predicted": p["predicted"].to_numpy()}, index=ids)
    out["salience"] = labelled["salience"].reindex(ids).to_numpy()
    if m.probabilities is None:
        out["p_actual"] = out["p_predicted"] = np.nan
        return out
    at = {c: i for i, c in enumerate(m.classes)}
    rows = np.arange(len(ids))
    for column, classes in (("p_actual", out["actual"]), ("p_predicted", out["predicted"])):
        col = np.array([at.get(c, -1) for c in classes])
        out[column] = np.where(col >= 0, m.probabilities[rows, np.maximum(col, 0)], np.nan)
    return out


def _confusion(name: str, m, rows: pd.DataFrame, selection, media: dict) -> dict:
    """A model's confusion table (counts, row shares, anchors) and its cells' clip lists."""
    present = set(rows["actual"]) | set(rows["predicted"])
    labels = [c for c in CLASSES if c in present]
    counts = pd.crosstab(rows["actual"], rows["predicted"]).reindex(
        index=labels, columns=labels, fill_value=0)
    slug = "m-" + media_name(name)
    table, cells = [], []
    for i, a in enumerate(labels):
        total = int(counts.loc[a].sum())
        line = []
        for j, b in enumerate(labels):
            n = int(counts.loc[a, b])
            anchor = f"{slug}-{i}-{j}"
            line.append({"n": n, "share": n / total if total else 0.0,
                         "anchor": anchor if n else None, "actual": a, "predicted": b})
            if n:
                ids = selection.cells.get((name, a, b), [])
                cells.append({"anchor": anchor, "actual": a, "predicted": b, "n": n,
                              "clips": [_clip(i_, rows.loc[i_], media) for i_ in ids]})
        table.append({"actual": a, "total": total, "cells": line})
    return {"name": name, "slug": slug, "labels": labels, "rows": table, "cells": cells,
            "has_proba": m.probabilities is not None}


def _clip(clip_id: str, row: pd.Series, media: dict) -> dict:
    return {"id": clip_id, "fold": row["fold"], "salience": _text(row["salience"]),
            "actual": row["actual"], "predicted": row["predicted"],
            "p_actual": row["p_actual"], "p_predicted": row["p_predicted"],
            **media.get(clip_id, {})}


def _doubted_row(record: dict, media: dict) -> dict:
    return {**record, "salience": _text(record["salience"]), **media.get(record["id"], {})}


def _text(value) -> str | None:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def _errors_context(store: dict) -> dict | None:
    errors = store["errors"]
    if errors is None or errors.empty:
        return None
    return {"n": len(errors), "rows": errors.head(ERRORS_SHOWN).to_dict("records"),
            "shown": min(len(errors), ERRORS_SHOWN),
            "by_kind": errors["kind"].value_counts().to_dict()}


__all__ = ["CELL_CAP", "DOUBTED_CSV", "INDEX", "PAGE_FILES", "ReportSummary", "render",
           "write_report"]
