"""Map a function over items in batches, with every item's failure as a value.

One batch is one task of :mod:`pipeline.engine`. An item that raises becomes an
:class:`ItemError` of its own kind; an item that kills the worker process running it (a
crash in native code, an abort, the OOM killer) is found by rerunning its batch in ever
smaller halves and becomes an :class:`ItemError` of kind ``"worker_crash"`` (on a local or
remote cluster; ``sync`` and ``threads`` run in the calling process, which such an item kills).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any, NamedTuple

from pipeline.engine import Engine, Scheduler, TaskCrash, opened, run_alone, run_tasks
from pipeline.errors import UserError


class ItemError(NamedTuple):
    """An item that raised: its ``kind`` attribute (else the map's default kind) and message."""

    kind: str
    message: str


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
        As in :func:`pipeline.engine.run_tasks`.
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
    if batch_size < 1:
        raise UserError(f"batch size must be at least 1, got {batch_size}")
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
