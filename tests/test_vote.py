"""The soft vote's weights: equal, given, or learnt by an inner cross-validation."""

import json

import numpy as np
import pytest
from model_tables import TINY, matrix
from sklearn.base import clone
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from pipeline.core.errors import UserError
from pipeline.evaluation.cv import CVData, FoldResult, inner_parts, shared_parts
from pipeline.evaluation.splits import Split
from pipeline.models.ensemble import (
    LEARN_ROWS,
    WEIGHT_FOLDS,
    SoftVoteEnsemble,
    learn_weights,
    learns_weights,
    log_pool,
    vote,
    weight_splits,
)
from pipeline.models.estimators import build_estimator
from pipeline.models.persist import load_model, save_model


def log_loss_of(weights, probas, y_index) -> float:
    pooled = log_pool(list(probas), weights)[np.arange(len(y_index)), y_index]
    return float(-np.mean(np.log(pooled)))


def test_the_log_pool_is_the_normalised_weighted_geometric_mean():
    a = np.array([[0.7, 0.2, 0.1]])
    b = np.array([[0.2, 0.2, 0.6]])
    expected = a**2 * b**0.5 / np.sum(a**2 * b**0.5)
    np.testing.assert_allclose(log_pool([a, b], [2.0, 0.5]), expected)
    np.testing.assert_allclose(vote([a, b], [2.0, 0.5], learnt=True), expected)
    np.testing.assert_allclose(vote([a, b], [3.0, 1.0]), (3 * a + b) / 4)  # given: a mean
    np.testing.assert_allclose(vote([a, b]), (a + b) / 2)


def test_learnt_weights_are_the_maximum_of_the_likelihood():
    rng = np.random.default_rng(0)
    y_index = rng.integers(0, 4, size=300)
    sharp = np.full((300, 4), 0.05)
    sharp[np.arange(300), y_index] = 0.85
    wrong = sharp[rng.permutation(300)]  # confident, but on another row's class
    flat = np.full((300, 4), 0.25)
    probas = np.stack([sharp, wrong, flat])
    weights = learn_weights(probas, y_index)
    assert weights.shape == (3,) and np.all(weights >= 0)
    # Brute force over a grid of weights: nothing beats the learnt ones.
    axis = np.linspace(0, 3, 31)
    best = min(log_loss_of(np.array([a, b, c]), probas, y_index)
               for a in axis for b in axis for c in axis)
    assert log_loss_of(weights, probas, y_index) <= best + 1e-6
    assert weights[0] > 5 * weights[1]  # the informative member carries the vote


def test_identical_members_keep_equal_weights():
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(5), size=100)
    weights = learn_weights(np.stack([p, p]), rng.integers(0, 5, size=100))
    assert weights[0] == pytest.approx(weights[1])


@pytest.mark.parametrize(("weights", "rows", "learns"), [
    ("auto", LEARN_ROWS, True), ("auto", LEARN_ROWS + 1, False), ("learnt", 10**6, True),
    (None, 100, False), ([1.0, 2.0], 100, False),
])
def test_which_votes_learn_their_weights(weights, rows, learns):
    assert learns_weights(weights, rows) is learns


def test_weight_splits_keep_recordings_whole_and_test_every_row_once():
    y = np.repeat(np.array(["a", "b", "c"], dtype=object), 40)
    groups = np.arange(120) // 4
    splits = weight_splits(y, groups)
    assert len(splits) == WEIGHT_FOLDS
    tested = np.concatenate([test for _, test in splits])
    assert sorted(tested) == list(range(120))
    for train, test in splits:
        assert set(groups[train]).isdisjoint(groups[test])
    assert [t.tolist() for _, t in weight_splits(y, groups)] == [t.tolist() for _, t in splits]
    assert weight_splits(y, np.zeros(120)) == []  # one recording: nothing to learn from


