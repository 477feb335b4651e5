"""The applications built on the models: the submission and the local scorer
(``submission``), detection over long recordings (``detect``) and the HTML report of a run
(:mod:`.report`).

May import the evaluation, models, store, engine, features, datasets and core packages;
never :mod:`pipeline.stages` or :mod:`pipeline.cli`.
"""
