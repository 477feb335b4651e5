"""Fold-aware hyper-parameter search over a space declared in params.yaml.

Every (candidate, fold) fit is one task for :mod:`pipeline.engine.cluster` (the feature matrix
reaches each worker once); the folds are those of :func:`pipeline.evaluation.splits.make_splits`, so
the search never mixes official folds.

The best candidate's mean is the maximum over candidates scored on the same folds, so it
is selection-biased (optimistic). Next to it the search reports a *nested* estimate of the
whole search: on each outer fold (the protocol's folds) the search is rerun on inner folds
of the outer training part only (:func:`pipeline.evaluation.splits.inner_splits`), its winner is
scored on the outer test part, and those scores are averaged. The winner's fit on the
outer training part is the very (candidate, outer fold) fit of the plain search, so the
nested estimate costs only the inner fits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import ParameterGrid, ParameterSampler

from pipeline.core.errors import UserError, shown
from pipeline.core.io import atomic_write_bytes, atomic_write_json
from pipeline.engine.cluster import Engine, threads_per_task
from pipeline.evaluation.cv import CVData, FoldFit, fit_folds
from pipeline.evaluation.groups import recording_groups
from pipeline.evaluation.plots import png_bytes, pyplot
from pipeline.evaluation.splits import inner_splits, make_splits
from pipeline.models.estimators import BASE_MODELS, build_estimator
from pipeline.store.rows import feature_columns, labelled, xy


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
    raise UserError(f"tune.search must be 'grid' or 'random', got {shown(search)}")


SELECTION_BIASED = ("selection-biased: the maximum over candidates scored on the same folds "
                    "(optimistic)")
NESTED_NOTE = ("nested cross-validation of the whole search: on each outer fold the search "
               "ran on inner folds of the outer training part, its winner was scored on the "
               "outer test part (an estimate that did not see the data it was chosen on)")


def nested_estimate(scores: dict, combos: list[dict], outer_names: list[str]) -> dict:
    """The nested estimate of a search from its fold scores.

    Parameters
    ----------
    scores : dict
        ``{(candidate, split name): accuracy}`` for every outer split and every inner
        split ``OUTER/innerJ``.
    combos : list of dict
        The candidates, by index.
    outer_names : list of str

    Returns
    -------
    dict
        ``accuracy_mean, accuracy_std, folds`` (per outer fold: the candidate chosen on
        its inner folds and its outer accuracy), ``note``.
    """
    folds = []
    for outer in outer_names:
        inner = {}
        for (candidate, split), acc in scores.items():
            if split.startswith(f"{outer}/"):
                inner.setdefault(candidate, []).append(acc)
        means = {c: float(np.mean(a)) for c, a in sorted(inner.items())}
        chosen = max(means, key=means.get)  # ties: the first candidate
        folds.append({"fold": outer, "chosen": combos[chosen],
                      "inner_accuracy": round(means[chosen], 4),
                      "accuracy": round(scores[(chosen, outer)], 4)})
    accs = [f["accuracy"] for f in folds]
    return {"accuracy_mean": round(float(np.mean(accs)), 4),
            "accuracy_std": round(float(np.std(accs)), 4), "folds": folds, "note": NESTED_NOTE}


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
    nested: bool = True,
    inner_splits_count: int = 3,
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
    nested : bool
        Also estimate the whole search by nested cross-validation (``inner_splits_count``
        inner folds in every outer training part).
    inner_splits_count : int
    scheduler, workers
        As in :func:`pipeline.evaluation.cross_validate`.
    reports_dir : path, optional
        Where ``tune_NAME.json`` and ``tune_NAME.png`` are written.
    progress : bool
        Show a progress bar of the fits on stderr.

    Returns
    -------
    dict
        ``model, protocol, search, best_params, best_accuracy`` (selection-biased),
        ``best_accuracy_note``, ``nested`` (see :func:`nested_estimate`; None when not
        asked for), ``results``.
    """
    if name not in BASE_MODELS:
        raise UserError(f"tune one of {', '.join(BASE_MODELS)} (the ensemble has no own knobs)")
    rows = labelled(features)
    X, y = xy(rows, feature_columns(rows))
    protocol, optimistic, splits = make_splits(rows, n_splits=n_splits, seed=seed)
    groups, _ = recording_groups(rows)
    inner = [s for outer in splits for s in inner_splits(
        rows, outer, groups, n_splits=inner_splits_count, seed=seed)] if nested else []
    combos = candidates(space, search=search, n_iter=n_iter, seed=seed)
    n_jobs = threads_per_task(scheduler, workers)
    fits = [
        FoldFit(i, build_estimator(name, {**(base_params or {}), **combo}, seed=seed), s, n_jobs)
        for i, combo in enumerate(combos)
        for s in [*splits, *inner]
    ]
    results = fit_folds(fits, CVData(X, y, groups), scheduler=scheduler, workers=workers,
                        desc=f"tuning {name}", progress=progress,
                        name=lambda f: f"fitting {name} candidate {f.key + 1} on {f.split.name}")
    test_rows = {s.name: s.test for s in [*splits, *inner]}
    by_split = {(r.key, r.split): float(np.mean(r.predicted == y[test_rows[r.split]]))
                for r in results}
    outer_names = [s.name for s in splits]
    scores = {i: [by_split[(i, o)] for o in outer_names] for i in range(len(combos))}
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
        "best_accuracy_note": SELECTION_BIASED,
        "nested": nested_estimate(by_split, combos, outer_names) if nested else None,
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
