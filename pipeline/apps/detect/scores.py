"""Scores of detected events against an annotation, with ``sed_eval``'s definitions.

The definitions are those of ``sed_eval`` (Mesaros, Heittola and Virtanen, "Metrics for
polyphonic sound event detection", Applied Sciences 6(6):162, 2016), computed here in a
few array operations; ``tests/test_guard.py`` holds the figures ``sed_eval`` 0.2.1 gives
on a fixed example, and these match them to the last bit.

- **Segment-based** (``time_resolution`` 1 s): each file is cut into one-second segments; a
  class is active in a segment, for the reference or the system, when one of its events
  overlaps it. Every (segment, class) pair is a true positive, false positive or false
  negative; F1 = 2 TP / (2 TP + FP + FN), summed over all classes and files (micro) or per
  class. The evaluated length of a file is its duration. The error rate counts, in each
  segment, substitutions ``min(N_ref, N_sys) - TP``, deletions and insertions.
- **Event-based** (``t_collar`` 1 s, onsets only): a detected event is a true positive when
  an annotated event of the same class has its onset within ±1 s of the detected onset;
  each annotated event matches at most one detection (a maximum matching). Offsets are
  **not** evaluated. Where several maximum matchings exist, which events are left over may
  differ from ``sed_eval``'s choice, and with it the substitutions of the error rate (only
  that figure; in 3 of 2000 random dense cases, by one substitution).
- Precision and recall are undefined (``None``) without detections or references; the
  macro F1 is the mean of the defined class F1s.

The annotation is a CSV ``file, start, end, class``; its ``file`` is matched by file name
to the detected files. Only files present on both sides are scored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
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


# sed_eval divides the error rates by (N_ref + eps), so a rate over no reference is huge,
# not a division error; the same guard keeps the figures identical to its.
_EPS = float(np.spacing(1))


def _ratio(numerator: float, denominator: float) -> float:
    """sed_eval's precision and recall: NaN when undefined (nothing to divide by)."""
    return math.nan if denominator == 0 else float(numerator / float(denominator))


def _f_measure(precision: float, recall: float) -> float:
    """F1 of ``precision`` and ``recall`` (0 when both are 0, NaN when either is)."""
    if precision == 0 and recall == 0:
        return 0.0
    return float(2 * precision * recall / (precision + recall))


def _rates(n_ref: float, *errors: float) -> float:
    """Error rate: the sum of ``errors / (N_ref + eps)`` (substitutions, deletions,
    insertions), added up in that order as sed_eval does."""
    return float(sum(float(e / (n_ref + _EPS)) for e in errors))


@dataclass
class _Counts:
    """Counts pooled over files: overall ``tp, ref, sys`` and the error-rate terms, and
    per class ``tp, ref, sys``."""

    tp: float = 0.0
    ref: float = 0.0
    sys: float = 0.0
    errors: np.ndarray = field(default_factory=lambda: np.zeros(3))  # S, D, I
    class_tp: np.ndarray = field(default_factory=lambda: np.zeros(len(CLASSES)))
    class_ref: np.ndarray = field(default_factory=lambda: np.zeros(len(CLASSES)))
    class_sys: np.ndarray = field(default_factory=lambda: np.zeros(len(CLASSES)))

    def summary(self) -> dict:
        """F1, precision, recall and error rate, micro, macro and per class."""
        precision, recall = _ratio(self.tp, self.sys), _ratio(self.tp, self.ref)
        per_class = {}
        for k, c in enumerate(CLASSES):
            p = _ratio(self.class_tp[k], self.class_sys[k])
            r = _ratio(self.class_tp[k], self.class_ref[k])
            per_class[c] = {"f1": _f_measure(p, r), "precision": p, "recall": r,
                            "n_reference": int(self.class_ref[k]),
                            "n_detected": int(self.class_sys[k])}
        f1s = np.array([m["f1"] for m in per_class.values()])
        clean = {c: {k: _clean(v) for k, v in m.items()} for c, m in per_class.items()}
        return {
            "f1": _clean(_f_measure(precision, recall)), "precision": _clean(precision),
            "recall": _clean(recall), "error_rate": _clean(_rates(self.ref, *self.errors)),
            # the mean of the defined class F1s (np.nanmean, as sed_eval: same rounding)
            "macro_f1": None if np.isnan(f1s).all() else float(np.nanmean(f1s)),
            "per_class": clean,
        }


