"""save/load: identical predictions after a round trip; anything else is refused cleanly."""

import io
import json
import pickle
import warnings
import zipfile

import numpy as np
import psutil
import pytest
from sklearn.exceptions import ConvergenceWarning

import pipeline.nn
from pipeline.core.errors import InputError, UserError
from pipeline.nn import FFNNClassifier, FFNNRegressor, ModelFileError

rng = np.random.default_rng(0)
X = rng.normal(size=(60, 3))
LABELS = np.array(["dog_bark", "siren", "drilling"])[rng.integers(0, 3, 60)]


def _fit(model, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


@pytest.mark.parametrize(
    ("model", "y"),
    [
        (FFNNClassifier(hidden_layer_sizes=(5, 4), max_iter=5, random_state=0), LABELS),
        (FFNNClassifier(hidden_layer_sizes=(), max_iter=5, random_state=0), LABELS == "siren"),
        (FFNNClassifier(hidden_layer_sizes=(3,), max_iter=5, dtype="float64", random_state=0),
         (LABELS == "siren").astype(int) + 4),
        (FFNNRegressor(hidden_layer_sizes=(6,), activation="elu", max_iter=5, random_state=0),
         X[:, 0] * 2.0),
    ],
)
def test_round_trip_gives_identical_predictions(tmp_path, model, y):
    _fit(model, y)
    path = tmp_path / "model.npz"
    pipeline.nn.save(model, path)
    loaded = pipeline.nn.load(path)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    if hasattr(model, "predict_proba"):
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
        np.testing.assert_array_equal(loaded.classes_, model.classes_)
    assert loaded.loss_curve_ == model.loss_curve_ and loaded.n_iter_ == model.n_iter_
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # no temp file left behind


def test_loaded_model_can_continue_training(tmp_path):
    model = _fit(FFNNClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0), LABELS)
    pipeline.nn.save(model, tmp_path / "m.npz")
    loaded = pipeline.nn.load(tmp_path / "m.npz")
    loaded.partial_fit(X, LABELS)
    assert loaded.n_iter_ == 4


def _good_archive(tmp_path):
    model = _fit(FFNNClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0), LABELS)
    pipeline.nn.save(model, tmp_path / "good.npz")
    return (tmp_path / "good.npz").read_bytes()


def _with_meta(tmp_path, change):
    with np.load(io.BytesIO(_good_archive(tmp_path))) as archive:
        arrays = {k: archive[k] for k in archive.files}
    meta = json.loads(str(arrays["meta"]))
    change(meta, arrays)
    arrays["meta"] = np.array(json.dumps(meta))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


BAD_FILES = {
    "random bytes": lambda tmp: np.random.default_rng(1).bytes(500),
    "a pickle": lambda tmp: pickle.dumps({"coefs_": [np.eye(2)]}),
    "a truncated zip": lambda tmp: _good_archive(tmp)[:300],
    "a damaged member": lambda tmp: (lambda b: b[:200] + bytes(200) + b[400:])(_good_archive(tmp)),
    "an npz with object arrays": lambda tmp: _savez(meta=np.array([{"a": 1}], dtype=object)),
    "an npz without meta": lambda tmp: _savez(coef_0=np.eye(2)),
    "a bare npy": lambda tmp: _save_npy(np.eye(2)),
    "a wrong format tag": lambda tmp: _with_meta(tmp, lambda m, a: m.update(format="other")),
    "a missing layer": lambda tmp: _with_meta(tmp, lambda m, a: a.pop("intercept_1")),
    "an unknown estimator": lambda tmp: _with_meta(tmp, lambda m, a: m.update(estimator="os")),
    "an empty file": lambda tmp: b"",
    "a zip of text": lambda tmp: _zip_of_text(),
}


def _savez(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _save_npy(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _zip_of_text():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("meta.npy", "hello")
    return buf.getvalue()


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_files_are_refused_with_one_line(tmp_path, kind):
    path = tmp_path / "bad.npz"
    path.write_bytes(BAD_FILES[kind](tmp_path))
    with pytest.raises(ModelFileError) as info:
        pipeline.nn.load(path)
    # Nothing is left open (np.load keeps a damaged zip's file open when it opens it).
    assert str(path) not in [f.path for f in psutil.Process().open_files()]
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    # The network stands alone: a ValueError of its own, not one of the pipeline's errors.
    assert isinstance(info.value, ValueError)
    assert not isinstance(info.value, (InputError, UserError))


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        pipeline.nn.load(tmp_path / "absent.npz")


def test_unfitted_model_is_not_saved(tmp_path):
    with pytest.raises(ValueError, match="fitted"):
        pipeline.nn.save(FFNNClassifier(), tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()
