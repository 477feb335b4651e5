"""Saving and loading models without pickle: round trips, refusals, the index."""

import json
import signal
import subprocess
import sys
import time
import types

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from model_tables import TINY, feature_table, matrix

from pipeline.core.errors import UserError
from pipeline.core.io import atomic_write_text
from pipeline.evaluation import CVResult, CVRun, FoldScore, ModelCV
from pipeline.evaluation.results import PREDICTION_COLUMNS
from pipeline.models.estimators import build_estimator
from pipeline.models.model_index import load_from_index, read_index, resolve_name
from pipeline.models.persist import load_model, save_model
from pipeline.models.registry import fitted_part
from pipeline.models.train import train_models
from pipeline.store.rows import feature_columns

# Tiny networks stop before converging, by design.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

MODELS = ["logreg", "ffnn", "rf", "xgb", "ensemble"]


@pytest.fixture(scope="module")
def data():
    return matrix(160)


@pytest.mark.parametrize("name", MODELS)
def test_round_trip_gives_identical_predictions(tmp_path, data, name):
    X, y = data
    model = build_estimator(name, TINY[name], seed=2, all_params=TINY).fit(X, y)
    save_model(model, name, tmp_path)
    loaded = load_model(name, tmp_path)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert not list(tmp_path.glob("*.pkl")) and not list(tmp_path.glob(".*.tmp*"))


def test_rf_on_its_top_features_round_trips(tmp_path, data):
    X, y = data
    model = build_estimator("rf", {**TINY["rf"], "top_features": 5}, seed=2).fit(X, y)
    assert len(model.named_steps["select"].get_support(indices=True)) == 5
    save_model(model, "rf", tmp_path)
    np.testing.assert_array_equal(load_model("rf", tmp_path).predict_proba(X),
                                  model.predict_proba(X))


def test_xgb_on_its_top_features_round_trips_and_reads_only_them(tmp_path, data):
    X, y = data  # 12 columns
    model = build_estimator("xgb", {**TINY["xgb"], "top_features": 5}, seed=2).fit(X, y)
    columns = model.named_steps["select"].get_support(indices=True)
    assert len(columns) == 5
    assert model.n_features_in_ == X.shape[1] and model[-1].model_.n_features_in_ == 5
    save_model(model, "xgb", tmp_path)
    loaded = load_model("xgb", tmp_path)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    # Columns it does not read change nothing.
    other = X.copy()
    other[:, np.setdiff1d(np.arange(X.shape[1]), columns)] = 0.0
    np.testing.assert_array_equal(loaded.predict_proba(other), model.predict_proba(X))
    # A descriptor whose columns do not fit the booster is refused in one line.
    desc = json.loads((tmp_path / "xgb.json").read_text())
    (tmp_path / "xgb.json").write_text(json.dumps({**desc, "columns": [0, 1, 99, 3, 4]}))
    with pytest.raises(UserError, match="feature columns do not fit"):
        load_model("xgb", tmp_path)


@pytest.mark.parametrize("scaling", ["quantile", "standard"])
def test_ffnn_on_its_top_features_round_trips_with_its_scaler(tmp_path, data, scaling):
    X, y = data  # 12 columns
    model = build_estimator("ffnn", {**TINY["ffnn"], "top_features": 5, "scaling": scaling},
                            seed=2).fit(X, y)
    assert len(model.named_steps["select"].get_support(indices=True)) == 5
    save_model(model, "ffnn", tmp_path)
    loaded = load_model("ffnn", tmp_path)
    assert [type(step) for _, step in loaded.steps] == [type(step) for _, step in model.steps]
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), rtol=1e-6)
    desc = json.loads((tmp_path / "ffnn.json").read_text())
    (tmp_path / "ffnn.json").write_text(json.dumps({**desc, "columns": [0, 1, 2]}))
    with pytest.raises(UserError, match="feature columns do not fit"):
        load_model("ffnn", tmp_path)


def test_an_ffnn_saved_before_column_choice_and_scaling_kinds_still_loads(tmp_path, data):
    X, y = data
    old_kind = {**TINY["ffnn"], "scaling": "standard", "coded_columns": 0}  # no codes then
    model = build_estimator("ffnn", old_kind, seed=2).fit(X, y)
    save_model(model, "ffnn", tmp_path)
    desc = json.loads((tmp_path / "ffnn.json").read_text())
    for key in ("columns", "n_features"):
        desc.pop(key)
    (tmp_path / "ffnn.json").write_text(json.dumps(desc))
    scale = json.loads((tmp_path / "ffnn.scaler.json").read_text())
    scale.pop("kind")
    (tmp_path / "ffnn.scaler.json").write_text(json.dumps(scale))
    loaded = load_model("ffnn", tmp_path)
    # Rebuilt as every network is: its selection keeps every column.
    assert [name for name, _ in loaded.steps] == ["select", "scale", "clf"]
    assert loaded.named_steps["select"].get_support().all()
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), rtol=1e-6)


