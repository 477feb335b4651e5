"""Detect a dataset folder's layout and read it into a manifest.

Four layouts are recognised, in this order:

``us8k``
    An UrbanSound8K tree: ``metadata/UrbanSound8K.csv`` and ``audio/fold1..10/``; the folder
    may also be the parent of such a tree (``UrbanSound8K/`` inside it).
``av``
    The Analytics Vidhya challenge: ``train.csv`` (``ID,Class``) and/or ``test.csv`` (``ID``)
    with the clips in ``Train/{ID}.wav`` and ``Test/{ID}.wav``.
``manifest``
    A folder holding ``manifest.csv`` in this package's own manifest format (the columns
    below; relative paths are relative to the folder), as written by ``urbansound prepare``.
``folder``
    Any folder holding audio files (searched with its subfolders), or one audio file:
    unlabelled clips to predict, id = file stem.

The manifest has one row per clip and the columns ``id, path, label, fold, group, split``
(see :func:`read_dataset`). A table that cannot be trusted raises
:class:`~pipeline.core.errors.UserError` with one line naming the file and the offending lines;
a clip whose audio file is missing is not an error here: it stays in the manifest and its
id is listed in ``df.attrs["missing"]`` so that later stages report it as an error row.
Reading and checking the metadata tables is :mod:`.tables`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from pipeline.core.errors import UserError, shown
from pipeline.core.io import atomic_write_text, path_text
from pipeline.datasets.classes import CLASS_ID, CLASSES
from pipeline.datasets.tables import (
    COLUMNS,
    SHOWN,
    check_names,
    check_unique,
    class_labels,
    column,
    line_numbers,
    manifest_frame,
    read_csv,
    shown_values,
)

__all__ = ["AUDIO_EXTENSIONS", "COLUMNS", "dataset_files", "describe", "read_dataset",
           "write_manifest"]

AUDIO_EXTENSIONS = frozenset(
    {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc",
     ".au", ".snd", ".caf", ".w64", ".rf64"}
)
US8K_CSV = Path("metadata") / "UrbanSound8K.csv"
US8K_FOLDS = 10  # UrbanSound8K ships its clips in folds 1..10
MANIFEST_CSV = "manifest.csv"
# UrbanSound8K slice names: {fsID}-{classID}-{occurrence}-{slice}
_US8K_NAME = re.compile(r"^(\d+)-\d+-\d+-\d+$")

EXPECTED = (
    "expected an UrbanSound8K tree (metadata/UrbanSound8K.csv + audio/fold1..10/), an "
    "Analytics Vidhya tree (train.csv and/or test.csv + Train/, Test/) or a folder of audio "
    "files (" + ", ".join(sorted(AUDIO_EXTENSIONS)) + ")"
)


def read_dataset(path) -> pd.DataFrame:
    """Read a dataset folder of any supported layout into a manifest.

    Parameters
    ----------
    path : str or os.PathLike
        The dataset folder (or the parent of an ``UrbanSound8K/`` tree, or one audio file).

    Returns
    -------
    pandas.DataFrame, shape (n_clips, 6)
        Columns ``id`` (str, unique), ``path`` (str, absolute), ``label`` (class name, NA when
        unknown), ``fold`` (Int64, NA when unknown), ``group`` (str such as the fsID, NA when
        unknown), ``split`` (``"train"`` for labelled clips, ``"test"`` for clips to predict).
        ``attrs``: ``layout`` (``"us8k"``, ``"av"`` or ``"folder"``), ``root`` (absolute
        folder) and ``missing`` (ids whose audio file does not exist).

    Raises
    ------
    UserError
        No recognised layout, or a metadata table that is empty, lacks a required column,
        names an unknown class, repeats an id, has an unparseable fold, or names a file
        outside the dataset folder.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise UserError(f"dataset not found: {root}")
    root = root.resolve()
    if not root.is_dir():  # one file; a named pipe too, which extraction reports unopened
        if root.suffix.lower() not in AUDIO_EXTENSIONS:
            raise UserError(f"{root}: not a dataset folder or an audio file; {EXPECTED}")
        df, layout = _folder_rows([root]), "folder"
        root = root.parent
    elif (root / MANIFEST_CSV).exists():
        df, layout = _read_manifest(root), "manifest"
    elif (root / US8K_CSV).exists():
        df, layout = _read_us8k(root), "us8k"
    elif (root / "UrbanSound8K" / US8K_CSV).exists():
        root = root / "UrbanSound8K"
        df, layout = _read_us8k(root), "us8k"
    elif (root / "train.csv").exists() or (root / "test.csv").exists():
        df, layout = _read_av(root), "av"
    else:
        files = _audio_files(root)
        if not files:
            raise UserError(f"{root}: no dataset found; {EXPECTED}")
        df, layout = _folder_rows(files), "folder"
    if df.empty:
        raise UserError(f"{root}: no clips")
    df.attrs.update(
        layout=layout,
        root=str(root),
        # A path that exists but is no regular file (a named pipe, say) is not missing:
        # extraction reports what it is, without opening it.
        missing=[i for i, p in zip(df["id"], df["path"], strict=True) if not os.path.exists(p)],
    )
    return df


