"""The errors of the network package, both ``ValueError`` subclasses of
:class:`pipeline.core.errors.InputError`: the CLI reports them as one line and exit code 2."""

from pipeline.core.errors import InputError


class NetworkParamsError(InputError):
    """A hyper-parameter of the network that it cannot be built or trained with."""


class ModelFileError(InputError):
    """A file that is not a model archive written by :func:`pipeline.nn.save` (or is damaged)."""