def test_a_corrupt_quantile_scaler_is_a_one_line_error(tmp_path, data):
    X, y = data
    save_model(build_estimator("ffnn", TINY["ffnn"], seed=2).fit(X, y), "ffnn", tmp_path)
    scale = json.loads((tmp_path / "ffnn.scaler.json").read_text())
    assert scale["kind"] == "quantile"
    (tmp_path / "ffnn.scaler.json").write_text(json.dumps({**scale, "references": [0.0, 1.0]}))
    with pytest.raises(UserError, match=r"^scaler file .* is corrupt: quantiles and references"):
        load_model("ffnn", tmp_path)


class Gadget:
    """A type skops does not know, standing in for anything a stranger could plant."""

    def __init__(self):
        self.payload = [1, 2, 3]


def test_untrusted_type_is_refused(tmp_path, data):
    X, y = data
    model = build_estimator("logreg", TINY["logreg"]).fit(X, y)
    save_model(model, "logreg", tmp_path)
    model.gadget_ = Gadget()
    (tmp_path / "logreg.skops").write_bytes(sio.dumps(model))
    with pytest.raises(UserError, match="untrusted types: .*Gadget"):
        load_model("logreg", tmp_path)


def test_a_forest_saved_with_the_former_column_step_is_refused_in_one_line(
        tmp_path, data, monkeypatch):
    X, y = data
    model = build_estimator("rf", TINY["rf"]).fit(X, y)
    save_model(model, "rf", tmp_path)
    # The class of the column step of earlier versions, under its module of then.
    former = types.ModuleType("pipeline.estimators")
    former.TopFColumns = type("TopFColumns", (Gadget,), {"__module__": "pipeline.estimators"})
    monkeypatch.setitem(sys.modules, "pipeline.estimators", former)
    model.steps[0] = ("select", former.TopFColumns())
    (tmp_path / "rf.skops").write_bytes(sio.dumps(model))
    monkeypatch.delitem(sys.modules, "pipeline.estimators")
    with pytest.raises(UserError, match=r"^model file .*rf.skops was saved by an earlier "
                                        r"version of the pipeline; fit it again"):
        load_model("rf", tmp_path)


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("logreg", lambda folder: (folder / "logreg.skops").write_bytes(b"PK\x03\x04broken")),
        ("rf", lambda folder: (folder / "rf.skops").write_bytes(b"")),
        ("xgb", lambda folder: (folder / "xgb.xgb.json").write_text('{"learner": 3')),
        ("xgb", lambda folder: (folder / "xgb.xgb.json").unlink()),
        ("rf", lambda folder: (folder / "rf.json").write_text("{not json")),
        ("rf", lambda folder: (folder / "rf.json").write_text('{"format": "pickle", '
                                                              '"files": [], "classes": []}')),
    ],
)
def test_damaged_files_are_one_line_user_errors(tmp_path, data, name, damage):
    X, y = data
    save_model(build_estimator(name, TINY[name]).fit(X, y), name, tmp_path)
    damage(tmp_path)
    with pytest.raises(UserError) as info:
        load_model(name, tmp_path)
    assert "\n" not in str(info.value)


def test_train_writes_index_and_best_follows_cv(tmp_path):
    df = feature_table(120)
    run = CVRun("official-folds (leave-one-fold-out, 1 folds)", False, 120)
    metrics = CVResult(run, {n: ModelCV(n, run, (FoldScore("fold1", 12, 0.1, acc, acc),),
                                        pd.DataFrame(columns=PREDICTION_COLUMNS))
                             for n, acc in (("logreg", 0.6), ("rf", 0.7))})
    index = train_models(df, ["logreg", "rf"], TINY, seed=0, out_dir=tmp_path,
                         feature_params={"sr": 22050}, cv_metrics=metrics)
    on_disk = read_index(tmp_path)
    assert index.pop("removed") == []
    assert on_disk == json.loads(json.dumps(index))
    assert on_disk["best"] == "rf"
    assert on_disk["models"]["rf"]["cv_accuracy"] == 0.7
    assert on_disk["feature_names"] == feature_columns(df)
    assert on_disk["feature_params"] == {"sr": 22050}
    assert on_disk["majority_class"] in on_disk["classes"]
    name, model, _ = load_from_index(tmp_path, "best")
    assert name == "rf" and fitted_part(model).n_estimators == TINY["rf"]["n_estimators"]
    # Refitting one model (same feature parameters) keeps the other and its CV score.
    train_models(df, ["logreg"], TINY, seed=0, out_dir=tmp_path, feature_params={"sr": 22050})
    assert set(read_index(tmp_path)["models"]) == {"logreg", "rf"}
    assert read_index(tmp_path)["best"] == "rf"


