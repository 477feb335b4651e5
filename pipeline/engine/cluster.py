"""Run independent tasks on Dask and stream their results back as they complete.

:class:`Engine` owns the scheduler of one command: ``processes`` starts a
:class:`dask.distributed.LocalCluster` of single-threaded workers on first use, ``tcp://``
connects to a running cluster; both close with the ``with`` block and run the same code
(submit every task, take results as they complete, release each once the caller has it).
``sync`` and ``threads`` run in this process with Dask's local schedulers (debugging,
profiling), in waves, as ``dask.compute`` returns only when all its tasks are done.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from functools import partial
from importlib.util import find_spec
from pathlib import Path
from typing import Any, NamedTuple

from tqdm import tqdm

from pipeline.core.config import MAX_WORKERS
from pipeline.core.errors import UserError, check_range
from pipeline.engine.scheduler_names import Scheduler, parse_scheduler

#: Seconds to connect to a scheduler address and to hear its greeting.
CONNECT_TIMEOUT = 5.0


class NotDaskError(OSError):
    """Something listens at the address, but it is not a Dask scheduler."""


def _expect_dask(host: str, port: int, timeout: float) -> None:
    """Connect to ``host:port`` and wait for the greeting a Dask scheduler sends first.

    On a new connection the scheduler writes its handshake before reading anything: a
    length-prefixed message (an 8-byte frame length, then msgpack). Something else (an
    HTTP server, which waits for a request) says nothing, or something else; Dask's own
    client would wait for the handshake without a time limit.

    Raises
    ------
    OSError
        Nothing listens (refused, unreachable, timed out), or :class:`NotDaskError`.
    """
    with socket.create_connection((host, port), timeout=timeout) as sock:
        head = b""
        try:
            while len(head) < 8:
                chunk = sock.recv(8 - len(head))
                if not chunk:
                    raise NotDaskError("it closed the connection without a Dask handshake")
                head += chunk
        except TimeoutError:
            raise NotDaskError(f"it sent no Dask handshake within {timeout:g} s; is it a "
                               "Dask scheduler's address?") from None
    # The handshake is ~100 bytes; a text greeting read as a length is absurdly large.
    if not 0 < int.from_bytes(head, "little") < 1 << 20:
        raise NotDaskError(f"it answered {head!r}..., not a Dask handshake; is it a Dask "
                           "scheduler's address?")


class TaskCrash(NamedTuple):
    """A task whose worker process died while running it (the task's result, as a value)."""

    message: str


class Engine:
    """The scheduler of one command, open for the length of a ``with`` block.

    ``workers`` is the number of threads (``threads``) or worker processes (``processes``);
    a cluster has its own. ``dashboard`` prints the link of Dask's dashboard.
    """

    def __init__(self, scheduler: Scheduler | str, workers: int = 1, *, dashboard: bool = False):
        check_range("workers", workers, 1, MAX_WORKERS, integer=True)
        scheduler = scheduler if isinstance(scheduler, Scheduler) else parse_scheduler(scheduler)
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

    @property
    def running(self) -> bool:
        """Whether the scheduler is up: a local cluster started, or a cluster connected."""
        return self._client is not None

    def client(self) -> Any:
        """The :class:`dask.distributed.Client`; a local cluster starts on first use."""
        if self._client is not None:
            return self._client
        from dask.distributed import Client, LocalCluster

        if self._stack is None:
            raise RuntimeError("open the engine with `with` before running tasks on it")
        if self.scheduler.kind == "processes":
            # A task killed with its worker comes back at once (allowed_failures=0): callers
            # rerun it alone to tell a culprit from a bystander. The scheduler's HTTP server
            # takes a free port, dashboard or not.
            with _signals_held():
                client = Client(self._stack.enter_context(LocalCluster(
                    n_workers=self.workers, threads_per_worker=1, processes=True,
                    dashboard_address=":0", silence_logs=logging.CRITICAL, preload=[__name__],
                    scheduler_kwargs={"allowed_failures": 0, "dashboard": self.dashboard})),
                    set_as_default=False)
                self._client = self._stack.enter_context(client)
        else:
            address = self.scheduler.address
            host, _, port = address.removeprefix("tcp://").rpartition(":")
            try:  # a refused connection is final: say so now, not after Dask's retries
                _expect_dask(host.strip("[]"), int(port), CONNECT_TIMEOUT)
                client = Client(address, timeout=f"{CONNECT_TIMEOUT}s", set_as_default=False)
            except (OSError, TimeoutError) as exc:
                reason = getattr(exc, "strerror", None) or exc
                raise UserError(f"cannot connect to the Dask scheduler at {address}: {reason}") \
                    from None
            self._client = self._stack.enter_context(client)
        if self.dashboard:
            print(f"Dask dashboard: {client.dashboard_link}", file=sys.stderr, flush=True)
        return self._client

    def stream(self, func: Callable[..., Any], tasks: Sequence[Any],
               shared: Any = None) -> Iterator[tuple[int, Any]]:
        """``(index, result)`` as tasks finish (see :func:`run_tasks`)."""
        import dask

        if self.scheduler.kind in ("sync", "threads"):
            call = partial(_call_with_one_blas_thread, func, shared=shared)  # opaque to Dask
            wave = 1 if self.scheduler.kind == "sync" else 2 * self.workers
            for start in range(0, len(tasks), wave):
                jobs = [dask.delayed(call, pure=False)(t) for t in tasks[start : start + wave]]
                with _one_blas_thread():  # process-wide: so no thread restores another value
                    done = dask.compute(*jobs, scheduler=self.scheduler.kind,
                                        num_workers=self.workers)
                yield from enumerate(done, start)
            return
        from dask.distributed import KilledWorker, as_completed

        client = self.client()
        # ``shared`` is one task's argument: each worker fetches its result once, and a copy
        # lost with its worker is recomputed (scattered data would be lost for good).
        with dask.config.set({"distributed.admin.large-graph-warning-threshold": "1 TiB"}):
            held = [] if shared is None else [client.submit(_itself, shared, pure=False)]
        futures = client.map(partial(_call_with_one_blas_thread, func), list(tasks), pure=False,
                             shared=held[0] if held else None)
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
            client.cancel([*futures, *held])  # when the caller stops early, nothing is wanted


def start_worker_server(modules: Sequence[str] = ()) -> bool:
    """Start, now, the process that this command's local workers will be forked from.

    A worker started Dask's default way (``spawn``) is a fresh interpreter: it imports Dask,
    then at its first task the task's modules, seconds during which the command waits. A
    command that starts this server first has those imports (Dask, this module, and
    ``modules``) done beside its own; its workers, forked from the server, start with them.
    The server is a fresh interpreter holding no threads or locks (forking the command
    itself would copy its event loop's), the default of Python 3.14 on Linux. It starts
    with Ctrl-C and SIGTERM blocked, as the workers of :class:`Engine` always have: only the
    command answers them. It ends with the command. Dask's
    ``distributed.worker.multiprocessing-method`` is set to ``forkserver`` for the rest of
    this process, so later local clusters fork from it too. Returns whether it runs: not
    where ``forkserver`` does not exist (Windows).
    """
    import multiprocessing
    from multiprocessing import forkserver, resource_tracker

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return False
    import dask

    dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"})
    multiprocessing.get_context("forkserver").set_forkserver_preload(
        ["distributed", __name__, *modules])
    # The tracker's start unblocks both signals in the calling thread: start it first.
    resource_tracker.ensure_running()
    with _blocked_signals(), _package_first_on_path():
        forkserver.ensure_running()
    return True


@contextmanager
def _package_first_on_path() -> Iterator[None]:
    """Let interpreters started in the block find this package where the command found it.

    The server is started as ``python -c ...``, which puts the working folder first on its
    path and imports the preloaded modules before anything else: a ``pipeline`` folder
    there (another checkout, say) would be the code the workers run. ``PYTHONSAFEPATH``
    (Python 3.11+) leaves the working folder out, ``PYTHONPATH`` starts with this package's.
    """
    root = str(Path(__file__).resolve().parents[2])
    saved = {name: os.environ.get(name) for name in ("PYTHONSAFEPATH", "PYTHONPATH")}
    os.environ["PYTHONSAFEPATH"] = "1"
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [root, saved["PYTHONPATH"]]))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _blocked_signals() -> Iterator[None]:
    """Block Ctrl-C and SIGTERM in this thread (delivered when the block ends, not lost)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM (blocked: delivered later, not lost) while a local cluster
    starts.

    The threads and worker processes started meanwhile inherit the block, so a signal to
    the whole process group never interrupts a worker still importing (a traceback each)
    nor leaves a half-built cluster that Dask fails to close at exit; it reaches this
    thread once the cluster is whole and owned by the ``with`` block that closes it.
    """
    if (threading.current_thread() is not threading.main_thread()
            or not hasattr(signal, "pthread_sigmask")):
        yield
        return
    # Starting multiprocessing's resource tracker unblocks both signals in the thread that
    # starts it (Dask's event loop would, and pass that on to the workers): start it first.
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    with _blocked_signals():
        yield


