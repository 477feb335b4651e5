"""The only package that talks to Dask: opening the scheduler a command names (``cluster``,
``scheduler_names``), running tasks and batches with per-item errors (``batches``), the
feature store's single-writer lock (``writer_lock``) and returning freed memory
(``allocator``).

May import :mod:`pipeline.core` only; nothing above it (store, models, evaluation, ...).
"""
