"""Metadata tables of a dataset folder: read as text, checked, turned into manifest rows.

Every check names the file and the offending lines (header is line 1, at most
:data:`SHOWN` of them) in a one-line :class:`~pipeline.core.errors.UserError`.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pandas as pd

from pipeline.core.errors import UserError, shown
from pipeline.core.io import check_regular_file
from pipeline.datasets.classes import CLASS_ID, CLASSES

COLUMNS = ["id", "path", "label", "fold", "group", "split"]
SHOWN = 5  # offending lines listed in a message before "..."


def line_numbers(mask: pd.Series) -> str:
    """File line numbers of the rows where ``mask`` holds (header is line 1)."""
    numbers = [str(i + 2) for i in mask[mask].index]
    more = ", ..." if len(numbers) > SHOWN else ""
    return ("line " if len(numbers) == 1 else "lines ") + ", ".join(numbers[:SHOWN]) + more


def shown_values(values: pd.Series) -> str:
    """The distinct ``values`` in order, quoted, the first :data:`SHOWN` of them."""
    return ", ".join(shown(v) for v in list(dict.fromkeys(values))[:SHOWN])


def read_csv(path: Path) -> pd.DataFrame:
    """Read a metadata CSV as strings: UTF-8 with or without BOM, ',' ';' or tab separated."""
    check_regular_file(path, "metadata table")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path.name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    header = text.split("\n", 1)[0]
    if not header.strip():
        raise UserError(f"{path.name}: empty CSV (no header line)")
    # The separator is whichever candidate the header line uses most (spreadsheets in many
    # locales export ';').
    sep = max(",;\t", key=header.count)
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
                         skip_blank_lines=True)
    except (pd.errors.ParserError, ValueError) as exc:
        detail = str(exc).strip().splitlines()[-1]
        raise UserError(f"{path.name}: cannot parse CSV ({detail})") from None
    df.columns = [str(c).strip() for c in df.columns]
    return df.apply(lambda col: col.str.strip())


def column(df: pd.DataFrame, names: tuple[str, ...], csv: Path, required: bool = True):
    """The first column matching one of ``names`` case-insensitively (None if optional)."""
    lower = {c.lower(): c for c in df.columns}
    for name in names:
        if name.lower() in lower:
            return df[lower[name.lower()]]
    if required:
        raise UserError(
            f"{csv.name}: missing column {' or '.join(repr(n) for n in names)} "
            f"(columns are: {', '.join(df.columns)})"
        )
    return None


def class_labels(df: pd.DataFrame, csv: Path) -> pd.Series:
    """Class names from a ``class`` column, else from ``classID``; unknown ones are errors."""
    names = column(df, ("class",), csv, required=False)
    if names is not None:
        labels = names.str.lower()
        bad = ~labels.isin(list(CLASS_ID))
        if bad.any():
            unknown = ", ".join(repr(v) for v in dict.fromkeys(names[bad]))
            raise UserError(f"{csv.name}: unknown class {unknown} on {line_numbers(bad)}")
        return labels
    ids = column(df, ("classID", "class_id"), csv, required=False)
    if ids is None:
        column(df, ("class", "classID"), csv)  # raises, naming both accepted columns
    known = {str(i): name for i, name in enumerate(CLASSES)}
    bad = ~ids.isin(list(known))
    if bad.any():
        unknown = ", ".join(repr(v) for v in dict.fromkeys(ids[bad]))
        raise UserError(
            f"{csv.name}: unknown classID {unknown} on {line_numbers(bad)} (expected 0-9)"
        )
    return ids.map(known)


def check_names(names: pd.Series, csv: Path, what: str) -> None:
    """Reject names that would point outside their folder (``..``, absolute, separators)."""
    bad = names.map(
        lambda n: n in ("", ".", "..") or "/" in n or "\\" in n or "\0" in n
        or os.path.isabs(n) or bool(re.match(r"^[A-Za-z]:", n))
    )
    if bad.any():
        raise UserError(f"{csv.name}: {what} {shown_values(names[bad])} on {line_numbers(bad)} "
                        "must be a plain file name")


def check_unique(ids: pd.Series, what: str, csv: Path) -> None:
    """Reject repeated ``ids``; ``what`` names them in the message."""
    dup = ids.duplicated(keep=False)
    if dup.any():
        raise UserError(f"{csv.name}: {what} {shown_values(ids[dup])} on {line_numbers(dup)}")


def manifest_frame(ids, paths, labels, folds, groups, split) -> pd.DataFrame:
    """Manifest rows (the :data:`COLUMNS`) of ``n = len(ids)`` clips of one ``split``.

    ``labels``, ``folds`` and ``groups`` are sequences of length n, or None when the table
    has no such column (the values are then missing).
    """
    n = len(ids)
    return pd.DataFrame(
        {
            "id": list(ids),
            # object, not str: a file name that is not valid UTF-8 is a str with surrogate
            # escapes, which pandas' Arrow-backed strings refuse.
            "path": pd.Series(list(paths), dtype=object),
            "label": list(labels) if labels is not None else [None] * n,
            "fold": pd.array(list(folds) if folds is not None else [None] * n, dtype="Int64"),
            "group": list(groups) if groups is not None else [None] * n,
            "split": [split] * n,
        },
        columns=COLUMNS,
    )
