"""The applications built on the models: the submission and the local scorer
(``submission``) and detection over long recordings (``detect``).

May import the evaluation, models, store, engine, features, datasets and core packages;
never :mod:`pipeline.stages` or :mod:`pipeline.cli`.
"""
