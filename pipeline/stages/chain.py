"""``run``: every stage in order on one engine, the path without DVC to the same outputs."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config import Params
from pipeline.engine import opened
from pipeline.stages.common import SchedulerChoice, engine_for
from pipeline.stages.data import features, prepare
from pipeline.stages.modelling import evaluate, train
from pipeline.stages.prediction import submit


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
class RunResult:
    """Each stage's result by name (``prepare, features, evaluate, train`` and ``submit``
    when the dataset has test clips), their wall times in seconds, the places written."""

    workspace: Workspace
    results: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def produced(self) -> str:
        """One line: what was written."""
        return f"stages {', '.join(self.results)}; their outputs are listed above"

    def text(self) -> str:
        ws = self.workspace
        lines = ["stage times: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items()),
                 f"metrics:    {ws.reports}/metrics.json (table: {ws.reports}/summary.md)",
                 f"models:     {ws.models}/"]
        lines.append(f"submission: {ws.submission}" if "submit" in self.results
                     else "submission: none (the dataset has no test clips)")
        return "\n".join(lines)


def run(*, params: Params, dataset: str | None = None, workdir: str | Path | None = None,
        scheduler: SchedulerChoice = None, workers: int | None = None, dashboard: bool = False,
        started: Callable[[str], None] | None = None,
        finished: Callable[[str, Any], None] | None = None) -> RunResult:
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

    Returns
    -------
    RunResult
    """
    ws = Workspace.at(workdir)
    outcome = RunResult(ws)

    def stage(name: str, function: Callable[..., Any], *args: Any, **options: Any) -> Any:
        if started is not None:
            started(name)
        start = time.perf_counter()
        result = outcome.results[name] = function(*args, params=params, **options)
        outcome.seconds[name] = time.perf_counter() - start
        if finished is not None:
            finished(name, result)
        return result

    with opened(engine_for(params, scheduler, workers, dashboard=dashboard)) as engine:
        prepared = stage("prepare", prepare, ws.prepared, dataset=dataset, scheduler=engine)
        stage("features", features, ws.prepared, ws.features, scheduler=engine)
        # The final fits join the fold fits' queue; train then saves them.
        cv = stage("evaluate", evaluate, ws.features, ws.reports, model="all", scheduler=engine,
                   refit=True).metrics
        stage("train", train, ws.features, ws.models, model="all", reports=ws.reports, cv=cv)
        if prepared.test_clips:
            stage("submit", submit, test=ws.prepared, features=ws.features,
                  models=ws.models, out=ws.submission, scheduler=engine)
    return outcome
