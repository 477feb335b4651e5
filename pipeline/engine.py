"""Run independent tasks on Dask and stream their results back as they complete.

The scheduler is named once per command (``sync | threads | processes | tcp://HOST:PORT``)
and opened by :class:`Engine`, the one owner of worker processes: ``processes`` starts a
:class:`dask.distributed.LocalCluster` of single-threaded worker processes on first use,
``tcp://`` connects a :class:`dask.distributed.Client` to a running cluster, and both close
when the ``with`` block ends. Both run the same code: submit every task, take results as
they complete, release each one once the caller has it. ``sync`` and ``threads`` run in this
process with Dask's local schedulers (debugging, profiling), in waves, as ``dask.compute``
returns only when all its tasks are done. Task functions are plain picklable functions.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from importlib.util import find_spec
from typing import Any, NamedTuple

from tqdm import tqdm

from pipeline.errors import UserError

LOCAL_SCHEDULERS = ("sync", "threads", "processes")


@dataclass(frozen=True)
class Scheduler:
    """Where tasks run: ``kind`` is sync, threads, processes or distributed (at ``address``)."""

    kind: str
    address: str | None = None

    def __str__(self) -> str:
        return self.address if self.kind == "distributed" else self.kind


class TaskCrash(NamedTuple):
    """A task whose worker process died while running it (the task's result, as a value)."""

    message: str


def parse_scheduler(text: str) -> Scheduler:
    """Parse ``sync | threads | processes | tcp://HOST:PORT``; anything else is a UserError."""
    value = str(text).strip()
    if value in LOCAL_SCHEDULERS:
        return Scheduler(value)
    if value.startswith("tcp://"):
        host, sep, port = value[len("tcp://") :].rpartition(":")
        if host and sep and port.isdigit() and 0 < int(port) < 65536:
            return Scheduler("distributed", value)
    raise UserError(f"unknown scheduler {text!r}: use sync, threads, processes or tcp://HOST:PORT")


class Engine:
    """The scheduler of one command, open for the length of a ``with`` block.

    ``workers`` is the number of threads (``threads``) or worker processes (``processes``);
    a cluster has its own. ``dashboard`` prints the link of Dask's dashboard.
    """

    def __init__(self, scheduler: Scheduler | str, workers: int = 1, *, dashboard: bool = False):
        if workers < 1:
            raise UserError(f"workers must be at least 1, got {workers}")
        if not isinstance(scheduler, Scheduler):
            scheduler = parse_scheduler(scheduler)
        if dashboard and scheduler.kind == "processes" and find_spec("bokeh") is None:
            raise UserError("the dashboard needs bokeh: "
                            "pip install 'urbansound-pipeline[dashboard]'")
        self.scheduler, self.workers, self.dashboard = scheduler, workers, dashboard
        self._stack: ExitStack | None = None
        self._client: Any = None

    def __enter__(self) -> Engine:
        self._stack = ExitStack()
        if self.scheduler.kind == "distributed":
            self.client()  # a wrong address is refused before any work starts
        return self

    def __exit__(self, *exc: object) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            stack.close()

    def client(self) -> Any:
        """The :class:`dask.distributed.Client`; a local cluster starts on first use."""
        if self._client is None:
            from dask.distributed import Client, LocalCluster

            if self._stack is None:
                raise RuntimeError("open the engine with `with` before running tasks on it")
            if self.scheduler.kind == "processes":
                # A task killed with its worker comes back at once (allowed_failures=0):
                # callers rerun it alone to tell a culprit from a bystander. The scheduler's
                # HTTP server takes a free port, dashboard or not.
                cluster = self._stack.enter_context(LocalCluster(
                    n_workers=self.workers, threads_per_worker=1, processes=True,
                    dashboard_address=":0", silence_logs=logging.CRITICAL, preload=[__name__],
                    scheduler_kwargs={"allowed_failures": 0, "dashboard": self.dashboard}))
                client = Client(cluster, set_as_default=False)
            else:
                address = self.scheduler.address
                host, _, port = address[len("tcp://") :].rpartition(":")
                try:  # a refused connection is final: say so now, not after Dask's retries
                    socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
                    client = Client(address, timeout="10s", set_as_default=False)
                except (OSError, TimeoutError) as exc:
                    reason = getattr(exc, "strerror", None) or exc
                    raise UserError(f"cannot connect to the Dask scheduler at {address}: "
                                    f"{reason}") from None
            self._client = self._stack.enter_context(client)
            if self.dashboard:
                print(f"Dask dashboard: {client.dashboard_link}", file=sys.stderr, flush=True)
        return self._client

    def stream(self, func: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """``(index, func(task))`` as tasks finish; a :class:`TaskCrash` for a killed worker."""
        if self.scheduler.kind in ("sync", "threads"):
            import dask

            wave = 1 if self.scheduler.kind == "sync" else 2 * self.workers
            for start in range(0, len(tasks), wave):
                jobs = [dask.delayed(func, pure=False)(t) for t in tasks[start : start + wave]]
                with _one_blas_thread():
                    done = dask.compute(*jobs, scheduler=self.scheduler.kind,
                                        num_workers=self.workers)
                yield from enumerate(done, start)
            return
        from dask.distributed import KilledWorker, as_completed

        client = self.client()
        futures = client.map(partial(_call_with_one_blas_thread, func), list(tasks), pure=False)
        index = {future.key: i for i, future in enumerate(futures)}
        try:
            for future in as_completed(futures, loop=client.loop):
                try:
                    result = future.result()
                except KilledWorker:
                    result = TaskCrash("the worker process died while running this task")
                yield index[future.key], result
                future.release()  # the caller has persisted it: drop the cluster's copy
        finally:
            client.cancel(futures)  # when the caller stops early, the rest is not wanted


def dask_setup(worker: Any) -> None:
    """Preload of local workers. Ctrl-C reaches the whole process group; only the command
    answers it (by closing the cluster), not every worker with a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _one_blas_thread() -> Any:
    """Limit loaded BLAS libraries to one thread: a product summed by another number of
    threads differs in its last bits, so this keeps results identical across schedulers."""
    import numpy  # noqa: F401  (loads the BLAS library the tasks will use, so it is covered)
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _call_with_one_blas_thread(func: Callable[[Any], Any], task: Any) -> Any:
    with _one_blas_thread():
        return func(task)


@contextmanager
def opened(scheduler: Engine | Scheduler | str, workers: int = 1) -> Iterator[Engine]:
    """An open engine: ``scheduler`` when it is an open one, else one for the block."""
    if isinstance(scheduler, Engine) and scheduler._stack is not None:
        yield scheduler
        return
    with (scheduler if isinstance(scheduler, Engine) else Engine(scheduler, workers)) as engine:
        yield engine


def threads_per_task(scheduler: Engine | Scheduler | str, workers: int = 1) -> int | None:
    """Threads a task's own parallelism may use: 1 when tasks run side by side, else all."""
    engine = scheduler if isinstance(scheduler, Engine) else Engine(scheduler, workers)
    kind = engine.scheduler.kind
    return 1 if kind == "distributed" or (kind != "sync" and engine.workers > 1) else None


def run_tasks(
    func: Callable[[Any], Any], tasks: Sequence[Any], *, scheduler: Engine | Scheduler | str,
    workers: int = 1, desc: str | None = None, sizes: Sequence[int] | None = None,
    progress: bool = True,
) -> Iterator[tuple[int, Any]]:
    """Compute ``func(task)`` for every task; yield ``(task_index, result)`` as they finish.

    Parameters
    ----------
    func : callable
        Picklable function of one task.
    tasks : sequence, length n
    scheduler : Engine, Scheduler or str
        An open :class:`Engine`, else the scheduler of one opened for this call (``workers``).
    desc, sizes, progress
        Label of the progress bar on stderr, units of each task (default 1), whether to show it.

    Yields
    ------
    task_index : int
    result : object
        ``func(tasks[task_index])``, or a :class:`TaskCrash` if its worker process died.
        A task that raises stops the run with its exception.
    """
    if not isinstance(scheduler, Engine):
        Engine(scheduler, workers)  # bad arguments are refused now, not at the first result
    sizes = [1] * len(tasks) if sizes is None else list(sizes)
    return _run_tasks(func, tasks, scheduler, workers, desc, sizes, progress)


def _run_tasks(func, tasks, scheduler, workers, desc, sizes, progress):
    if not tasks:
        return  # no progress bar, no cluster
    with opened(scheduler, workers) as engine, tqdm(
            total=sum(sizes), desc=desc, file=sys.stderr, disable=not progress) as bar:
        for index, result in engine.stream(func, tasks):
            bar.update(sizes[index])
            yield index, result


def run_alone(func: Callable[[Any], Any], task: Any, engine: Engine) -> Any:
    """``func(task)`` with nothing else running, so that a crash now is the task's own."""
    [(_, result)] = run_tasks(func, [task], scheduler=engine, progress=False)
    return result


def map_tasks(
    func: Callable[[Any], Any], tasks: Sequence[Any], *, scheduler: Engine | Scheduler | str,
    workers: int = 1, desc: str | None = None, progress: bool = False,
    name: Callable[[Any], str] | None = None,
) -> list[Any]:
    """``[func(task) for task in tasks]``, computed as :func:`run_tasks` does.

    A task that kills its worker process, also when rerun alone, stops the run with a
    :class:`UserError` naming it (``name(task)``); tasks that only shared its worker are
    rerun, not blamed.
    """
    results: list[Any] = [None] * len(tasks)
    with opened(scheduler, workers) as engine:
        crashed = []
        for i, result in run_tasks(func, tasks, scheduler=engine, desc=desc, progress=progress):
            results[i] = result
            if isinstance(result, TaskCrash):
                crashed.append(i)
        for i in crashed:
            results[i] = run_alone(func, tasks[i], engine)
            if isinstance(results[i], TaskCrash):
                what = name(tasks[i]) if name else f"task {i + 1} of {len(tasks)}"
                raise UserError(f"{what} killed its worker process; if it ran out of memory, "
                                "run fewer tasks at once (--workers)")
    return results
