"""Save and load fitted FFNN estimators as one ``.npz`` archive — no pickle.

Layout of the archive (written atomically: temp file in the same folder + ``os.replace``):

* ``coef_0 … coef_{L−1}``, ``intercept_0 …``: the weights and biases (float32/float64);
* ``classes``: the class labels (classifier only; numbers or unicode strings);
* ``meta``: a 0-d unicode array holding JSON — format tag and version, the estimator
  class, its hyper-parameters (``get_params()``) and the scalar fitted attributes.

Loading uses ``np.load(..., allow_pickle=False)`` and checks everything it reads; any file
that is not such an archive raises :class:`ModelFileError` with a one-line reason.
Optimiser state is not stored: a loaded model predicts exactly as the saved one, and
``partial_fit`` on it continues from its weights with a fresh optimiser.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from pipeline.nn.base import make_rng
from pipeline.nn.estimator import FFNNClassifier, FFNNRegressor
from pipeline.nn.exceptions import ModelFileError
from pipeline.nn.optimizers import get_optimizer

FORMAT = "pipeline.nn"
VERSION = 1
_ESTIMATORS = {"FFNNClassifier": FFNNClassifier, "FFNNRegressor": FFNNRegressor}
__all__ = ["FORMAT", "VERSION", "ModelFileError", "load", "save"]
_SCALARS = ("n_features_in_", "n_layers_", "n_outputs_", "out_activation_", "n_iter_", "t_",
            "loss_", "best_loss_", "loss_curve_", "validation_scores_", "best_validation_score_")


def _jsonable(value):
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, type) and issubclass(value, np.generic) or isinstance(value, np.dtype):
        return str(np.dtype(value))
    if isinstance(value, (np.random.Generator, np.random.RandomState)):
        return None  # a generator's state is not a hyper-parameter worth keeping
    return value


def save(model, path):
    """Write a fitted ``FFNNClassifier``/``FFNNRegressor`` to ``path`` (an ``.npz`` archive).

    Parameters
    ----------
    model : FFNNClassifier or FFNNRegressor
        Fitted.
    path : str or os.PathLike
        Destination, written as given (no suffix is added).
    """
    name = type(model).__name__
    if name not in _ESTIMATORS or not hasattr(model, "coefs_"):
        raise ValueError(f"save needs a fitted FFNNClassifier or FFNNRegressor, got {name}")
    params = {k: _jsonable(v) for k, v in model.get_params().items()}
    fitted = {k: _jsonable(getattr(model, k)) for k in _SCALARS}
    fitted["_loss_name"] = model._loss_name
    if hasattr(model, "feature_names_in_"):
        fitted["feature_names_in_"] = [str(f) for f in model.feature_names_in_]
    meta = {"format": FORMAT, "version": VERSION, "estimator": name, "params": params,
            "fitted": fitted}
    arrays = {"meta": np.array(json.dumps(meta))}
    for i, (W, b) in enumerate(zip(model.coefs_, model.intercepts_, strict=True)):
        arrays[f"coef_{i}"], arrays[f"intercept_{i}"] = W, b
    if name == "FFNNClassifier":
        classes = np.asarray(model.classes_)
        if classes.dtype.kind not in "biuf":
            classes = classes.astype(str)  # unicode, loadable without pickle
        arrays["classes"] = classes
    # Beside the target, then renamed: a reader never sees a half-written archive.
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:  # a file object: savez adds no suffix
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(path):
    """All arrays of the archive, or ModelFileError."""
    if not Path(path).is_file():
        raise ModelFileError(f"{path}: no such model file")
    try:  # opened here: np.load leaves a file it opened open when the zip is damaged
        with open(path, "rb") as file:
            archive = np.load(file, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ModelFileError(f"{path}: not an FFNN model archive (a bare .npy array)")
            with archive:
                arrays = {key: archive[key] for key in archive.files}
    except ModelFileError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        text = str(exc)
        if "pickle" in text:
            reason = "not an .npz archive of plain arrays; pickled data is never loaded"
        else:
            reason = text.splitlines()[0] if text else type(exc).__name__
        raise ModelFileError(f"{path}: not an FFNN model archive ({reason})") from None
    except Exception as exc:  # zlib.error and other decoder failures of a damaged member
        raise ModelFileError(f"{path}: damaged FFNN model archive ({type(exc).__name__})") from None
    if not all(isinstance(a, np.ndarray) for a in arrays.values()):
        # np.load hands back raw bytes for zip members that are not .npy arrays.
        raise ModelFileError(f"{path}: not an FFNN model archive (a member is not an array)")
    return arrays


def load(path):
    """Read a model written by :func:`save`.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    FFNNClassifier or FFNNRegressor
        Fitted, predicting exactly as the saved model.

    Raises
    ------
    ModelFileError
        (a ``ValueError``) if the file is missing, not an ``.npz``
        written by :func:`save`, damaged, or holds object arrays.
    """
    arrays = _read(path)

    def bad(reason):
        return ModelFileError(f"{path}: not a valid FFNN model archive ({reason})")

    meta_raw = arrays.get("meta")
    if meta_raw is None or meta_raw.dtype.kind != "U" or meta_raw.ndim != 0:
        raise bad("no meta record")
    try:
        meta = json.loads(str(meta_raw))
    except json.JSONDecodeError:
        raise bad("meta record is not JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise bad("wrong format tag")
    if meta.get("version") != VERSION:
        raise bad(f"unsupported version {meta.get('version')!r}")
    cls = _ESTIMATORS.get(meta.get("estimator"))
    if cls is None:
        raise bad(f"unknown estimator {meta.get('estimator')!r}")
    params, fitted = meta.get("params"), meta.get("fitted")
    if not isinstance(params, dict) or not isinstance(fitted, dict):
        raise bad("meta lacks params or fitted attributes")
    params = dict(params)
    if isinstance(params.get("hidden_layer_sizes"), list):
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    try:
        model = cls(**params)
    except TypeError as exc:
        raise bad(f"unknown parameter: {exc}") from None

    n_layers = sum(1 for k in arrays if k.startswith("coef_"))
    try:
        coefs = [arrays[f"coef_{i}"] for i in range(n_layers)]
        intercepts = [arrays[f"intercept_{i}"] for i in range(n_layers)]
    except KeyError as exc:
        raise bad(f"missing array {exc}") from None
    if n_layers == 0 or n_layers + 1 != fitted.get("n_layers_"):
        raise bad("layer count does not match")
    n_in = fitted.get("n_features_in_")
    for W, b in zip(coefs, intercepts, strict=True):
        if W.dtype.kind != "f" or b.dtype != W.dtype or W.ndim != 2 or W.shape[0] != n_in \
                or b.shape != (W.shape[1],):
            raise bad("weights have inconsistent shapes or dtypes")
        n_in = W.shape[1]

    for key, value in fitted.items():
        setattr(model, key, value)
    if "feature_names_in_" in fitted:
        model.feature_names_in_ = np.asarray(fitted["feature_names_in_"], dtype=object)
    model.coefs_, model.intercepts_ = coefs, intercepts
    if cls is FFNNClassifier:
        classes = arrays.get("classes")
        if classes is None or classes.ndim != 1 or classes.dtype.kind not in "biufU":
            raise bad("missing or invalid classes")
        model.classes_ = classes
    model._rng = make_rng(model.random_state)
    model._optimizer = get_optimizer(
        model.solver, momentum=model.momentum, nesterovs_momentum=model.nesterovs_momentum,
        beta_1=model.beta_1, beta_2=model.beta_2, epsilon=model.epsilon, rho=model.rho,
    )
    return model
