"""Processes and interrupts: signals end a command's workers, one writer per store, and bad
scheduler arguments are refused before anything is written."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
from dask_cluster import REPO
from terminal import interruptible

from pipeline.cli import main
from pipeline.datasets.synth import generate
from pipeline.engine.writer_lock import LOCK_FILE
from pipeline.store import FEATURES_FILE, PARTS_DIR

#: Listings of the 30 generated clips in ``long_dataset``: ~300 one-clip tasks.
REPEATS = 10


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    generate(root, layout="us8k", clips=30, seed=7)
    return root / "UrbanSound8K"


@pytest.fixture(scope="module")
def long_dataset(dataset, tmp_path_factory) -> Path:
    """``dataset`` with every clip listed :data:`REPEATS` times (hard links under new slice
    numbers): a run long enough that one signalled, or joined by a second writer, after its
    first batch is still working, even on a loaded machine."""
    root = tmp_path_factory.mktemp("long") / "UrbanSound8K"
    meta = pd.read_csv(dataset / "metadata" / "UrbanSound8K.csv")
    copies = []
    for k in range(1, REPEATS + 1):
        copy = meta.copy()
        copy["slice_file_name"] = [_renumbered(name, k) for name in meta["slice_file_name"]]
        for old, new, fold in zip(meta["slice_file_name"], copy["slice_file_name"],
                                  meta["fold"], strict=True):
            target = root / "audio" / f"fold{fold}" / new
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(dataset / "audio" / f"fold{fold}" / old, target)
        copies.append(copy)
    (root / "metadata").mkdir()
    pd.concat(copies).to_csv(root / "metadata" / "UrbanSound8K.csv", index=False)
    return root


def _renumbered(name: str, k: int) -> str:
    """``fsID-classID-occurrence-slice.wav`` with the slice number raised by 1000·k: another
    slice of the same recording."""
    fs_id, class_id, occurrence, slice_no = Path(name).stem.split("-")
    return f"{fs_id}-{class_id}-{occurrence}-{int(slice_no) + 1000 * k}.wav"


def urbansound(*args: object) -> list[str]:
    """The ``urbansound`` command of this interpreter's environment."""
    script = Path(sys.executable).with_name("urbansound")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "pipeline"]
    return [*command, *map(str, args)]


def start_features(dataset: Path, out: Path, *args: object) -> subprocess.Popen:
    """``urbansound features`` in its own session (so its processes can be found after it)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
        str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen(
        urbansound("features", dataset, "--out", out, "--batch-size", 1, *args),
        env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, preexec_fn=interruptible)


def wait_for_a_part(proc: subprocess.Popen, out: Path) -> None:
    """Return once a first batch is persisted: the workers are up and running tasks."""
    while not list(out.glob(f"{PARTS_DIR}/*/[!.]*.parquet")):
        try:
            proc.wait(timeout=0.02)
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"the run ended (exit {proc.returncode}) before writing a batch")


def session_processes(session: int) -> list[str]:
    """``PID command`` of every living process of a session (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, UnicodeDecodeError):
            continue  # not a process, or it ended meanwhile
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[3]) == session:
            found.append(f"{entry.name} {cmdline.strip()}")
    return found


def assert_nothing_survives(session: int) -> None:
    # The command has exited; its workers and resource tracker follow within moments.
    deadline = time.monotonic() + 10
    while session_processes(session) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert session_processes(session) == []


# --- signals --------------------------------------------------------------------------
def interrupted_run(dataset: Path, out: Path, send) -> tuple[int, str, int]:
    """A local-cluster run signalled by ``send(proc)`` once it runs tasks: (code, err, pid)."""
    proc = start_features(dataset, out, "--scheduler", "processes", "--workers", 2)
    try:
        wait_for_a_part(proc, out)
        send(proc)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return proc.returncode, err, proc.pid


