"""One ``run`` of every stage on a tiny generated dataset, shared by the tests of the stage
layer and of determinism (the ``whole_run`` fixture of ``conftest.py``)."""

from __future__ import annotations

import json
import os
import sys
import warnings
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from pipeline import stages
from pipeline.core.config import Params, load_params

REPO = Path(__file__).resolve().parent.parent


def write_params(folder: Path) -> Path:
    """The project's params.yaml with 30 + 10 generated clips and small models (a network
    of 5 epochs: no test here needs it to learn)."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["prepare"].update(synth_clips=30, synth_test_clips=10)
    # One thread per final fit (the CV fits on a cluster already get one): on a busy
    # machine, OpenMP threads spinning at their barriers make the xgboost fit crawl.
    params["train"]["rf"].update(n_estimators=10, n_jobs=1)
    params["train"]["xgb"].update(n_estimators=5, n_jobs=1)
    # One network, not the default bag of 3: the vote's inner fits would fit it 40 times
    # more (tests/test_seedbag.py covers the bag). Standardised inputs: the quantile
    # scaler's per-column transform was two thirds of this run's cross-validation
    # (tests/test_network_inputs.py covers it).
    params["train"]["ffnn"].update(hidden_layer_sizes=[16], max_iter=5, networks=1,
                                   scaling="standard")
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def _untimed(value):
    """``value`` without its timing fields (``fit_seconds`` and the like)."""
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if "seconds" not in k}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def outputs(workdir: Path) -> dict[str, object]:
    """What a rerun with the same parameters and seed must reproduce: the feature table's
    bytes, the metrics without their timings and the submission's bytes."""
    return {
        "features": (workdir / "features" / "features.parquet").read_bytes(),
        "metrics": _untimed(json.loads((workdir / "reports" / "metrics.json").read_text())),
        "submission": (workdir / "submission.csv").read_bytes(),
    }


class Calls:
    """Records the keyword arguments of every call to a library function, then calls it."""

    def __init__(self, patch: pytest.MonkeyPatch, module, name: str):
        self.kwargs: list[dict] = []
        real = getattr(module, name)

        def spy(*args, **kwargs):
            self.kwargs.append(kwargs)
            return real(*args, **kwargs)

        patch.setattr(module, name, spy)


@dataclass
class WholeRun:
    """The run's workdir, parameters (and their file), result, the stages announced, the
    calls of the library functions that do the parallel work, and :func:`outputs` as
    they were when the run ended."""

    root: Path
    params_file: Path
    params: Params
    result: stages.RunResult
    seen: list[tuple[str, str]]
    calls: dict[str, Calls]
    outputs: dict[str, object]
    printed: str


# Python's own warning filters (what a command run from a shell applies); pytest's differ.
_PYTHON_FILTERS = (("default", DeprecationWarning, "__main__"), ("ignore", DeprecationWarning, ""),
                   ("ignore", PendingDeprecationWarning, ""), ("ignore", ImportWarning, ""),
                   ("ignore", ResourceWarning, ""))  # fmt: skip


@contextmanager
def printed_to(path: Path):
    """Send everything printed meanwhile to ``path``: by this process (its streams and
    its file descriptors 1 and 2, which worker processes started meanwhile inherit) and
    the warnings raised here, with the filters of a command run from a shell."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(path, "a", buffering=1) as sink, warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        for action, category, module in _PYTHON_FILTERS:
            warnings.filterwarnings(action, category=category, module=module, append=True)
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            with redirect_stdout(sink), redirect_stderr(sink):
                yield
        finally:
            sink.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            for w in caught:
                sink.write(warnings.formatwarning(w.message, w.category, w.filename, w.lineno,
                                                  w.line))


def whole_run(folder: Path) -> WholeRun:
    """``run`` in this process on a local cluster of two workers, under ``folder``; what
    it prints (stage reports as the ``run`` command prints them, progress bars, anything
    its workers print) is kept in ``printed``."""
    import pipeline.apps.submission
    import pipeline.datasets.synth
    import pipeline.evaluation
    import pipeline.store

    params_file = write_params(folder)
    params = load_params(params_file)
    root = folder / "run"
    seen: list[tuple[str, str]] = []

    def finished(name, stage_result):
        seen.append(("end", name))
        print(stage_result.text())

    log = folder / "printed.txt"
    with pytest.MonkeyPatch.context() as patch, printed_to(log):
        calls = {"generate": Calls(patch, pipeline.datasets.synth, "generate"),
                 "extract": Calls(patch, pipeline.store, "extract_to_store"),
                 "cv": Calls(patch, pipeline.evaluation, "cross_validate"),
                 "submit": Calls(patch, pipeline.apps.submission, "make_submission")}
        result = stages.run(params=params, workdir=root, scheduler="processes", workers=2,
                            started=lambda name: seen.append(("start", name)),
                            finished=finished)
    return WholeRun(root, params_file, params, result, seen, calls, outputs(root),
                    log.read_text(errors="replace"))
