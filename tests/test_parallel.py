"""The engine: scheduler parsing, streaming task results, errors as values, lifetimes."""

from __future__ import annotations

import operator
import os
import time
from functools import partial
from pathlib import Path

import pytest
from crashers import times_ten_abort_on_13
from dask_cluster import dask_cluster  # noqa: F401  (fixture)

from pipeline.core.errors import UserError
from pipeline.engine.batches import ItemError, map_batches, map_tasks
from pipeline.engine.cluster import Engine, Scheduler, TaskCrash, parse_scheduler, run_tasks

# "cluster" is the session's local cluster (the `processes` engine, started once).
SCHEDULERS = ["sync", "threads", "cluster"]


@pytest.fixture
def on(request, local_engine):
    """The scheduler a test is parametrized with: a name, or the session's open engine."""
    return lambda name: local_engine if name == "cluster" else parse_scheduler(name)


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


@pytest.mark.parametrize("name", SCHEDULERS)
@pytest.mark.parametrize("workers", [1, 2])
def test_run_tasks_yields_every_task_once(on, name, workers):
    tasks = list(range(7))
    got = dict(run_tasks(partial(operator.mul, 3), tasks, scheduler=on(name), workers=workers,
                         progress=False))
    assert got == {i: 3 * i for i in tasks}


@pytest.mark.parametrize("name", SCHEDULERS)
def test_run_tasks_streams_results_before_the_end(on, name):
    # Taking the first result must not require computing every task.
    stream = run_tasks(partial(operator.add, 1), list(range(50)), scheduler=on(name), workers=2,
                       progress=False)
    first = next(stream)
    stream.close()
    assert first[1] == first[0] + 1


@pytest.mark.parametrize("name", SCHEDULERS)
@pytest.mark.parametrize("batch_size", [1, 3, 100])
def test_map_batches_turns_item_failures_into_values(on, name, batch_size):
    items = list(range(10))
    results = {}
    for start, batch in map_batches(reject_odd, items, scheduler=on(name), workers=2,
                                    batch_size=batch_size, progress=False):
        assert len(batch) == min(batch_size, len(items) - start)
        results.update(enumerate(batch, start))
    assert sorted(results) == items
    for i in items:
        expected = ItemError("odd", f"{i} is odd") if i % 2 else i * 10
        assert results[i] == expected


def test_map_batches_default_kind_when_the_exception_has_none():
    [(start, batch)] = map_batches(partial(operator.truediv, 1.0), [2, 0],
                                   scheduler=Scheduler("sync"), default_kind="feature_error",
                                   progress=False)
    assert start == 0
    assert batch == [0.5, ItemError("feature_error", "float division by zero")]


@pytest.mark.parametrize(("workers", "batch_size"), [(0, 10), (1, 0)])
def test_bad_sizes_are_user_errors(workers, batch_size):
    # Refused when the map is called, before anything runs or is written.
    with pytest.raises(UserError):
        map_batches(abs, [1], scheduler=Scheduler("sync"), workers=workers,
                    batch_size=batch_size, progress=False)


def test_map_tasks_keeps_the_task_order(local_engine):
    assert map_tasks(partial(operator.sub, 10), [3, 1, 2], scheduler=local_engine) == [7, 9, 8]


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


def test_an_unreachable_cluster_is_refused_at_once():
    start = time.perf_counter()
    with pytest.raises(UserError, match="cannot connect to the Dask scheduler at tcp://127"):
        with Engine("tcp://127.0.0.1:9"):
            pass
    assert time.perf_counter() - start < 5  # a refused connection is not retried for 10 s


