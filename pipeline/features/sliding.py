"""Features of many overlapping windows of one long signal, sharing their frames.

The features of a window are ``extract_features(y[start:end])``: the window part over the
frame part of the window (:func:`pipeline.features.window_part`,
:func:`~pipeline.features.frame_part`). When a window starts on a multiple of
``hop_length``, its frame ``t`` reads the same samples as frame ``start // hop_length + t``
of the whole signal, except near its ends: the first ``ceil((n_fft // 2) / hop_length)``
frames and the last few reach past the window and see its zero padding. So the frame part
of the signal is computed once (in chunks of :data:`CHUNK` frames, as windows need them)
and each window joins the shared frames of its interior with a handful of edge frames
computed from its own samples (those of :data:`GROUP` windows in one pass). With 4-s
windows and a 1-s hop every sample went through the STFT four times; now about once.

Per frame the values are those of the window's own frames; matrix products and running
sums taken over other lengths make them equal to float rounding, not bit for bit (the
tests bound the difference). Windows that do not start on the frame grid, or too short to
have an interior, are featurized whole, exactly as :func:`~pipeline.features.extract_features`.

Library code: nothing here knows about files or Dask.
"""

from __future__ import annotations

import numpy as np

from pipeline.core.config import FeatureParams
from pipeline.features import Frames, _as_signal, _names, frame_part, frame_parts, window_part

# Frames of the shared frame part computed at a time: its float64 temporaries (~8 kB a
# frame) stay below the allocator's mmap threshold (pipeline.engine.allocator), and a window's
# interior (~170 frames for 4 s) spans at most two chunks.
CHUNK = 256
# Windows whose edge frames are computed in one pass (~7 frames each with the defaults).
GROUP = 32


class _SharedFrames:
    """The frame part of a signal, computed chunk by chunk as windows ask for frames.

    Windows come in order of their starts, so chunks wholly before a request are
    dropped: memory holds two or three chunks, whatever the length of the signal.
    """

    def __init__(self, y: np.ndarray, *, sr: int, params: FeatureParams) -> None:
        self.y, self.sr, self.params = y, sr, params
        self.total = 1 + len(y) // params.hop_length
        self.chunks: dict[int, Frames] = {}

    def _chunk(self, k: int) -> Frames:
        if k not in self.chunks:
            self.chunks[k] = frame_part(self.y, sr=self.sr, params=self.params,
                                        first=k * CHUNK, stop=min((k + 1) * CHUNK, self.total))
        return self.chunks[k]

    def pieces(self, first: int, stop: int) -> list[Frames]:
        """Frames ``first .. stop - 1`` of the signal as views of consecutive chunks."""
        low, high = first // CHUNK, (stop - 1) // CHUNK
        for k in [k for k in self.chunks if k < low]:
            del self.chunks[k]
        return [self._chunk(k)[max(first - k * CHUNK, 0) : min(stop - k * CHUNK, CHUNK)]
                for k in range(low, high + 1)]


def _interior(start: int, n: int, params: FeatureParams) -> tuple[int, int] | None:
    """Frames ``head .. tail - 1`` of the window ``y[start:start + n]`` that read only its
    own samples, when the window can share them (None: featurize it whole)."""
    n_fft, hop = params.n_fft, params.hop_length
    head = -(-(n_fft // 2) // hop)
    tail = (n - (n_fft - n_fft // 2)) // hop + 1
    # Frame `head` is taken from the window too (its flux step reaches back to frame
    # head - 1), so sharing needs at least one more interior frame.
    return None if start % hop or tail <= head + 1 else (head, tail)


def _group_features(shared: _SharedFrames, spans: list[list[int]]) -> np.ndarray:
    """Feature rows of consecutive windows ``spans`` (``[start, end]`` each)."""
    y, sr, params = shared.y, shared.sr, shared.params
    hop = params.hop_length
    plans = [_interior(start, end - start, params) for start, end in spans]
    # The edge frames of every sharing window, in one pass: (clip, first, stop) runs.
    runs = []
    for (start, end), plan in zip(spans, plans, strict=True):
        if plan is not None:
            clip, (head, tail) = y[start:end], plan
            runs.append((clip, 0, head + 1))
            if tail < 1 + len(clip) // hop:
                runs.append((clip, tail, None))
    edges = iter(frame_parts(runs, sr=sr, params=params) if runs else [])
    rows = []
    for (start, end), plan in zip(spans, plans, strict=True):
        clip = y[start:end]
        if plan is None:
            frames = frame_part(clip, sr=sr, params=params)
        else:
            head, tail = plan
            parts = [next(edges), *shared.pieces(start // hop + head + 1, start // hop + tail)]
            if tail < 1 + len(clip) // hop:
                parts.append(next(edges))
            frames = Frames.join(parts)
        rows.append(window_part(frames, clip, sr=sr, params=params))
    return np.stack(rows)


def features_of_windows(
    y: np.ndarray, spans: np.ndarray, *, sr: int, params: FeatureParams
) -> np.ndarray:
    """The features of every window ``y[start:end]`` of one signal.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,)
        Mono signal, finite, sampled at ``sr``.
    spans : np.ndarray, shape (n_windows, 2), int
        ``(start, end)`` of each window, ``0 <= start < end <= n_samples``, best in order
        of ``start`` (any order works; ordered windows share the most).
    sr : int
    params : FeatureParams

    Returns
    -------
    np.ndarray, shape (n_windows, len(feature_names(params))), float64
        Row ``k`` equals ``extract_features(y[start_k:end_k])`` to float rounding.

    Raises
    ------
    ValueError
        If ``y`` is empty, not 1-D or not finite, or a span lies outside it.
    """
    n_features = len(_names(params))
    y, _ = _as_signal(y)
    spans = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    if len(spans) and not ((spans[:, 0] >= 0) & (spans[:, 0] < spans[:, 1])
                           & (spans[:, 1] <= len(y))).all():
        raise ValueError(f"window spans must satisfy 0 <= start < end <= {len(y)}")
    shared = _SharedFrames(y, sr=sr, params=params)
    rows = [_group_features(shared, spans[k : k + GROUP].tolist())
            for k in range(0, len(spans), GROUP)]
    return np.vstack(rows) if rows else np.empty((0, n_features))
