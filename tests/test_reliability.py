"""Cases found by trying to break the pipeline: nothing of the user's is deleted, a mistake is
one line (exit 2) before any work, and a result of other data is never silently used.

Each test runs ``urbansound`` in-process on a small generated dataset and its real feature
store, as a user would.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml
from model_tables import TINY

from pipeline.cli import main
from pipeline.datasets.synth import generate

MODELS = ["logreg", "rf"]


def write_params(folder: Path, **sections) -> Path:
    """A params file with fast models, the sync scheduler and ``sections`` merged in."""
    params = {
        "parallel": {"scheduler": "sync", "workers": 1},
        "train": {"models": MODELS, **{k: v for k, v in TINY.items() if k in MODELS}},
    }
    for name, section in sections.items():
        params[name] = {**params.get(name, {}), **section}
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(code: int, err: str) -> str:
    """The message of a refused command: exit 2, one line, no traceback."""
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A generated UrbanSound8K tree, its feature store and a params file."""
    root = tmp_path_factory.mktemp("world")
    generate(root / "ds", layout="us8k", clips=40, seed=3)
    params = write_params(root)
    store = root / "store"
    assert main(["--params", str(params), "features", str(root / "ds"), "--out",
                 str(store)]) == 0
    return {"root": root, "params": params, "store": store, "dataset": root / "ds"}


# --- data loss -------------------------------------------------------------------------
@pytest.mark.parametrize("index", [{"title": 1}, [1, 2], {"models": {"notes": {}}}])
def test_train_never_removes_a_folder_that_is_not_a_model(world, tmp_path, capsys, index):
    out = tmp_path / "g1"
    (out / "notes").mkdir(parents=True)
    (out / "notes" / "index.json").write_text(json.dumps(index))
    (out / "notes" / "thesis.txt").write_text("precious")
    before = snapshot(out)
    code, printed, err = run(capsys, "--params", world["params"], "train", "--features",
                             world["store"], "--out", out, "--model", "logreg")
    assert code == 0, err
    assert "removed" not in printed
    assert {k: v for k, v in snapshot(out).items() if k.startswith("notes")} == before
    assert (out / "logreg" / "logreg.json").is_file()


def test_train_refuses_to_replace_a_feature_store_named_like_a_model(world, tmp_path, capsys):
    out = tmp_path / "models"
    shutil.copytree(world["store"], out / "logreg")
    before = snapshot(out)
    code, _, err = run(capsys, "--params", world["params"], "train", "--features",
                       world["store"], "--out", out, "--model", "logreg")
    assert "not a model folder" in one_line_error(code, err)
    assert snapshot(out) == before


def test_train_removes_only_its_own_stale_models_and_says_so(world, tmp_path, capsys):
    out = tmp_path / "models"
    base = ["--params", world["params"], "train", "--features", world["store"], "--out", out]
    assert run(capsys, *base, "--model", "rf")[0] == 0
    # The same model folder, as if fitted on other features: provably ours, and stale.
    index_path = out / "rf" / "index.json"
    index = json.loads(index_path.read_text())
    index_path.write_text(json.dumps({**index, "feature_names": ["other"]}))
    code, printed, err = run(capsys, *base, "--model", "logreg")
    assert code == 0, err
    assert "removed model rf" in printed
    assert not (out / "rf").exists() and (out / "logreg").is_dir()


# --- impossible parameters: one line before any work ------------------------------------
@pytest.mark.parametrize("sr", [8000, 11025])
def test_a_sample_rate_too_low_for_the_contrast_bands_is_refused_up_front(
    world, tmp_path, capsys, sr
):
    params = write_params(tmp_path, features={"sr": sr})
    out = tmp_path / "features"
    code, _, err = run(capsys, "--params", params, "features", world["dataset"], "--out", out)
    assert "Nyquist" in one_line_error(code, err) and "contrast_bands" in err
    assert not out.exists()


