"""urbansound detect: window arithmetic, block-wise reading, events, scores, the command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from model_tables import TINY

from pipeline.apps.detect import detect
from pipeline.apps.detect.events import energy_gate, find_events, frame_scores
from pipeline.apps.detect.scores import read_annotations, score_events
from pipeline.apps.detect.windows import Grid, blocks_of, featurize_block, grid_for
from pipeline.cli import main
from pipeline.core.config import DetectParams, FeatureParams
from pipeline.core.errors import UserError
from pipeline.datasets.audio import EmptyAudioError, load_clip, load_span, signal_length
from pipeline.datasets.classes import CLASSES
from pipeline.features import extract_features

SR = 22050


# --- window and frame arithmetic ------------------------------------------------------------
@pytest.mark.parametrize(
    ("n", "window", "hop", "spans"),
    [
        (3, 4, 1, [(0, 3)]),  # shorter than one window: one short window
        (4, 4, 1, [(0, 4)]),  # exactly one window
        (5, 4, 1, [(0, 4), (1, 5)]),  # one sample more: a second window reaches the end
        (10, 4, 3, [(0, 4), (3, 7), (6, 10)]),
        (11, 4, 3, [(0, 4), (3, 7), (6, 10), (9, 11)]),  # the last window is short
        (8, 4, 4, [(0, 4), (4, 8)]),  # hop = window tiles the signal
        (9, 4, 4, [(0, 4), (4, 8), (8, 9)]),
    ],
)
def test_window_spans_reach_the_end_of_the_file(n, window, hop, spans):
    grid = Grid(n=n, window=window, hop=hop)
    assert grid.n_windows == len(spans)
    assert [tuple(s) for s in grid.spans().tolist()] == spans
    edges = grid.frame_edges()
    assert edges[0] == 0 and edges[-1] == n and np.all(np.diff(edges) > 0)
    assert len(edges) - 1 == -(-n // hop)


def test_grid_from_seconds():
    grid = grid_for(int(10.5 * SR), sr=SR, window=4.0, hop=1.0)
    assert (grid.window, grid.hop, grid.n_windows) == (4 * SR, SR, 8)
    assert grid.spans()[-1].tolist() == [7 * SR, int(10.5 * SR)]


@pytest.mark.parametrize(
    ("window", "hop", "expected"),
    [(4.0, 1.0, 43 * 512),  # 22050 / 512 = 43.07 feature hops
     (4.0, 0.5, 22 * 512), (4.0, 4.0, 172 * 512),  # at most the window (88200 samples)
     (4.0, 0.001, 512),  # at least one feature hop
     (0.01, 0.01, 220)],  # a window shorter than a feature hop: the hop is the window
)
def test_the_hop_is_a_whole_number_of_feature_hops(window, hop, expected):
    grid = grid_for(10 * SR, sr=SR, window=window, hop=hop, multiple=512)
    assert grid.hop == expected and grid.window == int(round(window * SR))


def test_frame_scores_average_the_windows_covering_each_frame():
    # 6 frames of 1 s, windows of 2 s: frame k is covered by windows k-1 and k (inside).
    grid = Grid(n=6, window=2, hop=1)
    proba = np.zeros((grid.n_windows, 2))
    proba[0, 0] = 1.0  # window [0, 2) says class 0
    proba[1:, 1] = 1.0
    scores = frame_scores(proba, grid)
    assert scores[:, 0].tolist() == [1.0, 0.5, 0.0, 0.0, 0.0, 0.0]
    assert scores[:, 1].tolist() == [0.0, 0.5, 1.0, 1.0, 1.0, 1.0]


def test_events_take_the_best_class_per_frame_and_merge_short_gaps():
    edges = np.arange(11) * SR  # ten 1-s frames
    a, b = [0.9, 0.05], [0.05, 0.9]
    low = [0.3, 0.3]
    scores = np.array([a, a, low, a, b, b, low, low, b, [0.6, 0.4]])
    kw = {"sr": SR, "threshold": 0.5}
    assert find_events(scores, edges, ["x", "y"], merge_gap=0.0, **kw) == [
        (0.0, 2.0, "x", 0.9), (3.0, 4.0, "x", 0.9), (4.0, 6.0, "y", 0.9),
        (8.0, 9.0, "y", 0.9), (9.0, 10.0, "x", 0.6)]
    # A 1-s gap is bridged, a 2-s gap is not; an event of the other class is never crossed.
    merged = find_events(scores, edges, ["x", "y"], merge_gap=1.0, **kw)
    assert [(s, e, c) for s, e, c, _ in merged] == [
        (0.0, 4.0, "x"), (4.0, 6.0, "y"), (8.0, 9.0, "y"), (9.0, 10.0, "x")]
    assert merged[0][3] == pytest.approx((0.9 * 3 + 0.3) / 4)
    longer = find_events(scores, edges, ["x", "y"], merge_gap=1.0, min_duration=2.0, **kw)
    assert [(s, e) for s, e, _, _ in longer] == [(0.0, 4.0), (4.0, 6.0)]


def test_the_energy_gate_keeps_events_out_of_the_background():
    power = np.array([1e-4] * 8 + [1e-3, 1e-2])  # floor -40 dB; the last two 10 and 20 dB up
    gate = energy_gate(power, 3.0)
    assert gate.tolist() == [False] * 8 + [True, True]
    assert energy_gate(power, None) is None
    assert energy_gate(power, 15.0).tolist() == [False] * 9 + [True]
    scores = np.tile([0.9, 0.1], (10, 1))  # the classifier says "x" everywhere
    edges = np.arange(11) * SR
    events = find_events(scores, edges, ["x", "y"], sr=SR, threshold=0.5, allowed=gate)
    assert [(s, e, c) for s, e, c, _ in events] == [(8.0, 10.0, "x")]


# --- block-wise reading ---------------------------------------------------------------------
def _write(path, seconds, sr, channels=1, subtype="PCM_16", seed=0):
    rng = np.random.default_rng(seed)
    n = int(seconds * sr) + 7
    t = np.arange(n) / sr
    tone = 0.3 * np.sin(2 * np.pi * 440 * t * (1 + 0.2 * np.sin(t)))
    data = tone[:, None] + 0.05 * rng.standard_normal((n, channels))
    sf.write(path, np.clip(data, -1, 1), sr, subtype=subtype)
    return path


@pytest.mark.parametrize(
    ("sr", "channels", "subtype", "tolerance"),
    [(22050, 1, "PCM_16", 0.0), (44100, 2, "PCM_24", 1e-6), (48000, 2, "PCM_16", 1e-6),
     (11024, 1, "FLOAT", 1e-5), (8000, 1, "IMA_ADPCM", 1e-6)],
)
def test_spans_match_whole_file_loading(tmp_path, sr, channels, subtype, tolerance):
    path = _write(tmp_path / "x.wav", 9.3, sr, channels, subtype)
    whole = load_clip(path, sr=SR)
    assert signal_length(path, SR) == len(whole)
    for start, stop in [(0, 4 * SR), (3 * SR + 5, 8 * SR), (len(whole) - 999, len(whole) + 50),
                        (17, 18)]:
        span = load_span(path, start, stop, sr=SR)
        expected = whole[start:stop]
        assert span.shape == expected.shape
        assert np.max(np.abs(span - expected)) <= tolerance


@pytest.mark.parametrize("frames", [1, 2, 961, 93680, 100003])
@pytest.mark.parametrize("sr", [96000, 24000, 44100, 11024])
def test_signal_length_is_the_resampled_length(tmp_path, frames, sr):
    path = tmp_path / "x.wav"
    sf.write(path, np.zeros(frames), sr, subtype="PCM_16")
    if signal_length(path, SR) == 0:  # one frame at 96 kHz: less than a sample at 22050 Hz
        with pytest.raises(EmptyAudioError):
            load_clip(path, sr=SR)
    else:
        assert signal_length(path, SR) == len(load_clip(path, sr=SR))


@pytest.mark.parametrize("sr", [22050, 48000])
def test_block_windows_equal_windows_of_the_whole_file(tmp_path, sr):
    path = str(_write(tmp_path / "x.wav", 12.6, sr, 2))
    params = FeatureParams()
    whole = load_clip(path, sr=SR)
    grid = grid_for(len(whole), sr=SR, window=4.0, hop=1.5)
    expected = np.stack([
        np.fromiter(extract_features(whole[s:e], sr=SR, params=params).values(), np.float32)
        for s, e in grid.spans()])
    for per_block in (1, 3, grid.n_windows):
        got = np.vstack([featurize_block(b, params=params).features
                         for b in blocks_of(0, path, grid, per_block)])
        if sr == SR:
            np.testing.assert_array_equal(got, expected)
        else:  # resampled span by span: float32 rounding, amplified by skew and kurtosis
            np.testing.assert_allclose(got, expected, rtol=1e-2, atol=1e-3)
    # The coarse spectrogram columns of the blocks tile the signal; the frame powers are
    # those of the whole signal's hop-long frames.
    results = [featurize_block(b, params=params) for b in blocks_of(0, path, grid, 3)]
    edges = [r.column_edges for r in results]
    assert edges[0][0] == 0 and edges[-1][-1] == len(whole)
    assert all(a[-1] == b[0] for a, b in zip(edges, edges[1:], strict=False))
    power = np.concatenate([r.frame_power for r in results])
    cut = grid.frame_edges()
    expected_power = [np.mean(whole[a:b].astype(np.float64) ** 2)
                      for a, b in zip(cut[:-1], cut[1:], strict=True)]
    np.testing.assert_allclose(power, expected_power, rtol=1e-4)


# --- scores (sed_eval definitions), hand-worked ---------------------------------------------
def _annotations(tmp_path, rows):
    path = tmp_path / "ann.csv"
    pd.DataFrame(rows, columns=["file", "start", "end", "class"]).to_csv(path, index=False)
    return read_annotations(path)


def test_scores_on_a_hand_worked_case(tmp_path):
    reference = _annotations(tmp_path, [
        ("a.wav", 1.0, 5.0, "siren"), ("a.wav", 10.0, 11.0, "dog_bark"),
        ("b.wav", 2.0, 3.0, "gun_shot")])
    detected = pd.DataFrame([
        ("x/a.wav", 1.5, 6.0, "siren"),  # onset 0.5 s late: an event hit; segments 1-5
        ("x/a.wav", 12.5, 13.0, "dog_bark"),  # onset 2.5 s late: a miss and a false alarm
        ("x/b.wav", 2.2, 30.0, "gun_shot"),  # offset far off: still a hit (onsets only)
    ], columns=["file", "start", "end", "class"])
    s = score_events(detected, reference, {"x/a.wav": 20.0, "x/b.wav": 30.0})
    # Segments (1 s). siren: ref 1..4, detected 1..5 -> TP 4, FP 1. dog_bark: ref 10,
    # detected 12 -> FN 1, FP 1. gun_shot: ref 2, detected 2..29 -> TP 1, FP 27.
    seg = s["segment_based"]
    assert seg["precision"] == pytest.approx(5 / 34)
    assert seg["recall"] == pytest.approx(5 / 6)
    assert seg["f1"] == pytest.approx(2 * 5 / (2 * 5 + 29 + 1))
    assert seg["per_class"]["siren"]["f1"] == pytest.approx(8 / 9)
    assert seg["per_class"]["dog_bark"]["f1"] == 0.0
    # Events (onset within ±1 s). TP: siren, gun_shot; FN: dog_bark; FP: dog_bark.
    ev = s["event_based"]
    assert (ev["precision"], ev["recall"]) == (pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert ev["per_class"]["siren"]["f1"] == 1.0 and ev["per_class"]["dog_bark"]["f1"] == 0.0
    assert ev["per_class"]["car_horn"]["f1"] is None  # no event on either side: undefined
    assert s["settings"]["offsets_evaluated"] is False
    assert s["files"] == ["a.wav", "b.wav"]


def test_event_matching_is_one_to_one(tmp_path):
    reference = _annotations(tmp_path, [("a.wav", 10.0, 12.0, "siren")])
    detected = pd.DataFrame([("a.wav", 9.5, 10.2, "siren"), ("a.wav", 10.4, 12.0, "siren")],
                            columns=["file", "start", "end", "class"])
    ev = score_events(detected, reference, {"a.wav": 20.0})["event_based"]
    assert (ev["precision"], ev["recall"]) == (0.5, 1.0)


@pytest.mark.parametrize(
    ("rows", "needle"),
    [([("a.wav", 3.0, 2.0, "siren")], "0 <= start < end"),
     ([("a.wav", "x", 2.0, "siren")], "0 <= start < end"),
     ([("a.wav", 1.0, 2.0, "sirens")], "unknown class")],
)
def test_bad_annotations_are_one_line(tmp_path, rows, needle):
    with pytest.raises(UserError, match=needle):
        _annotations(tmp_path, rows)


# --- end to end on generated audio ----------------------------------------------------------
@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A logistic regression trained on the sirens and steady hums of 100 generated clips.

    Three classes, so that a model this small still tells the scene's sirens from its
    ambience: what is tested is the detection around the model, not the model.
    """
    from pipeline.datasets import read_dataset
    from pipeline.datasets.synth import generate
    from pipeline.engine.cluster import parse_scheduler
    from pipeline.models.train import train_models
    from pipeline.store import extract_to_store, read_features, read_meta

    root = tmp_path_factory.mktemp("clips")
    generate(root, layout="us8k", clips=100, seed=5, progress=False)
    store = root / "features"
    extract_to_store(read_dataset(root), store, params=FeatureParams(),
                     scheduler=parse_scheduler("sync"), progress=False)
    out = root / "models"
    table = read_features(store)
    table = table[table["label"].isin(["siren", "air_conditioner", "engine_idling"])]
    train_models(table, ["logreg"], TINY, seed=0, out_dir=out,
                 feature_params=read_meta(store)["fingerprint"]["params"])
    return out


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A 30-s generated scene of siren events and its annotation."""
    from pipeline.datasets.long_scenes import generate_scenes

    root = tmp_path_factory.mktemp("scene")
    info = generate_scenes(root, minutes=0.5, seed=1, classes=("siren",))
    return root, info


def test_scene_annotation_is_consistent(scene):
    root, info = scene
    table = pd.read_csv(info["annotations"])
    assert list(table.columns) == ["file", "start", "end", "class"]
    assert set(table["class"]) == {"siren"} and len(table) == info["events"] >= 1
    assert (table["start"] < table["end"]).all()
    assert (table["start"].iloc[1:].to_numpy() > table["end"].iloc[:-1].to_numpy()).all()
    y, sr = sf.read(root / "scene_00.wav")
    assert sr == SR and len(y) == 30 * SR and table["end"].max() <= 30.0
    # Events stand out of the ambience: louder inside the first event than before it (by
    # at least 3.5 dB: an event is mixed 6-20 dB above the ambience on its active frames,
    # and a passing siren fades in and out).
    first = table.iloc[0]
    inside = y[int(first.start * sr) : int(first.end * sr)]
    before = y[: int(first.start * sr)]
    assert np.sqrt(np.mean(inside**2)) > 1.5 * np.sqrt(np.mean(before**2))


def test_scenes_are_reproducible(tmp_path):
    from pipeline.datasets.long_scenes import generate_scenes

    a = generate_scenes(tmp_path / "a", minutes=0.2, seed=4)
    b = generate_scenes(tmp_path / "b", minutes=0.2, seed=4)
    assert open(a["files"][0], "rb").read() == open(b["files"][0], "rb").read()


def test_ambience_chunks_join_without_a_step():
    from pipeline.datasets.long_scenes import _CHUNK, _ambience_chunks

    chunks = list(_ambience_chunks(2 * _CHUNK + 100, seed=0, file_index=0))
    assert [len(c) for c in chunks] == [_CHUNK, _CHUNK, 100]
    y = np.concatenate(chunks)
    half = SR // 2

    def level_change(at):  # |log| of the level ratio of the half seconds before and after
        return abs(np.log(np.std(y[at - half : at]) / np.std(y[at : at + half])))

    # An ambience's level wanders by itself (a car passes): the join may not change it by
    # more than the middle of a chunk does, give or take 40 %.
    assert level_change(_CHUNK) < level_change(_CHUNK // 2) + np.log(1.4)
    step = abs(y[_CHUNK] - y[_CHUNK - 1])
    assert step < 4 * np.mean(np.abs(np.diff(y[_CHUNK - half : _CHUNK + half])))


def test_the_known_event_is_found_at_its_time(models, scene, tmp_path, recwarn):
    root, info = scene
    result = detect([root / "scene_00.wav"], models, params=DetectParams(), out=tmp_path,
                    answers=info["annotations"], progress=False)
    # Quiet: the timeline with annotated events once drew with a tight-layout warning.
    assert [str(w.message) for w in recwarn] == []
    truth = pd.read_csv(info["annotations"]).iloc[0]
    events = result.files[0].events
    sirens = [e for e in events if e[2] == "siren"]
    assert sirens, events
    onset = min(sirens, key=lambda e: abs(e[0] - truth.start))[0]
    assert abs(onset - truth.start) <= 2.0  # window 4 s, hop 1 s
    # Scored as found: the siren's seconds are detected (its onset lies within 2 s, which
    # the event-based collar of 1 s need not accept at a 1-s hop).
    assert result.scores["segment_based"]["per_class"]["siren"]["recall"] > 0


def test_detect_command_with_an_unreadable_file(models, scene, tmp_path, capsys, local_engine):
    root, info = scene
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00garbage")
    short = _write(tmp_path / "short.wav", 2.5, 44100, 2)  # shorter than one window
    out = tmp_path / "out"
    args = ["detect", str(root / "scene_00.wav"), str(broken), str(short), "--models",
            str(models), "--out", str(out), "--answers", info["annotations"]]
    # On the session's two worker processes, by address (starting a cluster costs seconds).
    address = local_engine.client().scheduler.address
    assert main([*args, "--scheduler", address, "--gate-db", "3"]) == 0
    printed = capsys.readouterr().out
    [line] = [x for x in printed.splitlines() if "broken.wav" in x]
    assert "could not be read (undecodable" in line
    assert "2 file(s) analysed, 1 unreadable" in printed and "segment-based (1 s): F1" in printed
    windows = pd.read_csv(out / "windows.csv")
    assert list(windows.columns[:5]) == ["file", "start", "end", "class", "probability"]
    assert [c[2:] for c in windows.columns[5:]] == list(CLASSES)
    assert np.allclose(windows.iloc[:, 5:].sum(axis=1), 1.0, atol=1e-3)
    per_file = windows.groupby("file").size()
    # The 1-s hop is 43 feature hops, 22016 samples: 1 + ceil((30 s - 4 s) / 0.9985 s) = 28.
    assert per_file[str(root / "scene_00.wav")] == 28 and per_file[str(short)] == 1
    scene_rows = windows[windows["file"] == str(root / "scene_00.wav")]
    np.testing.assert_allclose(scene_rows["start"], np.arange(28) * 22016 / SR, atol=5e-4)
    np.testing.assert_allclose(scene_rows["end"], np.minimum(scene_rows["start"] + 4.0, 30.0),
                               atol=1e-3)
    assert windows.loc[windows["file"] == str(short), "end"].item() == pytest.approx(2.5, abs=1e-3)
    events = pd.read_csv(out / "events.csv")
    assert list(events.columns) == ["file", "start", "end", "class", "probability"]
    assert (events["probability"] >= 0.5).all()
    for stem in ("scene_00", "short"):
        png = (out / f"timeline_{stem}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    assert not (out / "timeline_broken.png").exists()
    scores = json.loads((out / "scores.json").read_text())
    assert scores["files"] == ["scene_00.wav"] and scores["not_annotated"] == ["short.wav"]
    # The same tables from one process.
    first = (out / "windows.csv").read_text()
    first_events = (out / "events.csv").read_text()
    assert main([*args, "--scheduler", "sync", "--gate-db", "3"]) == 0
    assert (out / "windows.csv").read_text() == first
    assert (out / "events.csv").read_text() == first_events


@pytest.mark.parametrize(
    ("extra", "needle"),
    [(["--window", "0"], "window must be a positive"),
     (["--hop", "-1"], "hop must be a positive"),
     (["--window", "2", "--hop", "3"], "must not exceed window"),
     (["--threshold", "1.5"], "threshold must lie in"),
     (["--gate-db", "-3"], "gate_db must be a number >= 0"),
     (["--model", "xgb"], "model 'xgb' is not trained"),
     (["--answers", "nowhere.csv"], "annotations not found")],
)
def test_bad_arguments_are_one_line(models, scene, tmp_path, capsys, extra, needle):
    root, _ = scene
    code = main(["detect", str(root / "scene_00.wav"), "--models", str(models),
                 "--out", str(tmp_path / "o"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_missing_models_folder_is_one_line(scene, tmp_path, capsys):
    root, _ = scene
    code = main(["detect", str(root), "--models", str(tmp_path / "none")])
    err = capsys.readouterr().err
    assert code == 2 and "no trained models" in err and len(err.strip().splitlines()) == 1


def test_synth_scene_command(tmp_path, capsys):
    assert main(["synth", "--scene", str(tmp_path / "s"), "--minutes", "0.2", "--files", "2",
                 "--seed", "3"]) == 0
    assert "wrote 2 scene(s) of 12 s" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "s" / "scene_annotations.csv")
    assert set(table["file"]) <= {"scene_00.wav", "scene_01.wav"}
    assert main(["synth", "--scene", str(tmp_path / "s"), "--minutes", "0"]) == 2
    assert main(["synth"]) == 2
    assert "give an output folder" in capsys.readouterr().err