@pytest.mark.parametrize("k", [10, 11])
def test_shared_parts_never_train_on_the_outer_fold_and_fit_once_per_pair_of_blocks(k):
    fold = np.arange(12 * k) % k
    splits = [Split(f"fold{f}", np.flatnonzero(fold != f), np.flatnonzero(fold == f))
              for f in range(k)]
    parts, fits = shared_parts(splits)
    assert len(fits) == 10  # five blocks (the odd fold joins the last), one fit per pair
    for fit in fits:
        assert set(fit.train).isdisjoint(fit.test)
        assert len(fit.train) + len(fit.test) == len(fold)
    for outer in splits:
        inner = parts[outer.name]
        assert len(inner) == 4
        learnt = np.concatenate([p.test for p in inner])
        assert len(set(learnt)) == len(learnt) and set(learnt) < set(outer.train)
        partner = set(fold[outer.train]) - set(fold[learnt])  # the fold paired with outer's
        assert len(partner) == 1 + (k == 11 and outer.name in ("fold8", "fold9", "fold10"))
        for p in inner:
            assert set(outer.test).isdisjoint(p.train) and set(p.train).isdisjoint(p.test)
            assert set(fold[p.train]).isdisjoint(fold[p.test])  # whole folds
            assert p.name in {f.name for f in fits}
            fit = next(f for f in fits if f.name == p.name)
            assert np.array_equal(fit.train, p.train) and set(p.test) <= set(fit.test)
    # Ten folds: every inner training part is six of them, two thirds of the outer's nine.
    if k == 10:
        assert {len(set(fold[p.train])) for ps in parts.values() for p in ps} == {6}


def test_only_the_protocols_folds_share_inner_fits_a_random_split_keeps_recordings_whole():
    rows = 240
    groups = np.arange(rows) // 4  # 60 recordings of four rows
    y = np.array(["a", "b", "c"], dtype=object)[groups % 3]
    by_group = groups % 10  # the protocol's folds keep recordings whole
    protocol = [Split(f"fold{f}", np.flatnonzero(by_group != f), np.flatnonzero(by_group == f))
                for f in range(10)]
    cut = np.random.default_rng(0).permutation(rows) % 10  # a random split cuts them
    compared = [Split(f"random-split{f}", np.flatnonzero(cut != f), np.flatnonzero(cut == f))
                for f in range(10)]
    estimators = {"ensemble": noisy_vote("learnt")}
    data = CVData(np.zeros((rows, 1)), y, groups)
    parts, fits = inner_parts(estimators, [protocol, compared], data)
    assert all(p.name.startswith("without ") for s in protocol for p in parts[s.name])
    for outer in compared:
        assert [p.name for p in parts[outer.name]] == [f"{outer.name}/inner{k}" for k in (1, 2, 3)]
        for p in parts[outer.name]:
            assert set(groups[p.train]).isdisjoint(groups[p.test])
            assert set(p.train) | set(p.test) == set(outer.train)
    assert len(fits) == 10 + 10 * 3  # shared by the protocol's folds, three per random fold


def test_a_fit_asked_for_rows_it_did_not_predict_says_so():
    fit = FoldResult("m", "s", np.eye(3), np.array(["a", "b", "c"]), 0.1, np.array([2, 5, 7]))
    np.testing.assert_array_equal(fit.proba_of(np.array([5, 7])), np.eye(3)[1:])
    with pytest.raises(ValueError, match="did not predict"):
        fit.proba_of(np.array([5, 6]))


def test_a_vote_learns_only_from_the_rows_its_parts_test():
    X, y = matrix(120)
    vote_est = noisy_vote("learnt")
    tested = [(np.arange(80, 120), np.arange(0, 40)), (np.arange(0, 40), np.arange(80, 120))]
    with_gap = clone(vote_est).fit(X, y, weight_parts=tested)
    assert with_gap.learnt_ and np.isfinite(with_gap.weights_).all()
    # The same parts without the rows 40-79 that no part tested: the same weights.
    keep = np.r_[0:40, 80:120]
    alone = clone(vote_est).fit(X[keep], y[keep], weight_parts=[
        (np.arange(40, 80), np.arange(0, 40)), (np.arange(0, 40), np.arange(40, 80))])
    np.testing.assert_allclose(with_gap.weights_, alone.weights_, rtol=1e-12)