def dask_setup(worker: Any) -> None:
    """Preload of local workers. Ctrl-C reaches the whole process group; only the command
    answers it (by closing the cluster), not every worker with a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _itself(value: Any) -> Any:
    return value


def _one_blas_thread() -> Any:
    """Limit loaded BLAS libraries to one thread: a product summed by another number of
    threads differs in its last bits, so this keeps results identical across schedulers."""
    import numpy  # noqa: F401  (loads the BLAS library the tasks will use, so it is covered)
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _call_with_one_blas_thread(func: Callable[..., Any], task: Any, shared: Any = None) -> Any:
    with _one_blas_thread():
        return func(task) if shared is None else func(task, shared)


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
    func: Callable[..., Any], tasks: Sequence[Any], *, scheduler: Engine | Scheduler | str,
    workers: int = 1, desc: str | None = None, sizes: Sequence[int] | None = None,
    progress: bool = True, shared: Any = None,
) -> Iterator[tuple[int, Any]]:
    """Compute ``func(task)`` for every task; yield ``(task_index, result)`` as they finish.

    Parameters
    ----------
    func : callable
        Picklable function of a task (and of ``shared``, when given).
    tasks : sequence, length n
    scheduler : Engine, Scheduler or str
        An open :class:`Engine`, else the scheduler of one opened for this call (``workers``).
    desc, sizes, progress
        Label of the progress bar on stderr, units of each task (default 1), whether to show it.
    shared : object, optional
        What every task reads (a feature matrix, say): the calls are ``func(task, shared)``,
        and ``shared`` reaches each worker once instead of with every task.

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
    return _run_tasks(func, tasks, scheduler, workers, desc, sizes, progress, shared)


def _run_tasks(func, tasks, scheduler, workers, desc, sizes, progress, shared):
    if not tasks:
        return  # no progress bar, no cluster
    with opened(scheduler, workers) as engine, tqdm(
            total=sum(sizes), desc=desc, file=sys.stderr, disable=not progress) as bar:
        try:
            for index, result in engine.stream(func, tasks, shared):
                bar.update(sizes[index])
                yield index, result
        except BaseException:
            bar.leave = False  # a failed run's message stands alone, not after a half bar
            raise
