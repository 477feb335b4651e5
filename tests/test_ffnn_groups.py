"""Leak-free early stopping: the network's validation part holds whole recordings."""

import numpy as np
import pytest
from model_tables import TINY, feature_table

from pipeline.models.estimators import build_estimator, fit_with_groups
from pipeline.nn import FFNNClassifier
from pipeline.store.rows import feature_columns, xy

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


class RecordingSplits(FFNNClassifier):
    """The real network, remembering the validation split it trained with."""

    def _split_validation(self, X, Y, y, groups=None):
        X_train, Y_train, validation = super()._split_validation(X, Y, y, groups)
        type(self).seen.append((X_train, validation[1]))
        return X_train, Y_train, validation


def _table():
    df = feature_table(240, folds=False)
    X, y = xy(df, feature_columns(df))
    # Rows are distinct, so a row's bytes tell which recording it belongs to.
    return X, y, df["group"].to_numpy()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_validation_part_holds_no_recording_of_the_training_part(seed):
    X, y, groups = _table()
    RecordingSplits.seen = []
    net = RecordingSplits(hidden_layer_sizes=(8,), max_iter=3, early_stopping=True,
                          validation_fraction=0.2, random_state=seed)
    net.fit(X, y, groups=groups)
    train_rows, val_rows = RecordingSplits.seen[0]
    row_group = {row.tobytes(): g for row, g in zip(X, groups, strict=True)}
    train_groups = {row_group[r.tobytes()] for r in train_rows}
    val_groups = {row_group[r.tobytes()] for r in val_rows}
    assert val_groups and train_groups.isdisjoint(val_groups)
    assert len(train_rows) + len(val_rows) == len(X)
    assert 0.1 * len(X) <= len(val_rows) <= 0.3 * len(X)


def test_without_groups_the_split_is_the_stratified_random_one():
    X, y, groups = _table()
    RecordingSplits.seen = []
    RecordingSplits(hidden_layer_sizes=(8,), max_iter=3, early_stopping=True,
                    random_state=0).fit(X, y)
    train_rows, val_rows = RecordingSplits.seen[0]
    assert len(val_rows) == round(0.1 * len(X))
    row_group = {row.tobytes(): g for row, g in zip(X, groups, strict=True)}
    straddling = ({row_group[r.tobytes()] for r in train_rows}
                  & {row_group[r.tobytes()] for r in val_rows})
    assert straddling  # a random split cuts recordings: that is the leak groups remove


def test_groups_reach_the_network_through_the_pipeline_and_the_ensemble():
    X, y, groups = _table()
    params = {**TINY, "ffnn": {**TINY["ffnn"], "early_stopping": True, "max_iter": 5}}
    with_groups = fit_with_groups(build_estimator("ffnn", params["ffnn"], seed=3), X, y, groups)
    plain = build_estimator("ffnn", params["ffnn"], seed=3).fit(X, y)
    # Same seed, different validation rows: the groups changed what the network saw.
    assert not np.array_equal(with_groups.predict_proba(X), plain.predict_proba(X))
    ensemble = build_estimator("ensemble", {"members": ["logreg", "ffnn"]}, seed=3,
                               all_params=params)
    fitted = fit_with_groups(ensemble, X, y, groups)
    member = fitted.named_estimators_["ffnn"]
    assert np.array_equal(member.predict_proba(X), with_groups.predict_proba(X))
    # Models without a use for groups are fitted as usual.
    rf = fit_with_groups(build_estimator("rf", TINY["rf"], seed=3), X, y, groups)
    assert np.array_equal(rf.predict(X), build_estimator("rf", TINY["rf"], seed=3)
                          .fit(X, y).predict(X))


def test_groups_of_the_wrong_length_are_refused():
    X, y, groups = _table()
    net = FFNNClassifier(hidden_layer_sizes=(4,), max_iter=2, early_stopping=True)
    with pytest.raises(ValueError, match="one entry per sample"):
        net.fit(X, y, groups=groups[:-1])
