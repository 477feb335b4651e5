"""A submission never uses another clip's features; one definition of ``best``."""

import shutil
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
from model_tables import TINY, feature_table

from pipeline.apps.submission import make_submission
from pipeline.cli import main
from pipeline.core.config import FeatureParams
from pipeline.core.errors import UserError
from pipeline.datasets import read_dataset
from pipeline.datasets.synth import generate
from pipeline.engine.cluster import parse_scheduler
from pipeline.evaluation import cross_validate
from pipeline.models.model_index import read_index
from pipeline.models.selection import best_model
from pipeline.models.train import train_models
from pipeline.store import cached_features, extract_to_store, read_features, read_meta

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _test_rows(folder):
    manifest = read_dataset(folder)
    return manifest[manifest["split"] == "test"].reset_index(drop=True)


@pytest.fixture(scope="module")
def two_folders(tmp_path_factory):
    """Two AV trees with the same IDs for different clips; a store and models of the first."""
    root = tmp_path_factory.mktemp("collide")
    generate(root / "a", layout="av", clips=40, seed=3)
    # The other folder: the same test IDs, each holding another clip's audio.
    shutil.copytree(root / "a", root / "b")
    clips = sorted((root / "b" / "av" / "Test").glob("*.wav"))
    audio = [c.read_bytes() for c in clips]
    for clip, data in zip(clips, audio[1:] + audio[:1], strict=True):
        clip.write_bytes(data)
    store = root / "store"
    extract_to_store(read_dataset(root / "a" / "av"), store, params=FeatureParams(),
                     scheduler=parse_scheduler("sync"), progress=False)
    models = root / "models"
    train_models(read_features(store), ["logreg"], TINY, seed=0, out_dir=models,
                 feature_params=read_meta(store)["fingerprint"]["params"])
    return root, store, models


def test_same_ids_in_another_folder_are_extracted_afresh(two_folders, tmp_path, cluster_params):
    root, store, models = two_folders
    other = _test_rows(root / "b" / "av")
    own = _test_rows(root / "a" / "av")
    shared = set(other["id"]) & set(read_features(store)["id"])
    assert shared  # the collision: the stale store holds rows under these IDs
    _, found, _ = cached_features(store, FeatureParams(), other["path"].tolist())
    assert not found.any()
    values, found, _ = cached_features(store, FeatureParams(), own["path"].tolist())
    table = read_features(store).set_index("id")
    assert found.all()  # the same files are reused, with the store's very values
    assert np.array_equal(values, table.loc[own["id"], table.columns[4:]].to_numpy(np.float32))
    with_store, empty = tmp_path / "with_store.csv", tmp_path / "empty.csv"
    make_submission(other, models, with_store, store=store)
    make_submission(other, models, empty, store=None)
    assert with_store.read_text() == empty.read_text()
    code = main(["--params", str(cluster_params), "submit", "--test", str(root / "b" / "av"),
                 "--models", str(models), "--features", str(store), "--out",
                 str(tmp_path / "cli.csv")])
    assert code == 0 and (tmp_path / "cli.csv").read_text() == empty.read_text()


def test_a_changed_file_or_other_parameters_are_not_reused(two_folders, tmp_path):
    root, store, _ = two_folders
    own = _test_rows(root / "a" / "av")
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    _, found, _ = cached_features(copy, FeatureParams(n_mfcc=20), own["path"].tolist())
    assert not found.any()
    clip = own["path"][0]
    data = open(clip, "rb").read()
    try:
        with open(clip, "wb") as fh:  # other audio under the same path
            fh.write(open(_test_rows(root / "b" / "av")["path"][0], "rb").read())
        _, found, _ = cached_features(copy, FeatureParams(), own["path"].tolist())
        assert not found[0] and found[1:].all()
    finally:
        with open(clip, "wb") as fh:
            fh.write(data)


def test_models_of_different_feature_parameters_are_refused(tmp_path, capsys):
    df = feature_table(80)
    train_models(df, ["logreg"], TINY, seed=0, out_dir=tmp_path / "m",
                 feature_params={"n_fft": 2048})
    train_models(df, ["rf"], TINY, seed=0, out_dir=tmp_path / "other",
                 feature_params={"n_fft": 1024})
    shutil.copytree(tmp_path / "other" / "rf", tmp_path / "m" / "rf")
    with pytest.raises(UserError, match="different feature parameters"):
        read_index(tmp_path / "m")
    clip = tmp_path / "clip.wav"
    sf.write(clip, np.sin(np.arange(22050) * 0.1) * 0.5, 22050)
    assert main(["predict", str(clip), "--models", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "different feature parameters" in err[0]
    # Training into the folder with the other parameters replaces the stale model.
    index = train_models(df, ["logreg"], TINY, seed=0, out_dir=tmp_path / "m",
                         feature_params={"n_fft": 4096})
    assert index["removed"] == ["rf"] and list(index["models"]) == ["logreg"]
    assert index["feature_params"] == {"n_fft": 4096}


def test_best_model_is_the_highest_honest_accuracy():
    assert best_model({"a": 0.5, "b": 0.7, "c": None}) == "b"
    assert best_model({"b": 0.7, "a": 0.7}) == "a"  # ties: the first by name
    # ... after the registry's order (the simpler model), whatever the order given.
    assert best_model({"ensemble": 0.7, "xgb": 0.7, "logreg": 0.7}) == "logreg"
    assert best_model({"mine": 0.7, "rf": 0.7}) == "rf"
    assert best_model({"a": 0.9, "b": 0.6}, optimistic={"a": True}) == "b"
    assert best_model({"a": 0.9}, optimistic=True) is None


def test_best_is_the_same_in_the_report_and_the_models_index(tmp_path):
    df = feature_table(200)
    metrics = cross_validate(df, ["logreg", "rf", "ensemble"], TINY)
    scores = {n: m.accuracy_mean for n, m in metrics.models.items()}
    assert metrics.best == max(scores, key=scores.get)
    index = train_models(df, ["logreg", "rf", "ensemble"], TINY, seed=42,
                         out_dir=tmp_path, cv_metrics=metrics)
    assert index["best"] == metrics.best
    optimistic = replace(metrics, run=replace(metrics.run, optimistic=True))
    index = train_models(df, ["logreg"], TINY, seed=42, out_dir=tmp_path / "o",
                         cv_metrics=optimistic)
    assert index["best"] is None  # a leaky figure never makes a model "best"
