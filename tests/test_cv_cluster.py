"""Cross-validation on a real ``dask scheduler`` + ``dask worker`` cluster losing a worker."""

import threading

import pytest
from dask.distributed import Client
from dask_cluster import dask_cluster  # noqa: F401  (fixture)
from model_tables import TINY, feature_table

from pipeline.evaluation import cross_validate

pytestmark = pytest.mark.slow

PARAMS = {**TINY, "rf": {"n_estimators": 100, "n_jobs": 1}}


def _untimed(result) -> dict:
    return {name: {k: v for k, v in m.summary().items() if k != "fit_seconds"}
            for name, m in result.models.items()}


def _wait_until_busy(observer: Client, name: str, run: threading.Thread) -> None:
    """Return once the worker called ``name`` is running a task, or once ``run`` ends."""
    while run.is_alive():
        workers = observer.scheduler_info()["workers"]
        address = next((a for a, w in workers.items() if w["name"] == name), None)
        if address is not None and observer.processing(workers=[address])[address]:
            return
        run.join(timeout=0.01)


def test_cv_survives_a_killed_worker(dask_cluster):  # noqa: F811
    table = feature_table(400, n_features=40)
    reference = cross_validate(table, ["logreg", "rf"], PARAMS, seed=0, scheduler="sync")
    result: dict = {}
    run = threading.Thread(target=lambda: result.update(cv=cross_validate(
        table, ["logreg", "rf"], PARAMS, seed=0, scheduler=dask_cluster.address, workers=2)))
    with Client(dask_cluster.address) as observer:
        run.start()
        # Killed while it runs a task, so that task is lost with it and must be rerun.
        _wait_until_busy(observer, "worker-0", run)
        assert run.is_alive(), "cross-validation ended before the worker could be killed"
        dask_cluster.kill_worker(0)
        run.join(timeout=120)
    assert not run.is_alive()
    assert _untimed(result["cv"]) == _untimed(reference)
    assert result["cv"].run == reference.run