def test_a_sample_rate_the_bands_fit_is_featurized(world, tmp_path, capsys):
    params = write_params(tmp_path, features={"sr": 8000, "contrast_bands": 3,
                                              "contrast_fmin": 200.0})
    code, printed, err = run(capsys, "--params", params, "features", world["dataset"], "--out",
                             tmp_path / "features")
    assert code == 0, err
    assert "40 clips featurized, 0 failed" in printed


BAD_MODEL_PARAMS = [
    ("xgb", {"max_depthh": 1, "learning_ratee": 5}, "max_depthh"),
    ("logreg", {"Cc": 1.0}, "Cc"),
    ("logreg", {"C": -1}, "'C' parameter"),
    ("rf", {"n_estimators": 0}, "n_estimators"),
    ("ffnn", {"hidden_layer_sizes": "64x32"}, "hidden_layer_sizes"),
    ("ensemble", {"members": ["logreg", "rf"], "weights": [1, 2, 3]}, "weights"),
]


@pytest.mark.parametrize(("model", "given", "needle"), BAD_MODEL_PARAMS,
                         ids=[f"{m}-{n}" for m, _, n in BAD_MODEL_PARAMS])
@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_model_parameter_typos_and_bad_values_are_one_line(
    world, tmp_path, capsys, model, given, needle, command
):
    params = write_params(tmp_path, train={model: given})
    out = tmp_path / "out"
    where = "--out" if command == "train" else "--reports"
    code, _, err = run(capsys, "--params", params, command, "--features", world["store"],
                       "--model", model, where, out)
    message = one_line_error(code, err)
    assert f"train.{model}" in message and needle in message
    # A value the estimator refuses at its first fit: the progress bar begun by then is
    # cleared, so the message still stands on its own line.
    assert err.rstrip("\n").rsplit("\r", 1)[-1].startswith(f"urbansound {command}: error: ")
    assert not any(out.rglob("*.json")) if out.exists() else True


def test_unknown_parameters_name_the_accepted_ones(world, tmp_path, capsys):
    params = write_params(tmp_path, train={"xgb": {"max_depthh": 1}})
    code, _, err = run(capsys, "--params", params, "train", "--features", world["store"],
                       "--model", "xgb", "--out", tmp_path / "m")
    assert "accepted:" in one_line_error(code, err) and "max_depth," in err


# --- reports of another dataset ---------------------------------------------------------
def test_reports_of_another_feature_store_are_left_out_of_the_summary(world, tmp_path, capsys):
    other = tmp_path / "other"
    generate(other, layout="us8k", clips=40, seed=11)  # same size, other clips
    params = world["params"]
    other_store = tmp_path / "other_store"
    assert run(capsys, "--params", params, "features", other, "--out", other_store)[0] == 0
    reports = tmp_path / "rep"
    assert run(capsys, "--params", params, "evaluate", "--features", other_store, "--model",
               "rf", "--reports", reports)[0] == 0
    code, printed, err = run(capsys, "--params", params, "evaluate", "--features",
                             world["store"], "--model", "logreg", "--reports", reports)
    assert code == 0, err
    metrics = json.loads((reports / "metrics.json").read_text())
    assert set(metrics["models"]) == {"logreg"} and metrics["best"] == "logreg"
    assert metrics["left_out"] == ["rf"]
    assert "Left out: rf" in (reports / "summary.md").read_text()
    assert "left out: rf" in printed
    # The summary-only stage reads the same store and keeps the same comparison.
    assert run(capsys, "--params", params, "evaluate", "--summary-only", "--features",
               world["store"], "--reports", reports)[0] == 0
    assert json.loads((reports / "metrics.json").read_text())["left_out"] == ["rf"]


# --- folds ------------------------------------------------------------------------------
@pytest.mark.parametrize("fold", [0, 11])
def test_urbansound8k_folds_outside_1_to_10_are_refused(world, tmp_path, capsys, fold):
    ds = tmp_path / "ds"
    shutil.copytree(world["dataset"], ds)
    csv = ds / "UrbanSound8K" / "metadata" / "UrbanSound8K.csv"
    table = pd.read_csv(csv)
    table.loc[0, "fold"] = fold
    table.to_csv(csv, index=False)
    code, _, err = run(capsys, "--params", world["params"], "features", ds, "--out",
                       tmp_path / "f")
    assert "1 to 10" in one_line_error(code, err) and "line 2" in err
    assert not (tmp_path / "f").exists()


