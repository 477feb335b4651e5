"""The network's bag: its size, the mean of members seeded one after another, the groups it
hands on, the registry's parameter and the saved model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from model_tables import TINY, matrix

from pipeline import nn
from pipeline.core.errors import UserError
from pipeline.models.estimators import build_estimator, fit_with_groups
from pipeline.models.persist import load_model, save_model
from pipeline.models.seedbag import AUTO_MAX, AUTO_ROWS, SeedBag, bag_size
from pipeline.nn import FFNNClassifier

# Small networks, a few epochs: what a bag does with its members is under test, not their
# convergence.
NET = {"hidden_layer_sizes": (8,), "max_iter": 15, "batch_size": 32}
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def data():
    return matrix(160)


@pytest.mark.parametrize(("rows", "size"), [
    (1, AUTO_MAX), (900, 3), (AUTO_ROWS // 3, 3), (AUTO_ROWS // 3 + 1, 2), (AUTO_ROWS // 2, 2),
    (AUTO_ROWS // 2 + 1, 1), (7859, 1),
])
def test_auto_bags_only_small_training_sets(rows, size):
    assert bag_size("auto", rows) == size
    assert bag_size(4, rows) == 4


def test_a_bag_is_the_mean_of_its_members_seeded_one_after_another(data):
    X, y = data
    bag = SeedBag(FFNNClassifier(**NET), size=3, random_state=5).fit(X, y)
    members = [FFNNClassifier(**NET, random_state=s).fit(X, y) for s in (5, 6, 7)]
    assert [m.random_state for m in bag.estimators_] == [5, 6, 7]
    expected = sum(m.predict_proba(X) for m in members) / 3
    np.testing.assert_array_equal(bag.predict_proba(X), expected)
    assert list(bag.classes_) == list(members[0].classes_)
    assert (bag.predict(X) == bag.classes_[np.argmax(expected, axis=1)]).all()
    # The members differ (else the bag would be pointless), and so do their votes.
    assert not np.array_equal(members[0].predict_proba(X), members[1].predict_proba(X))


def test_a_bag_of_one_is_its_network_exactly(data):
    X, y = data
    bag = SeedBag(FFNNClassifier(**NET), size=1, random_state=5).fit(X, y)
    alone = FFNNClassifier(**NET, random_state=5).fit(X, y)
    np.testing.assert_array_equal(bag.predict_proba(X), alone.predict_proba(X))


def test_recording_groups_reach_every_member(data):
    X, y = data
    groups = np.arange(len(y)) // 4
    stopping = {**NET, "early_stopping": True, "n_iter_no_change": 2, "max_iter": 30}
    bag = SeedBag(FFNNClassifier(**stopping), size=2, random_state=1)
    fit_with_groups(bag, X, y, groups)
    for seed, member in zip((1, 2), bag.estimators_, strict=True):
        alone = FFNNClassifier(**stopping, random_state=seed).fit(X, y, groups=groups)
        np.testing.assert_array_equal(member.predict_proba(X), alone.predict_proba(X))


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "many", None])
def test_a_bad_bag_size_is_one_user_error(value):
    with pytest.raises(UserError, match="train.ffnn.networks must be") as info:
        build_estimator("ffnn", {"networks": value})
    assert "\n" not in str(info.value)


def test_the_default_bags_small_sets_and_saved_bags_reload_identically(tmp_path, data):
    X, y = data
    params = {k: v for k, v in TINY["ffnn"].items() if k != "networks"}  # the default: auto
    model = build_estimator("ffnn", params, seed=4).fit(X, y)
    assert len(model[-1].estimators_) == 3  # 160 rows
    save_model(model, "ffnn", tmp_path)
    desc = json.loads((tmp_path / "ffnn.json").read_text())
    assert desc["files"] == ["ffnn.ffnn.npz", "ffnn.scaler.json", "ffnn.ffnn-1.npz",
                             "ffnn.ffnn-2.npz"]
    loaded = load_model("ffnn", tmp_path)
    assert [m.random_state for m in loaded[-1].estimators_] == [4, 5, 6]
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize("damage", ["missing", "truncated", "other classes"])
def test_a_damaged_member_is_one_user_error(tmp_path, data, damage):
    X, y = data
    model = build_estimator("ffnn", {**TINY["ffnn"], "networks": 2}, seed=4).fit(X, y)
    save_model(model, "ffnn", tmp_path)
    second = tmp_path / "ffnn.ffnn-1.npz"
    if damage == "missing":
        second.unlink()
    elif damage == "truncated":
        second.write_bytes(second.read_bytes()[:100])
    else:  # a network of the same inputs that knows only two of the classes
        keep = np.isin(y, np.unique(y)[:2])
        stranger = FFNNClassifier(**NET).fit(model[:-1].transform(X[keep]), y[keep])
        nn.save(stranger, second)
    with pytest.raises(UserError) as info:
        load_model("ffnn", tmp_path)
    assert "\n" not in str(info.value) and "ffnn" in str(info.value)
    if damage == "other classes":
        assert "do not agree" in str(info.value)
