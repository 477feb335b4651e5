"""Maps over the engine's tasks with crash isolation: a crash is a value or a named error.

:func:`map_tasks` computes whole tasks (model fits, say): a task that kills the worker
process running it (a crash in native code, an abort, the OOM killer) is rerun alone and,
if it kills its worker again, stops the run with a :class:`UserError` naming it.
:func:`map_batches` maps a function over items in batches (one task each): an item that
raises becomes an :class:`ItemError` of its own kind, and an item that kills its worker is
found by rerunning its batch in ever smaller halves and becomes an :class:`ItemError` of
kind ``"worker_crash"`` (on a local or remote cluster; ``sync`` and ``threads`` run in the
calling process, which such an item kills).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any, NamedTuple

from pipeline.core.config import MAX_BATCH_SIZE
from pipeline.core.errors import UserError, check_range
from pipeline.engine.cluster import Engine, TaskCrash, opened, run_tasks
from pipeline.engine.scheduler_names import Scheduler


class ItemError(NamedTuple):
    """An item that raised: its ``kind`` attribute (else the map's default kind) and message."""

    kind: str
    message: str


def run_alone(func: Callable[..., Any], task: Any, engine: Engine, shared: Any = None) -> Any:
    """``func(task)`` with nothing else running, so that a crash now is the task's own."""
    [(_, result)] = run_tasks(func, [task], scheduler=engine, progress=False, shared=shared)
    return result


def map_tasks(
    func: Callable[..., Any], tasks: Sequence[Any], *, scheduler: Engine | Scheduler | str,
    workers: int = 1, desc: str | None = None, progress: bool = False,
    name: Callable[[Any], str] | None = None, shared: Any = None,
    sizes: Sequence[int] | None = None,
) -> list[Any]:
    """``[func(task) for task in tasks]``, computed as
    :func:`pipeline.engine.cluster.run_tasks` does.

    A task that kills its worker process, also when rerun alone, stops the run with a
    :class:`UserError` naming it (``name(task)``); tasks that only shared its worker are
    rerun, not blamed. ``shared`` and ``sizes`` (units of each task on the progress bar)
    are as in :func:`~pipeline.engine.cluster.run_tasks`.
    """
    results: list[Any] = [None] * len(tasks)
    with opened(scheduler, workers) as engine:
        for i, result in run_tasks(func, tasks, scheduler=engine, desc=desc, progress=progress,
                                   shared=shared, sizes=sizes):
            results[i] = result
        for i in [i for i, r in enumerate(results) if isinstance(r, TaskCrash)]:
            results[i] = run_alone(func, tasks[i], engine, shared)
            if isinstance(results[i], TaskCrash):
                what = name(tasks[i]) if name else f"task {i + 1} of {len(tasks)}"
                raise UserError(f"{what} killed its worker process; if it ran out of memory, "
                                "run fewer tasks at once (--workers)")
    return results


def check_batch_size(batch_size: object) -> None:
    """Refuse a batch size that is not an integer in ``1 .. 100000`` (before any folder is
    made)."""
    check_range("batch size", batch_size, 1, MAX_BATCH_SIZE, integer=True)


def map_batches(
    func: Callable[[Any], Any], items: Sequence[Any], *, scheduler: Engine | Scheduler | str,
    workers: int = 1, batch_size: int = 100, default_kind: str = "error",
    desc: str | None = None, progress: bool = True,
) -> Iterator[tuple[int, list[Any]]]:
    """Map ``func`` over items in batches (one task each); yield each batch as it completes.

    Parameters
    ----------
    func : callable
        Picklable function of one item.
    items : sequence, length n
    scheduler, workers, desc, progress
        As in :func:`pipeline.engine.cluster.run_tasks`.
    batch_size : int
        Items per task: large enough that task overhead is negligible, small enough that a
        killed run loses little work.
    default_kind : str
        ``ItemError.kind`` for exceptions without a ``kind`` attribute.

    Yields
    ------
    start : int
        Index in ``items`` of the batch's first item.
    results : list, length of the batch
        ``func(item)``, or an :class:`ItemError` for an item that raised or killed its
        worker process.
    """
    check_batch_size(batch_size)
    if not isinstance(scheduler, Engine):
        Engine(scheduler, workers)  # bad arguments are refused now, not at the first result
    batches = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
    run_batch = partial(_run_batch, func, default_kind)
    return _stream(run_batch, batches, batch_size, scheduler, workers, desc, progress)


def _run_batch(func: Callable[[Any], Any], default_kind: str, batch: Sequence[Any]) -> list[Any]:
    """``func`` of each item of a batch; an exception becomes an :class:`ItemError`."""
    results: list[Any] = []
    for item in batch:
        try:
            results.append(func(item))
        except Exception as exc:  # any item-level failure is a value, by design
            kind = getattr(exc, "kind", None) or default_kind
            results.append(ItemError(str(kind), str(exc) or type(exc).__name__))
    return results


def _stream(run_batch, batches, batch_size, scheduler, workers, desc, progress):
    """Batch results as they complete; crashed batches are resolved once the others are done."""
    with opened(scheduler, workers) as engine:
        crashed = []
        done = run_tasks(run_batch, batches, scheduler=engine, desc=desc,
                         sizes=[len(b) for b in batches], progress=progress)
        for index, results in done:
            if isinstance(results, TaskCrash):
                crashed.append(index)
            else:
                yield index * batch_size, results
        for index in crashed:
            yield index * batch_size, _bisect(run_batch, batches[index], engine)


def _bisect(run_batch: Callable[[Sequence[Any]], list[Any]], items: Sequence[Any],
            engine: Engine) -> list[Any]:
    """Results of a batch that killed its worker, found by rerunning ever smaller halves.

    A part that runs through gives its results; a part that crashes is halved, down to
    single items. Parts run side by side, so an item that dies with a worker may have been
    killed by a neighbour: it is convicted only if it crashes again when it runs alone.
    """
    results: list[Any] = [None] * len(items)
    spans, suspects = _halves(0, len(items)), []
    while spans:
        parts = run_tasks(run_batch, [items[lo:hi] for lo, hi in spans], scheduler=engine,
                          progress=False)
        retry = []
        for k, part in parts:
            lo, hi = spans[k]
            if not isinstance(part, TaskCrash):
                results[lo:hi] = part
            elif hi - lo > 1:
                retry += _halves(lo, hi)
            else:
                suspects.append(lo)
        spans = retry
    for i in suspects:
        part = run_alone(run_batch, items[i : i + 1], engine)
        crashed = isinstance(part, TaskCrash)
        results[i] = ItemError("worker_crash", part.message) if crashed else part[0]
    return results


def _halves(lo: int, hi: int) -> list[tuple[int, int]]:
    """``[lo, hi)`` split in two (one span when it holds a single item)."""
    return [(lo, hi)] if hi - lo == 1 else [(lo, (lo + hi) // 2), ((lo + hi) // 2, hi)]
