"""A small Analytics Vidhya tree whose true recordings are known (kept aside, as on the
leaderboard): a few generated recordings of every class, several slices each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from pipeline.datasets.synth import plan, render_clip


def av_with_recordings(root: Path, *, seed: int = 1, per_class: int = 2) -> dict[str, str]:
    """Write ``root/av/{train.csv, Train/}``: ``per_class`` recordings of 3-6 slices for
    every class, slices cut to 1 s to keep it fast. Returns AV ID → true recording (fsID)."""
    meta = plan(600, seed)
    sizes = meta.groupby("fsID").size()
    rng = np.random.default_rng(seed)
    chosen = []
    for _, rows in meta.groupby("class"):
        candidates = [f for f in rows["fsID"].unique() if 3 <= sizes[f] <= 6]
        chosen += list(rng.choice(candidates, size=min(per_class, len(candidates)),
                                  replace=False))
    clips = meta[meta["fsID"].isin(chosen)].copy()
    clips["end"] = np.minimum(clips["end"], clips["start"] + 1.0)
    train = root / "av" / "Train"
    train.mkdir(parents=True, exist_ok=True)
    for row in clips.to_dict("records"):
        audio, sr = render_clip({**row, "sr": 22050, "channels": 1}, seed)
        sf.write(train / f"{row['av_id']}.wav", audio, sr, subtype="PCM_16")
    pd.DataFrame({"ID": clips["av_id"], "Class": clips["class"]}).to_csv(
        root / "av" / "train.csv", index=False)
    return dict(zip(clips["av_id"].astype(str), clips["fsID"].astype(str), strict=True))