@pytest.mark.parametrize(
    ("index", "choice", "expected"),
    [
        ({"best": "xgb", "models": {"xgb": {}, "rf": {}}}, "best", "xgb"),
        ({"best": None, "models": {"xgb": {"cv_accuracy": 0.5}, "rf": {"cv_accuracy": 0.6}}},
         None, "rf"),
        ({"best": None, "models": {"rf": {}}}, "best", "rf"),
        ({"best": "xgb", "models": {"xgb": {}, "rf": {}}}, "rf", "rf"),
    ],
)
def test_resolve_name(index, choice, expected):
    assert resolve_name(index, choice) == expected


@pytest.mark.parametrize(
    ("index", "choice", "needle"),
    [
        ({"best": None, "models": {"xgb": {}, "rf": {}}}, "best", "cannot resolve"),
        ({"best": "rf", "models": {"rf": {}}}, "ffnn", "not trained"),
    ],
)
def test_resolve_name_errors(index, choice, needle):
    with pytest.raises(UserError, match=needle):
        resolve_name(index, choice)


def test_missing_index_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no trained models"):
        read_index(tmp_path)
    # A folder that is not provably a model (no descriptor naming it) is not a model.
    (tmp_path / "rf").mkdir()
    (tmp_path / "rf" / "index.json").write_text("[1, 2]")
    with pytest.raises(UserError, match="no trained models"):
        read_index(tmp_path)
    # A model folder (its descriptor) whose index is damaged is corrupt.
    (tmp_path / "rf" / "rf.json").write_text(
        json.dumps({"name": "rf", "format": "skops", "version": 1, "files": ["rf.skops"]}))
    with pytest.raises(UserError, match="corrupt"):
        read_index(tmp_path)


def test_models_of_different_features_are_refused_and_replaced_by_training(tmp_path):
    df = feature_table(120)
    train_models(df, ["logreg", "rf"], TINY, seed=0, out_dir=tmp_path)
    fewer = df.drop(columns=feature_columns(df)[:1])
    # A model fitted elsewhere on other features, copied in: refused with one line.
    train_models(fewer, ["rf"], TINY, seed=0, out_dir=tmp_path / "other")
    (tmp_path / "rf").rename(tmp_path / "rf_old")
    (tmp_path / "other" / "rf").rename(tmp_path / "rf")
    with pytest.raises(UserError, match="different features"):
        read_index(tmp_path)
    # Training on the new features removes the models it makes stale.
    index = train_models(fewer, ["rf"], TINY, seed=0, out_dir=tmp_path)
    assert sorted(index["removed"]) == ["logreg"]
    assert set(read_index(tmp_path)["models"]) == {"rf"}
    # A renamed model folder is no longer provably a model (its descriptor names "rf"):
    # it is neither read nor removed.
    assert (tmp_path / "rf_old" / "rf.json").is_file()


