"""Guards at the boundary: parameter ranges, safe params.yaml, inputs that are not plain
files, clips too long for a clip model, a scheduler address that is not Dask, output lines
that a file name cannot split, and the detection scores against ``sed_eval``'s figures.

Real files everywhere: YAML files, FIFOs made by ``os.mkfifo``, WAVs written by soundfile,
an HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from pipeline.apps.detect.scores import score_events
from pipeline.datasets.classes import CLASSES

# --- detection scores --------------------------------------------------------------------
ANNOTATED = [
    ("a.wav", 1.0, 5.0, "siren"), ("a.wav", 10.0, 11.0, "dog_bark"),
    ("a.wav", 14.2, 15.9, "car_horn"), ("a.wav", 20.5, 22.0, "siren"),
    ("a.wav", 21.0, 23.5, "drilling"), ("b.wav", 2.0, 3.0, "gun_shot"),
    ("b.wav", 4.0, 9.5, "jackhammer"), ("b.wav", 12.0, 12.4, "dog_bark"),
    ("b.wav", 12.6, 13.0, "dog_bark"), ("b.wav", 40.0, 41.0, "siren"),
    ("c.wav", 0.0, 2.0, "street_music"),
]
DETECTED = [
    ("x/a.wav", 1.5, 6.0, "siren"), ("x/a.wav", 12.5, 13.0, "dog_bark"),
    ("x/a.wav", 14.0, 16.0, "siren"), ("x/a.wav", 20.0, 22.0, "siren"),
    ("x/a.wav", 21.9, 24.0, "jackhammer"), ("x/b.wav", 2.2, 30.0, "gun_shot"),
    ("x/b.wav", 4.9, 8.0, "drilling"), ("x/b.wav", 11.5, 12.3, "dog_bark"),
    ("x/b.wav", 12.9, 13.2, "dog_bark"), ("x/b.wav", 13.5, 14.0, "dog_bark"),
    ("x/d.wav", 1.0, 2.0, "siren"),
]
DURATIONS = {"x/a.wav": 25.0, "x/b.wav": 35.5, "x/d.wav": 5.0}
# What sed_eval 0.2.1 (SegmentBasedMetrics, time_resolution 1.0; EventBasedMetrics,
# t_collar 1.0, onsets only) gave on ANNOTATED / DETECTED / DURATIONS through this
# package's former sed_eval path (printed with json.dumps, before sed_eval was dropped):
# overall (f1, precision, recall, error_rate, macro_f1) and, for every class with events,
# (f1, precision, recall, n_reference, n_detected). Classes without events are all None / 0.
SED_EVAL = {
    "segment_based": {
        "overall": (0.23529411764705882, 0.16666666666666666, 0.4, 2.05, 0.24045977011494254),
        "per_class": {
            "car_horn": (None, None, 0.0, 2, 0),
            "dog_bark": (0.3333333333333333, 0.25, 0.5, 2, 4),
            "drilling": (0.0, 0.0, 0.0, 3, 4),
            "gun_shot": (0.0689655172413793, 0.03571428571428571, 1.0, 1, 28),
            "jackhammer": (0.0, 0.0, 0.0, 6, 3),
            "siren": (0.8, 0.6666666666666666, 1.0, 6, 9)}},
    "event_based": {
        "overall": (0.5, 0.5, 0.5, 0.7, 0.44761904761904764),
        "per_class": {
            "car_horn": (None, None, 0.0, 1, 0),
            "dog_bark": (0.5714285714285715, 0.5, 0.6666666666666666, 3, 4),
            "drilling": (0.0, 0.0, 0.0, 1, 1),
            "gun_shot": (1.0, 1.0, 1.0, 1, 1),
            "jackhammer": (0.0, 0.0, 0.0, 1, 1),
            "siren": (0.6666666666666666, 0.6666666666666666, 0.6666666666666666, 3, 3)}},
}


def _tables(annotated, detected):
    columns = ["file", "start", "end", "class"]
    return pd.DataFrame(annotated, columns=columns), pd.DataFrame(detected, columns=columns)


def test_scores_equal_sed_eval_figures_to_the_last_bit():
    annotations, detected = _tables(ANNOTATED, DETECTED)
    scores = score_events(detected, annotations, DURATIONS)
    for kind, expected in SED_EVAL.items():
        got = scores[kind]
        overall = (got["f1"], got["precision"], got["recall"], got["error_rate"],
                   got["macro_f1"])
        assert overall == expected["overall"], kind  # exact: the same arithmetic
        for c in CLASSES:
            m = got["per_class"][c]
            row = (m["f1"], m["precision"], m["recall"], m["n_reference"], m["n_detected"])
            assert row == expected["per_class"].get(c, (None, None, None, 0, 0)), (kind, c)
    assert scores["files"] == ["a.wav", "b.wav"]
    assert (scores["not_annotated"], scores["not_detected"]) == (["d.wav"], ["c.wav"])


def test_scores_need_no_sed_eval_nor_pkg_resources():
    """The detection scores import neither (a neighbour's setuptools >= 81 removes
    pkg_resources, which sed_eval's dcase_util needs)."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['pkg_resources'] = None; sys.modules['sed_eval'] = None\n"
            "import pandas as pd\n"
            "from pipeline.apps.detect.scores import score_events\n"
            "a = pd.DataFrame([('a.wav', 1.0, 2.0, 'siren')], columns=['file','start','end',"
            "'class'])\n"
            "print(score_events(a, a, {'a.wav': 3.0})['event_based']['f1'])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1.0"


def _random_case(rng):
    rows = {"ref": [], "sys": []}
    for file in ("a.wav", "b.wav"):
        for side in rows:
            n = int(rng.integers(0, 8))
            start = np.round(rng.uniform(0, 20, n), 1)
            end = start + np.round(rng.uniform(0.1, 4, n), 1)
            rows[side] += list(zip([file] * n, start, end, rng.choice(CLASSES[:3], n),
                                   strict=True))
    return rows["ref"], rows["sys"]


def test_scores_agree_with_sed_eval_where_it_is_installed():
    """Random dense cases against sed_eval itself, where it is still installed. Every
    figure is identical but the event-based error rate, whose substitutions depend on which
    of several maximum matchings is taken."""
    sed_eval = pytest.importorskip("sed_eval")
    rng = np.random.default_rng(1)
    for _ in range(60):
        ref, sys_ = _random_case(rng)
        if not ref:
            continue
        annotations, detected = _tables(ref, sys_)
        durations = {"a.wav": 22.0, "b.wav": 21.5}
        ours = score_events(detected, annotations, durations)
        segment = sed_eval.sound_event.SegmentBasedMetrics(list(CLASSES), time_resolution=1.0)
        event = sed_eval.sound_event.EventBasedMetrics(
            list(CLASSES), t_collar=1.0, evaluate_onset=True, evaluate_offset=False)
        for file in sorted(set(annotations["file"])):
            def events(table, file=file):
                return [{"filename": file, "event_label": c, "onset": float(s),
                         "offset": float(e)}
                        for s, e, c in table.loc[table["file"] == file,
                                                 ["start", "end", "class"]].to_numpy()]
            segment.evaluate(events(annotations), events(detected),
                             evaluated_length_seconds=durations[file])
            event.evaluate(events(annotations), events(detected))
        for kind, metrics in (("segment_based", segment), ("event_based", event)):
            with warnings.catch_warnings():  # sed_eval's mean of empty classes
                warnings.simplefilter("ignore")
                theirs = metrics.results_overall_metrics()
                macro = metrics.results_class_wise_average_metrics()["f_measure"]["f_measure"]
            expected = [theirs["f_measure"][k] for k in ("f_measure", "precision", "recall")]
            got = [ours[kind][k] for k in ("f1", "precision", "recall")]
            assert got == [None if math.isnan(v) else v for v in expected]
            assert ours[kind]["macro_f1"] == (None if math.isnan(macro) else macro)
            if kind == "segment_based":
                assert ours[kind]["error_rate"] == theirs["error_rate"]["error_rate"]



# --- params.yaml read safely, values within their ranges -----------------------------------
def _params_file(tmp_path, text: str | bytes):
    path = tmp_path / "params.yaml"
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


def _one_line_error(capsys, argv, command):
    from pipeline.cli import main

    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith(f"urbansound {command}: error: ") and err.count("\n") == 1, err
    assert len(err) < 300, err  # never a whole value
    return err


ALIAS_BOMB = "".join(
    [f"l{k}: &l{k} [" + ", ".join([f"*l{k - 1}" if k else "lol"] * 9) + "]\n" for k in range(9)]
    + ["seed: *l8\n"])


def test_a_yaml_alias_bomb_fails_fast_in_one_line(tmp_path, capsys):
    path = _params_file(tmp_path, ALIAS_BOMB)
    err = _one_line_error(capsys, ["--params", str(path), "models"], "models")
    assert "line 2: YAML alias *l0" in err and "not allowed" in err


def test_a_latin1_params_file_is_one_line(tmp_path, capsys):
    path = _params_file(tmp_path, "# réglages du projet\nseed: 3\n".encode("latin-1"))
    err = _one_line_error(capsys, ["--params", str(path), "models"], "models")
    assert "is not UTF-8 text (byte 0xe9 on line 1)" in err


def test_a_params_file_that_is_a_fifo_is_refused_unread(tmp_path, capsys):
    path = tmp_path / "params.yaml"
    os.mkfifo(path)  # reading it would block: nobody writes
    err = _one_line_error(capsys, ["--params", str(path), "models"], "models")
    assert "is not a regular file" in err


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("features: {n_fft: 16777216}", "features.n_fft must be at least 16 and at most 65536"),
        ("features: {top_db: -5}", "features.top_db must be above 0"),
        ("features: {top_db: .nan}", "features.top_db must be above 0"),
        ("features: {hop_length: 4096}", "features.hop_length must lie between"),
        ("features: {hop_length: 16}", "features.hop_length must lie between"),
        ("features: {n_mels: 100000}", "features.n_mels must be at least 1 and at most 512"),
        ("features: {n_mfcc: 0}", "features.n_mfcc must be at least 1"),
        ("features: {sr: 1000000000}", "features.sr must be at least 1000 and at most 96000"),
        ("features: {delta_width: 100001}", "features.delta_width must be at least 3"),
        ("features: {silence_db: .inf}", "features.silence_db"),
        ("features: {fmax: 1.0e+300}", "features.fmax must be above 0"),
        ("parallel: {workers: 100000}", "parallel.workers must be at least 1 and at most 64"),
        ("parallel: {batch_size: 0}", "parallel.batch_size must be at least 1"),
        ("seed: -1", "seed must be at least 0"),
        ("evaluate: {n_splits: 1}", "evaluate.n_splits must be at least 2"),
        ("tune: {n_iter: 1000000000}", "tune.n_iter must be at least 1 and at most 10000"),
        ("prepare: {synth_clips: 0}", "prepare.synth_clips must be at least 1"),
        ("detect: {window: .inf}", "detect: window must be above 0 and at most 60 s"),
        ("detect: {block: 1.0e+30}", "detect: block must be above 0 and at most 3600 s"),
        ("detect: {merge_gap: .inf}", "detect: merge_gap must be at least 0"),
        ("features: {n_fft: '" + "x" * 5000 + "'}", "features.n_fft must be an integer"),
    ],
)
def test_out_of_range_params_are_refused_in_one_short_line(tmp_path, capsys, text, needle):
    path = _params_file(tmp_path, text + "\n")
    err = _one_line_error(capsys, ["--params", str(path), "models"], "models")
    assert needle in err


