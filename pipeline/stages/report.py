"""``report``: the HTML report of a reports folder (also written by ``evaluate`` and ``run``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.core.config import Params
from pipeline.core.errors import UserError
from pipeline.core.io import Outputs
from pipeline.engine.cluster import Engine
from pipeline.stages.common import SchedulerChoice, StageResult, engine_for, store_files

if TYPE_CHECKING:
    from pipeline.evaluation import CVResult


@dataclass(frozen=True)
class ReportResult(StageResult):
    """The page written (:class:`pipeline.apps.report.ReportSummary`)."""

    summary: Any

    @property
    def produced(self) -> str:
        return f"{self.summary.index} ({self.summary.clips} clips to listen to)"

    def text(self) -> str:
        s = self.summary
        return (f"report written to {s.index} ({s.clips} clips listed, {s.with_audio} with an "
                f"excerpt; up to {s.cell_cap} per confusion cell, {s.doubted} most doubted "
                f"labels) in {s.seconds:.1f} s")


def default_places(reports: str | Path) -> dict[str, Path]:
    """Feature store, submission and detection folder that go with ``reports``: those of a
    ``run --workdir`` folder when ``reports`` lies in one beside a store, else the
    repository layout (``data/...``)."""
    parent = Path(reports).parent
    if (parent / "features" / "features.parquet").is_file():
        return {"features": parent / "features", "submission": parent / "submission.csv",
                "detect": parent / "detect"}
    return {"features": Path("data/features"), "submission": Path("data/submission.csv"),
            "detect": Path("data/detect")}


def reported_models(reports: str | Path) -> list[str]:
    """The models of ``reports/metrics.json``, else every ``cv/NAME/`` with a report."""
    try:
        record = json.loads((Path(reports) / "metrics.json").read_text(encoding="utf-8"))
        names = list(record["models"])
    except (OSError, ValueError, KeyError, TypeError):
        names = []
    cv = Path(reports) / "cv"
    return names or sorted(p.parent.name for p in cv.glob("*/metrics.json"))


def report(reports: str | Path = "reports", *, params: Params,
           features: str | Path | None = None, submission: str | Path | None = None,
           detect: str | Path | None = None, scheduler: SchedulerChoice = None,
           workers: int | None = None, metrics: CVResult | None = None,
           force: bool = False) -> ReportResult:
    """Write ``reports/index.html`` (and the excerpts, thumbnails and doubted labels it
    shows) from the cross-validation reports in ``reports``.

    Parameters
    ----------
    reports : path
        A reports folder written by ``urbansound evaluate``.
    params : Params
    features, submission, detect : path, optional
        Feature store, submission CSV and detection folder shown with it; default
        :func:`default_places`. Missing ones are left out of the page.
    scheduler, workers
        Where the excerpts and thumbnails are computed (:mod:`pipeline.stages.common`). By
        default in this process, or on a lent engine that is already running: the page
        shows a bounded number of clips, fewer than a new cluster's start-up is worth.
    metrics : CVResult, optional
        The comparison to show (evaluate's own); default: rebuilt from the reports.
    force : bool
        Replace page files the tool did not write, too (:class:`pipeline.core.io.Outputs`).

    Returns
    -------
    ReportResult
    """
    from pipeline.apps.report import Sources, write_report
    from pipeline.core.config import params_digest
    from pipeline.core.io import check_output_dir
    from pipeline.engine.cluster import opened
    from pipeline.evaluation import collect_reports

    reports = Path(reports)
    if not (reports / "cv").is_dir():
        raise UserError(f"no cross-validation reports in {reports}/cv: run 'urbansound "
                        f"evaluate --reports {reports}' first")
    places = default_places(reports)
    given = {"features": features, "submission": submission, "detect": detect}
    chosen = {k: Path(v) if v is not None else places[k] for k, v in given.items()}
    for key in ("features", "submission", "detect"):
        if given[key] is not None and not chosen[key].exists():
            raise UserError(f"{key} not found: {chosen[key]}")
    outputs = page_outputs(reports, force=force, inputs=store_files(chosen["features"]))
    check_output_dir(reports, "reports folder")
    if metrics is None:
        digest = None
        if (chosen["features"] / "features.parquet").is_file():
            from pipeline.stages.common import read_store

            digest = read_store(chosen["features"])[0].attrs["store_digest"]
        metrics = collect_reports(reports, reported_models(reports), digest)
    if scheduler is None or (isinstance(scheduler, Engine) and not scheduler.running):
        scheduler = "sync"
    with opened(engine_for(params, scheduler, workers)) as engine, outputs:
        summary = write_report(metrics, reports, sources=Sources(**chosen),
                               params_digest=params_digest(params), scheduler=engine,
                               progress=True)
    return ReportResult(summary)


def page_outputs(reports: str | Path, *, force: bool = False, inputs=()) -> Outputs:
    """The page's files of fixed names in ``reports`` (checked now)."""
    from pipeline.apps.report import PAGE_FILES

    return Outputs(reports, PAGE_FILES, force=force, inputs=inputs)