def noisy_vote(weights):
    """A vote of a linear model and a member that guesses (a confident random class)."""
    return SoftVoteEnsemble([("linear", LogisticRegression(max_iter=500)),
                             ("guess", DummyClassifier(strategy="stratified", random_state=0))],
                            weights=weights)


def test_a_learnt_vote_silences_a_member_that_guesses():
    X, y = matrix(400)
    train, test = np.arange(300), np.arange(300, 400)
    groups = np.arange(400) // 4
    learnt = noisy_vote("learnt").fit(X[train], y[train], groups[train])
    equal = noisy_vote(None).fit(X[train], y[train], groups[train])
    linear = LogisticRegression(max_iter=500).fit(X[train], y[train])
    assert learnt.learnt_ and learnt.weights_[1] < 0.05 * learnt.weights_[0]
    assert equal.weights_ is None and not equal.learnt_
    accuracy = {name: np.mean(model.predict(X[test]) == y[test])
                for name, model in [("learnt", learnt), ("equal", equal), ("linear", linear)]}
    assert accuracy["learnt"] >= accuracy["linear"] - 0.02
    assert accuracy["equal"] < accuracy["linear"] - 0.1  # what the learnt weights prevent
    # A single recording: equal weights, and still a fitted vote.
    single = noisy_vote("learnt").fit(X[train], y[train], np.zeros(300))
    assert single.weights_ is None and single.predict(X[test]).shape == (100,)


def test_auto_learns_on_small_training_sets_only(monkeypatch):
    X, y = matrix(200)
    assert noisy_vote("auto").fit(X, y, np.arange(200) // 4).weights_ is not None
    monkeypatch.setattr("pipeline.models.ensemble.LEARN_ROWS", 199)
    assert noisy_vote("auto").fit(X, y, np.arange(200) // 4).weights_ is None


def test_the_learnt_weights_are_saved_and_used_after_loading(tmp_path):
    X, y = matrix(200)
    params = {**TINY, "ensemble": {"members": ["logreg", "rf"], "weights": "learnt"}}
    model = build_estimator("ensemble", params["ensemble"], seed=4, all_params=params)
    model.fit(X, y, np.arange(200) // 4)
    save_model(model, "ensemble", tmp_path)
    descriptor = json.loads((tmp_path / "ensemble.json").read_text())
    assert descriptor["weights"] == "learnt"
    np.testing.assert_allclose(descriptor["weights_used"], model.weights_)
    assert descriptor["weights_learnt"] is True
    loaded = load_model("ensemble", tmp_path)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    # A descriptor written before the weights were learnt: its setting is what it used.
    del descriptor["weights_used"], descriptor["weights_learnt"]
    descriptor["weights"] = [3.0, 1.0]
    (tmp_path / "ensemble.json").write_text(json.dumps(descriptor))
    old = load_model("ensemble", tmp_path)
    members = [m.predict_proba(X) for m in old.named_estimators_.values()]
    np.testing.assert_allclose(old.predict_proba(X), (3 * members[0] + members[1]) / 4)


@pytest.mark.parametrize("weights", ["learned", "equal", [1.0], True, [-1.0, 2.0]])
def test_a_bad_weights_setting_is_one_line(weights):
    params = {**TINY, "ensemble": {"members": ["logreg", "rf"], "weights": weights}}
    with pytest.raises(UserError, match="weights must be null") as error:
        build_estimator("ensemble", params["ensemble"], seed=0, all_params=params)
    assert "\n" not in str(error.value)