@pytest.mark.parametrize("model", ["xgb", "rf"])
@pytest.mark.parametrize("trees", [0, 10**9])
def test_no_trees_or_too_many_are_refused(model, trees):
    from pipeline.core.errors import UserError
    from pipeline.models.estimators import check_model_params

    with pytest.raises(UserError, match=rf"^train\.{model}\.n_estimators must be at least 1 "):
        check_model_params([model], {model: {"n_estimators": trees}}, seed=0)


@pytest.mark.parametrize("value", ["inf", "1e30", "nan", "-inf"])
@pytest.mark.parametrize("flag", ["--window", "--hop"])
def test_detect_windows_out_of_range_are_one_line_before_any_folder(
        tmp_path, capsys, flag, value):
    out = tmp_path / "out"
    err = _one_line_error(capsys, ["detect", str(tmp_path / "x.wav"), "--out", str(out),
                                   f"{flag}={value}"], "detect")
    assert f"detect: {flag[2:]} must be" in err
    assert not out.exists()


@pytest.mark.parametrize(("args", "needle"), [
    (["--minutes", "inf"], "--minutes must be above 0 and at most 600"),
    (["--minutes", "1e30"], "--minutes must be above 0"),
    (["--files", "100000"], "--files must be at least 1 and at most 1000"),
])
def test_scene_sizes_out_of_range_are_one_line_before_any_folder(tmp_path, capsys, args,
                                                                 needle):
    out = tmp_path / "scenes"
    err = _one_line_error(capsys, ["synth", "--scene", str(out), *args], "synth")
    assert needle in err and not out.exists()


