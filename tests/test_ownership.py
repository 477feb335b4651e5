"""The ownership rule: a command replaces or removes only files it wrote (issue 34).

Every writing command is pointed at a folder holding foreign files of the names it writes:
it must stop with one line (exit 2) before any work and leave them byte-identical;
``--force`` replaces them (through a symbolic link: the file it points to), and a second
run over its own outputs needs no ``--force``. Then the data-loss cases of the issue one by
one, full disks (``ulimit -f``) and Ctrl-C sent to a real command.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import yaml
from terminal import interruptible
from whole_run import REPO, write_params

from pipeline.cli import main
from pipeline.core.errors import UserError
from pipeline.core.io import LEGACY_RECORDS, OUTPUT_RECORD, Outputs, read_record

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning",
                                        "ignore::UserWarning")


@dataclass
class Workspace:
    """Inputs every command can read: a generated dataset (its AV tree here), the feature
    store of its UrbanSound8K tree, CV reports, a trained logistic regression, a short
    scene, and the params file."""

    params: Path
    dataset: Path
    key: Path
    features: Path
    reports: Path
    models: Path
    scene: Path


def cli(ws: Workspace, capsys, *argv) -> tuple[int, str]:
    """Run ``urbansound`` in this process; exit code and stderr."""
    capsys.readouterr()
    code = main(["--params", str(ws.params), *map(str, argv)])
    return code, capsys.readouterr().err


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Workspace:
    root = tmp_path_factory.mktemp("ownership")
    params_file = write_params(root)
    params = yaml.safe_load(params_file.read_text())
    params["parallel"].update(scheduler="sync", workers=1)
    params["train"]["models"] = ["logreg", "rf"]
    params["train"]["ensemble"]["members"] = ["logreg", "rf"]
    params["tune"].update(nested=False, spaces={"logreg": {"C": [0.1, 1.0]}})
    params_file.write_text(yaml.safe_dump(params))
    ws = Workspace(params_file, root / "ds" / "av", root / "ds" / "av_answer_key.csv",
                   root / "features", root / "reports", root / "models", root / "scene")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "stdout", open(os.devnull, "w"))  # noqa: SIM115
        steps = [
            ["synth", root / "ds", "--clips", "30", "--seed", "2"],  # UrbanSound8K + AV
            ["features", root / "ds" / "UrbanSound8K", "--out", ws.features],  # official folds
            ["evaluate", "--features", ws.features, "--reports", ws.reports, "--model",
             "logreg"],
            ["train", "--features", ws.features, "--out", ws.models, "--model", "logreg",
             "--reports", ws.reports],
            ["synth", "--scene", ws.scene, "--minutes", "0.1", "--seed", "1"],
        ]
        for argv in steps:
            assert main(["--params", str(params_file), *map(str, argv)]) == 0, argv
        sys.stdout.close()
    return ws


# Each writing command: its arguments with output place OUT, and files it writes there.
COMMANDS = {
    "synth": (lambda ws, out: ["synth", out, "--layout", "av", "--clips", "12", "--seed", "3"],
              ["av/train.csv", "av/test.csv", "av_answer_key.csv"]),
    "synth --scene": (lambda ws, out: ["synth", "--scene", out, "--minutes", "0.05"],
                      ["scene_00.wav", "scene_annotations.csv"]),
    "prepare": (lambda ws, out: ["prepare", "--dataset", ws.dataset, "--out", out],
                ["manifest.csv", "answers.csv"]),
    "features": (lambda ws, out: ["features", ws.dataset, "--out", out],
                 ["features.parquet", "errors.csv", "meta.json", "groups.csv"]),
    "evaluate": (lambda ws, out: ["evaluate", "--features", ws.features, "--reports", out,
                                  "--model", "logreg"],
                 ["metrics.json", "summary.md", "folds.csv", "fold_accuracy.png",
                  "cv/logreg/predictions.csv"]),
    "train": (lambda ws, out: ["train", "--features", ws.features, "--out", out, "--model",
                               "logreg", "--reports", ws.reports],
              ["logreg/logreg.json"]),
    "tune": (lambda ws, out: ["tune", "--model", "logreg", "--features", ws.features,
                              "--reports", out],
             ["tune_logreg.json"]),
    "submit": (lambda ws, out: ["submit", "--test", ws.dataset, "--features", ws.features,
                                "--models", ws.models, "--model", "logreg", "--out",
                                out / "submission.csv", "--answers", ws.key],
               ["submission.csv", "submission_score.json"]),
    "detect": (lambda ws, out: ["detect", ws.scene / "scene_00.wav", "--models", ws.models,
                                "--model", "logreg", "--out", out],
               ["windows.csv", "events.csv", "timeline_scene_00.png"]),
    # Files of its last stages: all refused before the first stage starts.
    "run": (lambda ws, out: ["run", "--workdir", out],
            ["reports/summary.md", "submission.csv"]),
}


def plant(out: Path, names: list[str]) -> dict[str, bytes]:
    """Foreign files of ``names`` under ``out``; their contents."""
    for name in names:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(f"the user's own {name}\n".encode())
    return files(out)


def files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too) and its bytes; folders as None."""
    return {str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes()
            for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_foreign_files_stop_every_writing_command(ws, tmp_path, capsys, command):
    argv, names = COMMANDS[command]
    out = tmp_path / "out"
    before = plant(out, names)
    code, err = cli(ws, capsys, *argv(ws, out))
    assert code == 2, err
    assert err.count("\n") == 1 and "--force" in err, err
    assert str(out) in err
    assert files(out) == before  # byte-identical, and nothing created beside them


@pytest.mark.slow
@pytest.mark.parametrize("command", [c for c in COMMANDS if c != "run"])
def test_force_replaces_them_through_links_and_own_files_need_no_force(ws, tmp_path, capsys,
                                                                       command):
    argv, names = COMMANDS[command]
    out = tmp_path / "out"
    before = plant(out, names)
    # The first output is a link to a file elsewhere (a shared file, say).
    target = tmp_path / "elsewhere" / "shared"
    target.parent.mkdir()
    target.write_bytes(b"shared\n")
    link = out / names[0]
    link.unlink()
    link.symlink_to(target)
    code, err = cli(ws, capsys, *argv(ws, out), "--force")
    assert code == 0, err
    for name in names[1:]:  # replaced (or, for a stale answer key, removed)
        assert not (out / name).exists() or (out / name).read_bytes() != before[name]
    if command != "train":  # a model folder is replaced as a whole
        assert link.is_symlink() and link.resolve() == target.resolve()
        assert target.read_bytes() != b"shared\n"
    record = read_record(out) or {}
    assert command == "train" or set(record) >= {n for n in names if (out / n).exists()}
    # Its own files, now: a second run replaces them without --force.
    code, err = cli(ws, capsys, *argv(ws, out))
    assert code == 0, err


# --- the data-loss reproductions of the issue ------------------------------------------------
def test_features_into_the_dataset_keeps_the_users_meta_and_errors(ws, tmp_path, capsys):
    dataset = tmp_path / "av"
    shutil.copytree(ws.dataset, dataset)
    (dataset / "meta.json").write_text('{"mine": true}\n')
    (dataset / "errors.csv").write_text("my,own\n")
    before = files(dataset)
    code, err = cli(ws, capsys, "features", dataset, "--out", dataset)
    assert code == 2 and ("meta.json" in err or "errors.csv" in err) and err.count("\n") == 1
    assert files(dataset) == before


def test_detect_never_replaces_its_own_answer_key(ws, tmp_path, capsys):
    out = tmp_path / "detect"
    out.mkdir()
    key = out / "events.csv"
    key.write_text("file,start,end,class\nscene_00.wav,1.0,2.0,siren\n")
    before = files(out)
    for force in ([], ["--force"]):  # not even with --force: it is read by this command
        code, err = cli(ws, capsys, "detect", ws.scene / "scene_00.wav", "--models", ws.models,
                        "--model", "logreg", "--out", out, "--answers", key, *force)
        assert code == 2 and "reads it" in err and err.count("\n") == 1, err
        assert files(out) == before


def test_submit_never_replaces_the_test_table_it_reads(ws, tmp_path, capsys):
    dataset = tmp_path / "av"
    shutil.copytree(ws.dataset, dataset)
    before = (dataset / "test.csv").read_bytes()
    code, err = cli(ws, capsys, "submit", "--test", dataset, "--features", ws.features,
                    "--models", ws.models, "--model", "logreg", "--out", dataset / "test.csv",
                    "--force")
    assert code == 2 and "reads it" in err and err.count("\n") == 1, err
    assert (dataset / "test.csv").read_bytes() == before


def test_prepare_keeps_the_users_manifest_and_answer_key(ws, tmp_path, capsys):
    mine = tmp_path / "mine"
    before = plant(mine, ["answers.csv"])
    code, err = cli(ws, capsys, "prepare", "--dataset", ws.dataset, "--out", mine)
    assert code == 2 and "answers.csv" in err and err.count("\n") == 1
    assert files(mine) == before
    before = plant(mine, ["manifest.csv"])
    code, err = cli(ws, capsys, "prepare", "--dataset", ws.dataset, "--out", mine)
    assert code == 2 and "manifest.csv" in err
    assert files(mine) == before


def test_a_file_edited_after_the_tool_wrote_it_is_the_users(ws, tmp_path, capsys):
    out = tmp_path / "reports"
    argv = ["evaluate", "--features", ws.features, "--reports", out, "--model", "logreg",
            "--summary-only"]
    shutil.copytree(ws.reports / "cv", out / "cv")
    assert cli(ws, capsys, *argv)[0] == 0
    (out / "summary.md").write_text((out / "summary.md").read_text() + "my notes\n")
    before = files(out)
    code, err = cli(ws, capsys, *argv)
    assert code == 2 and "summary.md" in err and "changed since" in err
    assert files(out) == before


def test_tune_apply_writes_through_a_linked_params_file(ws, tmp_path, capsys):
    shared = tmp_path / "shared" / "params.yaml"
    shared.parent.mkdir()
    shutil.copyfile(ws.params, shared)
    os.chmod(shared, 0o640)
    link = tmp_path / "params.yaml"
    link.symlink_to(shared)
    capsys.readouterr()
    code = main(["--params", str(link), "tune", "--model", "logreg", "--features",
                 str(ws.features), "--reports", str(tmp_path / "reports"), "--apply"])
    assert code == 0, capsys.readouterr().err
    assert link.is_symlink() and link.resolve() == shared.resolve()
    assert yaml.safe_load(shared.read_text())["train"]["logreg"]["C"] in (0.1, 1.0)
    assert shared.stat().st_mode & 0o777 == 0o640  # the shared file keeps its permissions


def test_the_generators_earlier_record_is_still_its_own(tmp_path):
    from pipeline.datasets.synth import generate

    generate(tmp_path, layout="av", clips=8, seed=0)
    owned = sorted(read_record(tmp_path))
    legacy, fmt = next(iter(LEGACY_RECORDS.items()))
    (tmp_path / legacy).write_text(json.dumps({"format": fmt, "files": owned}))
    (tmp_path / OUTPUT_RECORD).unlink()
    # Another seed replaces or removes every one of those files: they are its own.
    generate(tmp_path, layout="av", clips=8, seed=1)
    generate(tmp_path / "fresh", layout="av", clips=8, seed=1)
    assert sorted(read_record(tmp_path)) == sorted(read_record(tmp_path / "fresh"))
    assert not (tmp_path / legacy).exists()
    assert {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.*")
            if "fresh" not in p.parts} == set(read_record(tmp_path)) | {OUTPUT_RECORD}


def test_a_store_written_before_records_is_still_its_own(ws, tmp_path, capsys):
    store = tmp_path / "store"
    shutil.copytree(ws.features, store)
    (store / OUTPUT_RECORD).unlink()  # as an earlier version left it: .parts/ proves it
    code, err = cli(ws, capsys, "features", ws.dataset, "--out", store)
    assert code == 0, err
    assert set(read_record(store)) >= {"features.parquet", "errors.csv", "meta.json"}


def test_outputs_that_are_folders_or_links_to_inputs_are_refused(tmp_path):
    (tmp_path / "a.csv").mkdir()
    with pytest.raises(UserError, match="is a folder"):
        Outputs(tmp_path, ["a.csv"], force=True)
    source = tmp_path / "in.csv"
    source.write_text("x\n")
    (tmp_path / "b.csv").symlink_to(source)
    with pytest.raises(UserError, match="reads it"):
        Outputs(tmp_path, ["b.csv"], force=True, inputs=[source])


def test_a_linked_record_is_neither_trusted_nor_written_through(tmp_path):
    precious = tmp_path / "precious.json"
    precious.write_text(json.dumps({"format": "urbansound-files/1", "files": ["a.csv"]}))
    out = tmp_path / "out"
    out.mkdir()
    (out / OUTPUT_RECORD).symlink_to(precious)
    before = precious.read_bytes()
    assert read_record(out) is None
    with pytest.raises(UserError, match="not a plain file"):
        Outputs(out, ["a.csv"])
    assert precious.read_bytes() == before


def test_a_refused_batch_size_creates_nothing(ws, tmp_path, capsys):
    out = tmp_path / "store"
    code, err = cli(ws, capsys, "features", ws.dataset, "--out", out, "--batch-size", "0")
    assert code == 2 and "batch size" in err
    assert not out.exists()


# --- full disks and Ctrl-C --------------------------------------------------------------------
def _shell(ws: Workspace, kilobytes: int, *argv) -> subprocess.CompletedProcess:
    """``urbansound ARGV`` in a shell whose file size limit is ``kilobytes``."""
    command = " ".join(shlex.quote(str(a)) for a in
                       [sys.executable, "-m", "pipeline", "--params", ws.params, *argv])
    return subprocess.run(["bash", "-c", f"ulimit -f {kilobytes} && exec {command}"],
                          capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def _leftovers(folder: Path) -> list[str]:
    """Temporary files and empty folders under ``folder``."""
    return [str(p) for p in folder.rglob("*")
            if ".tmp" in p.name or (p.is_dir() and not any(p.iterdir()))]


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_leaves_nothing(ws, tmp_path):
    store = tmp_path / "store"
    done = _shell(ws, 8, "features", ws.dataset, "--out", store, "--batch-size", "10")
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr
    assert last[-1].startswith("urbansound features: error: cannot write ")
    assert last[-1].endswith(": File too large")
    assert not store.exists() or not _leftovers(store)
    # XGBoost's own writer says only "write incomplete": still one line, no half fit.
    models = tmp_path / "models"
    done = _shell(ws, 4, "train", "--features", ws.features, "--out", models, "--model",
                  "xgb", "--reports", ws.reports)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "cannot write " in done.stderr and done.stderr.strip().endswith(": File too large")
    assert not models.exists() or not _leftovers(models)
    assert not (models / ".xgb.new").exists()


def _running(proc: subprocess.Popen) -> bool:
    """Whether ``proc`` still runs after a wait of at most 5 ms: a polling loop that leaves
    the cores to the command it watches (spinning would take one of the two)."""
    try:
        proc.wait(timeout=0.005)
    except subprocess.TimeoutExpired:
        return True
    return False


def _a_worker_forked(command: psutil.Process) -> bool:
    """Whether a worker process of ``command`` runs: forked from its fork server, it shows
    the server's command line (two such processes, the server and a worker)."""
    try:
        return sum("forkserver" in " ".join(child.cmdline())
                   for child in command.children(recursive=True)) >= 2
    except psutil.NoSuchProcess:  # a process ended between the listing and its reading
        return False


def _interrupt_features(ws: Workspace, out: Path, moment: str) -> tuple[int, str]:
    """Send Ctrl-C (SIGINT to the process group, as a terminal does) to ``features`` on a
    local cluster at ``moment``: "start" (at once), "worker start" (when the first worker
    process appears), "progress" (once the progress bar shows, as the cluster starts) or "working"
    (once the first clips are stored); exit code and stderr."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "--params", str(ws.params), "features",
         str(ws.dataset), "--out", str(out), "--scheduler", "processes", "--workers", "2",
         "--batch-size", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO, start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(REPO)}, preexec_fn=interruptible)
    seen = b""
    if moment == "worker start":
        me = psutil.Process(proc.pid)
        while _running(proc) and not _a_worker_forked(me):
            pass
        assert proc.poll() is None, "the command ended before a worker was forked"
    elif moment == "progress":
        while proc.poll() is None and b"features:" not in seen:
            seen += proc.stderr.read(1)
    elif moment == "working":  # clips are done: the workers are busy
        while _running(proc) and not any((out / ".parts").rglob("*.parquet")):
            pass
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate()
    return proc.returncode, (seen + err).decode()


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["start", "worker start", "progress", "working"])
def test_ctrl_c_at_any_moment_is_one_line(ws, tmp_path, moment):
    code, err = _interrupt_features(ws, tmp_path / "store", moment)
    # 130 from the command; a signal that lands before Python listens ends it as a shell
    # would see it (-SIGINT, shown as 130), silently.
    assert code in (130, -signal.SIGINT), err
    if moment == "start" and code == -signal.SIGINT and ", in main" not in err:
        # Sent at once, the signal may land in the interpreter's start-up and first imports
        # (~30 ms), before main() sets its handler: Python itself reports that one.
        return
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    lines = [line for line in err.replace("\r", "\n").splitlines()
             if line.strip() and not line.startswith("features:")]
    assert lines in ([], ["urbansound features: interrupted"]), err
