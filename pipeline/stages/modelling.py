"""Stages that fit models: cross-validation reports, hyper-parameter search, final fits.

The :class:`~pipeline.evaluation.CVResult` that :mod:`pipeline.evaluation` returns is passed on
to its own writers and to :func:`pipeline.models.train.train_models` as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.core.config import Params
from pipeline.core.errors import UserError
from pipeline.core.io import Outputs
from pipeline.stages.common import (
    SchedulerChoice,
    StageResult,
    engine_for,
    read_store,
    store_files,
    train_params,
)

if TYPE_CHECKING:
    from pipeline.evaluation import CVResult


# --- evaluate --------------------------------------------------------------------------
@dataclass(frozen=True)
class EvaluateResult(StageResult):
    """Reports written to ``reports``: per-model ones (``cv/NAME/``) unless only the
    comparison was rebuilt, the comparison (metrics.json, summary.md, folds.csv, plots)
    when ``summary`` is true, and the :class:`~pipeline.evaluation.CVResult` they render."""

    reports: str
    models: list[str]
    metrics: CVResult
    summary: bool
    page: Any = None  # the HTML report (:class:`pipeline.stages.report.ReportResult`)

    @property
    def produced(self) -> str:
        what = "reports and the comparison" if self.summary else "reports"
        return f"cross-validation {what} of {', '.join(self.models)} in {self.reports}"

    def text(self) -> str:
        from pipeline.evaluation import report_text

        where = (f"reports written to {self.reports} (metrics.json, summary.md, folds.csv, "
                 "cv/, plots)" if self.summary
                 else f"per-model reports written to {self.reports}/cv/")
        return "\n".join([report_text(self.metrics), where,
                          *([self.page.text()] if self.page is not None else [])])


def _cv_metrics(reports: str | Path, names: list[str], digest: str) -> CVResult | None:
    """CV metrics of ``names`` on the store of ``digest`` from the reports folder, or None
    before any evaluation of that store."""
    from pipeline.evaluation import collect_reports

    try:
        return collect_reports(reports, names, digest)
    except UserError:
        return None


def evaluate(features: str | Path = "data/features", reports: str | Path = "reports", *,
             params: Params, model: str = "all", scheduler: SchedulerChoice = None,
             workers: int | None = None, dashboard: bool = False, no_summary: bool = False,
             summary_only: bool = False, refit: bool = False,
             models: str | Path | None = None, force: bool = False,
             page: bool = True) -> EvaluateResult:
    """Cross-validate ``model`` and write its reports, then the comparison of every
    configured model that has reports on this store and its HTML report.

    Parameters
    ----------
    features, reports : path
        Feature store and reports folders.
    params : Params
    model : str
        A model name or ``"all"`` (``train.models`` and the ensemble).
    scheduler, workers, dashboard
        The stage's engine choice (:mod:`pipeline.stages.common`).
    no_summary, summary_only : bool
        Write only the per-model reports; only rebuild the comparison from existing ones.
    refit : bool
        Also fit the models on every labelled clip, queued with the fold fits
        (``metrics.refitted`` of the result, for :func:`train`).
    models : path, optional
        With ``refit``, a models folder whose saved fits of an ensemble's members are used
        when they were made from this store with the same setting
        (:func:`pipeline.models.train.saved_fit`). The members' reports in ``reports``
        stand in for their fold fits on the same terms, whether or not this is given.
    force : bool
        Replace report files the tool did not write, too (:class:`pipeline.core.io.Outputs`).
    page : bool
        Write the HTML report with the comparison (:func:`pipeline.stages.report.report`;
        ``run`` writes it after the submission instead).

    Returns
    -------
    EvaluateResult
    """
    from pipeline.core.io import check_output_dir
    from pipeline.engine.cluster import opened
    from pipeline.evaluation import (
        collect_reports,
        cross_validate,
        write_model_reports,
        write_summary,
    )
    from pipeline.evaluation.reports import readable_reports
    from pipeline.models.estimators import check_model_params, resolve_names

    if no_summary and summary_only:
        raise UserError("--no-summary and --summary-only exclude each other")
    names = resolve_names(model, params.train.models)
    outputs = report_outputs(reports, names, per_model=not summary_only,
                             summary=not no_summary, force=force, inputs=store_files(features))
    if page and not no_summary:  # the page's own files, checked before any work too
        from pipeline.stages.report import page_outputs

        page_outputs(reports, force=force, inputs=store_files(features))
    check_output_dir(reports, "reports folder")
    digest = None  # of the current store: reports of another one are left out
    refitted: dict = {}
    # Opened for the whole stage, the engine starts its workers only when tasks come.
    with opened(engine_for(params, scheduler, workers, dashboard=dashboard)) as engine:
        if not summary_only:
            check_model_params(names, train_params(params), seed=params.seed)
            table, _ = read_store(features)
            digest = table.attrs["store_digest"]
            members = _other_members(names, params)
            metrics = cross_validate(table, names, train_params(params), seed=params.seed,
                                     n_splits=params.evaluate.n_splits, scheduler=engine,
                                     progress=True, refit=refit,
                                     earlier=readable_reports(reports, members),
                                     final=_saved_fits(models, members, params, digest)
                                     if refit and models is not None else None)
            with outputs:
                write_model_reports(metrics, reports)
            if no_summary:
                return EvaluateResult(str(reports), names, metrics, summary=False)
            refitted = metrics.refitted
        # The comparison covers every configured model that has reports, not only those rerun.
        compared = list(dict.fromkeys([*resolve_names("all", params.train.models), *names]))
        if digest is None and (Path(features) / "features.parquet").is_file():
            digest = read_store(features)[0].attrs["store_digest"]
        metrics = replace(collect_reports(reports, compared, digest), refitted=refitted)
        with outputs:
            write_summary(metrics, reports)
        written = None
        if page:
            from pipeline.stages.report import report

            written = report(reports, params=params, features=features, scheduler=engine,
                             metrics=metrics, force=force)
    return EvaluateResult(str(reports), compared, metrics, summary=True, page=written)


def _other_members(names: list[str], params: Params) -> list[str]:
    """The members of the ensembles among ``names`` that are not themselves in ``names``
    (fitted only for the vote: their earlier fits may stand in)."""
    from pipeline.models.estimators import fitted_base_models

    return list(dict.fromkeys(m for n in names
                              for m in fitted_base_models(n, train_params(params))
                              if m not in names))


def _saved_fits(models: str | Path, names: list[str], params: Params, digest: str) -> dict:
    """Name → ``(model, seconds)`` of the models ``names`` saved in ``models`` from this
    store with their current setting (:func:`pipeline.models.train.saved_fit`)."""
    from pipeline.models.estimators import fit_setting
    from pipeline.models.train import saved_fit

    found = {name: saved_fit(models, name, digest,
                             fit_setting(name, train_params(params), seed=params.seed))
             for name in names}
    return {name: fit for name, fit in found.items() if fit is not None}


def report_outputs(reports: str | Path, names: list[str], *, per_model: bool = True,
                   summary: bool = True, force: bool = False, inputs=()) -> Outputs:
    """The files ``evaluate`` of models ``names`` writes in ``reports`` (checked now)."""
    from pipeline.evaluation import report_files

    return Outputs(reports, report_files(names, per_model=per_model, summary=summary),
                   force=force, inputs=inputs)


# --- tune ------------------------------------------------------------------------------
@dataclass(frozen=True)
class TuneResult(StageResult):
    """A search of ``model``'s space: :func:`pipeline.evaluation.tune.tune`'s result, the files
    written, and ``(params file, best parameters)`` when they were applied."""

    model: str
    search: dict
    written: list[str]
    applied: tuple[Path, dict] | None = None

    @property
    def produced(self) -> str:
        return f"search of {self.model}: {len(self.written)} file(s) written"

    def text(self) -> str:
        out = self.search
        lines = ["mean CV accuracy of each candidate (the top one is selection-biased):"]
        for row in sorted(out["results"], key=lambda r: -r["accuracy_mean"]):
            lines.append(f"{row['accuracy_mean']:.4f} ± {row['accuracy_std']:.4f}  "
                         f"{row['params']}")
        lines += [f"protocol: {out['protocol']}",
                  f"best {self.model} parameters: {out['best_params']} "
                  f"(accuracy {out['best_accuracy']:.4f}, selection-biased: optimistic)"]
        if out["nested"]:
            n = out["nested"]
            lines.append(f"nested CV estimate of the whole search: {n['accuracy_mean']:.4f} "
                         f"± {n['accuracy_std']:.4f} (unbiased: chosen on inner folds, scored "
                         "on outer ones)")
        lines.append("written: " + ", ".join(self.written))
        if self.applied:
            path, best = self.applied
            lines.append(f"{path}: train.{self.model} updated with {best}")
        return "\n".join(lines)


def tune(model: str, *, params: Params, features: str | Path = "data/features",
         reports: str | Path = "reports", scheduler: SchedulerChoice = None,
         workers: int | None = None, dashboard: bool = False,
         apply_to: str | Path | None = None, force: bool = False) -> TuneResult:
    """Fold-aware search over ``tune.spaces.<model>`` of ``params``.

    Parameters
    ----------
    model : str
        A model name.
    params : Params
    features, reports : path
        Feature store; folder of ``tune_<model>.json`` (and a heatmap PNG).
    scheduler, workers, dashboard
        The stage's engine choice (:mod:`pipeline.stages.common`).
    apply_to : path, optional
        A params file whose ``train.<model>`` gets the best parameters: an edit the user
        asked for, so not an output that must be the tool's own; a symbolic link is
        followed (the file it points to is updated).
    force : bool
        Replace report files the tool did not write, too (:class:`pipeline.core.io.Outputs`).

    Returns
    -------
    TuneResult
    """
    from pipeline.core.io import check_output_dir
    from pipeline.engine.cluster import opened
    from pipeline.evaluation.tune import tune as search
    from pipeline.models.estimators import accepted_params, check_model_params

    space = params.tune.spaces.get(model)
    if not space:
        raise UserError(f"params: tune.spaces.{model} is not set (the search space)")
    outputs = Outputs(reports, [f"tune_{model}.{ext}" for ext in ("json", "png")],
                      force=force, inputs=store_files(features))
    check_output_dir(reports, "reports folder")
    unknown = sorted(set(space) - accepted_params(model))
    if unknown:
        raise UserError(f"tune.spaces.{model}: unknown parameter(s) {', '.join(unknown)}; "
                        f"accepted: {', '.join(sorted(accepted_params(model)))}")
    check_model_params([model], train_params(params), seed=params.seed)
    table, _ = read_store(features)
    t = params.tune
    with outputs, opened(engine_for(params, scheduler, workers,
                                    dashboard=dashboard)) as engine:
        out = search(table, model, space, base_params=train_params(params)[model],
                     seed=params.seed, n_splits=params.evaluate.n_splits, search=t.search,
                     n_iter=t.n_iter, heatmap=t.heatmap.get(model), nested=t.nested,
                     inner_splits_count=t.inner_splits, scheduler=engine,
                     reports_dir=reports, progress=True)
    written = [f"{reports}/tune_{model}.{ext}" for ext in ("json", "png")]
    applied = None
    if apply_to is not None:
        from pipeline.core.params_update import apply_params

        applied = (apply_params(apply_to, model, out["best_params"]), out["best_params"])
    return TuneResult(model, out, [w for w in written if Path(w).is_file()], applied)


# --- train -----------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainResult(StageResult):
    """Models fitted into ``out``: their names and the folder's merged models index
    (:func:`pipeline.models.train.train_models`)."""

    out: str
    features: str
    names: list[str]
    index: dict
    evaluated: EvaluateResult | None = None  # the cross-validation run first, if any

    @property
    def produced(self) -> str:
        if self.evaluated is not None:
            return (f"{len(self.names)} model(s) cross-validated (reports in "
                    f"{self.evaluated.reports}/cv/), fitted and saved in {self.out}")
        return f"{len(self.names)} model(s) fitted and saved in {self.out}"

    def text(self) -> str:
        index = self.index
        lines = [self.evaluated.text()] if self.evaluated is not None else []
        for name in self.names:
            entry = index["models"][name]
            cv = entry.get("cv_accuracy")
            cv_text = f"CV accuracy {cv:.4f}" if cv is not None else "no CV accuracy yet"
            lines.append(f"{name:9s} fitted on {index['n_train']} clips in "
                         f"{entry['fit_seconds']:.1f} s ({cv_text})")
        for name in index["removed"]:
            lines.append(f"removed model {name}: it was fitted on other features than "
                         f"{self.features}")
        lines.append(f"models saved to {self.out} "
                     f"(best: {index['best'] or 'unknown, run evaluate'})")
        return "\n".join(lines)


def train(features: str | Path = "data/features", out: str | Path = "models", *,
          params: Params, model: str = "all", reports: str | Path = "reports",
          cv: CVResult | None = None, with_cv: bool = False,
          scheduler: SchedulerChoice = None, workers: int | None = None,
          dashboard: bool = False, force: bool = False) -> TrainResult:
    """Fit ``model`` on every labelled clip of the store and save it in ``out``.

    Parameters
    ----------
    features, out : path
        Feature store and models folders.
    params : Params
    model : str
        A model name or ``"all"``.
    reports : path
        Reports folder: its CV reports of this store decide which model is ``best``.
    cv : CVResult, optional
        The result of this store's :func:`evaluate` in the same run, used instead of the
        reports; the models it refitted are saved as they are.
    with_cv : bool
        Cross-validate first (the per-model reports of ``evaluate --no-summary``) with the
        final fits in the same queue, on one engine: what a model's DVC stage runs.
    scheduler, workers, dashboard
        The engine of ``with_cv`` (:mod:`pipeline.stages.common`); a plain fit runs here.
    force : bool
        Replace a folder the tool did not write where a model goes, too.

    Returns
    -------
    TrainResult
    """
    from pipeline.evaluation.groups import recording_groups
    from pipeline.models.estimators import check_model_params, resolve_names
    from pipeline.models.train import check_model_places, train_models
    from pipeline.store.rows import labelled

    names = resolve_names(model, params.train.models)
    check_model_params(names, train_params(params), seed=params.seed)
    check_model_places(out, names, force=force)
    evaluated = None
    if with_cv:
        evaluated = evaluate(features, reports, params=params, model=model,
                             scheduler=scheduler, workers=workers, dashboard=dashboard,
                             no_summary=True, refit=True, models=out, force=force)
        cv = evaluated.metrics
    table, feature_params = read_store(features)
    index = train_models(table, names, train_params(params), seed=params.seed, out_dir=out,
                         force=force,
                         feature_params=feature_params,
                         cv_metrics=cv or _cv_metrics(reports, names,
                                                      table.attrs["store_digest"]),
                         groups=recording_groups(labelled(table))[0])
    return TrainResult(str(out), str(features), names, index, evaluated)
