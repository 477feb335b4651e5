"""The cross-validation run: one engine task per (model, split) fit, then the typed result.

The feature matrix reaches each worker once (the engine's ``shared`` data); a task carries
only its estimator and the row positions of its split. With ``refit``, the final fit of
every model on all rows joins the same queue (what ``train`` saves), so ``run`` fills the
workers' idle tail of the fold fits with it instead of fitting afterwards; a vote's fits on
the parts of all rows that learn its weights join it too.

A vote's members need not be fitted again where their own cross-validation (``earlier``)
or final fit (``final``) was made on the same store with the same setting: their out-of-fold
probabilities are what refitting them would give. The fits that learn the vote's weights
inside every outer training part are the vote's own and always run; with ten outer folds or
more, outer folds share them (:func:`shared_parts`).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from pipeline.engine.batches import map_tasks
from pipeline.engine.cluster import Engine, threads_per_task
from pipeline.evaluation.groups import recording_groups
from pipeline.evaluation.results import CVResult, CVRun, FoldScore, ModelCV, SplitScore
from pipeline.evaluation.splits import INFERRED_PROTOCOL, Split, make_splits, random_splits
from pipeline.models.ensemble import (
    SoftVoteEnsemble,
    learns_weights,
    vote,
    vote_weights,
    weight_splits,
)
from pipeline.models.estimators import build_models, fit_setting, fit_with_groups
from pipeline.models.parts import align_proba
from pipeline.models.registry import REGISTRY, set_n_jobs
from pipeline.store.rows import feature_columns, labelled, xy

#: Name of the split of a final fit: every labelled row trains, none is held out.
ALL_ROWS = "all"
#: Protocols of at least this many folds share the fits that learn a vote's weights
#: across their outer folds (:func:`shared_parts`).
SHARED_FROM = 10


@dataclass(frozen=True, eq=False)
class CVData:
    """What every fit of a cross-validation reads.

    Attributes
    ----------
    X : ndarray, shape (n, n_features)
    y : ndarray, shape (n,)
    groups : ndarray, shape (n,), or None
        Recording of every row; a network's early-stopping validation part then holds whole
        recordings (see :func:`pipeline.models.estimators.fit_with_groups`).
    """

    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class FoldFit:
    """One task: fit a clone of ``estimator`` on ``split.train``, predict ``split.test``.

    ``key`` names what is fitted (a model name, a candidate's index); ``n_jobs`` is the
    threads of the model's own parallelism (1 when fits run side by side; None: its own).
    ``keep``: return the fitted model too (a final fit, whose split has no test rows).
    """

    key: Any
    estimator: Any
    split: Split
    n_jobs: int | None = None
    keep: bool = False


@dataclass(frozen=True, eq=False)
class FoldResult:
    """The outcome of a :class:`FoldFit`: ``proba`` (n_test, n_classes) over ``classes``
    for the test rows at positions ``rows`` (n_test,); ``model`` is the fitted clone when
    the fit was asked to ``keep`` it, else None."""

    key: Any
    split: str
    proba: np.ndarray
    classes: np.ndarray
    fit_seconds: float
    rows: np.ndarray
    model: Any = None

    def proba_of(self, rows: np.ndarray) -> np.ndarray:
        """The probabilities of the test rows at positions ``rows``, a subset of ``self.rows``
        (a fit shared by several outer folds predicts more rows than each one learns from);
        shape (len(rows), n_classes)."""
        if np.array_equal(rows, self.rows) or not len(rows):
            return self.proba[: len(rows)]
        line = np.full(max(int(self.rows.max()), int(np.max(rows))) + 1, -1)
        line[self.rows] = np.arange(len(self.rows))
        if (line[rows] < 0).any():
            raise ValueError(f"{self.split} did not predict every row asked for")
        return self.proba[line[rows]]

    @property
    def predicted(self) -> np.ndarray:
        """The most probable class of every test row, shape (n_test,)."""
        return self.classes[np.argmax(self.proba, axis=1)]


def fit_fold(fit: FoldFit, data: CVData) -> FoldResult:
    """Fit ``fit.estimator`` (a clone) on the training rows of its split; predict the test rows.

    Parameters
    ----------
    fit : FoldFit
    data : CVData
        ``X`` (n, n_features), ``y`` (n,), ``groups`` (n,) or None; the split indexes rows.

    Returns
    -------
    FoldResult
    """
    train, test = fit.split.train, fit.split.test
    model = clone(fit.estimator)
    if fit.n_jobs is not None:
        set_n_jobs(model, fit.n_jobs)
    start = time.perf_counter()
    groups = None if data.groups is None else data.groups[train]
    fit_with_groups(model, data.X[train], data.y[train], groups)
    seconds = time.perf_counter() - start
    classes = np.asarray(model.classes_)
    proba = (model.predict_proba(data.X[test]) if len(test)
             else np.empty((0, len(classes))))  # scikit-learn refuses to predict no rows
    return FoldResult(fit.key, fit.split.name, proba, classes, seconds, test,
                      model if fit.keep else None)


def fit_folds(
    fits: Sequence[FoldFit], data: CVData, *, scheduler: Engine | str = "sync",
    workers: int = 1, desc: str | None = None, progress: bool = False,
    name: Callable[[FoldFit], str] | None = None,
) -> list[FoldResult]:
    """Run every fit on the engine; ``data`` travels to each worker once.

    A fit that kills its worker process is a one-line :class:`pipeline.core.errors.UserError`
    naming it (``name(fit)``, default ``fitting KEY on SPLIT``).
    """
    return map_tasks(fit_fold, fits, scheduler=scheduler, workers=workers, desc=desc,
                     progress=progress, shared=data,
                     name=name or (lambda f: f"fitting {f.key} on {f.split.name}"))


def cross_validate(
    features: pd.DataFrame,
    names: list[str],
    train_params: dict,
    *,
    seed: int = 42,
    n_splits: int = 10,
    scheduler: Engine | str = "sync",
    workers: int = 1,
    progress: bool = False,
    refit: bool = False,
    earlier: Mapping[str, ModelCV] | None = None,
    final: Mapping[str, tuple[Any, float]] | None = None,
) -> CVResult:
    """Cross-validate models ``names`` on the labelled rows of ``features``.

    Parameters
    ----------
    features : DataFrame
        Feature table (``id, label, fold, group, split`` + feature columns).
    names : list of str
        Registry names; ``ensemble`` is scored from its members' out-of-fold
        probabilities and, when it learns its weights, their fits on inner parts: identical
        to refitting the soft vote in every fold on those parts (:func:`inner_parts`).
    train_params : dict
        ``{model name: hyper-parameters}``.
    seed, n_splits : int
    scheduler : Engine or str
        An open :class:`pipeline.engine.cluster.Engine`, or ``sync | threads | processes |
        tcp://HOST:PORT`` for one opened for this call.
    workers : int
    progress : bool
        Show a progress bar of the fits on stderr.
    refit : bool
        Also fit every model of :func:`fitted_models` on all labelled rows, in the same
        queue, and every vote from those fits: :attr:`CVResult.refitted` holds them (what
        :func:`pipeline.models.train.train_models` saves).
    earlier : mapping, optional
        Name → an earlier cross-validation of a vote's member
        (:func:`pipeline.evaluation.reports.readable_reports`). Its out-of-fold
        probabilities stand for the member's fits on the protocol's splits when it was made
        on this store (``store_digest``), with this setting
        (:func:`pipeline.models.estimators.fit_setting`) and the same held-out folds;
        otherwise the member is fitted as usual.
    final : mapping, optional
        Name → ``(model, fit seconds)`` of a vote's member already fitted on every
        labelled row of this store with this setting (a saved model, checked by the
        caller): with ``refit`` it is used, not fitted again.

    Returns
    -------
    CVResult
        Written out by :func:`pipeline.evaluation.write_reports` (the evaluate stage's job).
    """
    rows = labelled(features)
    X, y = xy(rows, feature_columns(rows))
    data = CVData(X, y, recording_groups(rows)[0])
    protocol, optimistic, splits = make_splits(rows, n_splits=n_splits, seed=seed)
    # Beside inferred groups, the random split a user would otherwise run, to show the gap.
    compared = ([Split(f"random-{s.name}", s.train, s.test)
                 for s in random_splits(rows, n_splits=n_splits, seed=seed)[2]]
                if protocol.startswith(INFERRED_PROTOCOL) else [])
    estimators = build_models(names, train_params, seed=seed)
    settings = {n: fit_setting(n, train_params, seed=seed)
                for n in [*estimators, *fitted_models(estimators)]}
    digest = features.attrs.get("store_digest")
    n_jobs = threads_per_task(scheduler, workers)
    # Members a vote needs but nobody asked to report: their earlier folds may stand in.
    members = [m for m in vote_members(estimators) if m not in estimators]
    reused = [r for m in members for r in _earlier_folds(
        (earlier or {}).get(m), settings[m], digest, rows, splits) or ()]
    done = {(r.key, r.split) for r in reused}
    fits = [FoldFit(n, e, s, n_jobs) for n, e in fitted_models(estimators).items()
            for s in [*splits, *compared] if (n, s.name) not in done]
    every_row = Split(ALL_ROWS, np.arange(len(y)), np.arange(0))
    inner, inner_fits = inner_parts(estimators, [splits, compared, [every_row] if refit else []],
                                    data)
    fits += [FoldFit(m, e, part, n_jobs) for m, e in vote_members(estimators).items()
             for part in inner_fits]
    final = {m: fit for m, fit in (final or {}).items() if m in members} if refit else {}
    if refit:
        fits += [FoldFit(n, e, every_row, n_jobs, keep=True)
                 for n, e in fitted_models(estimators).items() if n not in final]
    results = reused + fit_folds(
        costliest_first(fits), data, scheduler=scheduler, workers=workers,
        desc="cross-validation fits" + (" and final fits" if refit else ""), progress=progress)
    run = CVRun(protocol, optimistic, int(len(y)), digest)
    refitted = {**{r.key: (r.model, r.fit_seconds) for r in results if r.model is not None},
                **final}
    if refit:
        refitted.update(_fitted_votes(estimators, data, results, inner.get(ALL_ROWS, ()),
                                     refitted))
    cv = assemble(rows, estimators, run, splits, results, compared=compared, inner=inner)
    return replace(cv, refitted=refitted, models={
        n: replace(m, setting=settings[n]) for n, m in cv.models.items()})


def _earlier_folds(model: ModelCV | None, setting: dict, digest: str | None,
                   rows: pd.DataFrame, splits: Sequence[Split]) -> list[FoldResult] | None:
    """The fold results of ``splits`` recorded by an earlier cross-validation ``model`` of
    these ``rows``: None unless it was made on store ``digest``, with ``setting``, and held
    out every row in the split of the same name (then its probabilities are those a fit
    now would give)."""
    if (model is None or model.probabilities is None or digest is None
            or model.run.store_digest != digest or model.setting != setting):
        return None
    ids = rows["id"].astype(str).to_numpy()
    recorded = pd.Index(model.predictions["id"].astype(str))
    if len(recorded) != len(ids) or not recorded.is_unique:
        return None
    at = recorded.get_indexer(ids)  # row -> its line in the report
    if (at < 0).any():
        return None
    held_in = model.predictions["fold"].astype(str).to_numpy()[at]
    seconds = {f.fold: f.fit_seconds for f in model.folds}
    classes = np.asarray(model.classes, dtype=object)
    results = []
    for split in splits:
        if split.name not in seconds or not np.array_equal(np.flatnonzero(held_in == split.name),
                                                          np.sort(split.test)):
            return None
        results.append(FoldResult(model.name, split.name, model.probabilities[at[split.test]],
                                  classes, seconds[split.name], split.test))
    return results


def _fitted_votes(estimators: Mapping[str, Any], data: CVData, results: Sequence[FoldResult],
                 inner: Sequence[Split], refitted: Mapping[str, tuple[Any, float]]) -> dict:
    """Name → ``(fitted vote, seconds)`` of every vote among ``estimators``, from its
    members fitted on all rows (``refitted``) and their fits on the ``inner`` parts of all
    rows: the vote :meth:`~pipeline.models.ensemble.SoftVoteEnsemble.fit` would fit from
    the same fits."""
    fits = {(r.key, r.split): r for r in results}
    every_row = Split(ALL_ROWS, np.arange(len(data.y)), np.arange(0))
    votes = {}
    for name, est in estimators.items():
        if not isinstance(est, SoftVoteEnsemble):
            continue
        folds, seconds = _inner_folds(est, every_row, data.y, fits, inner)
        members = {m: refitted[m][0] for m, _ in est.estimators}
        vote_est = clone(est).fit(data.X, data.y, data.groups, fitted=members,
                                  fold_probas=folds)
        votes[name] = (vote_est, seconds + sum(refitted[m][1] for m in members))
    return votes


def inner_parts(estimators: Mapping[str, Any], families: Sequence[Sequence[Split]],
                data: CVData) -> tuple[dict[str, list[Split]], list[Split]]:
    """The parts of every outer training part that a vote learns its weights on, and the
    splits its members are fitted on for them (tasks of their own).

    Parameters
    ----------
    estimators : mapping
        Model name → unfitted estimator; the votes among them decide where weights are learnt.
    families : sequence of sequences of Split
        Outer splits whose test parts cover the rows once each: the protocol's first, then
        the compared random split's, or the final fit's single split. The protocol's keep
        recordings whole: with at least :data:`SHARED_FROM` splits its outer folds share
        their inner fits (:func:`shared_parts`). Every other outer training part has the
        parts of :func:`pipeline.models.ensemble.weight_splits` (whole recordings, where a
        random split cuts them), named ``OUTER/innerK``.
    data : CVData

    Returns
    -------
    parts : dict
        Outer split name → its inner splits, for the splits where a vote learns its
        weights; their ``test`` are the rows to learn from (a subset of the outer ``train``).
    fits : list of Split
        The distinct splits to fit the members on (named as in ``parts``); a fit's test rows
        cover those of every part of that name.
    """
    votes = [e for e in estimators.values() if isinstance(e, SoftVoteEnsemble)]
    parts: dict[str, list[Split]] = {}
    fits: dict[str, Split] = {}
    for k, family in enumerate(families):
        learning = [s for s in family
                    if any(learns_weights(v.weights, len(s.train)) for v in votes)]
        if k == 0 and len(family) >= SHARED_FROM and len(learning) == len(family):
            views, shared = shared_parts(family)
            parts.update(views)
            fits.update((s.name, s) for s in shared)
            continue
        for split in learning:
            groups = None if data.groups is None else data.groups[split.train]
            parts[split.name] = [
                Split(f"{split.name}/inner{k + 1}", split.train[tr], split.train[te])
                for k, (tr, te) in enumerate(weight_splits(data.y[split.train], groups))]
            fits.update((p.name, p) for p in parts[split.name])
    return parts, list(fits.values())


def shared_parts(splits: Sequence[Split]) -> tuple[dict[str, list[Split]], list[Split]]:
    """Inner parts that the outer folds ``splits`` share, so that a vote's members are
    fitted once per pair of blocks rather than three times per outer fold.

    The outer folds are paired into blocks in their order (an odd last one joins the last
    pair). In an outer fold of block ``a`` the weights are learnt on every other block
    ``b``, as predicted by the members fitted on the blocks other than ``a`` and ``b``:
    whole folds, never the outer test fold, and with ten folds two thirds of the outer
    training rows (six folds of nine), the share the three parts of
    :func:`pipeline.models.ensemble.weight_splits` give the final fit. The fold paired with
    the outer one is left out of the weights' learning. One fit without blocks ``a`` and
    ``b`` serves the outer folds of both: with ten folds, 10 fits per member instead of 30.

    Parameters
    ----------
    splits : sequence of Split, length k >= 4
        Outer splits whose test parts cover the rows once each.

    Returns
    -------
    parts : dict
        Outer split name → its inner splits: train without blocks ``a`` and ``b``, test
        block ``b``.
    fits : list of Split
        One split per pair of blocks: train without them, test both blocks.
    """
    k = len(splits)
    blocks = [list(splits[i : i + 2]) for i in range(0, k - k % 2, 2)]
    if k % 2:
        blocks[-1].append(splits[-1])
    held = [np.sort(np.concatenate([s.test for s in block])) for block in blocks]
    rows = np.sort(np.concatenate(held))
    fits: dict[tuple[int, int], Split] = {}
    for a, b in itertools.combinations(range(len(blocks)), 2):
        out = np.union1d(held[a], held[b])
        names = "+".join(s.name for s in [*blocks[a], *blocks[b]])
        fits[a, b] = Split(f"without {names}", np.setdiff1d(rows, out, assume_unique=True), out)
    parts = {}
    for a, block in enumerate(blocks):
        shared = [(fits[min(a, b), max(a, b)], held[b]) for b in range(len(blocks)) if b != a]
        for outer in block:
            parts[outer.name] = [Split(fit.name, fit.train, test) for fit, test in shared]
    return parts, list(fits.values())


def vote_members(estimators: Mapping[str, Any]) -> dict[str, Any]:
    """The members of every vote among ``estimators``, by name."""
    return {member: est for vote_est in estimators.values()
            if isinstance(vote_est, SoftVoteEnsemble) for member, est in vote_est.estimators}


def costliest_first(fits: Sequence[FoldFit]) -> list[FoldFit]:
    """``fits`` by expected cost, largest first: the registry's fit cost of the model times
    its training rows. Workers then end the queue on short fits, not idle beside a long one."""
    def cost(fit: FoldFit) -> float:
        entry = REGISTRY.get(fit.key) if isinstance(fit.key, str) else None
        return (entry.fit_cost if entry else 1.0) * len(fit.split.train)

    return sorted(fits, key=cost, reverse=True)


def fitted_models(estimators: Mapping[str, Any]) -> dict[str, Any]:
    """The models to fit in every fold: all but ensembles, plus every ensemble's members
    (an ensemble is scored from its members' fold probabilities, reported or not)."""
    fitted = {n: e for n, e in estimators.items() if not isinstance(e, SoftVoteEnsemble)}
    for est in estimators.values():
        if isinstance(est, SoftVoteEnsemble):
            for member, member_est in est.estimators:
                fitted.setdefault(member, member_est)
    return fitted


def assemble(
    rows: pd.DataFrame, estimators: Mapping[str, Any], run: CVRun, splits: Sequence[Split],
    results: Sequence[FoldResult], *, compared: Sequence[Split] = (),
    inner: Mapping[str, Sequence[Split]] | None = None,
) -> CVResult:
    """The typed result of the fold fits of ``estimators``.

    Parameters
    ----------
    rows : DataFrame, length n
        The labelled rows the splits index (``id``, ``label``).
    estimators : mapping
        Model name → unfitted estimator, in report order; a
        :class:`~pipeline.models.estimators.SoftVoteEnsemble` is the soft vote of its members' fits.
    run : CVRun
    splits : sequence of Split
        The protocol's splits.
    results : sequence of FoldResult
        A fit of every model of :func:`fitted_models` on every split of ``splits`` and
        ``compared``.
    compared : sequence of Split
        A random split reported beside the protocol (optimistic), or none.
    inner : mapping, optional
        Outer split name → its inner splits (:func:`inner_parts`), where ``results`` also
        hold the fits of a vote's members from which it learns its weights.

    Returns
    -------
    CVResult
    """
    fits = {(r.key, r.split): r for r in results if r.split != ALL_ROWS}
    y = rows["label"].astype(object).to_numpy()
    classes = np.array(sorted(set(y)), dtype=object)
    models = {}
    for name, est in estimators.items():
        model = _model_cv(name, est, run, rows, y, splits, fits, classes, inner or {})
        if compared:
            random = _model_cv(name, est, run, rows, y, compared, fits, classes, inner or {})
            model = replace(model, random_split=SplitScore(
                random.accuracy_mean, random.accuracy_std, random.macro_f1_mean))
        models[name] = model
    return CVResult(run, models)


def _model_cv(name, est, run, rows, y, splits, fits, classes, inner) -> ModelCV:
    """One model's folds and out-of-fold predictions over ``splits``."""
    folds, frames, probas = [], [], []
    for split in splits:
        if isinstance(est, SoftVoteEnsemble):
            parts = [fits[(member, split.name)] for member, _ in est.estimators]
            weights, learnt, seconds = _vote_weights(est, split, y, fits, classes,
                                                     inner.get(split.name, ()))
            proba = vote([align_proba(p.proba, p.classes, classes) for p in parts], weights,
                         learnt=learnt)
            seconds += sum(p.fit_seconds for p in parts)
        else:
            fit = fits[(name, split.name)]
            proba, seconds = align_proba(fit.proba, fit.classes, classes), fit.fit_seconds
        predicted = classes[np.argmax(proba, axis=1)]
        folds.append(FoldScore.of(split.name, y[split.test], predicted, seconds))
        frames.append(pd.DataFrame({"id": rows["id"].to_numpy()[split.test], "fold": split.name,
                                    "actual": y[split.test], "predicted": predicted}))
        probas.append(proba)
    return ModelCV(name, run, tuple(folds), pd.concat(frames, ignore_index=True),
                   np.concatenate(probas), tuple(classes))


def _vote_weights(est: SoftVoteEnsemble, split: Split, y, fits, classes, inner) -> tuple:
    """The weights of vote ``est`` in ``split``, whether they are learnt, and the seconds of
    its members' fits on the ``inner`` splits of the training rows: what
    :meth:`SoftVoteEnsemble.fit` would learn from the same fits (:func:`vote_weights`)."""
    folds, seconds = _inner_folds(est, split, y, fits, inner)
    weights, learnt = vote_weights(est.weights, y[split.train], classes, folds)
    return weights, learnt, seconds


def _inner_folds(est: SoftVoteEnsemble, split: Split, y, fits, inner) -> tuple[list, float]:
    """The members' probabilities on the ``inner`` splits of ``split``'s training rows, as
    :func:`vote_weights` reads them (none when vote ``est`` does not learn its weights
    there), and the seconds of those fits: what refitting the vote of ``split`` costs, so a
    fit that outer folds share counts in each of them."""
    if not learns_weights(est.weights, len(split.train)):
        inner = ()  # the parts of another vote that learns
    at = np.empty(len(y), dtype=np.int64)
    at[split.train] = np.arange(len(split.train))  # row -> position in the training part
    parts = [[fits[(member, part.name)] for member, _ in est.estimators] for part in inner]
    folds = [(at[part.test], [(f.proba_of(part.test), f.classes) for f in members])
             for part, members in zip(inner, parts, strict=True)]
    return folds, sum(f.fit_seconds for members in parts for f in members)
