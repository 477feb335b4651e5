"""What every stage shares: where its tasks run, the models' parameters, the feature store.

A stage takes ``scheduler`` (an :class:`~pipeline.engine.cluster.Engine`, a scheduler name, or None
for ``parallel.scheduler`` of params.yaml) and ``workers`` (None: ``parallel.workers``). An
engine that is already open is used as it is, so ``run`` opens one for all its stages.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from pipeline.core.config import Params
from pipeline.engine.cluster import Engine


class StageResult:
    """What a stage returns to the command line: the text it prints and, for a stage that
    writes files, the closing line's account of them."""

    @property
    def produced(self) -> str | None:
        """One line: what was written (None: nothing worth a closing line)."""
        return None

    def text(self) -> str:
        """What the command prints."""
        raise NotImplementedError


#: Where a stage's tasks run: an engine, a scheduler name, or None for params.yaml's.
SchedulerChoice = Engine | str | None


def engine_for(params: Params, scheduler: SchedulerChoice = None, workers: int | None = None,
               *, dashboard: bool = False) -> Engine:
    """The engine of a stage: ``scheduler`` itself when it is one, else one built from the
    given choices over ``params.parallel`` (not opened: the stage's ``with`` block owns it)."""
    if isinstance(scheduler, Engine):
        return scheduler
    options = params.parallel
    return Engine(scheduler or options.scheduler,
                  options.workers if workers is None else workers,
                  dashboard=dashboard or options.dashboard)


def train_params(params: Params) -> dict[str, dict]:
    """``{model name: hyper-parameters}``: every ``train.<name>`` section of params.yaml."""
    return {k: v for k, v in dataclasses.asdict(params.train).items() if k != "models"}


def read_store(folder: str | Path) -> tuple[Any, dict]:
    """Feature table (a DataFrame, ``attrs["store_digest"]`` set) and feature parameters
    of a feature store folder."""
    from pipeline.store import read_feature_params, read_features

    return read_features(folder), read_feature_params(folder)


def store_files(folder: str | Path) -> list[Path]:
    """The files of a feature store that the model stages read (no output may be one)."""
    from pipeline.evaluation.groups import GROUPS_FILE
    from pipeline.store.table import ERRORS_FILE, FEATURES_FILE, META_FILE

    return [Path(folder) / f for f in (FEATURES_FILE, ERRORS_FILE, META_FILE, GROUPS_FILE)]
