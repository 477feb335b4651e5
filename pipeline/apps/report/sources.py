"""What the report reads besides the cross-validation: the feature store (clips, failures,
the dataset), the clips' audio files and salience, the submission and its score, tuning
searches and detection timelines. Each source is optional: what is missing is left out.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.errors import UserError

SALIENCE = {1: "foreground", 2: "background"}
US8K_CSV = Path("metadata") / "UrbanSound8K.csv"


@dataclass(frozen=True)
class Sources:
    """Where the report looks besides the reports folder (None: not looked for)."""

    features: Path | None = None
    submission: Path | None = None
    detect: Path | None = None


def read_json(path: Path) -> dict | None:
    """The JSON object in ``path``, or None when it is missing or unreadable."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def store_info(features: Path | None) -> dict:
    """The store's counts, failures (``errors``: DataFrame ``id, path, kind, message``),
    dataset root and layout, and the labelled clips' class counts (``prior``)."""
    info: dict = {"meta": None, "errors": None, "prior": None, "table": None}
    if features is None or not (features / "meta.json").is_file():
        return info
    info["meta"] = read_json(features / "meta.json")
    try:
        info["errors"] = pd.read_csv(features / "errors.csv", dtype=str).fillna("")
    except (OSError, ValueError):
        info["errors"] = None
    from pipeline.store import read_features

    try:
        table = read_features(features)
    except UserError:
        return info
    info["table"] = table[["id", "label", "fold", "group", "split"]].astype({"id": str})
    labels = table["label"].dropna()
    info["prior"] = labels.value_counts(normalize=True)
    return info


def clip_table(meta: dict | None, table: pd.DataFrame | None) -> pd.DataFrame:
    """``path``, ``fold`` and ``salience`` of every clip of the store's dataset, by id.

    The paths are those of the dataset folder the store was made from (its manifest);
    salience comes from an UrbanSound8K metadata table beside the audio, where there is one.
    """
    columns = ["path", "label", "fold", "salience"]
    root = (meta or {}).get("root")
    manifest = None
    if root and Path(root).is_dir():
        from pipeline.datasets import read_dataset

        try:
            manifest = read_dataset(root)
        except UserError:
            manifest = None
    if manifest is None:
        if table is None:
            return pd.DataFrame(columns=columns)
        out = table.set_index("id")[["label", "fold"]].assign(path=pd.NA)
    else:
        out = manifest.astype({"id": str}).set_index("id")[["path", "label", "fold"]]
    out["salience"] = pd.Series(salience_of(out["path"]), dtype=object).reindex(out.index)
    return out[columns]


def salience_of(paths: pd.Series) -> dict[str, str]:
    """``{id: "foreground" | "background"}`` from the UrbanSound8K metadata table of the
    tree each audio file lies in (``ROOT/audio/foldN/NAME``); clips of other trees are
    left out."""
    found: dict[str, str] = {}
    by_root: dict[Path, dict[str, str]] = {}
    for clip_id, path in paths.dropna().items():
        p = Path(path)
        root = p.parents[2] if len(p.parents) > 2 else None
        if root is None:
            continue
        if root not in by_root:
            by_root[root] = _us8k_salience(root / US8K_CSV)
        value = by_root[root].get(p.name)
        if value is not None:
            found[str(clip_id)] = value
    return found


def _us8k_salience(csv: Path) -> dict[str, str]:
    """``{file name: salience name}`` of an UrbanSound8K metadata table (empty without one)."""
    if not csv.is_file():
        return {}
    try:
        table = pd.read_csv(csv, dtype=str)
    except (OSError, ValueError):
        return {}
    if not {"slice_file_name", "salience"} <= set(table.columns):
        return {}
    codes = pd.to_numeric(table["salience"], errors="coerce").map(SALIENCE)
    pairs = zip(table["slice_file_name"], codes, strict=True)
    return {name: s for name, s in pairs if isinstance(s, str)}


def source_layout(meta: dict | None, clips: pd.DataFrame) -> str:
    """The dataset's layout in words: the store's own, and for a prepared manifest the
    tree its audio comes from (UrbanSound8K, Analytics Vidhya) when that can be seen."""
    layout = (meta or {}).get("layout") or "unknown"
    if layout != "manifest":
        return layout
    if clips["salience"].notna().any():
        return "manifest (audio of an UrbanSound8K tree)"
    for path in clips["path"].dropna().head(50):
        p = Path(path)
        if p.parent.name.lower() in ("train", "test") and (p.parents[1] / "train.csv").is_file():
            return "manifest (audio of an Analytics Vidhya tree)"
    return "manifest"


def submission_info(submission: Path | None, prior: pd.Series | None) -> dict | None:
    """Class shares of the submission against the training prior, and its score file's
    content (``accuracy`` None without an answer key); None without a submission."""
    if submission is None or not submission.is_file():
        return None
    try:
        sub = pd.read_csv(submission, dtype=str)
    except (OSError, ValueError):
        return None
    if "Class" not in sub.columns:
        return None
    from pipeline.classes import CLASSES

    shares = sub["Class"].value_counts(normalize=True)
    rows = [{"class": c, "share": float(shares.get(c, 0.0)),
             "prior": None if prior is None else float(prior.get(c, 0.0))} for c in CLASSES]
    from pipeline.submission import score_path

    return {"path": str(submission), "n": len(sub), "rows": rows,
            "score": read_json(score_path(submission))}


def tuning_info(reports: Path) -> list[dict]:
    """Every ``tune_NAME.json`` of the reports folder, with its heat map when there is one."""
    found = []
    for path in sorted(reports.glob("tune_*.json")):
        record = read_json(path)
        if record is None or "results" not in record:
            continue
        png = path.with_suffix(".png")
        found.append({"model": record.get("model", path.stem[5:]), "record": record,
                      "png": png.name if png.is_file() else None})
    return found


def commit() -> str | None:
    """The commit checked out in the working folder (``+dirty`` with changes), or None
    outside a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "") if head else None
