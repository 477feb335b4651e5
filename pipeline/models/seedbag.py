"""A bag of one classifier fitted with consecutive seeds, its class probabilities averaged.

On a small training set a network's test accuracy moves by a point or more with its seed
alone (the initial weights, the dropout masks, the order of the mini-batches): averaging
the probabilities of a few networks removes much of that variance. On a large one the seed
matters less and each network costs more, so ``size="auto"`` bags only small training sets:
as many members as fit in :data:`AUTO_ROWS` training rows, at most :data:`AUTO_MAX` (3 at
1000 clips, 1 from 2049 rows on).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted

#: ``size="auto"``: one member per this many training rows fits in the budget ...
AUTO_ROWS = 4096
#: ... up to this many members.
AUTO_MAX = 3


def bag_size(size: int | str, n_rows: int) -> int:
    """Members of a bag of ``size`` (a count, or ``"auto"``) on ``n_rows`` training rows."""
    if size == "auto":
        return max(1, min(AUTO_MAX, AUTO_ROWS // max(n_rows, 1)))
    return int(size)


class SeedBag(ClassifierMixin, BaseEstimator):
    """Clones of ``estimator`` with ``random_state`` = ``random_state`` + 0, 1, …; the mean of
    their ``predict_proba``. A bag of one is its member exactly (same seed, same output).

    Parameters
    ----------
    estimator : classifier with a ``random_state`` parameter
    size : int or "auto"
        Members to fit (see :func:`bag_size`).
    random_state : int or None
        Seed of the first member (None: every member unseeded).
    """

    def __init__(self, estimator: Any = None, size: int | str = "auto",
                 random_state: int | None = None):
        self.estimator = estimator
        self.size = size
        self.random_state = random_state

    def fit(self, X, y, groups=None):
        """Fit the members on ``X`` (n_samples, n_features) and ``y`` (n_samples,);
        ``groups`` (n_samples,), when given, reach every member's ``fit``."""
        X = np.asarray(X)
        extra = {} if groups is None else {"groups": groups}
        self.estimators_ = []
        for i in range(bag_size(self.size, len(X))):
            seed = None if self.random_state is None else self.random_state + i
            member = clone(self.estimator).set_params(random_state=seed)
            self.estimators_.append(member.fit(X, y, **extra))
        self._adopt(self.estimators_)
        return self

    @classmethod
    def of_fitted(cls, members: list, random_state: int | None = None) -> SeedBag:
        """The bag of already fitted ``members`` (a saved model read back)."""
        bag = cls(clone(members[0]), size=len(members), random_state=random_state)
        bag.estimators_ = list(members)
        bag._adopt(members)
        return bag

    def _adopt(self, members: list) -> None:
        first = members[0]
        if any(not np.array_equal(m.classes_, first.classes_)
               or m.n_features_in_ != first.n_features_in_ for m in members[1:]):
            raise ValueError("the members of a bag must share their classes and inputs")
        self.classes_ = first.classes_
        self.n_features_in_ = first.n_features_in_

    def predict_proba(self, X) -> np.ndarray:
        """Mean class probabilities of the members, shape (n_samples, n_classes)."""
        check_is_fitted(self, "estimators_")
        total = self.estimators_[0].predict_proba(X)
        for member in self.estimators_[1:]:
            total = total + member.predict_proba(X)
        return total / len(self.estimators_)

    def predict(self, X) -> np.ndarray:
        """The most probable class of every row, shape (n_samples,)."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