@pytest.mark.slow
def test_sigterm_ends_the_workers(long_dataset, tmp_path):
    # To the command only, as `kill -TERM $!` does.
    code, err, pid = interrupted_run(long_dataset, tmp_path / "out",
                                     lambda proc: proc.send_signal(signal.SIGTERM))
    assert code == 128 + signal.SIGTERM, err
    assert err.strip().splitlines()[-1] == "urbansound features: terminated"
    assert_nothing_survives(pid)
    assert not (tmp_path / "out" / LOCK_FILE).exists()


@pytest.mark.slow
def test_ctrl_c_prints_one_line_and_ends_the_workers(long_dataset, tmp_path):
    # A terminal's Ctrl-C reaches the whole process group.
    code, err, pid = interrupted_run(long_dataset, tmp_path / "out",
                                     lambda proc: os.killpg(proc.pid, signal.SIGINT))
    assert code == 128 + signal.SIGINT, err
    assert "Traceback" not in err
    # Besides the progress bar (redrawn after carriage returns), one line.
    lines = [line for line in err.splitlines() if line.strip()]
    assert [line for line in lines if not line.startswith("features:")] == [
        "urbansound features: interrupted"]
    assert_nothing_survives(pid)


def test_a_ctrl_c_pending_under_a_blocked_mask_still_stops_the_command():
    # Started with SIGINT blocked and already pending (both survive fork and exec), the
    # command would never hear it: it unblocks it once its handler is set.
    def blocked_and_pending():
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        os.kill(os.getpid(), signal.SIGINT)

    done = subprocess.run([sys.executable, "-m", "pipeline", "models"], capture_output=True,
                          text=True, preexec_fn=blocked_and_pending, timeout=60)
    assert done.returncode == 128 + signal.SIGINT, done.stdout
    assert done.stderr == "urbansound: interrupted\n"


def test_a_ctrl_c_swallowed_by_library_code_still_stops_the_command(monkeypatch, capsys):
    # A bare `except:` somewhere below (an import, a JIT compiler) may eat the
    # KeyboardInterrupt; the command that carried on still ends as interrupted.
    import pipeline.cli as cli

    def swallowing(args, params):
        try:
            signal.raise_signal(signal.SIGINT)
        except BaseException:  # what such library code does
            pass
        return 0

    monkeypatch.setattr(cli, "_cmd_score", swallowing)
    before = signal.getsignal(signal.SIGINT)
    assert main(["score", "s.csv", "--answers", "a.csv"]) == 128 + signal.SIGINT
    assert capsys.readouterr().err == "urbansound score: interrupted\n"
    assert signal.getsignal(signal.SIGINT) is before  # restored


def test_an_error_while_a_signal_unwinds_is_reported_as_the_signal(monkeypatch, capsys):
    # Closing the workers under an interrupt may raise on its own (a connection closed
    # under a call): the signal ended the command, and says so on one line.
    import pipeline.cli as cli

    def closing_raises(args, params):
        try:
            raise cli.Terminated
        except cli.Terminated:
            raise ConnectionError("connection closed while closing the cluster") from None

    monkeypatch.setattr(cli, "_cmd_score", closing_raises)
    assert main(["score", "s.csv", "--answers", "a.csv"]) == 128 + signal.SIGTERM
    assert capsys.readouterr().err == "urbansound score: terminated\n"

    def plain_bug(args, params):
        raise ConnectionError("not an interrupt")

    monkeypatch.setattr(cli, "_cmd_score", plain_bug)
    with pytest.raises(ConnectionError, match="not an interrupt"):  # a bug stays loud
        main(["score", "s.csv", "--answers", "a.csv"])


# --- one writer per store ---------------------------------------------------------------
@pytest.mark.slow
def test_a_second_writer_is_refused_at_once_naming_the_first(long_dataset, tmp_path, capsys):
    dataset = long_dataset
    out = tmp_path / "out"
    other = tmp_path / "other.yaml"
    other.write_text("features: {hop_length: 256}\n")
    first = start_features(dataset, out, "--scheduler", "sync")
    try:
        wait_for_a_part(first, out)
        start = time.perf_counter()
        code = main(["--params", str(other), "features", str(dataset), "--out", str(out),
                     "--scheduler", "sync"])
        seconds = time.perf_counter() - start
        err = capsys.readouterr().err
        _, first_err = first.communicate(timeout=120)
    finally:
        first.kill()
    assert code == 2 and seconds < 10
    assert err.count("\n") == 1 and f"(PID {first.pid}) is writing into {out}" in err
    assert first.returncode == 0, first_err  # the first run was not disturbed
    assert (out / FEATURES_FILE).is_file() and not (out / LOCK_FILE).exists()