@pytest.mark.parametrize(("args", "needle"), [
    (["--clips", "1000000000"], "--clips must be at least 1 and at most 100000"),
    (["--seed", "-3"], "--seed must be at least 0"),
])
def test_clip_counts_out_of_range_are_one_line_before_any_folder(tmp_path, capsys, args,
                                                                 needle):
    out = tmp_path / "clips"
    err = _one_line_error(capsys, ["synth", str(out), *args], "synth")
    assert needle in err and not out.exists()


@pytest.fixture
def clip_folder(tmp_path):
    """A plain folder of three 0.5-s clips."""
    folder = tmp_path / "clips"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for k in range(3):
        sf.write(folder / f"c{k}.wav", 0.1 * rng.standard_normal(11025).astype(np.float32),
                 22050)
    return folder


@pytest.mark.parametrize(("args", "needle"), [
    (["--batch-size", "0"], "batch size must be at least 1"),
    (["--batch-size", "1000000000"], "batch size must be at least 1 and at most 100000"),
    (["--workers", "0"], "workers must be at least 1"),
    (["--workers", "100000"], "workers must be at least 1 and at most 64"),
])
def test_feature_run_sizes_are_refused_before_any_folder(clip_folder, tmp_path, capsys, args,
                                                         needle):
    out = tmp_path / "store"
    err = _one_line_error(capsys, ["features", str(clip_folder), "--out", str(out),
                                   "--scheduler", "sync", *args], "features")
    assert needle in err
    assert not out.exists()  # no .parts/<digest>/ left behind


