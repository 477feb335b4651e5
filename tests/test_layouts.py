"""read_dataset on small hand-built trees: each layout, tolerated quirks, each table error."""

import os

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from pipeline.core.errors import UserError
from pipeline.datasets import COLUMNS, describe, read_dataset, write_manifest

US8K_HEADER = "slice_file_name,fsID,start,end,salience,fold,classID,class"
US8K_ROWS = [
    "100032-3-0-0.wav,100032,0.0,0.3,1,5,3,dog_bark",
    "100263-2-0-117.wav,100263,58.5,62.5,1,5,2,children_playing",
    "102305-6-0-0.wav,102305,0.0,2.6,1,1,6,gun_shot",
]


def tone(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.zeros(100, np.float32), 22050)


def us8k(root, rows=US8K_ROWS, header=US8K_HEADER, audio=True, text=None):
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    csv = root / "metadata" / "UrbanSound8K.csv"
    if text is None:
        text = "\n".join([header, *rows]) + "\n"
    csv.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    if audio:
        for row in rows:
            cells = row.split(",")
            tone(root / "audio" / f"fold{cells[5]}" / cells[0])
    return root


def av(root, train=("ID,Class", "1,siren", "7,drilling"), test=("ID", "3", "12")):
    root.mkdir(parents=True, exist_ok=True)
    for name, lines, folder in (("train.csv", train, "Train"), ("test.csv", test, "Test")):
        if lines is None:
            continue
        (root / name).write_text("\n".join(lines) + "\n")
        for line in lines[1:]:
            tone(root / folder / f"{line.split(',')[0]}.wav")
    return root


def test_us8k_tree(tmp_path):
    df = read_dataset(us8k(tmp_path / "UrbanSound8K"))
    assert list(df.columns) == COLUMNS
    assert df["id"].tolist() == ["100032-3-0-0", "100263-2-0-117", "102305-6-0-0"]
    assert df["label"].tolist() == ["dog_bark", "children_playing", "gun_shot"]
    assert df["fold"].dtype == "Int64" and df["fold"].tolist() == [5, 5, 1]
    assert df["group"].tolist() == ["100032", "100263", "102305"]
    assert (df["split"] == "train").all()
    assert all(os.path.isabs(p) and os.path.isfile(p) for p in df["path"])
    assert df["path"][2].endswith(os.path.join("audio", "fold1", "102305-6-0-0.wav"))
    assert df.attrs == {"layout": "us8k", "root": str((tmp_path / "UrbanSound8K").resolve()),
                        "missing": []}


def test_parent_of_us8k_tree_is_detected(tmp_path):
    us8k(tmp_path / "UrbanSound8K")
    av(tmp_path / "av")  # a sibling tree must not confuse detection
    df = read_dataset(tmp_path)
    assert df.attrs["layout"] == "us8k"
    assert df.attrs["root"] == str((tmp_path / "UrbanSound8K").resolve())
    assert len(df) == 3


@pytest.mark.parametrize(
    "header,rows,labels,groups",
    [
        # classID only, no fsID: group parsed from the standard file name
        ("slice_file_name,fold,classID", ["100032-3-0-0.wav,5,3", "7-9-0-1.wav,2,9"],
         ["dog_bark", "street_music"], ["100032", "7"]),
        # renamed case, reordered, extra columns; non-standard name → group NA
        ("Class,extra,FOLD,Slice_File_Name", ["Siren,x,3,a.wav", "car_horn,y,3,b.wav"],
         ["siren", "car_horn"], [None, None]),
        # fsID present but blank for one row: fall back to the file name
        ("slice_file_name,fsID,fold,class", ["5-1-0-0.wav,,1,car_horn", "q.wav,77,1,siren"],
         ["car_horn", "siren"], ["5", "77"]),
    ],
)
def test_us8k_columns_read_by_name(tmp_path, header, rows, labels, groups):
    fold_at = [c.lower() for c in header.split(",")].index("fold")
    (tmp_path / "metadata").mkdir()
    (tmp_path / "metadata" / "UrbanSound8K.csv").write_text("\n".join([header, *rows]))
    df = read_dataset(tmp_path)
    assert df["label"].tolist() == labels
    assert [None if pd.isna(g) else g for g in df["group"]] == groups
    assert df["fold"].tolist() == [int(r.split(",")[fold_at]) for r in rows]


@pytest.mark.parametrize("sep", [",", ";", "\t"])
@pytest.mark.parametrize("bom", [False, True])
def test_us8k_separator_and_bom(tmp_path, sep, bom):
    text = "\n".join(line.replace(",", sep) for line in [US8K_HEADER, *US8K_ROWS])
    data = ("\ufeff" if bom else "").encode() + text.encode()
    df = read_dataset(us8k(tmp_path, text=data))
    assert df["label"].tolist() == ["dog_bark", "children_playing", "gun_shot"]
    assert df.attrs["missing"] == []