def blas_threads(_: object) -> int:
    import numpy  # noqa: F401  (a fresh worker process loads BLAS only now)
    from threadpoolctl import threadpool_info

    return max(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas")


@pytest.mark.parametrize("name", SCHEDULERS)
def test_tasks_run_with_one_blas_thread(on, name):
    # The same thread count everywhere is what makes float results scheduler-independent.
    got = run_tasks(blas_threads, [0, 1], scheduler=on(name), workers=2, progress=False)
    assert dict(got) == {0: 1, 1: 1}


# --- items that kill their worker process ---------------------------------------------
def _crash_results(scheduler, items, batch_size, workers=2):
    results = {}
    for start, batch in map_batches(times_ten_abort_on_13, items, scheduler=scheduler,
                                    workers=workers, batch_size=batch_size, progress=False):
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
def test_an_item_that_kills_its_process_is_an_error_row(local_engine):
    # The worker dies, the cluster replaces it, the crashing batch is bisected down to the
    # one item, and that item is convicted only after it also kills a worker alone.
    items = [1, 2, 13, 4, 5, 6, 7]
    results = _crash_results(local_engine, items, batch_size=3)
    _assert_only_13_crashed(results, items)
    assert map_tasks(abs, [-1], scheduler=local_engine) == [1]  # the cluster still serves


def test_a_task_that_kills_its_worker_is_a_value_of_run_tasks(local_engine):
    got = dict(run_tasks(times_ten_abort_on_13, [1, 13, 2], scheduler=local_engine,
                         progress=False))
    assert sorted(got) == [0, 1, 2]
    assert isinstance(got[1], TaskCrash)
    # A task queued on the dying worker dies with it: callers rerun such tasks alone.
    assert got[0] in (10, TaskCrash(got[1].message)) and got[2] in (20, TaskCrash(got[1].message))


@pytest.mark.slow
def test_an_item_that_kills_cluster_workers_is_an_error_row(dask_cluster):  # noqa: F811
    # Every worker that runs item 13 dies; after `allowed-failures` deaths the scheduler
    # gives up on the task (KilledWorker) and the batch is bisected on the cluster.
    items = [1, 2, 3, 13, 5]
    results = _crash_results(parse_scheduler(dask_cluster.address), items, batch_size=2)
    _assert_only_13_crashed(results, items)


# --- lifetimes: an engine's workers end with its `with` block -------------------------
def _worker_pid(_task) -> int:
    return os.getpid()


def _pid_then_sleep(path: str) -> None:
    Path(path).write_text(str(os.getpid()))
    time.sleep(3600)


def _exited(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.slow
def test_the_with_block_ends_the_workers_even_a_busy_one(tmp_path):
    marker = tmp_path / "pid"
    with Engine("processes", workers=2) as engine:
        pids = {pid for _, pid in run_tasks(_worker_pid, range(4), scheduler=engine,
                                            progress=False)}
        assert pids and os.getpid() not in pids
        busy = engine.client().submit(_pid_then_sleep, str(marker), pure=False)
        while not marker.exists() or not marker.read_text():
            time.sleep(0.05)
        pids.add(int(marker.read_text()))
        start = time.perf_counter()
    assert time.perf_counter() - start < 30  # the sleeping task does not hold the exit
    assert not busy.done() or busy.status != "finished"
    assert all(_exited(pid) for pid in pids)


# --- data shared by every task --------------------------------------------------------
def _times_ten_plus_shared(x: int, shared: int) -> int:
    return times_ten_abort_on_13(x) + shared


@pytest.mark.parametrize("name", SCHEDULERS)
def test_shared_data_reaches_every_task(on, name):
    got = dict(run_tasks(_times_ten_plus_shared, [1, 2, 3], scheduler=on(name), workers=2,
                         progress=False, shared=100))
    assert got == {0: 110, 1: 120, 2: 130}
    assert map_tasks(_times_ten_plus_shared, [4], scheduler=on(name), shared=5) == [45]


@pytest.mark.slow
def test_shared_data_lost_with_its_only_worker_is_recomputed():
    # The one worker holds the shared data when task 13 kills it; the tasks after it still
    # get the data (Dask recomputes it on the replacement worker), not a lost dependency.
    with Engine("processes", workers=1) as engine:
        got = dict(run_tasks(_times_ten_plus_shared, [1, 13, 2, 3, 4], scheduler=engine,
                             progress=False, shared=100))
    assert isinstance(got[1], TaskCrash)
    assert got[0] in (110, got[1]) and got[2] in (120, got[1])  # bystanders may die with it
    assert got[3] == 130 and got[4] == 140
