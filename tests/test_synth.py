"""The embedded synthetic dataset: plan, files, layouts, determinism and the CLI."""

import hashlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from pipeline.cli import main
from pipeline.core.errors import UserError
from pipeline.datasets import synth
from pipeline.datasets.classes import CLASS_ID, CLASSES
from pipeline.datasets.synth import dsp

NAME = re.compile(r"^(\d+)-(\d)-(\d+)-(\d+)\.wav$")


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "out"
    summary = synth.generate(out, layout="both", clips=40, seed=3)
    return out, summary


# --- the plan (metadata only) -------------------------------------------------------------
@pytest.mark.parametrize(("clips", "seed"), [(1, 0), (37, 1), (300, 2), (1200, 5)])
def test_plan_names_columns_and_folds(clips, seed):
    df = synth.plan(clips, seed)
    assert len(df) == clips
    assert list(df.columns[:8]) == list(synth.METADATA_COLUMNS)
    assert df["slice_file_name"].is_unique
    for name, fsid, cid, cls, occ, slc in zip(
        df["slice_file_name"], df["fsID"], df["classID"], df["class"],
        df["occurrence"], df["slice"], strict=True,
    ):  # fmt: skip
        assert NAME.match(name).groups() == (str(fsid), str(cid), str(occ), str(slc))
        assert CLASS_ID[cls] == cid
    assert df.groupby("fsID")["fold"].nunique().max() == 1
    assert df.groupby("fsID")["class"].nunique().max() == 1
    # A recording's slices share its file format.
    assert (df.groupby("fsID")[["sr", "channels", "subtype"]].nunique() == 1).all().all()
    assert set(df["fold"]) <= set(range(1, 11))
    assert set(df["salience"]) <= {1, 2}
    assert sorted(df["av_id"]) == list(range(clips))
    dur = df["end"] - df["start"]
    assert ((dur > 0.04) & (dur <= 4.0 + 1e-9)).all()


def test_class_counts_follow_urbansound8k():
    counts = synth.class_counts(8732)
    expected = {c: 1000 for c in CLASSES} | {"car_horn": 429, "gun_shot": 374, "siren": 929}
    assert counts == expected
    assert sum(synth.class_counts(37).values()) == 37


def test_plan_shape_is_realistic():
    df = synth.plan(600, 11)
    counts = df["class"].value_counts()
    others = counts.drop(["car_horn", "gun_shot", "siren"]).mean()
    assert counts["car_horn"] / others == pytest.approx(0.43, abs=0.03)
    assert counts["gun_shot"] / others == pytest.approx(0.37, abs=0.03)
    assert counts["siren"] / others == pytest.approx(0.93, abs=0.03)
    per_fold = df["fold"].value_counts()
    assert len(per_fold) == 10 and per_fold.min() >= 0.6 * per_fold.max()
    dur = df["end"] - df["start"]
    assert (dur == 4.0).mean() > 0.7
    short = df.groupby("class").apply(lambda g: ((g["end"] - g["start"]) < 4.0).mean())
    assert short["gun_shot"] > short["air_conditioner"] + 0.3
    assert (df["salience"] == 2).mean() == pytest.approx(0.32, abs=0.12)


def test_format_shares():
    df = synth.plan(3000, 4)
    share = lambda col, v: float((df[col] == v).mean())  # noqa: E731
    assert share("channels", 2) == pytest.approx(0.92, abs=0.05)
    assert share("sr", 44100) == pytest.approx(0.61, abs=0.08)
    assert share("sr", 48000) == pytest.approx(0.29, abs=0.08)
    assert share("sr", 96000) == pytest.approx(0.07, abs=0.04)
    assert share("subtype", "PCM_16") == pytest.approx(0.66, abs=0.08)
    assert share("subtype", "PCM_24") == pytest.approx(0.32, abs=0.08)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rare_formats_and_tiny_clips_appear_from_100_clips(seed):
    df = synth.plan(100, seed)
    assert set(synth.RARE_RATES) <= set(df["sr"])
    assert set(synth.RARE_SUBTYPES) <= set(df["subtype"])
    assert 1 in set(df["channels"])
    assert ((df["end"] - df["start"]) < 0.1).any()


