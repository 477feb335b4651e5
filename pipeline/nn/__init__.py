"""A feed-forward neural network written from scratch with numpy.

``FFNNClassifier`` and ``FFNNRegressor`` are scikit-learn estimators; ``save``/``load``
store a fitted one as a ``.npz`` archive (arrays + JSON hyper-parameters, no pickle).
The parts — activations, losses, initializers, optimizers, schedules, network,
training — are small modules with one concern each.
"""

from pipeline.nn.estimator import FFNNClassifier, FFNNRegressor
from pipeline.nn.persist import ModelFileError, load, save

__all__ = ["FFNNClassifier", "FFNNRegressor", "ModelFileError", "load", "save"]