# --- tampered model folders: refused, and nothing in them runs ---------------------------
class FileCreator:
    """Unpickling this calls ``open(marker, "w")``: a stand-in for any code a file could run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _pickle_payload(marker) -> bytes:
    import pickle

    return pickle.dumps(FileCreator(marker))


def _npz_payload(marker) -> bytes:
    import io

    buf = io.BytesIO()
    np.savez(buf, meta=np.array([FileCreator(marker)], dtype=object))  # pickled object array
    return buf.getvalue()


def _skops_payload(marker) -> bytes:
    """A skops file whose loading calls ``builtins.open(marker, "w")``."""
    import io
    import zipfile

    schema = json.loads(zipfile.ZipFile(io.BytesIO(sio.dumps((str(marker), "w")))).read(
        "schema.json"))
    call = {"__class__": "open", "__module__": "builtins",
            "__loader__": "ConstructorFromReduceNode", "content": schema, "__id__": 1,
            "protocol": schema.pop("protocol"), "_skops_version": schema.pop("_skops_version")}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("schema.json", json.dumps(call))
    return buf.getvalue()


def _payload_is_live(kind, payload, folder) -> None:
    """Loading ``payload`` the unsafe way does create its file (so the refusals mean something)."""
    import io
    import pickle

    marker = folder / "live"
    data = payload(marker)
    if kind == "pickle":
        pickle.loads(data)
    elif kind == "npz":
        np.load(io.BytesIO(data), allow_pickle=True)["meta"]
    else:
        sio.loads(data, trusted=["builtins.open", "builtins.str", "builtins.tuple"])
    assert marker.exists()


PAYLOADS = {"pickle": _pickle_payload, "npz": _npz_payload, "skops": _skops_payload}
# (model, file in models/NAME/ that is replaced)
TARGETS = [
    ("ffnn", "ffnn.ffnn.npz"),
    ("logreg", "logreg.skops"),
    ("xgb", "xgb.xgb.json"),
    ("logreg", "index.json"),
    ("logreg", "logreg.json"),
    ("ffnn", "ffnn.scaler.json"),
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from model_tables import feature_table

    folder = tmp_path_factory.mktemp("models")
    train_models(feature_table(80), ["logreg", "ffnn", "xgb"], TINY, seed=0, out_dir=folder,
                 feature_params={"sr": 22050})
    return folder


def _tampered_copy(trained, tmp_path, model, file, content) -> tuple:
    import shutil

    folder = tmp_path / "models"
    shutil.copytree(trained, folder)
    target = folder / model / file
    assert target.is_file()
    target.write_bytes(content(target.read_bytes()))
    return folder


@pytest.mark.parametrize("kind", sorted(PAYLOADS))
@pytest.mark.parametrize(("model", "file"), TARGETS, ids=[f for _, f in TARGETS])
def test_code_planted_in_a_model_file_never_runs(trained, tmp_path, capsys, kind, model, file):
    _payload_is_live(kind, PAYLOADS[kind], tmp_path)
    marker = tmp_path / "pwned"
    folder = _tampered_copy(trained, tmp_path, model, file,
                            lambda _: PAYLOADS[kind](marker))
    with pytest.raises(UserError) as info:
        load_from_index(folder, model)
    assert "\n" not in str(info.value) and str(folder) in str(info.value)
    # Through the command line too: one line, exit code 2.
    from pipeline.cli import main

    clip = tmp_path / "clip.wav"
    clip.write_bytes(b"")
    assert main(["predict", str(clip), "--models", str(folder), "--model", model]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert not marker.exists()


@pytest.mark.parametrize(("model", "file"), TARGETS, ids=[f for _, f in TARGETS])
def test_truncated_model_files_are_refused(trained, tmp_path, model, file):
    folder = _tampered_copy(trained, tmp_path, model, file, lambda data: data[: len(data) // 2])
    with pytest.raises(UserError) as info:
        load_from_index(folder, model)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("escape", ["../../outside.skops", "/tmp/outside.skops"])
def test_descriptor_cannot_point_outside_its_folder(trained, tmp_path, escape):
    outside = tmp_path / "outside.skops"
    outside.write_bytes((trained / "logreg" / "logreg.skops").read_bytes())
    folder = _tampered_copy(trained, tmp_path, "logreg", "logreg.json", lambda data: json.dumps(
        {**json.loads(data), "files": [escape]}).encode())
    with pytest.raises(UserError, match="plain file name"):
        load_from_index(folder, "logreg")


# A write that never reaches its rename: the temporary file is filled, then the writer waits.
_KILLED_WRITE = """
import sys, time
from pathlib import Path
from pipeline.core.io import atomic_write
atomic_write(Path(sys.argv[1]), lambda tmp: (Path(tmp).write_text("half"), time.sleep(600)))
"""


def test_a_killed_write_leaves_no_file_once_rerun(tmp_path):
    target = tmp_path / "submission.csv"
    other = tmp_path / ".other.csv.abcdefgh.tmp.csv"  # another file's write: not ours to remove
    other.write_text("x")
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITE, str(target)])
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".submission.csv.*")) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    [leftover] = tmp_path.glob(".submission.csv.*")
    assert leftover.name.endswith(".tmp.csv") and not target.exists()
    atomic_write_text(target, "ID,Class\n")
    assert target.read_text() == "ID,Class\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name, "submission.csv"]