# --- inputs that are not plain files; symlinked folders; clips too long for a clip model ----
LONG_MINUTES = 20


def _write_long_wav(path, minutes=LONG_MINUTES, sr=8000):
    """A long 8-kHz noise WAV, written block by block (nothing long sits in memory)."""
    rng = np.random.default_rng(1)
    with sf.SoundFile(path, "w", samplerate=sr, channels=1, subtype="PCM_16") as f:
        for _ in range(minutes):
            f.write((0.1 * rng.standard_normal(60 * sr)).astype(np.float32))


def _run_features(folder, out, capsys):
    from pipeline.cli import main

    assert main(["features", str(folder), "--out", str(out), "--scheduler", "sync"]) == 0
    capsys.readouterr()
    from pipeline.store import ERRORS_FILE, read_features

    return read_features(out), pd.read_csv(out / ERRORS_FILE, keep_default_na=False)


def test_features_report_pipes_and_long_clips_and_follow_linked_folders(tmp_path, capsys,
                                                                        clip_folder):
    os.mkfifo(clip_folder / "live.wav")  # opened for reading, it would block for ever
    _write_long_wav(clip_folder / "hour.wav")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    sf.write(elsewhere / "linked.wav", np.zeros(4000, np.float32), 8000)
    (clip_folder / "more").symlink_to(elsewhere, target_is_directory=True)
    (clip_folder / "loop").symlink_to(clip_folder, target_is_directory=True)  # a link loop

    table, errors = _run_features(clip_folder, tmp_path / "store", capsys)
    assert sorted(table["id"]) == ["c0", "c1", "c2", "linked"]  # the linked folder, once
    kinds = dict(zip(errors["id"], errors["kind"], strict=True))
    assert kinds == {"live": "not_a_file", "hour": "too_long"}
    messages = dict(zip(errors["id"], errors["message"], strict=True))
    assert "not a regular file (named pipe)" in messages["live"]
    assert f"{LONG_MINUTES * 60:.1f} s long, more than the 60 s" in messages["hour"]


