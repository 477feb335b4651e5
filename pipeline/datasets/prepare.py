"""The prepare stage: pick the dataset, validate it, write one manifest for later stages.

With ``dataset="synth"`` (the default) the embedded generator writes an UrbanSound8K-shaped
training set (official folds) and, from another seed, an independent Analytics Vidhya-shaped
set whose test clips and answer key make an honest local leaderboard. Otherwise the given
dataset folder (UrbanSound8K, AV or plain folder), plus an optional separate test folder,
is read and validated. Either way the result is ``OUT/manifest.csv`` (see
:func:`pipeline.datasets.write_manifest`), and ``OUT/answers.csv`` when an answer key is known.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from pipeline.core.errors import UserError
from pipeline.core.io import Outputs, atomic_write
from pipeline.datasets import dataset_files, read_dataset, write_manifest
from pipeline.datasets.layouts import MANIFEST_CSV

SYNTH = "synth"
ANSWERS_CSV = "answers.csv"


def _test_rows(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["split"] == "test"]


def check_synth_runs(out, synth_clips: int, synth_test_clips: int, seed: int, *,
                     force: bool = False) -> list[tuple[Path, dict]]:
    """``(folder, arguments of generate)`` of the generator's runs for ``dataset="synth"``,
    each output place checked (:func:`pipeline.datasets.synth.outputs_of`) before any
    write. Of the test set only its test clips are rendered: nothing reads the others."""
    from pipeline.datasets.synth import outputs_of

    out = Path(out)
    runs = [(out / "synth", {"layout": "us8k", "clips": synth_clips, "seed": seed})]
    if synth_test_clips > 0:
        runs.append((out / "synth_test", {"layout": "av", "clips": synth_test_clips,
                                          "seed": seed + 1, "test_only": True}))
    for folder, run in runs:
        outputs_of(folder, force=force, **run)
    return runs


def prepare_outputs(out, *, force: bool = False, inputs=()) -> Outputs:
    """The files of ``out`` that prepare writes or removes (checked now)."""
    return Outputs(out, [MANIFEST_CSV, ANSWERS_CSV], force=force, inputs=inputs)


def prepare_dataset(
    out,
    *,
    dataset: str = SYNTH,
    test: str | None = None,
    synth_clips: int = 1000,
    synth_test_clips: int = 500,
    seed: int = 42,
    workers: int = 1,
    engine=None,
    force: bool = False,
) -> pd.DataFrame:
    """Generate or validate the dataset and write ``out/manifest.csv``.

    Parameters
    ----------
    out : str or os.PathLike
        Output folder (generated audio goes to ``out/synth`` and ``out/synth_test``).
    dataset : str
        ``"synth"`` or a dataset folder readable by :func:`pipeline.datasets.read_dataset`.
    test : str, optional
        A second dataset whose ``test`` clips are added (e.g. an AV tree next to a
        UrbanSound8K training set). Ignored for ``"synth"``.
    synth_clips, synth_test_clips : int
        Sizes of the generated training set and of the set the test clips are drawn from
        (about 38 % of it are test clips: folds 7–10); 0 generates no test set.
    seed : int
        Seed of the generated training set; the test set uses ``seed + 1``.
    workers : int
        Processes generating clips (the files do not depend on it).
    engine : pipeline.engine.cluster.Engine, optional
        An open local ``processes`` engine the generator renders on (see
        :func:`pipeline.datasets.synth.generate`).
    force : bool
        Replace files the tool did not write, too (:class:`pipeline.core.io.Outputs`).

    Returns
    -------
    pandas.DataFrame, shape (n_clips, 6)
        The manifest written (train rows first, then test rows), ``attrs`` as in
        ``read_dataset`` plus ``answers`` (path of the answer key, or None).
    """
    out = Path(out)
    answers = None
    if dataset == SYNTH:
        from pipeline.datasets.synth import generate

        runs = check_synth_runs(out, synth_clips, synth_test_clips, seed, force=force)
        inputs: list[str] = []
    else:
        parts = [read_dataset(dataset)]
        if parts[0].attrs["layout"] == "manifest" and (Path(dataset) / ANSWERS_CSV).is_file():
            answers = Path(dataset) / ANSWERS_CSV  # an earlier prepare's output, key included
        if test:
            parts.append(_test_rows(read_dataset(test)))
        inputs = [f for part in parts for f in dataset_files(part)]
    # The answer key is replaced, or removed when this dataset has none (an earlier one's
    # must not score this one): either way only when it is the tool's own.
    outputs = prepare_outputs(out, force=force, inputs=inputs)
    if dataset == SYNTH:
        for folder, run in runs:
            generate(folder, workers=workers, engine=engine, force=force, **run)
        parts = [read_dataset(out / "synth" / "UrbanSound8K")]
        if synth_test_clips > 0:
            parts.append(_test_rows(read_dataset(out / "synth_test" / "av")))
            answers = out / "synth_test" / "av_answer_key.csv"
    manifest = pd.concat(parts, ignore_index=True)
    clash = manifest["id"][manifest["id"].duplicated()]
    if len(clash):
        raise UserError(
            f"clip ids occur in both the dataset and the test set: {', '.join(clash[:5])}"
        )
    kept = set(manifest["id"])
    manifest.attrs.update(
        layout=parts[0].attrs["layout"],
        root=parts[0].attrs["root"],
        missing=[m for part in parts for m in part.attrs["missing"] if m in kept],
    )
    target = out / ANSWERS_CSV
    with outputs:
        write_manifest(manifest, out)
        if answers is not None:
            atomic_write(target, lambda tmp: shutil.copyfile(answers, tmp))
        elif answers is None:
            outputs.remove(ANSWERS_CSV)
    manifest.attrs["answers"] = str(target) if answers is not None else None
    return manifest
