"""Leaderboard submissions (``ID,Class``): predict, validate, write; score against a key.

A submission has exactly one row per test ID, in the order of the test table, with class
names spelled as in :data:`pipeline.classes.CLASSES`. It is validated before it is written,
and written atomically. A test clip that cannot be read still gets a row (the most frequent
training class) and is listed in ``<out stem>_warnings.csv`` next to the submission.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.classes import CLASSES
from pipeline.errors import UserError
from pipeline.persist import atomic_write_text

COLUMNS = ["ID", "Class"]
_SHOWN = 5


def _show(values) -> str:
    values = [str(v) for v in values]
    more = f" (+{len(values) - _SHOWN} more)" if len(values) > _SHOWN else ""
    return ", ".join(values[:_SHOWN]) + more


def validate_submission(sub: pd.DataFrame, test_ids) -> None:
    """Check a submission table against the test IDs.

    Parameters
    ----------
    sub : DataFrame
        Columns ``ID, Class``.
    test_ids : sequence of str
        IDs of the test table, in order.

    Raises
    ------
    UserError
        Wrong columns, a missing, extra or duplicated ID, a wrong row count, or a class
        name not in :data:`CLASSES`.
    """
    if list(sub.columns) != COLUMNS:
        raise UserError(f"submission columns must be {','.join(COLUMNS)}, got {list(sub.columns)}")
    ids = sub["ID"].astype(str)
    expected = pd.Index([str(i) for i in test_ids])
    dup = ids[ids.duplicated()]
    if not dup.empty:
        raise UserError(f"submission repeats ID(s) {_show(dup.unique())}")
    missing = expected.difference(pd.Index(ids), sort=False)
    if len(missing):
        raise UserError(f"submission lacks {len(missing)} test ID(s): {_show(missing)}")
    extra = pd.Index(ids).difference(expected, sort=False)
    if len(extra):
        raise UserError(f"submission has {len(extra)} ID(s) not in the test set: {_show(extra)}")
    if len(sub) != len(expected):
        raise UserError(f"submission has {len(sub)} rows, the test set {len(expected)}")
    bad = sub.loc[~sub["Class"].isin(CLASSES), "Class"]
    if not bad.empty:
        raise UserError(
            f"submission has unknown class name(s) {_show(bad.astype(str).unique())}; "
            f"expected one of {', '.join(CLASSES)}"
        )


def write_submission(ids, classes, out: str | Path, *, test_ids=None) -> Path:
    """Validate and atomically write a submission.

    Parameters
    ----------
    ids : sequence of str, shape (n,)
    classes : sequence of str, shape (n,)
        Predicted class name of each ID.
    out : path
    test_ids : sequence of str, optional
        The test table's IDs (default: ``ids``); the submission must match them exactly.

    Returns
    -------
    Path
    """
    ids = [str(i) for i in ids]
    sub = pd.DataFrame({"ID": ids, "Class": [str(c) for c in classes]}, columns=COLUMNS)
    validate_submission(sub, ids if test_ids is None else test_ids)
    out = Path(out)
    atomic_write_text(out, sub.to_csv(index=False))
    return out


def warnings_path(out: str | Path) -> Path:
    """The warnings file written next to submission ``out``."""
    out = Path(out)
    return out.with_name(f"{out.stem}_warnings.csv")


def read_table(path: str | Path, what: str, columns: list[str]) -> pd.DataFrame:
    """Read a CSV with string columns; missing file or columns is a :class:`UserError`."""
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise UserError(f"{what} not found: {path}") from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{what} {path} is not a readable CSV: {first}") from None
    df.columns = [str(c).strip() for c in df.columns]
    absent = [c for c in columns if c not in df.columns]
    if absent:
        raise UserError(f"{what} {path} lacks column(s) {', '.join(absent)}")
    return df


def score(submission: str | Path, answers: str | Path) -> dict:
    """Score a submission against an answer key (both ``ID,Class``).

    Returns
    -------
    dict
        ``accuracy``, ``n``, ``per_class_recall`` ({class: recall}).

    Raises
    ------
    UserError
        Unreadable files, or a submission whose IDs or class names do not match the key.
    """
    key = read_table(answers, "answer key", COLUMNS)
    sub = read_table(submission, "submission", COLUMNS)[COLUMNS]
    unknown = sorted(set(key["Class"]) - set(CLASSES))
    if unknown:
        raise UserError(f"answer key {answers} has unknown class name(s) {_show(unknown)}")
    validate_submission(sub, key["ID"].tolist())
    merged = key.merge(sub, on="ID", suffixes=("_true", "_pred"))
    hit = merged["Class_true"] == merged["Class_pred"]
    recall = {
        c: round(float(hit[merged["Class_true"] == c].mean()), 4)
        for c in CLASSES
        if (merged["Class_true"] == c).any()
    }
    return {"accuracy": float(hit.mean()), "n": int(len(merged)), "per_class_recall": recall}


def score_text(result: dict) -> str:
    """Printed form of :func:`score`; the last line is ``accuracy 0.xxxx``."""
    lines = [f"{result['n']} clips scored", "per-class recall:"]
    lines += [f"  {c:17s} {r:.4f}" for c, r in result["per_class_recall"].items()]
    lines.append(f"accuracy {result['accuracy']:.4f}")
    return "\n".join(lines)


# --- prediction on clips -------------------------------------------------------------------
def predict_rows(model, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predicted class and its probability for every row of ``X`` (n, n_features).

    Returns
    -------
    classes : ndarray of str, shape (n,)
    probability : ndarray of float, shape (n,)
    """
    if len(X) == 0:
        return np.array([], dtype=object), np.array([], dtype=float)
    proba = model.predict_proba(X)
    best = np.argmax(proba, axis=1)
    return np.asarray(model.classes_, dtype=object)[best], proba[np.arange(len(X)), best]
