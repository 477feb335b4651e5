"""The stage layer called from Python, without the command line, on a tiny generated dataset
(the run of the ``whole_run`` fixture, ``conftest.py``), and the determinism of the whole run:
the command line's ``run`` on 1 worker against that run of the same parameters on 2.

The determinism test lives here, not in a file of its own, because ``--dist loadfile`` gives
each file to one worker and the fixture's run (seconds) would otherwise be made twice.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml
from browser import check_page, screenshot
from whole_run import REPO, outputs

from pipeline import stages
from pipeline.apps.report.media import EXCERPT_SECONDS
from pipeline.cli import main
from pipeline.core.config import ParallelParams, Params, TrainParams
from pipeline.datasets import read_dataset
from pipeline.datasets.classes import CLASSES
from pipeline.engine.cluster import Engine
from pipeline.models.persist import load_model
from pipeline.stages.data import generation_workers
from pipeline.store import read_features
from pipeline.store.rows import labelled, xy

# The run's network stops at max_iter=5 before it converges, as meant.
pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")]

#: The sync scheduler and two quick models, for the tests that run no stage.
TINY = Params(
    parallel=ParallelParams(scheduler="sync", workers=1),
    train=TrainParams(models=("logreg", "rf"), logreg={"max_iter": 200},
                      rf={"n_estimators": 5, "n_jobs": 1},
                      ensemble={"members": ["logreg", "rf"]}),
)
STAGES = ["prepare", "features", "evaluate", "train", "submit", "report"]
# The run of the whole_run fixture (conftest.py): every model of params.yaml and the ensemble.
MODELS = [*yaml.safe_load((REPO / "params.yaml").read_text())["train"]["models"], "ensemble"]


def test_run_writes_every_output_and_reports_it(whole_run):
    root, result, seen = whole_run.root, whole_run.result, whole_run.seen
    assert list(result.results) == STAGES == list(result.seconds)
    assert seen == [(event, name) for name in STAGES for event in ("start", "end")]
    prepared = result.results["prepare"]
    assert prepared.manifest_csv == root / "prepared" / "manifest.csv"
    assert 0 < prepared.test_clips < prepared.clips
    store = result.results["features"].summary
    assert store.featurized == prepared.clips and store.reused == 0
    assert (root / "features" / "features.parquet").is_file()
    assert json.loads((root / "reports" / "metrics.json").read_text())["models"]
    trained = result.results["train"]
    assert trained.names == MODELS
    assert (root / "models" / "ensemble").is_dir()
    # The default vote learns its weights on so few training rows (a log pool, saved).
    vote = json.loads((root / "models" / "ensemble" / "ensemble.json").read_text())
    assert vote["weights"] == "auto" and vote["weights_learnt"] is True
    assert len(vote["weights_used"]) == len(vote["members"])
    submitted = result.results["submit"]
    sub = pd.read_csv(root / "submission.csv")
    assert len(sub) == prepared.test_clips == submitted.submission["n"]
    assert submitted.score_file == root / "submission_score.json"
    score = json.loads(submitted.score_file.read_text())
    assert score["model"] == trained.index["best"] and 0 <= score["accuracy"] <= 1
    assert f"submission: {root / 'submission.csv'}" in result.text()


def test_run_prints_no_warning_nor_traceback_and_shows_its_progress(whole_run):
    printed = whole_run.printed
    # Progress bars of the stages that take time, the generator's included.
    for bar in ("generating clips", "features", "cross-validation fits"):
        assert re.search(rf"{bar}[\w ]*: 100%", printed), bar
    # Every distinct offending line at once (progress bars overwrite lines with \r).
    lines = re.split(r"[\r\n]", printed)
    offending = sorted({line.strip() for line in lines if "Warning" in line or "Traceback" in line})
    assert not offending, "printed during the run:\n" + "\n".join(offending[:20])


def test_run_hands_its_workers_to_prepare_and_one_engine_to_the_parallel_stages(whole_run):
    result, calls = whole_run.result, whole_run.calls
    # The training set and the test set are rendered by the run's two worker processes.
    assert [c["workers"] for c in calls["generate"].kwargs] == [2, 2]
    assert result.results["prepare"].workers == 2
    engines = [c["scheduler"] for name in ("extract", "cv", "submit")
               for c in calls[name].kwargs]
    assert len(engines) == 3 and all(e is engines[0] for e in engines)  # one engine
    assert isinstance(engines[0], Engine)
    assert (str(engines[0].scheduler), engines[0].workers) == ("processes", 2)
    assert result.results["features"].scheduler == "processes"


def test_stages_called_one_by_one_reuse_the_run_outputs(whole_run):
    root, result, params = whole_run.root, whole_run.result, whole_run.params
    again = stages.features(root / "prepared", root / "features", params=TINY)  # sync
    assert again.summary.reused == result.results["prepare"].clips  # all from the cache
    assert again.summary.processed == 0 and again.scheduler == "sync"
    scored = stages.score(root / "submission.csv", root / "prepared" / "answers.csv")
    on_file = json.loads((root / "submission_score.json").read_text())
    assert scored.score["accuracy"] == pytest.approx(on_file["accuracy"])
    clip = read_dataset(root / "prepared")["path"].iloc[0]
    predicted = stages.predict([clip], params=TINY, models=root / "models")  # sync
    assert predicted.model == result.results["train"].index["best"]
    assert predicted.lines()[0].split("\t")[1] in CLASSES
    compared = stages.evaluate(root / "features", root / "reports", params=params,
                               summary_only=True)
    assert compared.summary and compared.models == MODELS


def test_the_final_fits_queued_with_the_folds_are_the_models_train_fits_alone(whole_run,
                                                                             tmp_path):
    # run fits its final models in evaluate's queue, one thread each; the train stage
    # alone (what dvc repro runs) fits them in this process: the same models either way.
    root, params = whole_run.root, whole_run.params
    alone = stages.train(root / "features", tmp_path / "models", params=params,
                         reports=root / "reports")
    run_index = whole_run.result.results["train"].index
    assert alone.index["best"] == run_index["best"]
    table = labelled(read_features(root / "features"))
    X, _ = xy(table)
    for name in MODELS:
        saved, fitted = load_model(name, root / "models" / name), load_model(name, tmp_path /
                                                                             "models" / name)
        np.testing.assert_allclose(saved.predict_proba(X), fitted.predict_proba(X), atol=1e-6)
    assert run_index["models"]["rf"]["fit_seconds"] > 0


def test_two_runs_on_two_engines_agree(whole_run, tmp_path, capsys):
    # Same parameters and seed: the same features, metrics (timings aside) and submission,
    # from one run to the next and whatever runs the tasks: the whole run's two worker
    # processes, or this process alone (`sync`).
    code = main(["--params", str(whole_run.params_file), "run", "--workdir", str(tmp_path),
                 "--scheduler", "sync"])
    assert code == 0, capsys.readouterr().err
    first = outputs(tmp_path)
    assert first["metrics"]["models"]  # a real comparison was written
    # An independent run: agreeing shows run-to-run and engine determinism.
    assert first == whole_run.outputs


@pytest.mark.parametrize(("scheduler", "workers", "expected"),
                         [("sync", 3, 1), ("threads", 3, 1), ("processes", 3, 3),
                          (None, None, 1), ("processes", None, 1)])
def test_generated_clips_are_rendered_as_the_scheduler_says(scheduler, workers, expected):
    assert generation_workers(scheduler, workers, TINY) == expected


def test_an_engine_given_to_a_stage_decides_its_workers():
    assert generation_workers(Engine("processes", 4), None, TINY) == 4
    assert stages.engine_for(TINY, Engine("threads", 3)).workers == 3
    built = stages.engine_for(TINY, None, 5)
    assert (str(built.scheduler), built.workers) == ("sync", 5)  # params' scheduler


def test_prepare_renders_on_a_lent_local_cluster_with_the_same_files(tmp_path, local_engine):
    from dask.distributed import get_task_stream

    from pipeline.core.config import PrepareParams

    params = dataclasses.replace(TINY, prepare=PrepareParams(synth_clips=40, synth_test_clips=0))
    with get_task_stream(local_engine.client()) as stream:
        lent = stages.prepare(tmp_path / "lent", params=params, scheduler=local_engine)
    stages.prepare(tmp_path / "alone", params=params)  # sync: this process
    # The run's cluster rendered the clips (no second cluster), and the files are the same.
    assert lent.workers == 2 and len(stream.data) >= 40 // 16
    files = sorted(p.relative_to(tmp_path / "lent" / "synth")
                   for p in (tmp_path / "lent" / "synth").rglob("*.wav"))
    assert len(files) == 40
    for rel in files:
        assert (tmp_path / "lent" / "synth" / rel).read_bytes() == \
            (tmp_path / "alone" / "synth" / rel).read_bytes()


def test_every_stage_result_says_what_it_produced():
    # The CLI ends every stage (and each stage of `run`) with a line built from `produced`;
    # predict and score print their answers instead.
    import importlib
    import inspect
    import pkgutil

    import pipeline.stages as package
    from pipeline.stages.common import StageResult

    missing = []
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if (cls.__module__ != module.__name__ or not hasattr(cls, "text")
                    or cls is StageResult):
                continue
            assert issubclass(cls, StageResult), name
            if cls.produced is StageResult.produced:
                missing.append(name)
    assert sorted(missing) == ["PredictResult", "ScoreResult"]

# --- the HTML report of the whole run (here, so the run is made once per test process) ---
PNG = b"\x89PNG\r\n\x1a\n"
#: One quick model on this process's scheduler.
ONE_MODEL = Params(parallel=ParallelParams(scheduler="sync", workers=1),
                   train=TrainParams(models=("logreg",), logreg={"max_iter": 200}))


def test_the_page_of_a_run_opens_from_the_file_system(whole_run, tmp_path):
    reports = whole_run.root / "reports"
    dom = check_page(reports)
    page = (reports / "index.html").read_text()
    assert "http://" not in page and "https://" not in page
    for name in whole_run.result.results["train"].names:
        assert f'data-model="{name}"' in page
    best = whole_run.result.results["train"].index["best"]
    assert f'<tr class="best" data-model="{best}">' in page
    assert 'id="submission"' in page and 'id="salience"' in page
    # Every excerpt plays everywhere: 16-bit PCM at 22050 Hz, at most a few seconds.
    wavs = sorted((reports / "clips").glob("*.wav"))
    assert wavs and len(wavs) == len(list((reports / "clips").glob("*.png")))
    for wav in wavs[:5]:
        info = sf.info(wav)
        assert (info.samplerate, info.subtype, info.channels) == (22050, "PCM_16", 1)
        assert 0 < info.duration <= EXCERPT_SECONDS + 1e-6
    assert len(dom.doubted) == min(50, len(pd.read_csv(reports / "doubted_labels.csv")))
    shot = screenshot(reports / "index.html", tmp_path / "report.png")
    assert shot.read_bytes().startswith(PNG) and shot.stat().st_size > 20_000
    print(f"screenshot of the report: {shot}")


def test_the_report_command_rewrites_a_copied_reports_folder(whole_run, tmp_path, capsys):
    copy = tmp_path / "reports"
    shutil.copytree(whole_run.root / "reports", copy)
    for old in (copy / "index.html", *(copy / "clips").iterdir()):
        old.unlink()
    command = ["report", "--reports", str(copy), "--features",
               str(whole_run.root / "features"), "--scheduler", "sync"]
    (copy / "index.html").write_text("my own notes")  # a page the tool did not write
    assert main(command) == 2
    assert "refusing to replace" in capsys.readouterr().err
    assert (copy / "index.html").read_text() == "my own notes"
    assert main([*command, "--force"]) == 0
    assert "report written to" in capsys.readouterr().out
    check_page(copy)
    assert main(["report", "--reports", str(tmp_path / "none")]) == 2
    assert "no cross-validation reports" in capsys.readouterr().err


def _dataset_with_failures(whole_run, folder: Path) -> Path:
    """A manifest of the whole run's training clips and two clips that cannot be read."""
    manifest = pd.read_csv(whole_run.root / "prepared" / "manifest.csv", dtype=str)
    train = manifest[manifest["split"] == "train"].copy()
    train["path"] = [str((whole_run.root / "prepared" / p).resolve()) for p in train["path"]]
    folder.mkdir()
    (folder / "empty.wav").write_bytes(b"")
    (folder / "noise.wav").write_bytes(b"not audio at all" * 20)
    bad = pd.DataFrame({"id": ["broken-empty", "broken-noise"],
                        "path": [str(folder / "empty.wav"), str(folder / "noise.wav")],
                        "label": ["dog_bark", "siren"], "fold": ["1", "2"],
                        "group": ["b1", "b2"], "split": "train"})
    pd.concat([train, bad]).to_csv(folder / "manifest.csv", index=False)
    return folder


def test_a_run_with_failed_clips_and_one_model(whole_run, tmp_path):
    data = _dataset_with_failures(whole_run, tmp_path / "dataset")
    store, reports = tmp_path / "features", tmp_path / "reports"
    stages.features(data, store, params=ONE_MODEL)
    result = stages.evaluate(store, reports, params=ONE_MODEL, model="logreg")
    assert "report written to" in result.text()
    dom = check_page(reports)
    page = (reports / "index.html").read_text()
    assert {m for m, _, _ in dom.cells} == {"logreg"}
    assert 'id="failed"' in page and "broken-empty" in page and "broken-noise" in page
    assert "2 failed" in page