def test_plan_is_deterministic_per_seed():
    pd.testing.assert_frame_equal(synth.plan(80, 9), synth.plan(80, 9))
    assert not synth.plan(80, 9).equals(synth.plan(80, 10))


# --- audio ----------------------------------------------------------------------------------
@pytest.mark.parametrize("subtype", [*synth.SUBTYPES, *synth.RARE_SUBTYPES])
@pytest.mark.parametrize(("sr", "channels"), [(44100, 2), (11024, 1), (8000, 2)])
def test_every_format_is_written_as_planned(subtype, sr, channels):
    audio = 0.5 * np.sin(np.linspace(0, 300, 2000))[:, None].repeat(channels, axis=1)
    info = sf.info(io.BytesIO(synth.wav_bytes(audio, sr, subtype)))
    assert (info.samplerate, info.channels, info.subtype, info.format) == (
        sr, channels, subtype, "WAV",
    )  # fmt: skip


def test_16_bit_samples_are_the_nearest_levels():
    audio = np.array([[1.0, -1.0], [0.5 / 32768, -0.5 / 32768], [0.3, -0.3], [2e-5, 0.99999]])
    back, _ = sf.read(io.BytesIO(synth.wav_bytes(audio, 44100, "PCM_16")), dtype="int16")
    assert back.tolist() == [[32767, -32768], [0, 0], [9830, -9830], [1, 32767]]
    # Within half a level of libsndfile's own conversion of the same floats.
    x = np.random.default_rng(0).uniform(-1, 1, (5000, 2))
    ours, _ = sf.read(io.BytesIO(synth.wav_bytes(x, 44100, "PCM_16")), dtype="int16")
    theirs = io.BytesIO()
    sf.write(theirs, x, 44100, subtype="PCM_16", format="WAV")
    theirs.seek(0)
    assert np.abs(ours.astype(int) - sf.read(theirs, dtype="int16")[0]).max() <= 1


def test_float_wav_has_no_timestamp():
    data = synth.wav_bytes(np.zeros((100, 1)), 44100, "FLOAT")
    pos = data.index(b"PEAK")
    assert data[pos + 12 : pos + 16] == b"\0\0\0\0"


@pytest.mark.parametrize("cls", CLASSES)
def test_rendered_clip_is_finite_and_in_range(cls):
    row = {"fsID": 7, "occurrence": 0, "slice": 0, "start": 0.0, "end": 1.5, "salience": 1,
           "class": cls, "sr": 48000, "channels": 2}  # fmt: skip
    audio, sr = synth.render_clip(row, 0)
    assert sr == 48000 and audio.shape == (72000, 2)
    assert np.isfinite(audio).all() and 0.0 < np.abs(audio).max() <= 1.0


# Every 83rd clip of the 1000-clip set of seed 42 (all classes, four rates, PCM_16, PCM_24,
# FLOAT, mono and stereo): the bytes the set's CV figures rest on. A change that alters them
# must say so, and the figures be measured again.
GOLDEN_CLIPS = "ded0002255df2380556f56c4206fd7af30349cac1f89c54367bf0fa7f1a34052"


def test_rendered_bytes_are_those_of_the_published_sets():
    digest = hashlib.sha256()
    for row in synth.plan(1000, 42).iloc[::83].to_dict("records"):
        digest.update(synth.wav_bytes(*synth.render_clip(row, 42), row["subtype"]))
    assert digest.hexdigest() == GOLDEN_CLIPS