def test_missing_audio_files_are_listed_not_fatal(tmp_path):
    us8k(tmp_path)
    os.remove(tmp_path / "audio" / "fold5" / "100263-2-0-117.wav")
    df = read_dataset(tmp_path)
    assert len(df) == 3
    assert df.attrs["missing"] == ["100263-2-0-117"]
    assert "missing audio files: 1 (100263-2-0-117)" in describe(df)


def us8k_error(tmp_path, header, rows):
    us8k(tmp_path, rows=rows, header=header, audio=False)
    with pytest.raises(UserError) as err:
        read_dataset(tmp_path)
    return str(err.value)


@pytest.mark.parametrize(
    "header,rows,expected",
    [
        ("slice_file_name,fold,class", ["a.wav,1,dog", "b.wav,1,siren", "c.wav,2,cat"],
         "UrbanSound8K.csv: unknown class 'dog', 'cat' on lines 2, 4"),
        ("slice_file_name,fold,classID", ["a.wav,1,3", "b.wav,1,10"],
         "unknown classID '10' on line 3"),
        ("slice_file_name,fold", ["a.wav,1"], "missing column 'class' or 'classID'"),
        ("slice_file_name,class", ["a.wav,siren"], "missing column 'fold'"),
        ("name,fold,class", ["a.wav,1,siren"], "missing column 'slice_file_name'"),
        ("slice_file_name,fold,class", ["a.wav,1,siren", "a.wav,2,siren"],
         "duplicate slice (file stem) 'a' on lines 2, 3"),
        ("slice_file_name,fold,class", ["a.wav,one,siren", "b.wav,,siren", "c.wav,1.5,siren"],
         "unparseable fold 'one', '', '1.5' on lines 2, 3, 4"),
        ("slice_file_name,fold,class", ["../../etc/x.wav,1,siren"], "must be a plain file name"),
        ("slice_file_name,fold,class", ["/abs/x.wav,1,siren"], "must be a plain file name"),
        ("slice_file_name,fold,class", ["sub\\x.wav,1,siren"], "must be a plain file name"),
        ("slice_file_name,fold,class", [], "UrbanSound8K.csv: no clips"),
    ],
)
def test_us8k_table_errors(tmp_path, header, rows, expected):
    message = us8k_error(tmp_path, header, rows)
    assert expected in message
    assert "\n" not in message


def test_empty_csv_is_an_error(tmp_path):
    us8k(tmp_path, text=b"")
    with pytest.raises(UserError, match="UrbanSound8K.csv: empty CSV"):
        read_dataset(tmp_path)


def test_non_utf8_csv_is_an_error(tmp_path):
    us8k(tmp_path, text=b"slice_file_name,fold,class\n\xff\xfe.wav,1,siren\n")
    with pytest.raises(UserError, match="not UTF-8"):
        read_dataset(tmp_path)


def test_av_tree(tmp_path):
    df = read_dataset(av(tmp_path))
    assert df["id"].tolist() == ["1", "7", "3", "12"]
    assert df["split"].tolist() == ["train", "train", "test", "test"]
    assert df["label"].tolist()[:2] == ["siren", "drilling"]
    assert df["label"][2:].isna().all() and df["fold"].isna().all() and df["group"].isna().all()
    assert df["path"][0] == str((tmp_path / "Train" / "1.wav").resolve())
    assert df["path"][3] == str((tmp_path / "Test" / "12.wav").resolve())
    assert df.attrs["layout"] == "av" and df.attrs["missing"] == []


@pytest.mark.parametrize("which", ["train", "test"])
def test_av_with_one_table(tmp_path, which):
    kw = {"test": None} if which == "train" else {"train": None}
    df = read_dataset(av(tmp_path, **kw))
    assert set(df["split"]) == {which} and len(df) == 2


def test_av_lowercase_folders_and_missing_files(tmp_path):
    (tmp_path / "train.csv").write_text("id;class\n5;Jackhammer\n6;siren\n")
    tone(tmp_path / "train" / "5.wav")
    df = read_dataset(tmp_path)
    assert df["label"].tolist() == ["jackhammer", "siren"]
    assert df["path"][0] == str((tmp_path / "train" / "5.wav").resolve())
    assert df.attrs["missing"] == ["6"]