def _roll(events: pd.DataFrame, n_segments: int) -> np.ndarray:
    """Activity of each class in each segment, shape (n_segments, n_classes), bool: an
    event covers the segments from ``floor(start)`` to ``ceil(end)`` (in segments)."""
    roll = np.zeros((n_segments, len(CLASSES)), dtype=bool)
    column = {c: k for k, c in enumerate(CLASSES)}
    for start, end, name in zip(events["start"], events["end"], events["class"], strict=True):
        first = int(math.floor(float(start) / SEGMENT_SECONDS))
        roll[max(first, 0) : int(math.ceil(float(end) / SEGMENT_SECONDS)), column[name]] = True
    return roll


def _add_segments(counts: _Counts, reference: pd.DataFrame, detected: pd.DataFrame,
                  seconds: float) -> None:
    """Segment-based counts of one file of ``seconds`` (events past it are cut off)."""
    n = int(math.ceil(seconds / SEGMENT_SECONDS))
    ref, sys = _roll(reference, n), _roll(detected, n)
    tp = (ref & sys).sum(axis=1)
    n_ref, n_sys = ref.sum(axis=1), sys.sum(axis=1)
    # Per segment: substitutions pair a miss with a false alarm, the rest are deletions
    # or insertions.
    counts.errors += [(np.minimum(n_ref, n_sys) - tp).sum(),
                      np.maximum(0, n_ref - n_sys).sum(), np.maximum(0, n_sys - n_ref).sum()]
    counts.tp += tp.sum()
    counts.ref += n_ref.sum()
    counts.sys += n_sys.sum()
    counts.class_tp += (ref & sys).sum(axis=0)
    counts.class_ref += ref.sum(axis=0)
    counts.class_sys += sys.sum(axis=0)


def _add_events(counts: _Counts, reference: pd.DataFrame, detected: pd.DataFrame) -> None:
    """Event-based counts of one file: onsets within the collar, offsets not evaluated.

    A detection and an annotated event of the same class hit when their onsets are at most
    :data:`ONSET_COLLAR` apart; true positives are a maximum one-to-one matching of hits.
    Of what is left, a detection whose onset lies within the collar of an unmatched
    annotated event of another class is a substitution (each counted once, annotated
    events in order); the other leftovers are deletions and insertions.
    """
    from scipy.optimize import linear_sum_assignment

    ref_on = reference["start"].to_numpy(dtype=np.float64)
    sys_on = detected["start"].to_numpy(dtype=np.float64)
    ref_class = reference["class"].to_numpy(dtype=object)
    sys_class = detected["class"].to_numpy(dtype=object)
    near = np.abs(ref_on[:, None] - sys_on[None, :]) <= ONSET_COLLAR
    hits = near & (ref_class[:, None] == sys_class[None, :])
    # Maximum matching: the assignment that maximises the number of hit pairs.
    rows, cols = linear_sum_assignment(hits, maximize=True)
    kept = hits[rows, cols]
    ref_matched = np.zeros(len(ref_on), dtype=bool)
    sys_matched = np.zeros(len(sys_on), dtype=bool)
    ref_matched[rows[kept]] = True
    sys_matched[cols[kept]] = True
    substitutions = 0
    for j in np.flatnonzero(~ref_matched):
        free = np.flatnonzero(~sys_matched & near[j])
        if len(free):
            sys_matched[free[0]] = True
            substitutions += 1
    tp = int(kept.sum())
    counts.tp += tp
    counts.ref += len(ref_on)
    counts.sys += len(sys_on)
    counts.errors += [substitutions, len(ref_on) - tp - substitutions,
                      len(sys_on) - tp - substitutions]
    for k, c in enumerate(CLASSES):
        counts.class_tp[k] += int((ref_class[rows[kept]] == c).sum())
        counts.class_ref[k] += int((ref_class == c).sum())
        counts.class_sys[k] += int((sys_class == c).sum())


def _clean(value):
    """An undefined ratio (NaN: no events) is JSON null."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


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
    names = {file: Path(file).name for file in durations}
    if len(set(names.values())) < len(names):
        raise UserError("two detected files share a file name: the annotation cannot tell "
                        "them apart; score them in separate runs")
    annotated = set(annotations["file"])
    scored = [f for f in durations if names[f] in annotated]
    if not scored:
        raise UserError("no detected file is named in the annotations (matched by file name)")
    segment, event = _Counts(), _Counts()
    for file in scored:
        reference = annotations[annotations["file"] == names[file]]
        estimated = detected[detected["file"] == file]
        _add_segments(segment, reference, estimated, durations[file])
        _add_events(event, reference, estimated)
    return {
        "segment_based": segment.summary(), "event_based": event.summary(),
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
