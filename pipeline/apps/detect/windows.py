"""Sliding windows over a long recording, and the work of one block of them.

All positions are sample indices at the feature rate ``sr``. Window ``j`` starts at
``j * hop`` and ends at ``min(j * hop + window, n)``; there are just enough windows for the
last one to reach the end of the signal, so that one may be shorter than ``window``. A
short window is featurized as it is, as the short clips of the training data are (the
feature code zero-pads its centred frames; the ``duration`` feature carries the length).

The hop is a whole number of feature hops (``hop_length``, 512 samples): ``detect.hop``
1 s becomes 43 x 512 = 22016 samples (0.9985 s at 22050 Hz), the times written in
``windows.csv`` and ``events.csv``. Every window's feature frames then lie on one frame
grid of the block, so a block computes the frame part of its features once and each window
adds only the few frames that see its edges (:mod:`pipeline.features.sliding`) instead of
four STFTs of every sample.

A *block* is a run of consecutive windows, one parallel task: it decodes only the samples
its windows cover (:func:`pipeline.datasets.audio.load_span`) and returns their feature rows plus
a coarse mel spectrogram of the part of the signal it owns (from its first window's start
to the next block's), for the timeline picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Coarse spectrogram for the picture: non-overlapping frames, pooled into columns of
# about a quarter of a second (an hour gives ~15 000 columns, 4 MB).
PLOT_N_FFT = 1024
PLOT_N_MELS = 64
PLOT_FRAMES_PER_COLUMN = 5


@dataclass(frozen=True)
class Grid:
    """Window geometry of one signal, in samples.

    Attributes
    ----------
    n : int
        Samples of the signal (>= 1).
    window, hop : int
        Window length and the distance between window starts (``1 <= hop <= window``).
    """

    n: int
    window: int
    hop: int

    @property
    def n_windows(self) -> int:
        """Windows needed for the last one to reach sample ``n``."""
        return 1 + max(0, -(-(self.n - self.window) // self.hop))

    def spans(self) -> np.ndarray:
        """``(start, end)`` of every window, shape (n_windows, 2), int64."""
        starts = np.arange(self.n_windows, dtype=np.int64) * self.hop
        return np.stack([starts, np.minimum(starts + self.window, self.n)], axis=1)

    @property
    def n_frames(self) -> int:
        """Hop-long frames tiling the signal (the last may be shorter)."""
        return -(-self.n // self.hop)

    def frame_edges(self) -> np.ndarray:
        """Boundaries of the hop-long frames, shape (n_frames + 1,), int64."""
        edges = np.arange(self.n_frames + 1, dtype=np.int64) * self.hop
        edges[-1] = self.n
        return edges


def grid_for(n: int, *, sr: int, window: float, hop: float, multiple: int = 1) -> Grid:
    """The :class:`Grid` of an ``n``-sample signal for ``window`` and ``hop`` in seconds.

    The hop is rounded to the nearest whole number of ``multiple`` samples (at least one,
    and at most the window), so that windows share their feature frames when ``multiple``
    is the feature ``hop_length``: 1 s at 22050 Hz becomes 43 x 512 = 22016 samples.
    """
    w = max(1, int(round(window * sr)))
    steps = max(1, int(round(hop * sr / multiple)))
    if steps * multiple > w:  # the window is not a whole number of `multiple` samples
        steps = w // multiple
    return Grid(n=n, window=w, hop=steps * multiple if steps else w)


@dataclass(frozen=True)
class Block:
    """One task: windows ``[first, stop)`` of file ``file`` (an index into the run's files)."""

    file: int
    path: str
    grid: Grid
    first: int
    stop: int


def blocks_of(file: int, path: str, grid: Grid, per_block: int) -> list[Block]:
    """Split the windows of one file into blocks of ``per_block`` windows."""
    return [Block(file, path, grid, j, min(j + per_block, grid.n_windows))
            for j in range(0, grid.n_windows, per_block)]


@dataclass(frozen=True)
class BlockResult:
    """What a block gives back.

    Attributes
    ----------
    block : Block
    features : np.ndarray, shape (stop - first, n_features), float32
    mel_power : np.ndarray, shape (PLOT_N_MELS, n_columns), float32
        Mean mel power of each column of the block's own part of the signal.
    column_edges : np.ndarray, shape (n_columns + 1,), int64
        Sample positions of the columns' boundaries.
    frame_power : np.ndarray, shape (n_own_frames,), float64
        Mean square of each hop-long frame of the block's own part (frames ``first`` on).
    """

    block: Block
    features: np.ndarray
    mel_power: np.ndarray
    column_edges: np.ndarray
    frame_power: np.ndarray


def _in_chunks(y: np.ndarray, step: int, part) -> list:
    """``part(y[i : i + step], i)`` for consecutive chunks of ``y``.

    The picture's columns and the hop-long frames are computed alone, so chunks of whole
    ones give the same values with float64 temporaries of a fixed size (below the
    allocator's mmap threshold, :mod:`pipeline.engine.allocator`) instead of the whole block's.
    """
    return [part(y[i : i + step], i) for i in range(0, len(y), step)]


# Samples per chunk of the block's own part for the picture and the frame powers.
_CHUNK_SAMPLES = 1 << 18


def _coarse_mel(y: np.ndarray, offset: int, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean mel power of columns of ``y`` (which starts at sample ``offset``)."""
    column = PLOT_N_FFT * PLOT_FRAMES_PER_COLUMN
    parts = _in_chunks(y, max(1, _CHUNK_SAMPLES // column) * column,
                       lambda part, at: _mel_columns(part, offset + at, sr))
    return (np.hstack([mel for mel, _ in parts]),
            np.concatenate([parts[0][1][:1], *(edges[1:] for _, edges in parts)]))


def _frame_power(y: np.ndarray, hop: int) -> np.ndarray:
    """Mean square of each hop-long frame of ``y`` (the last may be shorter), float64."""
    def part(chunk: np.ndarray, _at: int) -> np.ndarray:
        wide = chunk.astype(np.float64)
        starts = np.arange(0, len(wide), hop)
        return np.add.reduceat(wide**2, starts) / np.diff(np.append(starts, len(wide)))

    return np.concatenate(_in_chunks(y, max(1, _CHUNK_SAMPLES // hop) * hop, part))


def _mel_columns(y: np.ndarray, offset: int, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_coarse_mel` of one chunk (whole columns but maybe the last)."""
    from pipeline.features.mfcc import mel_basis
    from pipeline.features.stft import power_of_frames

    n_frames = -(-len(y) // PLOT_N_FFT)
    frames = np.zeros((n_frames, PLOT_N_FFT), dtype=np.float32)
    frames.reshape(-1)[: len(y)] = y
    power = power_of_frames([frames], n_fft=PLOT_N_FFT)
    basis = mel_basis(sr=sr, n_fft=PLOT_N_FFT, n_mels=PLOT_N_MELS, fmin=0.0, fmax=sr / 2)
    mel = np.asarray(basis @ power, dtype=np.float32)
    starts = np.arange(0, n_frames, PLOT_FRAMES_PER_COLUMN)
    columns = np.add.reduceat(mel, starts, axis=1) / np.diff(np.append(starts, n_frames))
    edges = np.append(starts * PLOT_N_FFT, len(y)).astype(np.int64) + offset
    return columns.astype(np.float32), edges


def featurize_block(block: Block, *, params) -> BlockResult:
    """Features of every window of ``block`` and the coarse spectrogram of its part.

    Parameters
    ----------
    block : Block
    params : pipeline.core.config.FeatureParams
        The feature parameters the model was trained with.

    Returns
    -------
    BlockResult

    Raises
    ------
    pipeline.datasets.audio.AudioError
        The span cannot be decoded (its ``kind`` names the reason).
    ValueError
        A window gave non-finite features.
    """
    from pipeline.datasets.audio import load_span
    from pipeline.engine.allocator import retain_freed_memory
    from pipeline.features.sliding import features_of_windows

    retain_freed_memory()
    grid, sr = block.grid, params.sr
    spans = grid.spans()[block.first : block.stop]
    lo, hi = int(spans[0, 0]), int(spans[-1, 1])
    y = load_span(block.path, lo, hi, sr=sr)
    features = features_of_windows(y, spans - lo, sr=sr, params=params).astype(np.float32)
    if not np.isfinite(features).all():
        raise ValueError("non-finite feature values")
    own_end = grid.n if block.stop == grid.n_windows else block.stop * grid.hop
    own = y[: own_end - lo]
    mel, edges = _coarse_mel(own, lo, sr)
    # The own part starts on a frame boundary (first * hop), so its frames are the file's.
    return BlockResult(block, features, mel, edges, _frame_power(own, grid.hop))