@pytest.mark.parametrize(
    "train,test,expected",
    [
        (("ID,Class", "1,siren", "2,lion"), None, "train.csv: unknown class 'lion' on line 3"),
        (("ID,Label", "1,siren"), None, "train.csv: missing column 'class'"),
        (None, ("Name", "1"), "test.csv: missing column 'ID'"),
        (("ID,Class", "1,siren", "1,siren"), None, "train.csv: duplicate ID '1' on lines 2, 3"),
        (("ID,Class", "1,siren"), ("ID", "1"), "'1' appear in both train.csv and test.csv"),
        (("ID,Class", "../x,siren"), None, "train.csv: ID '../x' on line 2 must be a plain"),
        (None, ("ID", "a/b"), "test.csv: ID 'a/b' on line 2 must be a plain file name"),
        (("ID,Class",), ("ID",), "no clips"),
    ],
)
def test_av_table_errors(tmp_path, train, test, expected):
    tmp_path.mkdir(exist_ok=True)
    for name, lines in (("train.csv", train), ("test.csv", test)):
        if lines is not None:
            (tmp_path / name).write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError) as err:
        read_dataset(tmp_path)
    assert expected in str(err.value)


def test_plain_folder(tmp_path):
    for name in ("b.wav", "sub/a.FLAC", "sub/deeper/c.ogg", "notes.txt", "._b.wav"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    df = read_dataset(tmp_path)
    assert df["id"].tolist() == ["b", "a", "c"]  # sorted by path: b.wav < sub/...
    assert df["label"].isna().all() and df["fold"].isna().all()
    assert (df["split"] == "test").all() and df.attrs["layout"] == "folder"
    assert df.attrs["root"] == str(tmp_path.resolve())


def test_single_audio_file(tmp_path):
    tone(tmp_path / "one.wav")
    df = read_dataset(tmp_path / "one.wav")
    assert df["id"].tolist() == ["one"] and df.attrs["layout"] == "folder"


def test_plain_folder_duplicate_stems(tmp_path):
    for name in ("x/a.wav", "y/a.flac"):
        tone(tmp_path / name)
    with pytest.raises(UserError, match="share an id"):
        read_dataset(tmp_path)


@pytest.mark.parametrize("content", ["nothing", "text_only", "no_such_folder"])
def test_unknown_layout(tmp_path, content):
    target = tmp_path / "data"
    if content != "no_such_folder":
        target.mkdir()
    if content == "text_only":
        (target / "readme.txt").write_text("hi")
    with pytest.raises(UserError) as err:
        read_dataset(target)
    message = str(err.value)
    if content == "no_such_folder":
        assert "dataset not found" in message
    else:
        assert "no dataset found" in message and "metadata/UrbanSound8K.csv" in message


def test_describe_counts(tmp_path):
    text = describe(read_dataset(us8k(tmp_path)))
    assert "us8k dataset at" in text and "3 clips (train 3)" in text
    assert "dog_bark 1" in text and "folds: 1: 1, 5: 2" in text
    assert "groups (recordings): 3" in text and "missing audio files: 0" in text


# --- our own manifest (written by `urbansound prepare`) -------------------------------------


def _two_clip_tree(tmp_path):
    audio = tmp_path / "ds" / "audio"
    audio.mkdir(parents=True)
    for name in ("a", "b"):
        sf.write(audio / f"{name}.wav", np.zeros(100, dtype="float32"), 22050)
    df = pd.DataFrame(
        {
            "id": ["a", "b"],
            "path": [str(audio / "a.wav"), str(audio / "b.wav")],
            "label": ["siren", None],
            "fold": pd.array([3, None], dtype="Int64"),
            "group": ["17", None],
            "split": ["train", "test"],
        }
    )
    return df, write_manifest(df, tmp_path / "ds")


def test_manifest_round_trip_with_relative_paths(tmp_path):
    df, written = _two_clip_tree(tmp_path)
    assert "audio/a.wav" in written.read_text()  # stored relative to the folder
    back = read_dataset(written.parent)
    assert back.attrs["layout"] == "manifest"
    assert back["id"].tolist() == ["a", "b"]
    assert back["path"].tolist() == df["path"].tolist()
    assert back["label"].iloc[0] == "siren" and pd.isna(back["label"].iloc[1])
    assert back["fold"].iloc[0] == 3 and pd.isna(back["fold"].iloc[1])
    assert back["split"].tolist() == ["train", "test"]
    assert back.attrs["missing"] == []


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda t: t.replace("audio/a.wav", "../a.wav"), "'..'"),
        (lambda t: t.replace("siren", "sirens"), "unknown class"),
        (lambda t: t.replace(",3,", ",three,"), "unparseable fold"),
        (lambda t: t.replace(",train", ",dev"), "split must be"),
        (lambda t: t.replace("\nb,", "\na,"), "duplicate id"),
    ],
)
def test_bad_manifest_is_a_user_error(tmp_path, edit, needle):
    _, written = _two_clip_tree(tmp_path)
    written.write_text(edit(written.read_text()))
    with pytest.raises(UserError, match=needle):
        read_dataset(written.parent)
