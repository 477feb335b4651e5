"""Leaderboard submissions (``ID,Class``): predict, validate, write; score against a key.

A submission has exactly one row per test ID, in the order of the test table, with class
names spelled as in :data:`pipeline.datasets.classes.CLASSES`. It is validated before it is written,
and written atomically. A test clip that cannot be read still gets a row (the most frequent
training class) and is listed in ``<out stem>_warnings.csv`` next to the submission.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.core.errors import UserError
from pipeline.core.io import atomic_write_text, check_regular_file, path_text, remove_output
from pipeline.datasets.classes import CLASSES

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


def score_path(submission: str | Path) -> Path:
    """Where ``submit`` writes the score of ``submission`` (``<stem>_score.json``)."""
    out = Path(submission)
    return out.with_name(f"{out.stem}_score.json")


def read_table(path: str | Path, what: str, columns: list[str]) -> pd.DataFrame:
    """Read a CSV with string columns; missing file or columns is a :class:`UserError`."""
    path = Path(path)
    check_regular_file(path, what)
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


def model_feature_params(index: dict):
    """The feature parameters a models folder was trained with (``index["feature_params"]``).

    Returns
    -------
    pipeline.core.config.FeatureParams

    Raises
    ------
    UserError
        Parameters not understood, or giving other columns than the models were fitted on.
    """
    from pipeline.core.config import FeatureParams
    from pipeline.features import feature_names

    try:
        params = FeatureParams(**index.get("feature_params", {}))
    except TypeError as exc:
        raise UserError(f"the models' feature parameters are not understood: {exc}") from None
    if feature_names(params) != list(index["feature_names"]):
        raise UserError(
            "the models were trained on other feature columns than their saved feature "
            "parameters give; retrain them"
        )
    return params


def features_for(
    rows: pd.DataFrame, index: dict, *, store: str | Path | None = None,
    scheduler: str = "sync", workers: int = 1, batch_size: int = 100,
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Feature matrix of manifest ``rows``, taken from a feature store's cache or extracted.

    A clip's features are reused only when the store's cache holds that very file
    (same path, size and modification time) computed with the feature parameters the
    models were trained with (:func:`pipeline.store.cached_features`); matching IDs are
    never enough, since another folder can use the same IDs for other clips. Everything
    else is extracted afresh.

    Parameters
    ----------
    rows : DataFrame
        Manifest rows (``id``, ``path``), in output order.
    index : dict
        The models folder index (``feature_names``, ``feature_params``).
    store : path, optional
        A feature store folder whose cache may hold some of the clips.
    scheduler, workers, batch_size
        How :mod:`pipeline.engine.batches` extracts the clips not in the store.

    Returns
    -------
    X : ndarray, shape (n_rows, n_features)
        Rows of unreadable clips are zeros.
    ok : ndarray of bool, shape (n_rows,)
    problems : DataFrame
        ``id, path, kind, message`` of every clip without features.
    """
    from functools import partial

    from pipeline.engine.batches import ItemError, map_batches
    from pipeline.store import cached_features, featurize_clip

    names = list(index["feature_names"])
    # Paths stay Python strings: a file name that is not UTF-8 holds surrogate escapes.
    ids, paths = rows["id"].astype(str).tolist(), [str(p) for p in rows["path"]]
    params = model_feature_params(index)
    X = np.zeros((len(rows), len(names)), dtype=np.float32)
    ok = np.zeros(len(rows), dtype=bool)
    problems: dict[int, tuple] = {}
    todo = list(range(len(rows)))
    if store is not None:
        values, found, failures = cached_features(store, params, paths)
        todo = []
        for i in range(len(rows)):
            if not found[i]:
                todo.append(i)
            elif failures[i] is not None:  # the same file failed with the same parameters
                problems[i] = (ids[i], path_text(paths[i]), *failures[i])
            else:
                X[i], ok[i] = values[i], True
    if todo:
        done = map_batches(
            partial(featurize_clip, params=params), [paths[i] for i in todo],
            scheduler=scheduler, workers=workers, batch_size=batch_size,
            default_kind="no_features", desc="test clip features", progress=False,
        )
        for start, results in done:
            for offset, value in enumerate(results):
                i = todo[start + offset]
                if isinstance(value, ItemError):
                    problems[i] = (ids[i], path_text(paths[i]), value.kind, value.message)
                else:
                    X[i], ok[i] = value, True
    problems = pd.DataFrame(
        [problems[i] for i in sorted(problems)], columns=["id", "path", "kind", "message"]
    )
    return X, ok, problems


