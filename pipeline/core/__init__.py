"""Foundations every other package may use: the parameters (``config``, the only reader of
``params.yaml``), atomic writes and output-folder checks (``io``), the job-level errors
(``errors``) and the models' names.

Imports nothing else of :mod:`pipeline`.
"""
