"""Fold-aware hyper-parameter search over a space declared in params.yaml.

Every (candidate, fold) fit is one task for :mod:`pipeline.engine`; the folds are those of
:func:`pipeline.evaluate.make_splits`, so the search never mixes official folds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import ParameterGrid, ParameterSampler

from pipeline.engine import Engine, map_tasks, threads_per_task
from pipeline.errors import UserError
from pipeline.estimators import BASE_MODELS, build_estimator
from pipeline.evaluate import fit_predict, make_splits, png_bytes, pyplot
from pipeline.io import atomic_write_bytes, atomic_write_json
from pipeline.train import feature_columns, labelled, xy


def candidates(space: dict, *, search: str = "grid", n_iter: int = 20, seed: int = 42) -> list:
    """The parameter combinations to try.

    Parameters
    ----------
    space : dict
        ``{parameter: [values]}``.
    search : {"grid", "random"}
    n_iter : int
        Number of random draws (random search only; capped at the grid size).

    Returns
    -------
    list of dict
    """
    if not space or not all(isinstance(v, list) and v for v in space.values()):
        raise UserError("a search space maps each parameter to a non-empty list of values")
    grid = ParameterGrid(space)
    if search == "grid":
        return list(grid)
    if search == "random":
        n = min(n_iter, len(grid))
        return list(ParameterSampler(space, n_iter=n, random_state=seed))
    raise UserError(f"tune.search must be 'grid' or 'random', got {search!r}")


def _run_candidate(task: dict) -> dict:
    X, y, split = task["X"], task["y"], task["split"]
    result = fit_predict(
        task["estimator"], X[split.train], y[split.train], X[split.test], n_jobs=task["n_jobs"]
    )
    pred = result["classes"][np.argmax(result["proba"], axis=1)]
    return {"candidate": task["candidate"], "accuracy": float(np.mean(pred == y[split.test]))}


def tune(
    features: pd.DataFrame,
    name: str,
    space: dict,
    *,
    base_params: dict | None = None,
    seed: int = 42,
    n_splits: int = 10,
    search: str = "grid",
    n_iter: int = 20,
    heatmap: list[str] | None = None,
    scheduler: Engine | str = "sync",
    workers: int = 1,
    reports_dir: str | Path | None = None,
    progress: bool = False,
) -> dict:
    """Search ``space`` for model ``name`` with fold-aware cross-validation.

    Parameters
    ----------
    features : DataFrame
        Feature table.
    name : str
        A base model (``logreg``, ``ffnn``, ``rf``, ``xgb``).
    space : dict
        ``{parameter: [values]}`` (``tune.spaces.NAME``).
    base_params : dict, optional
        ``train.NAME``; candidates override it.
    heatmap : list of two str, optional
        Parameters on the heat-map axes (default: the first two of ``space``).
    scheduler, workers
        As in :func:`pipeline.evaluate.cross_validate`.
    reports_dir : path, optional
        Where ``tune_NAME.json`` and ``tune_NAME.png`` are written.
    progress : bool
        Show a progress bar of the fits on stderr.

    Returns
    -------
    dict
        ``model, protocol, search, best_params, best_accuracy, results``.
    """
    if name not in BASE_MODELS:
        raise UserError(f"tune one of {', '.join(BASE_MODELS)} (the ensemble has no own knobs)")
    rows = labelled(features)
    X, y = xy(rows, feature_columns(rows))
    protocol, optimistic, splits = make_splits(rows, n_splits=n_splits, seed=seed)
    combos = candidates(space, search=search, n_iter=n_iter, seed=seed)
    n_jobs = threads_per_task(scheduler, workers)
    tasks = [
        {
            "candidate": i,
            "estimator": build_estimator(name, {**(base_params or {}), **combo}, seed=seed),
            "split": s,
            "X": X,
            "y": y,
            "n_jobs": n_jobs,
        }
        for i, combo in enumerate(combos)
        for s in splits
    ]
    results = map_tasks(_run_candidate, tasks, scheduler=scheduler, workers=workers,
                        desc=f"tuning {name}", progress=progress,
                        name=lambda t: f"fitting {name} candidate {t['candidate'] + 1} on "
                                       f"{t['split'].name}")
    scores: dict[int, list[float]] = {}
    for r in results:
        scores.setdefault(r["candidate"], []).append(r["accuracy"])
    table = [
        {
            "params": combo,
            "accuracy_mean": round(float(np.mean(scores[i])), 4),
            "accuracy_std": round(float(np.std(scores[i])), 4),
        }
        for i, combo in enumerate(combos)
    ]
    best = max(table, key=lambda r: r["accuracy_mean"])
    out = {
        "model": name,
        "protocol": protocol,
        "optimistic": optimistic,
        "search": search,
        "best_params": best["params"],
        "best_accuracy": best["accuracy_mean"],
        "results": table,
    }
    if reports_dir is not None:
        reports = Path(reports_dir)
        atomic_write_json(reports / f"tune_{name}.json", out)
        axes = list(heatmap) if heatmap else list(space)[:2]
        if len(axes) == 2 and all(a in space for a in axes):
            atomic_write_bytes(reports / f"tune_{name}.png", heatmap_png(table, axes, name))
    return out


def heatmap_png(table: list[dict], axes: list[str], title: str) -> bytes:
    """Mean CV accuracy over two parameters (averaged over any others), as PNG bytes."""
    plt = pyplot()
    a, b = axes
    frame = pd.DataFrame(
        [{a: str(r["params"][a]), b: str(r["params"][b]), "acc": r["accuracy_mean"]}
         for r in table]
    )
    grid = frame.pivot_table(index=a, columns=b, values="acc", aggfunc="mean", sort=False)
    fig, ax = plt.subplots(figsize=(1.2 * grid.shape[1] + 3, 0.8 * grid.shape[0] + 2))
    im = ax.imshow(grid.to_numpy(), cmap="viridis")
    ax.set_xticks(range(grid.shape[1]), grid.columns)
    ax.set_yticks(range(grid.shape[0]), grid.index)
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            v = grid.to_numpy()[i, j]
            if np.isfinite(v):
                ax.text(j, i, f"{v:.3f}", ha="center", va="center", color="w", fontsize=8)
    ax.set_xlabel(b)
    ax.set_ylabel(a)
    ax.set_title(f"{title}: mean CV accuracy")
    fig.colorbar(im, ax=ax)
    return png_bytes(fig)