def make_submission(
    test_rows: pd.DataFrame,
    models_dir: str | Path,
    out: str | Path,
    *,
    model: str = "best",
    store: str | Path | None = None,
    scheduler: str = "sync",
    workers: int = 1,
) -> dict:
    """Predict the test clips and write ``out`` (``ID,Class``) plus its warnings file.

    Parameters
    ----------
    test_rows : DataFrame
        Manifest rows of the test clips (``id``, ``path``), in test-file order.
    models_dir : path
        Folder written by :func:`pipeline.models.train.train_models`.
    out : path
        Submission CSV; ``<stem>_warnings.csv`` is written next to it (or removed).
    model : str
        A model name or ``"best"``.
    store : path, optional
        Feature store folder whose cached rows may be reused (see :func:`features_for`).
    scheduler, workers
        How the clips not in the store are extracted.

    Returns
    -------
    dict
        ``out, model, n, warnings`` (DataFrame of unreadable clips), ``counts`` per class.
    """
    from pipeline.models.model_index import load_from_index

    if test_rows.empty:
        raise UserError("no test clips to predict (the dataset has no test split)")
    name, estimator, index = load_from_index(models_dir, model)
    X, ok, problems = features_for(test_rows, index, store=store, scheduler=scheduler,
                                   workers=workers)
    classes = np.full(len(test_rows), index["majority_class"], dtype=object)
    classes[ok] = predict_rows(estimator, X[ok])[0]
    ids = test_rows["id"].astype(str).tolist()
    path = write_submission(ids, classes, out)
    warn = warnings_path(out)
    if len(problems):
        problems = problems.assign(assigned=index["majority_class"])
        atomic_write_text(warn, problems.to_csv(index=False))
    else:
        remove_output(warn)  # a warnings file of an earlier run would mislead
    counts = pd.Series(classes).value_counts().reindex(CLASSES, fill_value=0)
    return {"out": str(path), "model": name, "n": len(ids), "warnings": problems,
            "warnings_file": str(warn) if len(problems) else None,
            "counts": {c: int(k) for c, k in counts.items()}}


def predict_paths(
    paths, models_dir: str | Path, *, model: str = "best", scheduler: str = "sync",
    workers: int = 1,
) -> tuple[str, pd.DataFrame]:
    """Classify audio files and folders.

    Parameters
    ----------
    paths : sequence of path
        Audio files or folders (any layout :func:`pipeline.datasets.read_dataset` reads).
    model : str
        A model name or ``"best"``.
    scheduler, workers
        How :mod:`pipeline.engine.batches` extracts the features.

    Returns
    -------
    name : str
        The model used.
    table : DataFrame
        ``id, path, class, probability, error`` (``class`` NA and ``error`` set for a clip
        that cannot be read).
    """
    from pipeline.datasets import read_dataset
    from pipeline.models.model_index import load_from_index

    rows = pd.concat([read_dataset(p)[["id", "path"]] for p in paths], ignore_index=True)
    name, estimator, index = load_from_index(models_dir, model)
    X, ok, problems = features_for(rows, index, scheduler=scheduler, workers=workers)
    table = rows.assign(**{"class": pd.NA, "probability": np.nan, "error": pd.NA})
    table = table.astype({"class": "object", "error": "object"})
    if ok.any():
        classes, proba = predict_rows(estimator, X[ok])
        table.loc[ok, "class"] = classes
        table.loc[ok, "probability"] = proba
    if len(problems):
        reasons = dict(zip(problems["id"], problems["kind"] + ": " + problems["message"],
                           strict=True))
        table.loc[~ok, "error"] = table.loc[~ok, "id"].map(reasons)
    return name, table
