"""The HTML report, opened from the file system in a real browser (headless Chromium)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from browser import check_page
from recordings import av_with_recordings

from pipeline import stages
from pipeline.apps.report.media import excerpt_wav, loudest_span, media_name
from pipeline.apps.report.selection import select_clips
from pipeline.core.config import ParallelParams, Params, TrainParams

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

PNG = b"\x89PNG\r\n\x1a\n"
#: One quick model on this process's scheduler, for the runs made here.
ONE_MODEL = Params(parallel=ParallelParams(scheduler="sync", workers=1),
                   train=TrainParams(models=("logreg",), logreg={"max_iter": 200}))


def test_a_run_on_an_av_table_with_inferred_groups(tmp_path):
    av_with_recordings(tmp_path, seed=3)
    store, reports = tmp_path / "features", tmp_path / "reports"
    stages.features(tmp_path / "av", store, params=ONE_MODEL)
    stages.evaluate(store, reports, params=ONE_MODEL, model="logreg")
    dom = check_page(reports)
    page = (reports / "index.html").read_text()
    assert "inferred-groups" in page and "random split (OPTIMISTIC)" in page
    assert 'id="salience"' not in page and "<dd>av</dd>" in page
    assert len(dom.doubted) == 50


# --- the parts ------------------------------------------------------------------------
def test_an_excerpt_is_the_loudest_stretch_as_16_bit_pcm():
    sr = 22050
    y = np.zeros(4 * sr, dtype=np.float32)
    y[3 * sr : 3 * sr + sr // 2] = 0.5  # a burst at 3 s
    assert loudest_span(y, 2 * sr) <= 3 * sr <= loudest_span(y, 2 * sr) + 2 * sr - sr // 2
    wav, start, seconds = excerpt_wav(y, sr, 2.0)
    back, rate = sf.read(io.BytesIO(wav), dtype="float32")
    assert rate == sr and sf.info(io.BytesIO(wav)).subtype == "PCM_16"
    assert seconds == 2.0 and len(back) == 2 * sr and np.abs(back).max() > 0.49
    short, start, seconds = excerpt_wav(y[:100], sr, 2.0)
    assert start == 0 and seconds == pytest.approx(100 / sr)


@pytest.mark.parametrize("clip_id", ["7061-6-0-0", "a/b c?", "../up", "ü" * 80, ""])
def test_media_names_are_safe_and_distinct(clip_id):
    name = media_name(clip_id)
    assert name.replace("-", "").replace("_", "").replace(".", "").isalnum()
    assert "/" not in name and not name.startswith(".") and len(name) <= 69
    assert name != media_name(clip_id + "x")


def _guessing_models(n: int = 400, seed: int = 0) -> dict:
    """Three models right on 60 % of ``n`` clips, their errors drawn at random."""
    from pipeline.datasets.classes import CLASSES
    from pipeline.evaluation import CVRun, FoldScore, ModelCV

    rng = np.random.default_rng(seed)
    actual = rng.choice(CLASSES, n)
    models = {}
    for name in ("logreg", "rf", "ensemble"):
        predicted = np.where(rng.random(n) < 0.6, actual, rng.choice(CLASSES, n))
        preds = pd.DataFrame({"id": [f"c{i:04d}" for i in range(n)], "fold": "fold1",
                              "actual": actual, "predicted": predicted})
        models[name] = ModelCV(name, CVRun("official-folds", False, n),
                               (FoldScore("fold1", n, 0.1, 0.6, 0.6),), preds)
    return models


def test_the_clips_per_cell_shrink_to_the_bound():
    models = _guessing_models()
    doubt = pd.Series(dtype=float)
    full = select_clips(models, doubt, [], cell_cap=5, max_clips=10**6)
    assert full.cap == 5 and all(len(v) <= 5 for v in full.cells.values())
    # The models' lists share clips: fewer distinct clips than listed entries.
    assert len(full.ids) < sum(len(v) for v in full.cells.values())
    # One clip per non-empty cell at least; above that, the bound sets the clips per cell.
    least = select_clips(models, doubt, [], cell_cap=5, max_clips=0)
    assert min(len(v) for v in least.cells.values()) == 1
    assert set(least.ids) == {v[0] for v in least.cells.values()}  # more only if listed anyway
    bound = (len(least.ids) + len(full.ids)) // 2
    bounded = select_clips(models, doubt, ["c0001"], cell_cap=5, max_clips=bound)
    assert 1 < bounded.cap < 5 and len(bounded.ids) == bound
    assert bounded.ids[0] == "c0001"
    # What the bound leaves goes to the largest cells first.
    sizes = pd.concat([m.predictions.assign(model=n) for n, m in models.items()]).groupby(
        ["model", "actual", "predicted"]).size()
    assert len(bounded.cells[sizes.idxmax()]) == bounded.cap


def test_doubted_labels_rank_the_mean_probability_of_the_given_label():
    from pipeline.apps.report.selection import doubted_labels
    from pipeline.evaluation import CVRun, FoldScore, ModelCV

    run = CVRun("official-folds", False, 3)
    preds = pd.DataFrame({"id": ["a", "b", "c"], "fold": "fold1",
                          "actual": ["siren", "siren", "dog_bark"],
                          "predicted": ["siren", "dog_bark", "dog_bark"]})
    classes = ("dog_bark", "siren")
    one = ModelCV("one", run, (FoldScore("fold1", 3, 0.1, 0.6, 0.5),), preds,
                  np.array([[0.2, 0.8], [0.7, 0.3], [0.9, 0.1]]), classes)
    # The second model knows the classes in another order: columns follow its classes.
    two = ModelCV("two", run, (FoldScore("fold1", 3, 0.1, 0.6, 0.5),), preds,
                  np.array([[0.6, 0.4], [0.1, 0.9], [0.5, 0.5]]), ("siren", "dog_bark"))
    clips = pd.DataFrame({"fold": ["fold1"] * 3, "label": ["siren", "siren", "dog_bark"],
                          "salience": ["foreground", pd.NA, "background"]},
                         index=["a", "b", "c"])
    ranked = doubted_labels({"one": one, "two": two}, clips)
    assert list(ranked["id"]) == ["b", "a", "c"]  # a tie goes by id
    np.testing.assert_allclose(ranked["probability"], [0.2, 0.7, 0.7])
    assert list(ranked["likely"]) == ["dog_bark", "siren", "dog_bark"]
    assert list(ranked["p_two"]) == [0.1, 0.6, 0.5]
    assert list(ranked["salience"].fillna("?")) == ["?", "foreground", "background"]
