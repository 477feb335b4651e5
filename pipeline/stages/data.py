"""Stages that produce data: the generated datasets, the prepared manifest, the features."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.config import Params
from pipeline.core.io import Outputs
from pipeline.engine.cluster import Engine
from pipeline.stages.common import SchedulerChoice, StageResult, engine_for, store_files


# --- synth -----------------------------------------------------------------------------
@dataclass(frozen=True)
class SynthResult(StageResult):
    """A generated clip dataset: :func:`pipeline.datasets.synth.generate`'s summary
    (``clips, seed, layout, seconds, per_class, per_fold, train, test, rates, subtypes,
    channels, us8k, av, answer_key``)."""

    summary: dict

    @property
    def folders(self) -> str:
        """The layouts' folders written, comma-separated."""
        return ", ".join(p for p in (self.summary["us8k"], self.summary["av"]) if p)

    @property
    def produced(self) -> str:
        return f"{self.summary['clips']} clips under {self.folders}"

    def text(self) -> str:
        s = self.summary
        lines = [
            f"wrote {s['clips']} clips (seed {s['seed']}, layout {s['layout']}) to "
            f"{self.folders} in {s['seconds']:.1f} s "
            f"({s['clips'] / max(s['seconds'], 1e-9):.1f} clips/s)",
            "per class: " + ", ".join(f"{c} {k}" for c, k in s["per_class"].items()),
            "per fold:  " + ", ".join(f"{f}:{k}" for f, k in s["per_fold"].items()),
        ]
        if s["av"]:
            lines.append(f"AV split:  train {s['train']} (folds 1-6), test {s['test']} "
                         "(folds 7-10)")
        lines += [
            "rates:     " + ", ".join(f"{r}:{k}" for r, k in s["rates"].items()),
            "subtypes:  " + ", ".join(f"{t}:{k}" for t, k in s["subtypes"].items()),
            "channels:  " + ", ".join(f"{c}ch:{k}" for c, k in s["channels"].items()),
        ]
        return "\n".join(lines)


def synth(out: str | Path, *, params: Params, layout: str = "both", clips: int | None = None,
          seed: int | None = None, workers: int | None = None,
          force: bool = False) -> SynthResult:
    """Write the embedded generated dataset (clips) under ``out``.

    Parameters
    ----------
    out : path
        Output folder (see :func:`pipeline.datasets.synth.generate`).
    params : Params
    layout : {"us8k", "av", "both"}
    clips, seed, workers : int, optional
        Default: ``prepare.synth_clips``, ``seed`` and ``parallel.workers`` of ``params``;
        the files do not depend on ``workers``.
    force : bool
        Replace files the generator did not write, too (:class:`pipeline.core.io.Outputs`).

    Returns
    -------
    SynthResult
    """
    from pipeline.datasets.synth import generate

    summary = generate(out, layout=layout,
                       clips=params.prepare.synth_clips if clips is None else clips,
                       seed=params.seed if seed is None else seed,
                       workers=params.parallel.workers if workers is None else workers,
                       force=force)
    return SynthResult(summary)


@dataclass(frozen=True)
class ScenesResult(StageResult):
    """Generated long recordings: :func:`pipeline.datasets.long_scenes.generate_scenes`'s
    summary (``files, duration, events, seconds, per_class, annotations``)."""

    out: str
    seed: int
    summary: dict

    @property
    def produced(self) -> str:
        return (f"{len(self.summary['files'])} scene(s) with {self.summary['events']} events "
                f"under {self.out}")

    def text(self) -> str:
        s = self.summary
        return "\n".join([
            f"wrote {len(s['files'])} scene(s) of {s['duration']:.0f} s (seed {self.seed}) "
            f"with {s['events']} events to {self.out} in {s['seconds']:.1f} s",
            "events per class: " + ", ".join(f"{c} {k}" for c, k in s["per_class"].items()),
            f"annotations: {s['annotations']}",
        ])


def synth_scenes(out: str | Path, *, params: Params, minutes: float = 10.0, files: int = 1,
                 seed: int | None = None, force: bool = False) -> ScenesResult:
    """Write ``files`` long recordings of ``minutes`` each, with annotated events
    (``force``: replace files the generator did not write, too)."""
    from pipeline.datasets.long_scenes import generate_scenes

    seed = params.seed if seed is None else seed
    summary = generate_scenes(out, minutes=minutes, files=files, seed=seed, force=force)
    return ScenesResult(str(out), seed, summary)


# --- prepare ---------------------------------------------------------------------------
@dataclass(frozen=True)
class PrepareResult(StageResult):
    """The manifest written: its folder, clip counts, the answer key (or None), the
    processes given to the generator (used only when the dataset is generated) and the
    dataset's description."""

    out: str
    clips: int
    test_clips: int
    answers: str | None
    workers: int
    description: str

    @property
    def produced(self) -> str:
        return (f"manifest of {self.clips} clips ({self.test_clips} test) at "
                f"{self.manifest_csv}")

    @property
    def manifest_csv(self) -> Path:
        """The manifest ``prepare`` wrote."""
        from pipeline.datasets.layouts import MANIFEST_CSV

        return Path(self.out) / MANIFEST_CSV

    def text(self) -> str:
        return f"{self.description}\nmanifest written to {self.out}/manifest.csv"


def generation_workers(scheduler: SchedulerChoice, workers: int | None, params: Params) -> int:
    """Processes that render generated clips under the stage's scheduler choice.

    The generator writes into the local output folder, so it renders on a local
    ``processes`` engine lent by the caller (a run's), or else on processes of its own:
    ``processes`` and a cluster address (whose workers may be on other machines) give it
    the engine's worker count, while ``sync`` and ``threads`` (everything in this process)
    render clips here, one at a time.
    """
    engine = engine_for(params, scheduler, workers)
    return 1 if engine.scheduler.kind in ("sync", "threads") else engine.workers


