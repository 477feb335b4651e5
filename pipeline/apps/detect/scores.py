"""Scores of detected events against an annotation, with ``sed_eval``'s definitions.

- **Segment-based** (``time_resolution`` 1 s): each file is cut into one-second segments; a
  class is active in a segment, for the reference or the system, when one of its events
  overlaps it. Every (segment, class) pair is a true positive, false positive or false
  negative; F1 = 2 TP / (2 TP + FP + FN), summed over all classes and files (micro) or per
  class. The evaluated length of a file is its duration.
- **Event-based** (``t_collar`` 1 s, onsets only): a detected event is a true positive when
  an annotated event of the same class has its onset within ±1 s of the detected onset;
  each annotated event matches at most one detection (sed_eval's optimal matching).
  Offsets are **not** evaluated.

The annotation is a CSV ``file, start, end, class``; its ``file`` is matched by file name
to the detected files. Only files present on both sides are scored.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from pipeline.core.errors import UserError
from pipeline.datasets.classes import CLASSES

ANNOTATION_COLUMNS = ["file", "start", "end", "class"]
SEGMENT_SECONDS = 1.0
ONSET_COLLAR = 1.0


def read_annotations(path: str | Path) -> pd.DataFrame:
    """An annotation CSV as ``file`` (file name), ``start``, ``end`` (float s), ``class``.

    Raises
    ------
    UserError
        Unreadable file, a missing column, non-numeric or reversed times, unknown classes.
    """
    from pipeline.apps.submission import read_table

    table = read_table(path, "annotations", ANNOTATION_COLUMNS)[ANNOTATION_COLUMNS]
    times = table[["start", "end"]].apply(pd.to_numeric, errors="coerce")
    bad = times.isna().any(axis=1) | (times["end"] <= times["start"]) | (times["start"] < 0)
    if bad.any():
        lines = ", ".join(str(i + 2) for i in bad[bad].index[:5])
        raise UserError(f"annotations {path}: start/end not numbers with 0 <= start < end "
                        f"on line(s) {lines}")
    unknown = sorted(set(table["class"]) - set(CLASSES))
    if unknown:
        raise UserError(f"annotations {path} have unknown class(es) {', '.join(unknown[:5])}")
    return pd.DataFrame({"file": table["file"].map(lambda f: Path(f).name),
                         "start": times["start"], "end": times["end"], "class": table["class"]})


def _event_list(rows: pd.DataFrame, file: str) -> list[dict]:
    return [{"filename": file, "event_label": r["class"], "onset": float(r["start"]),
             "offset": float(r["end"])} for r in rows.to_dict("records")]


def _clean(value):
    """sed_eval gives NaN for an undefined ratio (no events): JSON null."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _summary(metrics) -> dict:
    overall = metrics.results_overall_metrics()
    per_class = metrics.results_class_wise_metrics()
    return {
        "f1": _clean(overall["f_measure"]["f_measure"]),
        "precision": _clean(overall["f_measure"]["precision"]),
        "recall": _clean(overall["f_measure"]["recall"]),
        "error_rate": _clean(overall["error_rate"]["error_rate"]),
        "macro_f1": _clean(metrics.results_class_wise_average_metrics()["f_measure"]["f_measure"]),
        "per_class": {
            c: {"f1": _clean(m["f_measure"]["f_measure"]),
                "precision": _clean(m["f_measure"]["precision"]),
                "recall": _clean(m["f_measure"]["recall"]),
                "n_reference": int(m["count"]["Nref"]), "n_detected": int(m["count"]["Nsys"])}
            for c, m in per_class.items()
        },
    }


def score_events(detected: pd.DataFrame, annotations: pd.DataFrame,
                 durations: dict[str, float]) -> dict:
    """Segment- and event-based scores of ``detected`` events.

    Parameters
    ----------
    detected : DataFrame
        ``file, start, end, class`` (other columns ignored); ``file`` as in ``durations``.
    annotations : DataFrame
        From :func:`read_annotations`.
    durations : dict
        Seconds of every detected file (readable ones), keyed by its ``file`` value.

    Returns
    -------
    dict
        ``segment_based`` and ``event_based`` (each ``f1, precision, recall, error_rate,
        macro_f1, per_class``), ``files`` scored, ``not_annotated`` and ``not_detected``
        file names, ``settings``.

    Raises
    ------
    UserError
        No file in common, or two detected files with the same name.
    """
    import sed_eval

    names = {file: Path(file).name for file in durations}
    if len(set(names.values())) < len(names):
        raise UserError("two detected files share a file name: the annotation cannot tell "
                        "them apart; score them in separate runs")
    annotated = set(annotations["file"])
    scored = [f for f in durations if names[f] in annotated]
    if not scored:
        raise UserError("no detected file is named in the annotations (matched by file name)")
    segment = sed_eval.sound_event.SegmentBasedMetrics(
        event_label_list=list(CLASSES), time_resolution=SEGMENT_SECONDS)
    event = sed_eval.sound_event.EventBasedMetrics(
        event_label_list=list(CLASSES), t_collar=ONSET_COLLAR, evaluate_onset=True,
        evaluate_offset=False)
    for file in scored:
        name = names[file]
        reference = _event_list(annotations[annotations["file"] == name], name)
        estimated = _event_list(detected[detected["file"] == file], name)
        segment.evaluate(reference, estimated, evaluated_length_seconds=durations[file])
        event.evaluate(reference, estimated)
    return {
        "segment_based": _summary(segment), "event_based": _summary(event),
        "files": [names[f] for f in scored],
        "not_annotated": sorted(names[f] for f in durations if names[f] not in annotated),
        "not_detected": sorted(annotated - {names[f] for f in durations}),
        "settings": {"segment_seconds": SEGMENT_SECONDS, "onset_collar_seconds": ONSET_COLLAR,
                     "offsets_evaluated": False, "definitions": "sed_eval"},
    }


def scores_text(scores: dict) -> str:
    """Printed form of :func:`score_events`."""
    lines = []
    for key, label in (("segment_based", "segment-based (1 s)"),
                       ("event_based", "event-based (onset ±1 s, offsets not evaluated)")):
        s = scores[key]

        def fmt(v):
            return "  n/a " if v is None else f"{v:.4f}"

        lines.append(f"{label}: F1 {fmt(s['f1'])} (P {fmt(s['precision'])}, "
                     f"R {fmt(s['recall'])}), error rate {fmt(s['error_rate'])}, "
                     f"macro F1 {fmt(s['macro_f1'])}")
        for c, m in s["per_class"].items():
            lines.append(f"  {c:17s} F1 {fmt(m['f1'])}  ref {m['n_reference']:4d}  "
                         f"detected {m['n_detected']:4d}")
    lines.append(f"scored files: {len(scores['files'])}")
    if scores["not_annotated"]:
        lines.append("not in the annotations (not scored): "
                     + ", ".join(scores["not_annotated"]))
    if scores["not_detected"]:
        lines.append("annotated but not analysed (not scored): "
                     + ", ".join(scores["not_detected"]))
    return "\n".join(lines)
