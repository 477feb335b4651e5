"""The names of the models: the keys of the ``train`` section of ``params.yaml``.

:mod:`pipeline.models.registry` defines each model under one of these names and refuses to
load if the two disagree; they live here because the parameters (:mod:`pipeline.core.config`)
sit below the models and must not import them.
"""

#: Models fitted on their own, in the order of the reports.
BASE_MODELS: tuple[str, ...] = ("logreg", "ffnn", "rf", "xgb")
#: Models built from base models (``ensemble``: their soft vote).
COMBINING_MODELS: tuple[str, ...] = ("ensemble",)
#: Every model, base models first.
MODEL_NAMES: tuple[str, ...] = (*BASE_MODELS, *COMBINING_MODELS)