def test_a_worker_s_memory_is_flat_in_clip_length(tmp_path):
    """Peak memory (tracemalloc: every numpy allocation) of featurizing a 20-minute file
    is no more than that of a 4-s clip: the long one is refused from its header."""
    import tracemalloc

    from pipeline.core.config import FeatureParams
    from pipeline.datasets.audio import TooLongAudioError
    from pipeline.store import featurize_clip

    short, long_ = tmp_path / "short.wav", tmp_path / "long.wav"
    sf.write(short, 0.1 * np.random.default_rng(0).standard_normal(4 * 8000), 8000)
    _write_long_wav(long_)
    params = FeatureParams()
    featurize_clip(str(short), params=params)  # caches (filter banks) filled first
    peaks = {}
    for name, path in (("short", short), ("long", long_)):
        tracemalloc.start()
        try:
            featurize_clip(str(path), params=params)
        except TooLongAudioError as exc:
            assert name == "long" and exc.kind == "too_long"
        peaks[name] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peaks["long"] <= peaks["short"], peaks


def test_a_clip_just_within_the_limit_is_loaded(tmp_path):
    from pipeline.core.config import MAX_CLIP_SECONDS
    from pipeline.datasets.audio import load_clip

    path = tmp_path / "edge.wav"
    sf.write(path, np.zeros(int(MAX_CLIP_SECONDS * 8000), np.float32), 8000)
    assert len(load_clip(path, sr=8000, max_seconds=MAX_CLIP_SECONDS)) == MAX_CLIP_SECONDS * 8000


def test_an_av_tree_with_a_pipe_for_a_clip_and_for_a_table(tmp_path):
    from pipeline.core.errors import UserError
    from pipeline.datasets import read_dataset

    root = tmp_path / "av"
    (root / "Test").mkdir(parents=True)
    (root / "test.csv").write_text("ID\n1\n2\n")
    sf.write(root / "Test" / "1.wav", np.zeros(800, np.float32), 8000)
    os.mkfifo(root / "Test" / "2.wav")
    df = read_dataset(root)
    assert df.attrs["missing"] == []  # there, but no regular file: extraction says so
    (root / "test.csv").unlink()
    os.mkfifo(root / "test.csv")
    with pytest.raises(UserError, match="test.csv is not a regular file"):
        read_dataset(root)


