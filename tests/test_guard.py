"""Guards at the boundary: parameter ranges, safe params.yaml, inputs that are not plain
files, clips too long for a clip model, a scheduler address that is not Dask, output lines
that a file name cannot split, and the detection scores against ``sed_eval``'s figures.

Real files everywhere: YAML files, FIFOs made by ``os.mkfifo``, WAVs written by soundfile,
an HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from pipeline.classes import CLASSES
from pipeline.detect.scores import score_events

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
            "from pipeline.detect.scores import score_events\n"
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