def dataset_files(df: pd.DataFrame) -> list[str]:
    """Every file reading the dataset of manifest ``df`` involves: the tables its layouts
    keep in its root (an answer key included) and its clips. No output may be one of them.
    """
    root = Path(df.attrs["root"])
    tables = (MANIFEST_CSV, US8K_CSV, "train.csv", "test.csv", "answers.csv")
    return [*(str(root / t) for t in tables), *df["path"]]


def write_manifest(df: pd.DataFrame, folder) -> Path:
    """Write ``df`` as ``folder/manifest.csv`` (atomically), readable by :func:`read_dataset`.

    Paths inside ``folder`` are stored relative to it, so the folder can be moved or copied
    (a DVC workspace); others stay absolute.

    Parameters
    ----------
    df : pandas.DataFrame
        A manifest with the columns ``id, path, label, fold, group, split``.
    folder : str or os.PathLike
        Where to write; created if needed.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    out = df[COLUMNS].copy()

    def relative(path: str) -> str:
        p = Path(path).resolve()
        return p.relative_to(folder).as_posix() if p.is_relative_to(folder) else str(p)

    out["path"] = out["path"].map(relative)
    target = folder / MANIFEST_CSV
    atomic_write_text(target, out.to_csv(index=False))
    return target


def describe(df: pd.DataFrame) -> str:
    """Summarise a manifest on one screen: clips per split, class and fold, missing files.

    Parameters
    ----------
    df : pandas.DataFrame
        A manifest from :func:`read_dataset`.

    Returns
    -------
    str
        A few lines of text, no trailing newline.
    """
    missing = df.attrs.get("missing", [])
    splits = ", ".join(f"{k} {v}" for k, v in df["split"].value_counts().sort_index().items())
    lines = [
        f"{df.attrs.get('layout', '?')} dataset at {df.attrs.get('root', '?')}: "
        f"{len(df)} clips ({splits})"
    ]
    labels = df["label"].dropna()
    if len(labels):
        counts = labels.value_counts()
        lines.append("classes: " + ", ".join(f"{c} {counts.get(c, 0)}" for c in CLASSES))
    folds = df["fold"].dropna()
    if len(folds):
        counts = folds.value_counts().sort_index()
        lines.append("folds: " + ", ".join(f"{int(k)}: {v}" for k, v in counts.items()))
    groups = df["group"].dropna()
    if len(groups):
        lines.append(f"groups (recordings): {groups.nunique()}")
    shown = ", ".join(missing[:SHOWN]) + (", ..." if len(missing) > SHOWN else "")
    lines.append(f"missing audio files: {len(missing)}" + (f" ({shown})" if missing else ""))
    return "\n".join(lines)


# --- layouts --------------------------------------------------------------------------------


def _read_us8k(root: Path) -> pd.DataFrame:
    csv = root / US8K_CSV
    df = read_csv(csv)
    if df.empty:
        raise UserError(f"{csv.name}: no clips (header only)")
    names = column(df, ("slice_file_name", "file_name", "filename"), csv)
    check_names(names, csv, "slice_file_name")
    labels = class_labels(df, csv)
    fold_text = column(df, ("fold",), csv)
    folds = pd.to_numeric(fold_text, errors="coerce")
    bad = folds.isna() | (folds % 1 != 0)
    if bad.any():
        raise UserError(f"{csv.name}: unparseable fold {shown_values(fold_text[bad])} on "
                        f"{line_numbers(bad)}")
    bad = ~folds.between(1, US8K_FOLDS)
    if bad.any():
        raise UserError(f"{csv.name}: fold {shown_values(fold_text[bad])} on {line_numbers(bad)}; "
                        f"UrbanSound8K's folds are 1 to {US8K_FOLDS}")
    folds = folds.astype(int)
    ids = names.map(lambda n: Path(n).stem)
    check_unique(ids, "duplicate slice (file stem)", csv)
    # The recording a slice comes from: fsID when given, else the first field of the
    # standard file name; unknown otherwise (such clips then form groups of their own later).
    parsed = ids.map(lambda s: m.group(1) if (m := _US8K_NAME.match(s)) else None)
    fsid = column(df, ("fsID",), csv, required=False)
    groups = parsed if fsid is None else fsid.where(fsid != "", parsed)
    audio = root / "audio"
    paths = [str(audio / f"fold{f}" / n) for f, n in zip(folds, names, strict=True)]
    return manifest_frame(ids, paths, labels, folds, groups, "train")


def _read_manifest(root: Path) -> pd.DataFrame:
    """Our own manifest: every column given; relative paths may not climb out of ``root``."""
    csv = root / MANIFEST_CSV
    df = read_csv(csv)
    if df.empty:
        raise UserError(f"{csv.name}: no clips (header only)")
    ids = column(df, ("id",), csv)
    check_unique(ids, "duplicate id", csv)
    paths = column(df, ("path",), csv)
    climbs = paths.map(lambda p: not os.path.isabs(p) and ".." in Path(p).parts)
    if climbs.any():
        raise UserError(f"{csv.name}: relative path with '..' on {line_numbers(climbs)}")
    labels = column(df, ("label",), csv).str.lower()
    bad = (labels != "") & ~labels.isin(list(CLASS_ID))
    if bad.any():
        raise UserError(f"{csv.name}: unknown class {shown(labels[bad].iloc[0])} on "
                        f"{line_numbers(bad)}")
    fold_text = column(df, ("fold",), csv)
    folds = pd.to_numeric(fold_text.where(fold_text != ""), errors="coerce")
    bad = (fold_text != "") & (folds.isna() | (folds % 1 != 0))
    if bad.any():
        raise UserError(f"{csv.name}: unparseable fold on {line_numbers(bad)}")
    bad = (fold_text != "") & (folds < 1)
    if bad.any():
        raise UserError(
            f"{csv.name}: fold below 1 on {line_numbers(bad)}; folds are numbered from 1"
        )
    split = column(df, ("split",), csv)
    bad = ~split.isin(["train", "test"]) | ((split == "train") & (labels == ""))
    if bad.any():
        raise UserError(
            f"{csv.name}: split must be 'train' (labelled) or 'test' on {line_numbers(bad)}"
        )
    groups = column(df, ("group",), csv)
    out = pd.DataFrame(
        {
            "id": ids,
            "path": [str((root / p).resolve()) for p in paths],
            "label": labels.where(labels != ""),
            "fold": pd.array([None if pd.isna(f) else int(f) for f in folds], dtype="Int64"),
            "group": groups.where(groups != ""),
            "split": split,
        },
        columns=COLUMNS,
    )
    return out.reset_index(drop=True)


def _subfolder(root: Path, name: str) -> Path:
    """``root/name``, matching an existing folder's case (``Train`` or ``train``)."""
    if (root / name).is_dir():
        return root / name
    for child in root.iterdir():
        if child.is_dir() and child.name.lower() == name.lower():
            return child
    return root / name


