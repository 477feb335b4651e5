"""The pipeline's stages as plain functions with typed keyword arguments.

Each returns a small result object of what it wrote (paths, counts; ``text()`` is what the
command prints). The ``urbansound`` command parses its arguments and calls one of these;
:func:`run` calls them in order on one engine; ``dvc.yaml`` calls the command.

>>> from pipeline.config import load_params
>>> from pipeline import stages
>>> result = stages.run(params=load_params(), workdir="out", scheduler="sync")  # doctest: +SKIP
"""

from pipeline.stages.chain import RunResult, Workspace, run
from pipeline.stages.common import engine_for, train_params
from pipeline.stages.data import features, prepare, synth, synth_scenes
from pipeline.stages.modelling import evaluate, train, tune
from pipeline.stages.prediction import detect, predict, score, score_path, submit
from pipeline.stages.report import report

__all__ = ["RunResult", "Workspace", "detect", "engine_for", "evaluate", "features",
           "predict", "prepare", "report", "run", "score", "score_path", "submit", "synth",
           "synth_scenes", "train", "train_params", "tune"]
