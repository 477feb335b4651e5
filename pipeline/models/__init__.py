"""The models: the registry (one entry per model), building estimators from it
(``estimators``), the estimator parts (``parts``), the network's input steps
(``network_inputs``, ``seedbag``), the ensemble, the final fits (``train``), saving and
loading without pickle (``persist``), the models index and the one definition of ``best``
(``selection``).

May import :mod:`pipeline.store`, :mod:`pipeline.engine`, :mod:`pipeline.datasets`,
:mod:`pipeline.core` and :mod:`pipeline.nn`; never evaluation, applications or the interface.
"""
