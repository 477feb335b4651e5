"""The one definition of the ``best`` model.

``best`` is the model with the highest cross-validated accuracy under an honest protocol
(official folds, given or inferred recording groups). A figure flagged optimistic (a
random split that lets one recording sit in train and test) never decides it: the
evaluation report, the models index and ``--model best`` all call :func:`best_model`.
"""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.core.model_names import MODEL_NAMES


def best_model(scores: Mapping[str, float | None], *, optimistic=False) -> str | None:
    """The model with the highest honest cross-validated accuracy.

    Parameters
    ----------
    scores : mapping of str to float or None
        Model name → mean CV accuracy (None: not evaluated).
    optimistic : bool or mapping of str to bool
        Whether the accuracies (all, or per model) come from a protocol flagged
        optimistic; those are never chosen.

    Returns
    -------
    str or None
        The best name, or None when no model has an honest accuracy. Ties go to the model
        listed first in :data:`pipeline.core.model_names.MODEL_NAMES` (the simpler one), then to
        the first by name, so the choice does not depend on the order of ``scores``.
    """
    flags = optimistic if isinstance(optimistic, Mapping) else dict.fromkeys(scores, optimistic)
    honest = {n: a for n, a in scores.items() if a is not None and not flags.get(n, False)}
    if not honest:
        return None
    top = max(honest.values())
    rank = {n: i for i, n in enumerate(MODEL_NAMES)}
    return min((n for n, a in honest.items() if a == top),
               key=lambda n: (rank.get(n, len(rank)), n))