def _read_av(root: Path) -> pd.DataFrame:
    parts = []
    for split, csv_name, folder, labelled in (
        ("train", "train.csv", "Train", True),
        ("test", "test.csv", "Test", False),
    ):
        csv = root / csv_name
        if not csv.exists():
            continue
        df = read_csv(csv)
        ids = column(df, ("ID",), csv)
        check_names(ids, csv, "ID")
        check_unique(ids, "duplicate ID", csv)
        labels = class_labels(df, csv) if labelled else None
        audio = _subfolder(root, folder)
        paths = [str(audio / f"{i}.wav") for i in ids]
        parts.append(manifest_frame(ids, paths, labels, None, None, split))
    df = pd.concat(parts, ignore_index=True)
    both = df["id"].duplicated(keep=False)
    if both.any():
        raise UserError(f"{root}: IDs {shown_values(df['id'][both])} appear in both train.csv "
                        "and test.csv")
    return df


def _audio_files(root: Path) -> list[Path]:
    """Audio files in ``root`` and its subfolders, sorted; hidden files (``._x.wav``) skipped.

    Symlinked subfolders are followed; a folder reached again (a link to an ancestor, two
    links to one place) is searched once, so a loop of links ends.
    """
    found = []
    seen: set[tuple[int, int]] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        try:
            info = os.stat(folder)
        except OSError:  # vanished or unreadable: os.walk has nothing in it either
            dirs[:] = []
            continue
        if (info.st_dev, info.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((info.st_dev, info.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [
            Path(folder) / f for f in files
            if not f.startswith(".") and Path(f).suffix.lower() in AUDIO_EXTENSIONS
        ]
    return sorted(found)


def _folder_rows(files: list[Path]) -> pd.DataFrame:
    # An id must be valid text (it goes into CSV and Parquet files), a path need not be.
    stems = pd.Series([path_text(f.stem) for f in files])
    dup = stems.duplicated(keep=False)
    if dup.any():
        clash = ", ".join(str(f) for f, d in zip(files, dup, strict=True) if d)
        raise UserError(f"two audio files share an id (file stem): {clash}")
    return manifest_frame(stems, [str(f) for f in files], None, None, None, "test")
