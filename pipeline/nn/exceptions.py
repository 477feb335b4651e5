"""The errors of the network package, both ``ValueError`` subclasses (as scikit-learn's
estimators raise); the pipeline turns them into one-line messages where it calls the network."""


class NetworkError(ValueError):
    """Values the network cannot use: its hyper-parameters or a model file's contents."""


class NetworkParamsError(NetworkError):
    """A hyper-parameter of the network that it cannot be built or trained with."""


class ModelFileError(NetworkError):
    """A file that is not a model archive written by :func:`pipeline.nn.save` (or is damaged)."""
