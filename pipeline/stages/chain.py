"""``run``: every stage in order on one engine, the path without DVC to the same outputs."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.core.config import Params
from pipeline.engine.cluster import opened
from pipeline.stages.common import SchedulerChoice, StageResult, engine_for
from pipeline.stages.data import features, prepare
from pipeline.stages.modelling import evaluate, train
from pipeline.stages.prediction import submit
from pipeline.stages.report import report


@dataclass(frozen=True)
class Workspace:
    """Output places of every stage."""

    prepared: str
    features: str
    models: str
    reports: str
    submission: str

    @classmethod
    def at(cls, workdir: str | Path | None) -> Workspace:
        """Everything under ``workdir``, or the repository layout (the one ``dvc.yaml``
        uses) when it is None."""
        if workdir is None:
            return cls("data/prepared", "data/features", "models", "reports",
                       "data/submission.csv")
        root = Path(workdir)
        return cls(*(str(root / name) for name in
                     ("prepared", "features", "models", "reports", "submission.csv")))


@dataclass
class RunResult(StageResult):
    """Each stage's result by name (``prepare, features, evaluate, train``, ``submit``
    when the dataset has test clips, ``report``), their wall times in seconds, the places
    written."""

    workspace: Workspace
    results: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def produced(self) -> str:
        return f"stages {', '.join(self.results)}; their outputs are listed above"

    def text(self) -> str:
        ws = self.workspace
        lines = ["stage times: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items()),
                 f"metrics:    {ws.reports}/metrics.json (table: {ws.reports}/summary.md)",
                 f"report:     {ws.reports}/index.html (open it in a browser)",
                 f"models:     {ws.models}/"]
        lines.append(f"submission: {ws.submission}" if "submit" in self.results
                     else "submission: none (the dataset has no test clips)")
        return "\n".join(lines)


def run(*, params: Params, dataset: str | None = None, workdir: str | Path | None = None,
        scheduler: SchedulerChoice = None, workers: int | None = None, dashboard: bool = False,
        started: Callable[[str], None] | None = None,
        finished: Callable[[str, Any], None] | None = None, force: bool = False) -> RunResult:
    """Prepare, featurize, cross-validate and train every model, and write the submission
    when the dataset has test clips: the outputs of ``dvc repro``, under ``workdir``.

    Parameters
    ----------
    params : Params
    dataset : str, optional
        ``"synth"`` or a dataset folder; default ``prepare.dataset``.
    workdir : path, optional
        Folder of every output (see :class:`Workspace`); default the repository layout.
    scheduler, workers, dashboard
        The one engine of the run (default ``parallel`` of ``params``), opened once: the
        feature extraction, the CV fits with the final fits and the submission's
        extraction run on it, and
        the generator of ``prepare`` takes its worker count
        (:func:`~pipeline.stages.data.generation_workers`).
    started, finished : callable, optional
        Called with a stage's name before it runs, and with its name and result after.
    force : bool
        Replace files the tool did not write, too. Without it every output of every stage
        is checked (:class:`pipeline.core.io.Outputs`) before the first stage starts.

    Returns
    -------
    RunResult
    """
    ws = Workspace.at(workdir)
    check_outputs(ws, params, dataset=dataset, force=force)
    outcome = RunResult(ws)

    def stage(name: str, function: Callable[..., Any], *args: Any, **options: Any) -> Any:
        if started is not None:
            started(name)
        start = time.perf_counter()
        result = outcome.results[name] = function(*args, params=params, force=force,
                                                  **options)
        outcome.seconds[name] = time.perf_counter() - start
        if finished is not None:
            finished(name, result)
        return result

    with opened(engine_for(params, scheduler, workers, dashboard=dashboard)) as engine:
        prepared = stage("prepare", prepare, ws.prepared, dataset=dataset, scheduler=engine)
        stage("features", features, ws.prepared, ws.features, scheduler=engine)
        # The final fits join the fold fits' queue; train then saves them.
        cv = stage("evaluate", evaluate, ws.features, ws.reports, model="all", scheduler=engine,
                   refit=True, page=False).metrics
        stage("train", train, ws.features, ws.models, model="all", reports=ws.reports, cv=cv)
        if prepared.test_clips:
            stage("submit", submit, test=ws.prepared, features=ws.features,
                  models=ws.models, out=ws.submission, scheduler=engine)
        # Last, so the page shows the submission of this run too.
        stage("report", report, ws.reports, features=ws.features,
              submission=ws.submission if prepared.test_clips else None, scheduler=engine,
              metrics=cv)
    return outcome


def check_outputs(ws: Workspace, params: Params, *, dataset: str | None = None,
                  force: bool = False) -> None:
    """Check every output place of a run before any work (each stage checks its own again
    when it starts, with its inputs known).

    Raises
    ------
    UserError
        A file the tool did not write where a stage would write (and ``force`` is false).
    """
    from pipeline.datasets.prepare import SYNTH, check_synth_runs, prepare_outputs
    from pipeline.models.estimators import resolve_names
    from pipeline.models.train import check_model_places
    from pipeline.stages.data import store_outputs
    from pipeline.stages.modelling import report_outputs
    from pipeline.stages.prediction import submission_outputs
    from pipeline.stages.report import page_outputs

    p = params.prepare
    if (dataset or p.dataset) == SYNTH:
        check_synth_runs(ws.prepared, p.synth_clips, p.synth_test_clips, params.seed,
                         force=force)
    prepare_outputs(ws.prepared, force=force)
    store_outputs(ws.features, force=force)
    names = resolve_names("all", params.train.models)
    report_outputs(ws.reports, names, force=force)
    page_outputs(ws.reports, force=force)
    check_model_places(ws.models, names, force=force)
    submission_outputs(ws.submission, force=force)