@pytest.mark.parametrize(("n", "m"), [(88200, 3307), (1102, 44100), (5, 1), (1, 5), (997, 997)])
def test_convolve_is_the_head_of_the_linear_convolution(n, m):
    rng = np.random.default_rng(n + m)
    x, kernel = rng.standard_normal(n), rng.standard_normal(m)
    want = np.convolve(x, kernel)[:n]
    # Single-precision transforms: exact to about 1e-7 of the signal's scale.
    assert np.abs(dsp.convolve(x, kernel) - want).max() < 1e-5 * np.abs(want).max()


def test_tasks_keep_a_recordings_clips_together():
    from pipeline.datasets.synth.write import CHUNK, _chunks

    rows = synth.plan(1000, 42).to_dict("records")
    chunks = _chunks(rows)
    assert [r for chunk in chunks for r in chunk] == rows
    owner = {}
    for i, chunk in enumerate(chunks):
        for row in chunk:
            assert owner.setdefault(row["fsID"], i) == i
    assert all(len(chunk) >= CHUNK for chunk in chunks[:-1])
    assert _chunks([]) == []


# --- generated trees --------------------------------------------------------------------------
def test_us8k_tree_matches_metadata(both):
    out, summary = both
    meta = pd.read_csv(out / "UrbanSound8K" / "metadata" / "UrbanSound8K.csv")
    assert list(meta.columns) == list(synth.METADATA_COLUMNS)
    assert len(meta) == summary["clips"] == 40
    planned = synth.plan(40, 3).set_index("slice_file_name")
    for row in meta.itertuples():
        info = sf.info(out / "UrbanSound8K" / "audio" / f"fold{row.fold}" / row.slice_file_name)
        p = planned.loc[row.slice_file_name]
        assert (info.samplerate, info.channels, info.subtype) == (p.sr, p.channels, p.subtype)
        assert info.frames == pytest.approx((row.end - row.start) * p.sr, abs=p.sr / 1000 + 1)
    wavs = list((out / "UrbanSound8K" / "audio").rglob("*.wav"))
    assert len(wavs) == 40


def test_written_files_are_the_wav_bytes_of_their_clips(both):
    out, _ = both
    meta = synth.plan(40, 3)
    rows = [*meta[meta["subtype"] != "PCM_16"].to_dict("records")[:3],
            *meta[meta["subtype"] == "PCM_16"].to_dict("records")[:2]]
    for row in rows:
        want = synth.wav_bytes(*synth.render_clip(row, 3), row["subtype"])
        path = out / "UrbanSound8K" / "audio" / f"fold{row['fold']}" / row["slice_file_name"]
        assert path.read_bytes() == want, row["subtype"]


def test_record_holds_the_fingerprint_of_every_file_written(both):
    out, _ = both
    record = json.loads((out / synth.RECORD).read_text())["files"]
    assert len(record) == 2 * 40 + 4  # clips of both layouts, the four CSVs
    for name, fp in record.items():  # the workers' fingerprints are those of the files
        data = (out / name).read_bytes()
        assert fp == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}, name


def test_av_split_and_answer_key(both):
    out, _ = both
    meta = pd.read_csv(out / "UrbanSound8K" / "metadata" / "UrbanSound8K.csv")
    train = pd.read_csv(out / "av" / "train.csv")
    test = pd.read_csv(out / "av" / "test.csv")
    key = pd.read_csv(out / "av_answer_key.csv")
    assert list(train.columns) == ["ID", "Class"] and list(test.columns) == ["ID"]
    assert list(key.columns) == ["ID", "Class"]
    ids = [*train["ID"], *test["ID"]]
    assert len(set(ids)) == len(ids) == len(meta)
    assert list(key["ID"]) == list(test["ID"])
    assert (meta["fold"] <= 6).sum() == len(train)
    # Each AV file is one of the US8K clips, with the class the CSVs give it.
    by_bytes = {
        (out / "UrbanSound8K" / "audio" / f"fold{f}" / n).read_bytes(): (f, c)
        for f, n, c in zip(meta["fold"], meta["slice_file_name"], meta["class"], strict=True)
    }
    for table, sub, train_side in ((train, "Train", True), (key, "Test", False)):
        for i, cls in zip(table["ID"], table["Class"], strict=True):
            fold, true_cls = by_bytes[(out / "av" / sub / f"{i}.wav").read_bytes()]
            assert (fold <= 6) == train_side and cls == true_cls