# --- predict and detect on a real FIFO and on a file name holding a newline ---------------
@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """A logistic regression on random rows of the real feature columns (seconds to fit)."""
    from dataclasses import asdict

    from model_tables import TINY

    from pipeline.core.config import FeatureParams
    from pipeline.features import feature_names
    from pipeline.models.train import train_models

    names = feature_names(FeatureParams())
    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.standard_normal((60, len(names))).astype(np.float32),
                         columns=names)
    table.insert(0, "id", [f"r{i}" for i in range(60)])
    table.insert(1, "label", pd.array(np.asarray(CLASSES[:3])[np.arange(60) % 3],
                                      dtype="string"))
    table.insert(2, "fold", pd.array(np.arange(60) % 5 + 1, dtype="Int64"))
    table.insert(3, "group", pd.array([f"g{i}" for i in range(60)], dtype="string"))
    table.insert(4, "split", "train")
    out = tmp_path_factory.mktemp("models")
    train_models(table, ["logreg"], TINY, seed=0, out_dir=out,
                 feature_params=asdict(FeatureParams()))
    return out


def _cli(tmp_path, *args):
    """The command in a child process, so that a hang fails the test instead of stalling it."""
    import subprocess
    import sys

    params = tmp_path / "sync.yaml"
    params.write_text("parallel: {scheduler: sync, workers: 1}\n")
    return subprocess.run([sys.executable, "-m", "pipeline", "--params", str(params), *args],
                          capture_output=True, text=True, timeout=300)


def test_predict_on_a_fifo_and_a_newline_name_gives_one_line_per_clip(tmp_path, tiny_models):
    folder = tmp_path / "in"
    folder.mkdir()
    sf.write(folder / "good.wav", np.zeros(8000, np.float32), 8000)
    sf.write(folder / "two\nlines.wav", np.zeros(8000, np.float32), 8000)
    os.mkfifo(folder / "live.wav")
    done = _cli(tmp_path, "predict", str(folder), "--models", str(tiny_models), "--model",
                "logreg")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3 and all(len(line.split("\t")) == 3 for line in lines), lines
    by_id = {line.split("\t")[0]: line.split("\t")[1:] for line in lines}
    assert set(by_id) == {"good", "live", "two\\nlines"}
    assert by_id["live"][0] == "ERROR" and "not a regular file (named pipe)" in by_id["live"][1]
    assert by_id["two\\nlines"][0] in CLASSES


def _lying_flac(path):
    """A 1-s FLAC whose STREAMINFO claims 2**36 - 1 samples (99 days at 8 kHz)."""
    sf.write(path, np.zeros(8000, np.float32), 8000)
    data = bytearray(path.read_bytes())
    # "fLaC", a 4-byte block header, then STREAMINFO: 10 bytes, then 64 bits of sample rate
    # (20), channels (3), bits per sample (5) and total samples (36).
    fields = int.from_bytes(data[18:26], "big")
    data[18:26] = ((fields >> 36 << 36) | (2**36 - 1)).to_bytes(8, "big")
    path.write_bytes(bytes(data))


