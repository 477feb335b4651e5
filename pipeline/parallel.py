"""Run independent tasks on Dask and stream their results back as they complete.

The scheduler is chosen once, from a string (``sync | threads | processes | tcp://HOST:PORT``),
by :func:`parse_scheduler`. Local runs use Dask's local schedulers through ``dask.compute``;
only a ``tcp://`` address connects a :class:`dask.distributed.Client`, to a cluster someone
started with ``dask scheduler`` / ``dask worker``.

Two layers:

- :func:`run_tasks` maps a function over a list of tasks and yields ``(task_index, result)``
  as tasks finish, so callers can persist each result at once (resumable jobs) and memory
  does not grow with the number of tasks.
- :func:`map_batches` splits items into batches (one task per batch) and turns an exception
  raised on one item into an :class:`ItemError` value: one bad item never fails the job.
  An item that kills the process running it (a crash in native code, an abort, the OOM
  killer) is isolated too: its batch is split in halves and rerun until the item is alone,
  and it becomes an :class:`ItemError` of kind ``"worker_crash"`` (``processes`` scheduler
  and clusters; ``sync`` and ``threads`` run in the calling process, which such an item kills).

Library code passed to these functions knows nothing of Dask: it is a plain picklable
function (a module-level function or a :func:`functools.partial` of one).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

from tqdm import tqdm

from pipeline.errors import UserError

LOCAL_SCHEDULERS = ("sync", "threads", "processes")

# Every task runs with one BLAS thread, whatever the scheduler (as Dask's own workers do):
# a matrix product summed by a different number of threads differs in its last bits, so
# this is what makes results identical across schedulers; it also keeps parallel workers
# from oversubscribing the cores.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_PINNED = False

# One pool of worker processes per size, kept for the life of the program: starting
# processes (and importing numpy/librosa in them) costs seconds, so successive runs and
# successive waves of one run reuse warm workers. Programs end them with shutdown_pools().
_PROCESS_POOLS: dict[int, ProcessPoolExecutor] = {}


@dataclass(frozen=True)
class Scheduler:
    """Where tasks run.

    Attributes
    ----------
    kind : str
        ``"sync"``, ``"threads"``, ``"processes"`` or ``"distributed"``.
    address : str or None
        The ``tcp://HOST:PORT`` of a Dask scheduler when ``kind == "distributed"``.
    """

    kind: str
    address: str | None = None

    def __str__(self) -> str:
        return self.address if self.kind == "distributed" else self.kind


class TaskCrash(NamedTuple):
    """A task whose worker process died while running it (the task's result, as a value)."""

    message: str


class ItemError(NamedTuple):
    """An item that raised: the failure as a value.

    ``kind`` is the exception's ``kind`` attribute when it has one (e.g.
    ``pipeline.audio.AudioError`` subclasses), else the default kind of the map.
    """

    kind: str
    message: str


def parse_scheduler(text: str) -> Scheduler:
    """Parse ``sync | threads | processes | tcp://HOST:PORT`` into a :class:`Scheduler`.

    Raises
    ------
    UserError
        For anything else, with the accepted forms in the message.
    """
    value = str(text).strip()
    if value in LOCAL_SCHEDULERS:
        return Scheduler(value)
    if value.startswith("tcp://"):
        host, sep, port = value[len("tcp://") :].rpartition(":")
        if host and sep and port.isdigit() and 0 < int(port) < 65536:
            return Scheduler("distributed", value)
    raise UserError(f"unknown scheduler {text!r}: use sync, threads, processes or tcp://HOST:PORT")


def run_tasks(
    func: Callable[[Any], Any],
    tasks: Sequence[Any],
    *,
    scheduler: Scheduler,
    workers: int = 1,
    desc: str | None = None,
    sizes: Sequence[int] | None = None,
    progress: bool = True,
    crashes: bool = False,
) -> Iterator[tuple[int, Any]]:
    """Compute ``func(task)`` for every task; yield ``(task_index, result)`` as they finish.

    Completion order depends on the scheduler; callers that need a fixed order sort by
    ``task_index``. A task that raises stops the run with that exception (use
    :func:`map_batches` to turn item failures into values).

    Parameters
    ----------
    func : callable
        Picklable function of one task (for ``processes`` and clusters).
    tasks : sequence
        The tasks, each passed whole to ``func``.
    scheduler : Scheduler
        From :func:`parse_scheduler`.
    workers : int
        Number of local threads or processes; ignored by ``sync`` and clusters.
    desc : str, optional
        Label of the progress bar.
    sizes : sequence of int, optional
        Units each task adds to the progress bar (e.g. clips per batch); default 1 each.
    progress : bool
        Show a progress bar on stderr.
    crashes : bool
        Yield a :class:`TaskCrash` as the result of a task whose worker process dies
        while running it (``processes``: it breaks the pool when run alone; cluster: Dask
        gives up on it with ``KilledWorker``) instead of stopping the run.

    Yields
    ------
    task_index : int
        Position of the task in ``tasks``.
    result : object
        ``func(tasks[task_index])``, or a :class:`TaskCrash` (only with ``crashes``).
    """
    if workers < 1:
        raise UserError(f"workers must be at least 1, got {workers}")
    sizes = [1] * len(tasks) if sizes is None else list(sizes)
    return _stream(func, tasks, scheduler, workers, desc, sizes, progress, crashes)


def _stream(func, tasks, scheduler, workers, desc, sizes, progress, crashes):
    """The generator behind :func:`run_tasks` (which checks its arguments eagerly)."""
    # The bar is driven by task completion here, not by dask.diagnostics.ProgressBar,
    # which prints nothing for runs on a distributed Client.
    if not tasks:
        return  # nothing to do: no progress bar, no connection to a cluster
    with tqdm(total=sum(sizes), desc=desc, file=sys.stderr, disable=not progress) as bar:
        if scheduler.kind == "distributed":
            done = _run_distributed(func, tasks, scheduler.address, crashes)
        else:
            done = _run_local(func, tasks, scheduler.kind, workers, crashes)
        for index, result in done:
            bar.update(sizes[index])
            yield index, result


def _one_blas_thread() -> Any:
    """Context limiting the BLAS libraries loaded so far to one thread (restored on exit)."""
    import numpy  # noqa: F401  (loads the BLAS library the tasks will use, so it is covered)
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _pin_worker_process() -> None:
    """Limit this worker process to one BLAS/OpenMP thread for good.

    The environment covers libraries loaded later, threadpoolctl those already loaded.
    Runs once per process (pool initializer, first task on a cluster worker).
    """
    global _PINNED
    if _PINNED:
        return
    for name in _THREAD_VARIABLES:
        os.environ[name] = "1"
    _one_blas_thread()
    _PINNED = True


def _pinned_call(func: Callable[[Any], Any], task: Any) -> Any:
    """``func(task)`` on a cluster worker that runs with one BLAS thread."""
    _pin_worker_process()
    return func(task)


def _process_pool(workers: int) -> ProcessPoolExecutor:
    """The shared pool of ``workers`` processes, (re)created when missing or broken."""
    pool = _PROCESS_POOLS.get(workers)
    if pool is None or getattr(pool, "_broken", False):
        from dask.multiprocessing import get_context

        pool = ProcessPoolExecutor(
            workers, mp_context=get_context(), initializer=_pin_worker_process
        )
        _PROCESS_POOLS[workers] = pool
    return pool


def shutdown_pools(timeout: float = 10.0) -> int:
    """End the shared worker processes; kill those still running after ``timeout`` seconds.

    Call it when a program is done with :func:`run_tasks` (the CLI and the test session
    do). Without it Python joins the workers at exit, without a time limit: a worker that
    never ends would hang the exit. Later runs start a fresh pool.

    Returns
    -------
    int
        How many worker processes had to be killed.
    """
    killed = 0
    while _PROCESS_POOLS:
        _, pool = _PROCESS_POOLS.popitem()
        # The executor has no public handle on its processes; taken before shutdown clears it.
        processes = list((getattr(pool, "_processes", None) or {}).values())
        closing = threading.Thread(target=pool.shutdown, kwargs={"cancel_futures": True},
                                   name="shutdown-pool", daemon=True)
        closing.start()
        closing.join(timeout)
        if closing.is_alive():
            for process in processes:
                if process.is_alive():
                    process.kill()
                    killed += 1
            # With its workers dead the pool breaks, and its shutdown returns.
            closing.join(timeout)
    return killed


def _compute(func: Callable[[Any], Any], tasks: Sequence[Any], kind: str, workers: int) -> tuple:
    """``func`` of each task, computed together by one local Dask scheduler."""
    import dask

    options: dict[str, Any] = {"scheduler": kind}
    if kind == "threads":
        options["num_workers"] = workers
    elif kind == "processes":
        # chunksize=1: dask's default would send a whole wave to one process.
        options.update(pool=_process_pool(workers), chunksize=1)
    jobs = [dask.delayed(func, pure=False)(task) for task in tasks]
    # Entered per wave so that BLAS libraries loaded by the first tasks are covered.
    with _one_blas_thread():
        return dask.compute(*jobs, **options)


def _run_local(
    func: Callable[[Any], Any], tasks: Sequence[Any], kind: str, workers: int, crashes: bool
) -> Iterator[tuple[int, Any]]:
    """Dask's local schedulers, in waves of a few tasks per worker.

    ``dask.compute`` returns only when all its tasks are done, so one call per wave lets
    each wave's results be persisted and dropped before the next wave starts.
    """
    # Two tasks per worker keep every worker busy while the slowest task of a wave ends;
    # sync runs one task at a time, so each result is persisted as soon as it exists.
    wave = 1 if kind == "sync" else 2 * workers
    for start in range(0, len(tasks), wave):
        stop = min(start + wave, len(tasks))
        try:
            results = _compute(func, tasks[start:stop], kind, workers)
        except BrokenProcessPool:
            if not crashes:
                raise
            # Some task of the wave killed its process (and with it the whole pool, so
            # which one is unknown): rerun the wave one task at a time on a fresh pool.
            results = [_compute_alone(func, tasks[i], workers) for i in range(start, stop)]
        yield from enumerate(results, start)


def _compute_alone(func: Callable[[Any], Any], task: Any, workers: int) -> Any:
    """``func(task)`` alone on the process pool, or a :class:`TaskCrash` if it kills it."""
    try:
        return _compute(func, [task], "processes", workers)[0]
    except BrokenProcessPool:
        return TaskCrash("the worker process died while running this task")


def _run_distributed(
    func: Callable[[Any], Any], tasks: Sequence[Any], address: str | None, crashes: bool
) -> Iterator[tuple[int, Any]]:
    """A running Dask cluster: submit every task, yield each one as it completes.

    A worker that dies mid-task is handled by the cluster, which reruns its tasks on the
    remaining workers; a task that was running on more dying workers than the scheduler
    allows (``distributed.scheduler.allowed-failures``) ends in ``KilledWorker``.
    """
    from dask.distributed import Client, KilledWorker, as_completed

    try:
        client = Client(address, timeout="10s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise UserError(f"cannot connect to the Dask scheduler at {address}: {exc}") from None
    with client:
        futures = client.map(partial(_pinned_call, func), list(tasks), pure=False)
        position = {future.key: i for i, future in enumerate(futures)}
        for future in as_completed(futures, loop=client.loop):
            try:
                result = future.result()
            except KilledWorker as exc:
                if not crashes:
                    raise
                result = TaskCrash(f"every worker running this task died ({exc})")
            # Drop the cluster's copy once the result is here, so memory stays flat.
            future.release()
            yield position[future.key], result


def _run_batch(func: Callable[[Any], Any], default_kind: str, batch: Sequence[Any]) -> list[Any]:
    """Apply ``func`` to each item of a batch; an exception becomes an :class:`ItemError`."""
    results: list[Any] = []
    for item in batch:
        try:
            results.append(func(item))
        except Exception as exc:  # any item-level failure is a value, by design
            kind = getattr(exc, "kind", None) or default_kind
            results.append(ItemError(str(kind), str(exc) or type(exc).__name__))
    return results


def map_batches(
    func: Callable[[Any], Any],
    items: Sequence[Any],
    *,
    scheduler: Scheduler,
    workers: int = 1,
    batch_size: int = 100,
    default_kind: str = "error",
    desc: str | None = None,
    progress: bool = True,
) -> Iterator[tuple[int, list[Any]]]:
    """Map ``func`` over items in batches; yield each batch's results as it completes.

    Parameters
    ----------
    func : callable
        Picklable function of one item.
    items : sequence, length n
        The items.
    scheduler, workers, desc, progress
        As in :func:`run_tasks`.
    batch_size : int
        Items per task: large enough that task overhead is negligible, small enough that
        a killed run loses little work.
    default_kind : str
        ``ItemError.kind`` for exceptions without a ``kind`` attribute.

    Yields
    ------
    start : int
        Index in ``items`` of the batch's first item.
    results : list, length of the batch
        ``func(item)``, or an :class:`ItemError` for an item that raised (kind from the
        exception) or killed its worker process (kind ``"worker_crash"``).
    """
    if batch_size < 1:
        raise UserError(f"batch size must be at least 1, got {batch_size}")
    batches = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
    run = partial(
        run_tasks,
        partial(_run_batch, func, default_kind),
        scheduler=scheduler,
        workers=workers,
        crashes=True,
    )
    done = run(batches, desc=desc, sizes=[len(b) for b in batches], progress=progress)
    return _isolating_crashes(done, batch_size, batches, run)


def _isolating_crashes(done, batch_size, batches, run) -> Iterator[tuple[int, list[Any]]]:
    """Pass batch results on; resolve each crashed batch once the others are done."""
    crashed = []
    for index, results in done:
        if isinstance(results, TaskCrash):
            crashed.append(index)
        else:
            yield index * batch_size, results
    for index in crashed:
        yield index * batch_size, _bisect(batches[index], run)


def _bisect(items: Sequence[Any], run: Callable[..., Iterator[tuple[int, Any]]]) -> list[Any]:
    """Results of a batch that killed its worker, found by rerunning ever smaller halves.

    A part that runs through gives its results; a part that crashes again is halved, until
    a single item that crashes alone becomes an ``ItemError("worker_crash", ...)``. A crash
    that does not come back (a worker killed from outside) costs one rerun.

    Parts run concurrently, so on a cluster an innocent item can die with a worker that
    a guilty neighbour killed; a single item is therefore convicted only after it also
    crashes when it is the only task running.
    """
    results: list[Any] = [None] * len(items)
    suspects: list[int] = []
    spans = _halves(0, len(items))
    while spans:
        parts = [items[lo:hi] for lo, hi in spans]
        retry = []
        for k, part in run(parts, progress=False):
            lo, hi = spans[k]
            if not isinstance(part, TaskCrash):
                results[lo:hi] = part
            elif hi - lo == 1:
                suspects.append(lo)
            else:
                retry.extend(_halves(lo, hi))
        spans = retry
    for i in sorted(suspects):
        [(_, part)] = run([items[i : i + 1]], progress=False)
        if isinstance(part, TaskCrash):
            part = [ItemError("worker_crash", part.message)]
        results[i] = part[0]
    return results


def _halves(lo: int, hi: int) -> list[tuple[int, int]]:
    """``[lo, hi)`` split in two (one span when it holds a single item)."""
    if hi - lo == 1:
        return [(lo, hi)]
    mid = (lo + hi) // 2
    return [(lo, mid), (mid, hi)]
