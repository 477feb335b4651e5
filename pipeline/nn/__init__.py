"""A feed-forward neural network written from scratch with numpy.

``FFNNClassifier`` and ``FFNNRegressor`` are scikit-learn estimators; ``save``/``load``
store a fitted one as a ``.npz`` archive (arrays + JSON hyper-parameters, no pickle).
The parts — activations, losses, initializers, optimizers, schedules, network,
training, hyper-parameter checks, the early-stopping holdout, the shared fitting logic
(``base``), errors — are small modules with one concern each.
"""

from pipeline.nn.errors import ModelFileError, NetworkParamsError
from pipeline.nn.estimator import FFNNClassifier, FFNNRegressor
from pipeline.nn.persist import load, save

__all__ = [
    "FFNNClassifier",
    "FFNNRegressor",
    "ModelFileError",
    "NetworkParamsError",
    "load",
    "save",
]