def test_same_seed_same_bytes_other_seed_differs(both, tmp_path):
    out, _ = both
    synth.generate(tmp_path / "again", layout="both", clips=40, seed=3, workers=2)
    assert _files(tmp_path / "again") == _files(out)  # and independent of the worker count
    synth.generate(tmp_path / "other", layout="us8k", clips=40, seed=4)
    other = _files(tmp_path / "other")
    assert not set(other.values()) & set(_files(out).values())


def test_test_only_renders_the_test_clips_of_the_same_plan(both, tmp_path):
    # prepare's independent test set: only its test folds are read, so only they are made,
    # byte for byte those of the full run.
    out, _ = both
    summary = synth.generate(tmp_path, layout="av", clips=40, seed=3, test_only=True)
    full = _files(out / "av")
    written = _files(tmp_path / "av")
    assert sorted(written) == sorted(n for n in full if n != "train.csv"
                                     and not n.startswith("Train/"))
    assert all(written[n] == full[n] for n in written)
    assert (tmp_path / "av_answer_key.csv").read_bytes() == (out / "av_answer_key.csv").read_bytes()
    assert summary["train"] == 0 and summary["test"] == summary["clips"] == len(written) - 1
    record = json.loads((tmp_path / synth.RECORD).read_text())
    assert set(record["files"]) == {f"av/{n}" for n in written} | {"av_answer_key.csv"}


@pytest.mark.parametrize(("layout", "present", "absent"), [
    ("us8k", ["UrbanSound8K/metadata/UrbanSound8K.csv"], ["av", "av_answer_key.csv"]),
    ("av", ["av/train.csv", "av/test.csv", "av_answer_key.csv"], ["UrbanSound8K"]),
])  # fmt: skip
def test_single_layouts(tmp_path, layout, present, absent):
    synth.generate(tmp_path, layout=layout, clips=12, seed=0)
    assert all((tmp_path / p).is_file() for p in present)
    assert not any((tmp_path / p).exists() for p in absent)


def test_rerun_with_fewer_clips_removes_only_its_own_stale_files(tmp_path):
    synth.generate(tmp_path, layout="both", clips=25, seed=1)
    first = set(_files(tmp_path))
    fold1 = tmp_path / "UrbanSound8K" / "audio" / "fold1"
    own = sorted(fold1.glob("*.wav"))[0]
    leftover = own.with_name(f".{own.name}.abcd1234.tmp.wav")  # a killed write's temp file
    leftover.write_bytes(b"half a file")
    mine = {fold1 / "9-1-0-0.wav": b"my clip", tmp_path / "av" / "notes.txt": b"notes",
            tmp_path / "readme.md": b"hello"}  # fmt: skip
    for path, data in mine.items():
        path.write_bytes(data)
    summary = synth.generate(tmp_path, layout="both", clips=12, seed=1)
    assert summary["clips"] == 12
    meta = pd.read_csv(tmp_path / "UrbanSound8K" / "metadata" / "UrbanSound8K.csv")
    wavs = {p.name for p in (tmp_path / "UrbanSound8K" / "audio").rglob("*.wav")}
    assert wavs == set(meta["slice_file_name"]) | {"9-1-0-0.wav"}
    assert len(list((tmp_path / "av").rglob("*.wav"))) == 12
    assert all(path.read_bytes() == data for path, data in mine.items())
    record = (tmp_path / synth.RECORD).read_text()
    assert all(str(p.relative_to(tmp_path)) not in record for p in mine)
    # Exactly the first run's files that the second one does not write are gone.
    second = set(synth.planned_files(synth.plan(12, 1), "both"))
    assert first - set(_files(tmp_path)) == first - second - {synth.RECORD}
    assert not leftover.exists()