def test_detect_on_a_fifo_reports_it_and_analyses_the_rest(tmp_path, tiny_models):
    folder = tmp_path / "rec"
    folder.mkdir()
    sf.write(folder / "street.wav", 0.1 * np.random.default_rng(2).standard_normal(6 * 8000),
             8000)
    os.mkfifo(folder / "live.wav")
    _lying_flac(folder / "lie.flac")
    (folder / "two\nlines.wav").write_bytes(b"not audio")
    out = tmp_path / "out"
    done = _cli(tmp_path, "detect", str(folder), "--models", str(tiny_models), "--model",
                "logreg", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "live.wav: could not be read (not_a_file: " in done.stdout
    assert "lie.flac: could not be read (too_long: 2386.1 h, more than the 48 h" in done.stdout
    # a name holding a newline stays on its one line of the summary
    named = [line for line in done.stdout.splitlines() if "lines.wav" in line]
    assert len(named) == 1, named
    assert named[0].startswith(f"{folder}/two\\nlines.wav: could not be read (undecodable")
    assert "1 file(s) analysed, 3 unreadable" in done.stdout
    windows = pd.read_csv(out / "windows.csv")
    assert set(windows["file"].map(lambda f: f.rsplit("/", 1)[-1])) == {"street.wav"}


# --- a scheduler address where something else listens --------------------------------------
@pytest.fixture
def http_server():
    """A real HTTP server on 127.0.0.1 (it waits for a request, as a web server does)."""
    import http.server
    import threading

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def banner_server():
    """A TCP server that greets every connection with a text banner (as SSH does)."""
    import socketserver
    import threading

    class Banner(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Banner)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("server", "needle"), [
    ("http_server", "it sent no Dask handshake within 0.5 s"),
    ("banner_server", "it answered b'SSH-2.0-'..., not a Dask handshake"),
])
def test_a_scheduler_address_that_is_not_dask_is_one_line(request, clip_folder, tmp_path,
                                                          capsys, monkeypatch, server, needle):
    from pipeline.engine import cluster

    # The wait for a handshake is the real one, shortened from 5 s: the test idles through it.
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 0.5)
    port = request.getfixturevalue(server)
    out = tmp_path / "store"
    err = _one_line_error(capsys, ["features", str(clip_folder), "--out", str(out),
                                   "--scheduler", f"tcp://127.0.0.1:{port}"], "features")
    assert f"cannot connect to the Dask scheduler at tcp://127.0.0.1:{port}: {needle}" in err
    assert not out.exists()


@pytest.mark.parametrize(("ffnn", "needle"), [
    ({"hidden_layer_sizes": [10**9]}, "hidden_layer_sizes must be an integer in 1..16384"),
    ({"hidden_layer_sizes": [8] * 100}, "list of at most 16 of them"),
    ({"networks": 10**6}, "networks must be an integer in 1..100"),
])
def test_network_sizes_out_of_range_are_refused(ffnn, needle):
    from pipeline.core.errors import UserError
    from pipeline.models.estimators import check_model_params

    with pytest.raises(UserError, match=needle):
        check_model_params(["ffnn"], {"ffnn": ffnn}, seed=0)


@pytest.mark.parametrize(("text", "needle"), [
    ("seed: " + "[" * 20000 + "]" * 20000, "nests lists or mappings too deeply"),
    ("seed: 1\n1: 2\nnull: 3", "unknown key(s) 1, None; known: detect"),
    ("features:\n  1: 2", "unknown key(s) features.1; known"),
    ("train:\n  models: [1, null]", "train.models must be a list, each item a string"),
    ("seed: 99999999999999999999999999999999999999999999999999",
     "seed must be at least 0 and at most 4294967295 (an integer), got 9999"),
    ("seed: !!python/object/apply:os.system [ls]", "could not determine a constructor"),
])
def test_malformed_params_files_are_one_line(tmp_path, capsys, text, needle):
    path = _params_file(tmp_path, text + "\n")
    err = _one_line_error(capsys, ["--params", str(path), "models"], "models")
    assert needle in err


def test_odd_parameter_names_of_a_model_are_one_line():
    from pipeline.core.errors import UserError
    from pipeline.models.estimators import check_model_params

    with pytest.raises(UserError, match=r"^train\.ffnn: unknown parameter\(s\) 1, None; "):
        check_model_params(["ffnn"], {"ffnn": {1: 2, None: 3}}, seed=0)


@pytest.mark.parametrize("kind", ["fifo", "socket", "device"])
def test_special_files_are_never_opened(tmp_path, kind):
    import socket

    from pipeline.datasets.audio import NotAFileError, load_clip, signal_length

    path = tmp_path / f"{kind}.wav"
    if kind == "fifo":
        os.mkfifo(path)
        what = "named pipe"
    elif kind == "socket":
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(str(path))  # the socket file stays after the socket is closed
        what = "socket"
    else:
        path.symlink_to("/dev/zero")  # endless zeros: a read would never end
        what = "character device"
    for load in (load_clip, signal_length):
        with pytest.raises(NotAFileError, match=rf"not a regular file \({what}\)$") as err:
            load(path)
        assert err.value.kind == "not_a_file"
