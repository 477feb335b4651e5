"""Stages that use fitted models: the submission and its score, predictions, detection."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.config import Params
from pipeline.core.errors import UserError
from pipeline.core.io import Outputs, one_line
from pipeline.stages.common import SchedulerChoice, StageResult, engine_for


# --- submit ----------------------------------------------------------------------------
def score_path(submission: str | Path) -> Path:
    """Where ``submit`` writes the score of ``submission``
    (:func:`pipeline.apps.submission.score_path`; imported when called, so the command
    starts fast)."""
    from pipeline.apps.submission import score_path as path

    return path(submission)


@dataclass(frozen=True)
class SubmitResult(StageResult):
    """The submission written (:func:`pipeline.apps.submission.make_submission`'s result:
    ``out, model, n, warnings, warnings_file, counts``) and its score (``accuracy`` None
    without an answer key), written to ``score_file``."""

    submission: dict
    score: dict
    score_file: Path

    @property
    def produced(self) -> str:
        r = self.submission
        return f"predictions of {r['n']} test clips ({r['model']}) in {r['out']}"

    def text(self) -> str:
        from pipeline.apps.submission import score_text

        result = self.submission
        lines = [f"model {result['model']}: {result['n']} test clips → {result['out']}",
                 "predicted: " + ", ".join(f"{c} {k}" for c, k in result["counts"].items()
                                           if k)]
        warnings = result["warnings"]
        if len(warnings):
            lines.append(f"WARNING: {len(warnings)} test clip(s) could not be read and were "
                         "given the most frequent training class; listed in "
                         f"{result['warnings_file']}:")
            lines += [f"  {row.id}: {row.kind}: {row.message}"
                      for row in warnings.head(10).itertuples()]
            if len(warnings) > 10:
                lines.append(f"  ... and {len(warnings) - 10} more")
        if self.score["answers"] is not None:
            lines += [f"scored against {self.score['answers']}:", score_text(self.score)]
        return "\n".join(lines)


def submit(*, params: Params, model: str | None = None, test: str | Path | None = None,
           features: str | Path | None = "data/features", models: str | Path = "models",
           out: str | Path = "data/submission.csv", answers: str | Path | None = None,
           scheduler: SchedulerChoice = None, workers: int | None = None,
           force: bool = False) -> SubmitResult:
    """Predict the test clips with ``model``, write the submission ``out`` (``ID,Class``)
    and its score ``<stem>_score.json`` (null without an answer key).

    Parameters
    ----------
    params : Params
    model : str, optional
        A model name or ``"best"``; default ``submit.model``.
    test : path, optional
        Dataset holding the test clips; default ``submit.test``, then ``data/prepared``.
    features : path, optional
        Feature store whose cached rows of these files are reused.
    models : path
        Models folder.
    out : path
        Submission CSV.
    answers : path, optional
        Answer key (``ID,Class``); default ``answers.csv`` of ``test`` when there is one.
    scheduler, workers
        The stage's engine choice (:mod:`pipeline.stages.common`).
    force : bool
        Replace files the tool did not write, too (:class:`pipeline.core.io.Outputs`).

    Returns
    -------
    SubmitResult
    """
    from pipeline.apps.submission import make_submission, score
    from pipeline.core.io import atomic_write_json, check_output_file
    from pipeline.datasets import dataset_files, read_dataset
    from pipeline.engine.cluster import opened

    test = test or params.submit.test or "data/prepared"
    key = Path(answers) if answers else Path(test) / "answers.csv"
    if answers and not key.is_file():
        raise UserError(f"answer key not found: {key}")
    manifest = read_dataset(test)
    outputs = submission_outputs(out, force=force, inputs=[*dataset_files(manifest), key])
    check_output_file(out, "submission file")
    rows = manifest[manifest["split"] == "test"].reset_index(drop=True)
    # Only the store's cache of these very files, with the models' feature parameters.
    with outputs, opened(engine_for(params, scheduler, workers)) as engine:
        result = make_submission(rows, models, out, model=model or params.submit.model,
                                 store=features or None, scheduler=engine)
        # Always written, so the score is a stable DVC metric; null without an answer key.
        scored = {"accuracy": None, "n": result["n"], "answers": None}
        if key.is_file():
            scored = {**score(result["out"], key), "answers": str(key)}
        atomic_write_json(score_path(out), {"model": result["model"], **scored})
    return SubmitResult(result, scored, score_path(out))


def submission_outputs(out: str | Path, *, force: bool = False, inputs=()) -> Outputs:
    """The files ``submit`` writes beside the submission ``out`` (checked now)."""
    from pipeline.apps.submission import warnings_path

    out = Path(out)
    return Outputs(out.parent, [out.name, score_path(out).name, warnings_path(out).name],
                   force=force, inputs=inputs)


# --- score -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ScoreResult(StageResult):
    """:func:`pipeline.apps.submission.score` of a submission against an answer key."""

    score: dict

    def text(self) -> str:
        from pipeline.apps.submission import score_text

        return score_text(self.score)


def score(submission: str | Path, answers: str | Path) -> ScoreResult:
    """Score ``submission`` (``ID,Class``) against the answer key ``answers``."""
    from pipeline.apps.submission import score as score_submission

    return ScoreResult(score_submission(submission, answers))


# --- predict ---------------------------------------------------------------------------
@dataclass(frozen=True)
class PredictResult(StageResult):
    """The model used and one row per clip: ``id, path, class, probability, error``."""

    model: str
    table: Any

    def lines(self, *, json_lines: bool = False) -> list[str]:
        """One line per clip: ``id<TAB>class<TAB>probability`` (or ``ERROR`` and the
        reason), or a JSON object with ``json_lines``. Control characters of a file name
        (a newline, a tab) are escaped (``\\n``, ``\\t``), so a line is always one clip."""
        import json

        out = []
        for row in self.table.to_dict("records"):
            ok = isinstance(row["class"], str)
            if json_lines:
                record = {"id": row["id"], "path": row["path"], "model": self.model,
                          "class": row["class"] if ok else None,
                          "probability": round(float(row["probability"]), 4) if ok else None}
                if not ok:
                    record["error"] = row["error"]
                out.append(json.dumps(record))
            elif ok:
                out.append(f"{one_line(row['id'])}\t{row['class']}\t{row['probability']:.4f}")
            else:
                out.append(f"{one_line(row['id'])}\tERROR\t{one_line(row['error'])}")
        return out

    def text(self) -> str:
        return "\n".join(self.lines())


def predict(paths: list[str | Path], *, params: Params, models: str | Path = "models",
            model: str = "best", scheduler: SchedulerChoice = None,
            workers: int | None = None) -> PredictResult:
    """Classify audio files and folders.

    Parameters
    ----------
    paths : list of path, length n_inputs
        Audio files or folders (any layout :func:`pipeline.datasets.read_dataset` reads).
    params : Params
    models : path
        Models folder.
    model : str
        A model name or ``"best"``.
    scheduler, workers
        The stage's engine choice (:mod:`pipeline.stages.common`).

    Returns
    -------
    PredictResult
    """
    from pipeline.apps.submission import predict_paths
    from pipeline.engine.cluster import opened

    with opened(engine_for(params, scheduler, workers)) as engine:
        name, table = predict_paths(paths, models, model=model, scheduler=engine)
    return PredictResult(name, table)


# --- detect ----------------------------------------------------------------------------
@dataclass(frozen=True)
class DetectOutcome(StageResult):
    """What :func:`pipeline.apps.detect.detect` wrote (a
    :class:`pipeline.apps.detect.DetectResult`)."""

    result: Any

    @property
    def produced(self) -> str:
        return (f"windows, events and timelines of {len(self.result.files)} file(s) in "
                f"{self.result.out}")

    def text(self) -> str:
        from pipeline.apps.detect import summary_text
        from pipeline.apps.detect.scores import scores_text

        result = self.result
        lines = [summary_text(result),
                 f"written: {result.out}/windows.csv, {result.out}/events.csv, "
                 f"{sum(f.timeline is not None for f in result.files)} timeline PNG(s)"]
        if result.scores is not None:
            lines += [scores_text(result.scores), f"scores written to {result.out}/scores.json"]
        return "\n".join(lines)


def detect(paths: list[str | Path], *, params: Params, models: str | Path = "models",
           out: str | Path = "data/detect", answers: str | Path | None = None,
           model: str | None = None, window: float | None = None, hop: float | None = None,
           threshold: float | None = None, gate_db: float | None = None,
           scheduler: SchedulerChoice = None, workers: int | None = None,
           force: bool = False) -> DetectOutcome:
    """Slide the model over long recordings; write windows, events and timelines.

    Parameters
    ----------
    paths : list of path
        Audio files or folders.
    params : Params
    models, out : path
        Models folder; output folder.
    answers : path, optional
        Annotation CSV (``file, start, end, class``) to score against.
    model, window, hop, threshold, gate_db : optional
        Replace those of ``params.detect``; None keeps it.
    scheduler, workers
        The stage's engine choice (:mod:`pipeline.stages.common`).
    force : bool
        Replace files in ``out`` the tool did not write, too (:class:`pipeline.core.io.Outputs`).

    Returns
    -------
    DetectOutcome
    """
    from pipeline.apps.detect import detect as detect_events

    given = {"model": model, "window": window, "hop": hop, "threshold": threshold,
             "gate_db": gate_db}
    options = dataclasses.replace(params.detect,
                                  **{k: v for k, v in given.items() if v is not None})
    # Not opened here: the one call to the engine (every block of every file) opens it and
    # closes it when the last block is in, so the workers are gone before the pictures are
    # drawn and the two never add up in memory. An engine the caller opened stays open.
    result = detect_events(paths, models, params=options, out=out,
                           scheduler=engine_for(params, scheduler, workers), answers=answers,
                           force=force)
    return DetectOutcome(result)
