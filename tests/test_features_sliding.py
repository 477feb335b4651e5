"""Overlapping windows sharing their feature frames equal each window featurized alone."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pipeline.apps.detect.windows import blocks_of, featurize_block, grid_for
from pipeline.core.config import FeatureParams
from pipeline.datasets.audio import load_clip
from pipeline.features import Frames, extract_features, frame_part, frame_parts
from pipeline.features.sliding import _interior, features_of_windows

SR = 22050
# Shared frames differ from a window's own only by float rounding of matrix products and
# running sums over other lengths (measured: 1e-14 relative, in the bandwidth columns).
RTOL, ATOL = 1e-5, 1e-6
PARAMS = {"default": FeatureParams(),
          "other grid": FeatureParams(n_fft=1024, hop_length=300, n_mels=64, n_mfcc=20)}


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A 45-s generated scene (all classes over an ambience): its file and samples."""
    from pipeline.datasets.long_scenes import generate_scenes

    root = tmp_path_factory.mktemp("scene")
    [path] = generate_scenes(root, minutes=0.75, seed=3)["files"]
    return str(path), load_clip(path, sr=SR)


def _alone(y, spans, params):
    """Each window featurized on its own, shape (n_windows, n_features)."""
    return np.stack([np.fromiter(extract_features(y[s:e], sr=SR, params=params).values(), float)
                     for s, e in spans])


@pytest.mark.parametrize("name", PARAMS)
def test_windows_on_the_frame_grid_equal_each_window_alone(scene, name):
    params = PARAMS[name]
    _, y = scene
    grid = grid_for(len(y), sr=SR, window=4.0, hop=1.0, multiple=params.hop_length)
    spans = grid.spans()
    assert grid.hop % params.hop_length == 0 and spans[-1, 1] - spans[-1, 0] < grid.window
    # Every window, the short last one included, shares its interior frames.
    assert all(_interior(s, e - s, params) is not None for s, e in spans)
    got = features_of_windows(y, spans, sr=SR, params=params)
    np.testing.assert_allclose(got, _alone(y, spans, params), rtol=RTOL, atol=ATOL)


def test_windows_off_the_grid_or_without_interior_are_featurized_whole(scene):
    params = FeatureParams()
    _, y = scene
    spans = np.array([[SR + 7, 5 * SR], [11 * SR - 100, 13 * SR],  # off the frame grid
                      [10 * SR, 10 * SR + 1], [10 * SR, 10 * SR + 2047], [len(y) - 2500, len(y)]])
    spans[2:, 0] -= spans[2:, 0] % 512  # on the grid, but too short to have an interior
    assert all(_interior(s, e - s, params) is None for s, e in spans)
    np.testing.assert_array_equal(features_of_windows(y, spans, sr=SR, params=params),
                                  _alone(y, spans, params))
    with pytest.raises(ValueError, match="0 <= start < end"):
        features_of_windows(y, [[5, 5]], sr=SR, params=params)


def test_frames_depend_only_on_the_samples_they_read(scene):
    params = FeatureParams()
    _, y = scene
    y = y[: 20 * SR]
    whole = frame_part(y, sr=SR, params=params)
    runs = [(y, 0, 3), (y, 1, 2), (y, 400, 861), (y, 858, None)]
    for got in (frame_parts(runs, sr=SR, params=params),
                [frame_part(y, sr=SR, params=params, first=a, stop=b) for _, a, b in runs]):
        for part, (_, first, stop) in zip(got, runs, strict=True):
            expected = whole[first:stop]
            assert len(part) == len(expected)
            for field in dataclasses.fields(Frames):
                a, b = getattr(part, field.name), getattr(expected, field.name)
                np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-12, err_msg=field.name)
    # Frame 0 has no step to a frame before it; frame 1 does.
    assert np.isnan(got[0].flux[0]) and np.isfinite(got[1].flux).all()
    with pytest.raises(ValueError, match="outside"):
        frame_part(y, sr=SR, params=params, first=5, stop=5)


def test_blocks_equal_the_whole_file_and_each_window_alone(scene):
    params = FeatureParams()
    path, y = scene
    grid = grid_for(len(y), sr=SR, window=4.0, hop=1.0, multiple=params.hop_length)
    expected = _alone(y, grid.spans(), params)
    whole = featurize_block(blocks_of(0, path, grid, grid.n_windows)[0], params=params).features
    for per_block in (7, 16):
        blocks = blocks_of(0, path, grid, per_block)
        assert len(blocks) > 2  # block boundaries inside the file
        got = np.vstack([featurize_block(b, params=params).features for b in blocks])
        np.testing.assert_allclose(got, whole, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(whole, expected.astype(np.float32), rtol=RTOL, atol=ATOL)