# --- file names that are not UTF-8 ------------------------------------------------------
def test_a_file_name_that_is_not_utf8_is_a_clip_like_any_other(world, tmp_path, capsys):
    folder = tmp_path / "clips"
    folder.mkdir()
    rng = np.random.default_rng(0)
    sf.write(folder / "good.wav", 0.1 * rng.standard_normal(22050), 22050)
    odd = b"caf\xe9".decode("utf-8", "surrogateescape")
    sf.write(os.fsencode(folder / f"{odd}.wav"), 0.1 * rng.standard_normal(22050), 22050)
    store = tmp_path / "store"
    args = ("--params", world["params"], "features", folder, "--out", store)
    code, printed, err = run(capsys, *args)
    assert code == 0, err
    assert "2 clips featurized, 0 failed" in printed
    ids = set(pd.read_parquet(store / "features.parquet")["id"])
    assert ids == {"good", "caf\\xe9"}
    # Cached like any other clip.
    assert "2 from cache" in run(capsys, *args)[1]
    models = tmp_path / "models"
    assert run(capsys, "--params", world["params"], "train", "--features", world["store"],
               "--out", models, "--model", "logreg")[0] == 0
    code, printed, err = run(capsys, "--params", world["params"], "predict", folder,
                             "--models", models, "--model", "logreg")
    assert code == 0, err
    assert {line.split("\t")[0] for line in printed.splitlines()} == {"good", "caf\\xe9"}
    assert "ERROR" not in printed


# --- output places checked before the work ----------------------------------------------
@pytest.mark.parametrize("place", ["file", "below-file", "proc"])
@pytest.mark.parametrize("command", ["train", "evaluate", "tune"])
def test_output_places_that_cannot_be_written_are_refused_up_front(
    world, tmp_path, capsys, place, command
):
    target = {"file": tmp_path / "taken", "below-file": tmp_path / "taken" / "sub",
              "proc": Path("/proc/urbansound-out")}[place]
    (tmp_path / "taken").write_text("a file")
    params = write_params(tmp_path, tune={"spaces": {"logreg": {"C": [0.1, 1.0]}}})
    where = "--out" if command == "train" else "--reports"
    code, _, err = run(capsys, "--params", params, command, "--features", world["store"],
                       "--model", "logreg", where, target)
    one_line_error(code, err)
    assert "cross-validation" not in err and "tuning" not in err
    assert (tmp_path / "taken").read_text() == "a file"


def test_submit_to_a_folder_is_refused(world, tmp_path, capsys):
    code, _, err = run(capsys, "--params", world["params"], "submit", "--test",
                       world["dataset"], "--out", tmp_path)
    assert "is a folder" in one_line_error(code, err)


# --- damaged feature stores -------------------------------------------------------------
DAMAGE = {
    "errors-empty": ("errors.csv", b""),
    "errors-semicolons": ("errors.csv", b"id;path;kind;message\nx;y;missing;gone\n"),
    "errors-open-quote": ("errors.csv", b'id,path,kind,message\nx,"y,missing,gone\n'),
    "meta-list": ("meta.json", b"[]"),
    "meta-null-fingerprint": ("meta.json", b'{"fingerprint": null}'),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_store_is_one_line_asking_for_features_again(world, tmp_path, capsys, damage):
    store = tmp_path / "store"
    shutil.copytree(world["store"], store)
    name, content = DAMAGE[damage]
    (store / name).write_bytes(content)
    code, _, err = run(capsys, "--params", world["params"], "train", "--out", tmp_path / "m",
                       "--features", store, "--model", "logreg")  # the subject is the store
    if name == "errors.csv":
        # A report for the user: training and submissions never read it (a submission
        # reuses the cache by clip key), so its damage stops nothing.
        assert code == 0, err
        assert (tmp_path / "m" / "logreg").is_dir()
    else:
        message = one_line_error(code, err)
        assert name in message and "urbansound features" in message
