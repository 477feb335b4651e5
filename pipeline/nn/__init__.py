"""A feed-forward neural network written from scratch with numpy.

``FFNNClassifier`` and ``FFNNRegressor`` are scikit-learn estimators; ``save``/``load``
store a fitted one as a ``.npz`` archive (arrays + JSON hyper-parameters, no pickle).
The parts — activations, losses, initializers, optimizers, schedules, network,
training, hyper-parameter checks, the early-stopping holdout, the shared fitting logic
(``base``), exceptions, the archive format — are small modules with one concern each.

Stands alone: imports nothing else of :mod:`pipeline`.
"""

from pipeline.nn.archive import load, save
from pipeline.nn.estimator import FFNNClassifier, FFNNRegressor
from pipeline.nn.exceptions import ModelFileError, NetworkError, NetworkParamsError

__all__ = [
    "FFNNClassifier",
    "FFNNRegressor",
    "ModelFileError",
    "NetworkError",
    "NetworkParamsError",
    "load",
    "save",
]
