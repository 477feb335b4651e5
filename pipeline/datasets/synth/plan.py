"""The plan of a generated dataset: its metadata, folds and file formats, no audio.

Shape of the real dataset
-------------------------
* class imbalance: car_horn ≈ 43 %, gun_shot ≈ 37 %, siren ≈ 93 % of the other classes'
  counts (429, 374, 929 against 1000 in UrbanSound8K);
* source recordings (``fsID``) contribute several slices each, and every ``fsID`` lies in
  exactly one of the ten folds (folds are balanced per class);
* most slices last 4 s; the last slice of an occurrence is often shorter, gun shots, barks and
  horns are mostly short, and a few clips last under 0.1 s (shorter than a 2048-point FFT);
* formats drawn with the real shares: stereo 92 %; 44.1 kHz 61 %, 48 kHz 29 %, 96 kHz 7 %,
  the rest over 24k, 16k, 22.05k, 11.025k, 192k, 8k, 11024 and 32k Hz; PCM_16 66 %,
  PCM_24 32 %, the rest PCM_32, PCM_U8, FLOAT and IMA_ADPCM. With 100 clips or more every
  listed format (and mono) appears at least once, so loaders get exercised.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.datasets.classes import CLASSES

SLICE = 4.0  # seconds per full slice, as in UrbanSound8K
N_FOLDS = 10
AV_TRAIN_FOLDS = (1, 2, 3, 4, 5, 6)
METADATA_COLUMNS = (
    "slice_file_name",
    "fsID",
    "start",
    "end",
    "salience",
    "fold",
    "classID",
    "class",
)

# Clips per class in UrbanSound8K; the shares of the generated set follow these.
CLASS_WEIGHTS = {"car_horn": 429, "gun_shot": 374, "siren": 929}
RATES = {44100: 0.61, 48000: 0.29, 96000: 0.07}
RARE_RATES = (24000, 16000, 22050, 11025, 192000, 8000, 11024, 32000)
SUBTYPES = {"PCM_16": 0.66, "PCM_24": 0.32}
RARE_SUBTYPES = ("PCM_32", "PCM_U8", "FLOAT", "IMA_ADPCM")
STEREO_SHARE = 0.92

# Probability that the last slice of an occurrence lasts the full 4 s, per class.
_FULL_SLICE = {"gun_shot": 0.2, "dog_bark": 0.5, "car_horn": 0.45}
_FULL_SLICE_DEFAULT = 0.9
_SHORT_CLASSES = ("gun_shot", "dog_bark", "car_horn")
_FOREGROUND = {
    "air_conditioner": 0.55,
    "drilling": 0.8,
    "gun_shot": 0.85,
    "jackhammer": 0.75,
    "engine_idling": 0.7,
    "car_horn": 0.75,
    "dog_bark": 0.65,
}
_FOREGROUND_DEFAULT = 0.6


def class_counts(clips: int) -> dict[str, int]:
    """Clips per class for a set of ``clips`` clips, with UrbanSound8K's shares.

    Largest-remainder rounding, so the counts add up to ``clips`` exactly.
    """
    weights = np.array([CLASS_WEIGHTS.get(c, 1000) for c in CLASSES], dtype=float)
    exact = clips * weights / weights.sum()
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: clips - counts.sum()]] += 1
    return {c: int(k) for c, k in zip(CLASSES, counts, strict=True)}


def _draw_shared(rng: np.random.Generator, shares: dict, rare: tuple, size: int) -> np.ndarray:
    """Draw ``size`` values with the listed ``shares``; the remainder spread over ``rare``."""
    values = [*shares, *rare]
    rest = (1.0 - sum(shares.values())) / len(rare)
    p = np.array([*shares.values(), *([rest] * len(rare))])
    return np.array(values, dtype=object)[rng.choice(len(values), size=size, p=p / p.sum())]


def _guarantee(rng: np.random.Generator, column: np.ndarray, wanted: tuple) -> None:
    """Give each value of ``wanted`` missing from ``column`` to a distinct random entry."""
    missing = [v for v in wanted if v not in set(column.tolist())]
    common = [i for i in rng.permutation(len(column)) if column[i] not in wanted]
    for value, i in zip(missing, common, strict=False):
        column[i] = value


def _split_recording(rng: np.random.Generator, size: int) -> list[int]:
    """Split a recording's ``size`` slices into occurrences (sounds with silence between)."""
    n_occ = 1 + int(rng.binomial(size - 1, 0.2)) if size > 1 else 1
    cuts = (
        np.sort(rng.choice(np.arange(1, size), size=n_occ - 1, replace=False)) if n_occ > 1 else []
    )
    bounds = [0, *cuts, size]
    return [int(b - a) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _last_duration(rng: np.random.Generator, cls: str) -> float:
    """Duration (s) of the last slice of an occurrence."""
    if rng.random() < _FULL_SLICE.get(cls, _FULL_SLICE_DEFAULT):
        return SLICE
    if cls in _SHORT_CLASSES:
        if rng.random() < 0.01:
            return float(rng.uniform(0.05, 0.1))
        return float(np.exp(rng.uniform(np.log(0.25), np.log(SLICE))))
    return float(rng.uniform(1.0, SLICE))


def plan(clips: int, seed: int) -> pd.DataFrame:
    """Draw the dataset's metadata and formats without rendering any audio.

    Parameters
    ----------
    clips : int
        Number of clips (≥ 1).
    seed : int
        Non-negative random seed.

    Returns
    -------
    pandas.DataFrame, shape (clips, 13)
        The UrbanSound8K columns (``slice_file_name, fsID, start, end, salience, fold,
        classID, class``) followed by ``occurrence, slice`` (ints), ``sr, channels,
        subtype`` (the file format) and ``av_id`` (the Analytics Vidhya ID), sorted by
        ``slice_file_name``.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    recordings = []  # (class, size, fold)
    for cid, (cls, count) in enumerate(class_counts(clips).items()):
        if count == 0:
            continue
        # Smaller sets get fewer slices per recording so every fold still sees several.
        mean = float(np.clip(count / 25.0, 1.0, 7.0))
        sizes: list[int] = []
        while sum(sizes) < count:
            sizes.append(int(rng.geometric(1.0 / mean)))
        sizes[-1] -= sum(sizes) - count
        load = np.zeros(N_FOLDS)
        for i in np.lexsort((rng.random(len(sizes)), -np.array(sizes))):
            fold = int(np.argmin(load + rng.random(N_FOLDS) * 0.5))
            load[fold] += sizes[i]
            recordings.append((cid, cls, sizes[i], fold + 1))

    n_rec = len(recordings)
    fsids = 100 + rng.choice(200_000, size=n_rec, replace=False)
    rates = _draw_shared(rng, RATES, RARE_RATES, n_rec)
    subtypes = _draw_shared(rng, SUBTYPES, RARE_SUBTYPES, n_rec)
    channels = np.where(rng.random(n_rec) < STEREO_SHARE, 2, 1).astype(object)
    if clips >= 100:
        _guarantee(rng, rates, RARE_RATES)
        _guarantee(rng, subtypes, RARE_SUBTYPES)
        _guarantee(rng, channels, (1,))

    rows = []
    for r, (cid, cls, size, fold) in enumerate(recordings):
        cursor = float(rng.uniform(0.0, 30.0))
        for occ, n_slices in enumerate(_split_recording(rng, size)):
            salience = 1 if rng.random() < _FOREGROUND.get(cls, _FOREGROUND_DEFAULT) else 2
            last = _last_duration(rng, cls)
            for k in range(n_slices):
                start = cursor + SLICE * k
                dur = last if k == n_slices - 1 else SLICE
                rows.append(
                    (
                        int(fsids[r]),
                        cid,
                        cls,
                        occ,
                        k,
                        round(start, 6),
                        round(start + dur, 6),
                        salience,
                        fold,
                        int(rates[r]),
                        int(channels[r]),
                        str(subtypes[r]),
                    )
                )
            cursor += SLICE * (n_slices - 1) + last + float(rng.uniform(0.5, 20.0))
    df = pd.DataFrame(
        rows,
        columns=[
            "fsID",
            "classID",
            "class",
            "occurrence",
            "slice",
            "start",
            "end",
            "salience",
            "fold",
            "sr",
            "channels",
            "subtype",
        ],
    )
    if clips >= 100 and not ((df["end"] - df["start"]) < 0.1).any():
        # Clips shorter than an FFT frame are a known pitfall; keep one in every sizeable set.
        last = df["class"].isin(_SHORT_CLASSES) & ~df.duplicated(
            ["fsID", "occurrence"], keep="last"
        )
        i = int(rng.choice(np.flatnonzero(last.to_numpy())))
        df.loc[i, "end"] = round(df.loc[i, "start"] + float(rng.uniform(0.05, 0.095)), 6)
    df["slice_file_name"] = [
        f"{f}-{c}-{o}-{s}.wav"
        for f, c, o, s in zip(df["fsID"], df["classID"], df["occurrence"], df["slice"], strict=True)
    ]
    df = df.sort_values("slice_file_name", kind="stable").reset_index(drop=True)
    df["av_id"] = rng.permutation(len(df))
    return df[[*METADATA_COLUMNS, "occurrence", "slice", "sr", "channels", "subtype", "av_id"]]