def _copy_tree(src: Path, dst: Path) -> None:
    import shutil

    shutil.copytree(src, dst, copy_function=shutil.copy2)


def test_synth_refuses_to_overwrite_real_datasets(both, tmp_path):
    """Issue 18, case 1: a folder holding UrbanSound8K and AV trees is left byte-identical."""
    out, _ = both
    target = tmp_path / "g"
    target.mkdir()
    _copy_tree(out / "UrbanSound8K", target / "UrbanSound8K")
    _copy_tree(out / "av", target / "av")
    before = _files(target)
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", "synth", str(target), "--clips", "20", "--seed", "7"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "did not write" in lines[0] and "empty" in lines[0]
    assert _files(target) == before


@pytest.mark.parametrize("layout", ["us8k", "av"])
def test_synth_refuses_a_foreign_file_where_it_would_write(tmp_path, layout):
    synth.generate(tmp_path, layout=layout, clips=10, seed=2)
    planned = synth.planned_files(synth.plan(10, 5), layout)
    victim = next(f for f in planned if not (tmp_path / f).exists() and f.endswith(".wav"))
    (tmp_path / victim).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / victim).write_bytes(b"someone else's")
    before = _files(tmp_path)
    with pytest.raises(UserError, match="not written by"):
        synth.generate(tmp_path, layout=layout, clips=10, seed=5)
    assert _files(tmp_path) == before


def test_a_record_naming_files_outside_out_is_not_trusted(tmp_path):
    outside = tmp_path / "precious.csv"
    outside.write_text("keep me")
    out = tmp_path / "out"
    (out / "UrbanSound8K").mkdir(parents=True)
    (out / synth.RECORD).write_text(
        json.dumps({"format": synth.RECORD_FORMAT, "files": ["../precious.csv"]})
    )
    with pytest.raises(UserError, match="did not write"):
        synth.generate(out, layout="us8k", clips=5, seed=0)
    assert outside.read_text() == "keep me"


def test_an_unrelated_folder_is_written_into_without_touching_its_files(tmp_path):
    (tmp_path / ".gitkeep").write_bytes(b"")
    (tmp_path / "12.wav").write_bytes(b"mine")
    synth.generate(tmp_path, layout="av", clips=8, seed=0)
    assert (tmp_path / "12.wav").read_bytes() == b"mine" and (tmp_path / ".gitkeep").exists()


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [({"clips": 0}, "--clips"), ({"seed": -1}, "--seed"), ({"layout": "x"}, "layout")],
)
def test_bad_arguments_are_user_errors(tmp_path, kwargs, needle):
    with pytest.raises(UserError, match=needle):
        synth.generate(tmp_path, **{"clips": 5, **kwargs})


# --- CLI ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_subprocess_writes_both_layouts(tmp_path):
    out = tmp_path / "ds"
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", "synth", str(out), "--clips", "20", "--seed", "5"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "wrote 20 clips" in proc.stdout and "per fold" in proc.stdout
    assert len(pd.read_csv(out / "UrbanSound8K" / "metadata" / "UrbanSound8K.csv")) == 20
    assert (
        len(pd.read_csv(out / "av" / "train.csv")) + len(pd.read_csv(out / "av_answer_key.csv"))
        == 20
    )


def test_cli_out_is_a_file_exit_2(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("x")
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", "synth", str(target), "--clips", "3"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "not a folder" in proc.stderr


@pytest.mark.parametrize("argv", [["--clips", "0"], ["--seed", "-3"]])
def test_cli_bad_numbers_exit_2(tmp_path, capsys, argv):
    code = main(["synth", str(tmp_path / "o"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
