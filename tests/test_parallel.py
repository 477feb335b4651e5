"""The parallel engine: scheduler parsing, streaming task results, errors as values."""

from __future__ import annotations

import operator
import os
import time
from functools import partial

import pytest
from crashers import times_ten_abort_on_13
from dask_cluster import dask_cluster  # noqa: F401  (fixture)

from pipeline.errors import UserError
from pipeline.parallel import (
    ItemError,
    Scheduler,
    _process_pool,
    map_batches,
    parse_scheduler,
    run_tasks,
    shutdown_pools,
)

LOCAL = ["sync", "threads", "processes"]


class OddItemError(ValueError):
    """An item failure that names its own kind."""

    kind = "odd"


def reject_odd(x: int) -> int:
    if x % 2:
        raise OddItemError(f"{x} is odd")
    return x * 10


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sync", Scheduler("sync")),
        ("threads", Scheduler("threads")),
        (" processes ", Scheduler("processes")),
        ("tcp://127.0.0.1:8786", Scheduler("distributed", "tcp://127.0.0.1:8786")),
        (
            "tcp://scheduler.example.org:9000",
            Scheduler("distributed", "tcp://scheduler.example.org:9000"),
        ),
    ],
)
def test_parse_scheduler_accepts_the_four_forms(text, expected):
    assert parse_scheduler(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "dask",
        "thread",
        "multiprocessing",
        "tcp://",
        "tcp://host",
        "tcp://:8786",
        "tcp://host:port",
        "tcp://host:0",
        "tcp://host:70000",
        "http://host:8786",
    ],
)
def test_parse_scheduler_rejects_anything_else(text):
    with pytest.raises(UserError, match="use sync, threads, processes or tcp://HOST:PORT"):
        parse_scheduler(text)


@pytest.mark.parametrize("name", LOCAL)
@pytest.mark.parametrize("workers", [1, 2])
def test_run_tasks_yields_every_task_once(name, workers):
    tasks = list(range(7))
    got = dict(
        run_tasks(
            partial(operator.mul, 3),
            tasks,
            scheduler=parse_scheduler(name),
            workers=workers,
            progress=False,
        )
    )
    assert got == {i: 3 * i for i in tasks}


@pytest.mark.parametrize("name", LOCAL)
def test_run_tasks_streams_results_before_the_end(name):
    # Taking the first result must not require computing every task.
    stream = run_tasks(
        partial(operator.add, 1),
        list(range(50)),
        scheduler=parse_scheduler(name),
        workers=2,
        progress=False,
    )
    first = next(stream)
    stream.close()
    assert first[1] == first[0] + 1


@pytest.mark.parametrize("name", LOCAL)
@pytest.mark.parametrize("batch_size", [1, 3, 100])
def test_map_batches_turns_item_failures_into_values(name, batch_size):
    items = list(range(10))
    results = {}
    for start, batch in map_batches(
        reject_odd,
        items,
        scheduler=parse_scheduler(name),
        workers=2,
        batch_size=batch_size,
        progress=False,
    ):
        assert len(batch) == min(batch_size, len(items) - start)
        results.update(enumerate(batch, start))
    assert sorted(results) == items
    for i in items:
        expected = ItemError("odd", f"{i} is odd") if i % 2 else i * 10
        assert results[i] == expected


def test_map_batches_default_kind_when_the_exception_has_none():
    [(start, batch)] = map_batches(
        partial(operator.truediv, 1.0),
        [2, 0],
        scheduler=Scheduler("sync"),
        default_kind="feature_error",
        progress=False,
    )
    assert start == 0
    assert batch == [0.5, ItemError("feature_error", "float division by zero")]


@pytest.mark.parametrize(("workers", "batch_size"), [(0, 10), (1, 0)])
def test_bad_sizes_are_user_errors(workers, batch_size):
    with pytest.raises(UserError):
        list(
            map_batches(
                abs,
                [1],
                scheduler=Scheduler("sync"),
                workers=workers,
                batch_size=batch_size,
                progress=False,
            )
        )