def prepare(out: str | Path = "data/prepared", *, params: Params, dataset: str | None = None,
            test: str | None = None, scheduler: SchedulerChoice = None,
            workers: int | None = None, force: bool = False) -> PrepareResult:
    """Generate or validate the dataset and write ``out/manifest.csv``.

    Parameters
    ----------
    out : path
        Folder of the manifest (and of the generated audio).
    params : Params
    dataset, test : str, optional
        Default: ``prepare.dataset`` and ``prepare.test`` of ``params``; see
        :func:`pipeline.datasets.prepare.prepare_dataset`.
    scheduler, workers
        The stage's engine choice (:mod:`pipeline.stages.common`); it sets how many
        processes render generated clips (:func:`generation_workers`).
    force : bool
        Replace files in ``out`` that the tool did not write, too
        (:class:`pipeline.core.io.Outputs`).

    Returns
    -------
    PrepareResult
    """
    from pipeline.datasets import describe
    from pipeline.datasets.prepare import SYNTH, prepare_dataset
    from pipeline.engine.cluster import opened

    p = params.prepare
    n_workers = generation_workers(scheduler, workers, params)
    # A run's open local cluster renders the clips too, rather than a second one; without
    # one, the training and the test set share a local cluster opened here.
    lent = (scheduler if isinstance(scheduler, Engine) and scheduler.scheduler.kind == "processes"
            else None)
    if lent is None and (dataset or p.dataset) == SYNTH and n_workers > 1:
        lent = Engine("processes", n_workers)
    with opened(lent) if lent is not None else nullcontext() as engine:
        manifest = prepare_dataset(out, dataset=dataset or p.dataset,
                                   test=test if test is not None else p.test,
                                   synth_clips=p.synth_clips,
                                   synth_test_clips=p.synth_test_clips,
                                   seed=params.seed, workers=n_workers, engine=engine,
                                   force=force)
    return PrepareResult(out=str(out), clips=len(manifest),
                         test_clips=int((manifest["split"] == "test").sum()),
                         answers=manifest.attrs["answers"], workers=n_workers,
                         description=describe(manifest))


# --- features --------------------------------------------------------------------------
@dataclass(frozen=True)
class FeaturesResult(StageResult):
    """The feature store written (:class:`pipeline.store.StoreSummary`), the scheduler it
    ran on, and the recording groups inferred when the table has neither folds nor groups
    (``(path, n_groups, n_clips)`` or None)."""

    summary: Any
    scheduler: str
    groups: tuple[Path, int, int] | None = None

    @property
    def produced(self) -> str:
        s = self.summary
        return (f"features of {s.featurized} clips ({sum(s.failed.values())} failed) in "
                f"{s.folder}")

    def text(self) -> str:
        s = self.summary
        failed = sum(s.failed.values())
        by_kind = ", ".join(f"{kind}: {n}" for kind, n in s.failed.items())
        lines = [f"{s.featurized} clips featurized, {failed} failed"
                 + (f" ({by_kind})" if by_kind else "")
                 + f"; {s.processed} processed, {s.reused} from cache"
                 + f" [{self.scheduler}] -> {s.folder}"]
        if self.groups:
            path, n_groups, n_clips = self.groups
            lines.append(f"{n_groups} recording groups inferred for {n_clips} labelled clips "
                         f"(no folds or groups in the table) -> {path}")
        return "\n".join(lines)


def features(dataset: str | Path, out: str | Path = "data/features", *, params: Params,
             scheduler: SchedulerChoice = None, workers: int | None = None,
             dashboard: bool = False, batch_size: int | None = None,
             force: bool = False) -> FeaturesResult:
    """Extract the features of ``dataset`` into the Parquet store ``out``.

    The store is incremental: clips already in its cache are reused.

    Parameters
    ----------
    dataset : path
        Any dataset folder :func:`pipeline.datasets.read_dataset` reads.
    out : path
        Feature store folder.
    params : Params
    scheduler, workers, dashboard
        The stage's engine choice (:mod:`pipeline.stages.common`).
    batch_size : int, optional
        Clips per task; default ``parallel.batch_size``.
    force : bool
        Replace files in ``out`` that the tool did not write, too
        (:class:`pipeline.core.io.Outputs`).

    Returns
    -------
    FeaturesResult
    """
    from pipeline.datasets import dataset_files, read_dataset
    from pipeline.engine.batches import check_batch_size
    from pipeline.engine.cluster import opened
    from pipeline.evaluation.groups import write_inferred_groups
    from pipeline.store import extract_to_store

    manifest = read_dataset(dataset)
    batch_size = params.parallel.batch_size if batch_size is None else batch_size
    check_batch_size(batch_size)  # before the store makes its cache folder
    outputs = store_outputs(out, force=force, inputs=dataset_files(manifest))
    with outputs, opened(engine_for(params, scheduler, workers, dashboard=dashboard)) as engine:
        summary = extract_to_store(manifest, out, params=params.features, scheduler=engine,
                                   batch_size=batch_size)
    with outputs:
        groups = write_inferred_groups(out)
    return FeaturesResult(summary, str(engine.scheduler), groups)


def store_outputs(out: str | Path, *, force: bool = False, inputs=()) -> Outputs:
    """The files ``features`` writes in the feature store ``out`` (checked now)."""
    from pipeline.store import written_by_extraction

    return Outputs(out, [p.name for p in store_files(out)], force=force, inputs=inputs,
                   proof=written_by_extraction)