def test_a_stale_lock_is_taken_over(dataset, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    (out / LOCK_FILE).write_text(f"{dead.pid}\n")  # left by a run that was killed
    assert main(["features", str(dataset), "--out", str(out), "--scheduler", "sync"]) == 0
    assert (out / FEATURES_FILE).is_file() and not (out / LOCK_FILE).exists()


# --- refused before anything is written -------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("args", [
    ["--workers", "0"],
    ["--scheduler", "processes", "--workers", "-1"],
    ["--scheduler", "tcp://127.0.0.1:{port}"],
])
def test_bad_scheduler_arguments_write_nothing(dataset, tmp_path, capsys, args):
    out = tmp_path / "out"
    args = [a.format(port=_closed_port()) for a in args]
    assert main(["features", str(dataset), "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


#: A command that starts the workers' server first, then a local cluster of two workers.
_FORKED_WORKERS = """
import json, os, signal, sys
from pipeline.engine.cluster import Engine, run_tasks, start_worker_server

def probe(_):
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    return [os.getppid(), "colorsys" in sys.modules,
            sorted(int(s) for s in blocked & {signal.SIGINT, signal.SIGTERM})]

if __name__ == "__main__":
    assert start_worker_server(["colorsys"])
    with Engine("processes", 2) as engine:
        found = [r for _, r in run_tasks(probe, [0, 1], scheduler=engine, progress=False)]
    print(json.dumps({"pid": os.getpid(), "workers": found}))
"""


def test_workers_fork_from_a_server_started_first_and_it_ends_with_the_command():
    done = subprocess.run([sys.executable, "-c", _FORKED_WORKERS], capture_output=True,
                          text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                          timeout=120)
    assert done.returncode == 0 and "Warning" not in done.stderr, done.stderr
    seen = json.loads(done.stdout)
    [server] = {parent for parent, _, _ in seen["workers"]}
    assert server != seen["pid"]  # forked from the server, not started by the command
    # The server imported the module before the workers forked (the task did not import
    # it), and they hold Ctrl-C and SIGTERM blocked: only the command answers them.
    assert all(preloaded for _, preloaded, _ in seen["workers"])
    assert all(held == sorted([signal.SIGINT, signal.SIGTERM]) for _, _, held in seen["workers"])
    deadline = time.monotonic() + 10
    while psutil.pid_exists(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not psutil.pid_exists(server)


def test_workers_run_the_commands_package_not_one_in_the_working_folder(tmp_path):
    """Run from a folder holding another ``pipeline`` package (an older checkout, say),
    a command's forked workers import the package the command itself runs."""
    import shutil

    decoy = tmp_path / "checkout"
    shutil.copytree(REPO / "pipeline", decoy / "pipeline",
                    ignore=shutil.ignore_patterns("__pycache__"))
    marker = tmp_path / "decoy-imported"
    with (decoy / "pipeline" / "__init__.py").open("a") as init:
        init.write(f"\nopen({str(marker)!r}, 'w').close()\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PYTHONSAFEPATH", None)
    # Started as its console script is: the script's folder, not the working one, on its path.
    script = tmp_path / "urbansound.py"
    script.write_text("from pipeline.cli import main\n\nif __name__ == '__main__':\n    main()\n")
    done = subprocess.run([sys.executable, str(script), "synth", str(tmp_path / "out"),
                           "--clips", "20", "--workers", "2", "--layout", "us8k"],
                          capture_output=True, text=True, cwd=decoy, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "out").rglob("*.wav"))) == 20
    assert not marker.exists()