@pytest.mark.slow
def test_a_real_cluster_gives_the_local_results(dask_cluster):  # noqa: F811
    items = [5, 0, 2, 4, 0, 8, 1]
    func = partial(operator.floordiv, 40)
    distributed = parse_scheduler(dask_cluster.address)
    remote = dict(map_batches(func, items, scheduler=distributed, batch_size=2, progress=False))
    local = dict(
        map_batches(func, items, scheduler=Scheduler("sync"), batch_size=2, progress=False)
    )
    assert remote == local
    assert remote[0][1] == ItemError("error", "integer division or modulo by zero")


def test_no_tasks_needs_no_cluster():
    # Nothing listens on this address: an empty run must not try to connect.
    assert list(run_tasks(abs, [], scheduler=parse_scheduler("tcp://127.0.0.1:9"))) == []


def blas_threads(_: object) -> int:
    import numpy  # noqa: F401  (a fresh worker process loads BLAS only now)
    from threadpoolctl import threadpool_info

    return max(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas")


@pytest.mark.parametrize("name", LOCAL)
def test_tasks_run_with_one_blas_thread(name):
    # The same thread count everywhere is what makes float results scheduler-independent.
    got = run_tasks(
        blas_threads, [0, 1], scheduler=parse_scheduler(name), workers=2, progress=False
    )
    assert dict(got) == {0: 1, 1: 1}


# --- items that kill their worker process ---------------------------------------------
def _crash_results(scheduler, items, batch_size, workers=2):
    results = {}
    for start, batch in map_batches(
        times_ten_abort_on_13,
        items,
        scheduler=scheduler,
        workers=workers,
        batch_size=batch_size,
        progress=False,
    ):
        results.update(enumerate(batch, start))
    return results


def _assert_only_13_crashed(results, items):
    assert sorted(results) == list(range(len(items)))
    for i, x in enumerate(items):
        if x == 13:
            assert results[i].kind == "worker_crash" and results[i].message
        else:
            assert results[i] == 10 * x


@pytest.mark.slow
def test_an_item_that_kills_its_process_is_an_error_row():
    # The pool breaks; its wave reruns one task at a time, the crashing batch is bisected
    # down to the one item, and the pool is recreated for the items after it.
    items = [1, 2, 13, 4, 5, 6, 7]
    results = _crash_results(Scheduler("processes"), items, batch_size=3)
    _assert_only_13_crashed(results, items)


def test_without_isolation_a_crash_stops_the_run():
    from concurrent.futures.process import BrokenProcessPool

    with pytest.raises(BrokenProcessPool):
        list(run_tasks(times_ten_abort_on_13, [13], scheduler=Scheduler("processes"),
                       workers=1, progress=False))


@pytest.mark.slow
def test_an_item_that_kills_cluster_workers_is_an_error_row(dask_cluster):  # noqa: F811
    # Every worker that runs item 13 dies; after `allowed-failures` deaths the scheduler
    # gives up on the task (KilledWorker) and the batch is bisected on the cluster.
    items = [1, 2, 3, 13, 5]
    results = _crash_results(parse_scheduler(dask_cluster.address), items, batch_size=2)
    _assert_only_13_crashed(results, items)


# --- ending the shared worker processes -----------------------------------------------
def _worker_pid(_task) -> int:
    return os.getpid()


def _pool_pid() -> int:
    [(_, pid)] = run_tasks(_worker_pid, [0], scheduler=Scheduler("processes"), progress=False)
    return pid


def _exited(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_shutdown_pools_ends_idle_workers_and_later_runs_start_afresh():
    first = _pool_pid()
    assert _pool_pid() == first  # the pool is kept between runs
    assert shutdown_pools() == 0
    assert _exited(first)
    second = _pool_pid()
    assert second != first
    shutdown_pools()
    assert _exited(second)


def test_shutdown_pools_kills_a_worker_that_never_ends():
    # A task still running at the end must not hang the program's exit.
    future = _process_pool(1).submit(time.sleep, 3600)
    while not future.running():
        time.sleep(0.05)
    assert shutdown_pools(timeout=1.0) == 1
    assert future.done()
    assert _pool_pid() > 0  # a fresh pool serves the next run
    shutdown_pools()
