"""The index of a models folder: which subfolders are models, what they were trained on,
and which one is best.

Each model folder ``NAME/`` (:mod:`pipeline.models.persist`) holds an ``index.json``: the classes,
feature names and parameters it was trained on, its CV accuracy. :func:`read_index` merges
them, refusing models of different features, and picks the best by honest CV accuracy;
:func:`load_from_index` loads a model by name or ``"best"``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.core.errors import UserError
from pipeline.core.io import atomic_write_json
from pipeline.models.persist import FORMATS, load_model, read_json
from pipeline.models.selection import best_model

INDEX_FILE = "index.json"


def is_model_folder(folder: str | Path) -> bool:
    """Whether ``folder`` is provably a model folder written by
    :func:`pipeline.models.persist.save_model`.

    Only such folders are ever replaced or removed by training: a folder of anything else
    (notes, a feature store, another tool's output) is never touched, whatever it holds.
    The proof is the descriptor ``folder/NAME.json`` (NAME = the folder's name) naming
    itself, with a known format tag and version.
    """
    folder = Path(folder)
    if not (folder / f"{folder.name}.json").is_file():  # a named pipe would block the read
        return False
    try:
        desc = json.loads((folder / f"{folder.name}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(desc, dict)
        and desc.get("name") == folder.name
        and desc.get("format") in FORMATS
        and isinstance(desc.get("version"), int)
    )


def model_folders(folder: str | Path) -> list[Path]:
    """The model folders of a models folder, sorted; hidden folders (fits being written or
    replaced, see :mod:`pipeline.models.train`) and folders that are not models are left out."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and is_model_folder(p))


def write_index(folder: str | Path, index: dict) -> None:
    """Write ``folder/index.json`` atomically."""
    atomic_write_json(Path(folder) / INDEX_FILE, index)


def read_index(folder: str | Path) -> dict:
    """Merge the ``NAME/index.json`` of every model in ``folder`` into one index.

    Returns
    -------
    dict
        The shared entries (``classes``, ``majority_class``, ``feature_names``,
        ``feature_params``, ``n_train``), ``models`` (name → entry) and ``best``
        (:func:`pipeline.models.selection.best_model` of the honest CV accuracies, or None).

    Raises
    ------
    UserError
        No trained model, a corrupt index, or models trained on different features or
        feature parameters.
    """
    folder = Path(folder)
    paths = [p / INDEX_FILE for p in model_folders(folder)]
    if not paths:
        raise UserError(f"no trained models in {folder} (run 'urbansound train' first)")
    merged: dict = {}
    models: dict = {}
    for path in paths:
        index = read_json(path, "model index")
        if not isinstance(index, dict) or not isinstance(index.get("models"), dict):
            raise UserError(f"model index {path} is corrupt")
        shared = {k: v for k, v in index.items() if k != "models"}
        if not merged:
            merged = shared
        elif shared.get("feature_names") != merged.get("feature_names"):
            raise UserError(
                f"models in {folder} were trained on different features "
                f"({path.parent.name} differs); retrain them with 'urbansound train'"
            )
        elif shared.get("feature_params") != merged.get("feature_params"):
            raise UserError(
                f"models in {folder} were trained with different feature parameters "
                f"({path.parent.name} differs); retrain them with 'urbansound train'"
            )
        models.update(index["models"])
    merged.update(models=models, best=_best_of(models))
    return merged


def _best_of(models: dict) -> str | None:
    """``best`` among index entries, by their honest CV accuracy."""
    return best_model({n: m.get("cv_accuracy") for n, m in models.items()},
                      optimistic={n: bool(m.get("cv_optimistic")) for n, m in models.items()})


def resolve_name(index: dict, choice: str | None) -> str:
    """Turn ``"best"`` (or ``None``) or a model name into a name present in ``index``."""
    models = index["models"]
    if choice in (None, "best"):
        best = index.get("best")
        if best not in models:
            best = _best_of(models)
        if best is not None:
            return best
        if len(models) == 1:
            return next(iter(models))
        raise UserError(
            "cannot resolve 'best': no honest CV accuracy recorded (run 'urbansound evaluate' "
            "before 'train', or name a model)"
        )
    if choice not in models:
        known = ", ".join(sorted(models)) or "none"
        raise UserError(f"model '{choice}' is not trained (available: {known})")
    return choice


def load_from_index(folder: str | Path, choice: str | None = "best") -> tuple[str, Any, dict]:
    """Load the model ``choice`` (a name or ``"best"``) of a models folder.

    Returns
    -------
    name : str
    model : fitted estimator
    index : dict
        The folder's index (classes, feature names, feature parameters, ...).
    """
    named = Path(folder) / str(choice)
    if choice not in (None, "best") and named.is_dir() and not is_model_folder(named):
        raise UserError(f"{named} is not a readable model folder: its descriptor {choice}.json "
                        f"is missing or damaged (retrain: 'urbansound train --model {choice}')")
    index = read_index(folder)
    name = resolve_name(index, choice)
    return name, load_model(name, Path(folder) / name), index
