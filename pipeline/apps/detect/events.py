"""From window probabilities to events: frame scores, runs, merging.

1. **Frame scores.** The signal is tiled by hop-long frames. A frame's score for a class is
   the mean probability of that class over every window that covers the frame's midpoint
   (``window / hop`` windows inside the file, fewer at its edges). Averaging the
   overlapping windows locates a sound to about one hop although each window is longer.
2. **Runs.** In each frame only the most probable class can be active, and only if its
   score reaches ``threshold``: the models are single-label classifiers, so events never
   overlap in time. Consecutive frames with the same active class form a run.
3. **Merging.** Two runs of the same class with no other event between them are joined
   when the gap between them is at most ``merge_gap`` seconds. Events shorter than
   ``min_duration`` are then dropped. An event's probability is the mean score of its
   class over its frames (gap frames included).

Optionally (``gate_db``), a frame may hold an event only when its level is at least
``gate_db`` dB above the file's noise floor: the classifiers have no "background" class,
so without it ambience alone is given the most similar class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from pipeline.apps.detect.windows import Grid

EVENT_COLUMNS = ["file", "start", "end", "class", "probability"]
FLOOR_PERCENTILE = 10.0


def frame_scores(proba: np.ndarray, grid: Grid) -> np.ndarray:
    """Mean probability of the windows covering each frame's midpoint.

    Parameters
    ----------
    proba : np.ndarray, shape (grid.n_windows, n_classes)
    grid : Grid

    Returns
    -------
    np.ndarray, shape (grid.n_frames, n_classes), float64
    """
    edges = grid.frame_edges()
    middle = (edges[:-1] + edges[1:]) // 2
    # Window j covers sample m when j * hop <= m < j * hop + window (m < n always).
    last = np.minimum(middle // grid.hop, grid.n_windows - 1)
    first = np.maximum((middle - grid.window) // grid.hop + 1, 0)
    cumulative = np.vstack([np.zeros((1, proba.shape[1])), np.cumsum(proba, axis=0)])
    count = (last - first + 1)[:, None]
    return (cumulative[last + 1] - cumulative[first]) / count


def find_events(
    scores: np.ndarray, edges: np.ndarray, classes, *, sr: int, threshold: float,
    merge_gap: float = 0.0, min_duration: float = 0.0, allowed: np.ndarray | None = None,
) -> list[tuple[float, float, str, float]]:
    """Events of one file from its frame scores.

    Parameters
    ----------
    scores : np.ndarray, shape (n_frames, n_classes)
    edges : np.ndarray, shape (n_frames + 1,)
        Frame boundaries in samples.
    classes : sequence of str, length n_classes
    sr : int
    threshold, merge_gap, min_duration : float
        As in :class:`pipeline.core.config.DetectParams` (seconds for the last two).
    allowed : np.ndarray of bool, shape (n_frames,), optional
        Frames that may hold an event (see :func:`energy_gate`); default all.

    Returns
    -------
    list of (start_s, end_s, class, probability), in time order
    """
    if len(scores) == 0:
        return []
    best = np.argmax(scores, axis=1)
    on = scores[np.arange(len(scores)), best] >= threshold
    if allowed is not None:
        on &= allowed
    active = np.where(on, best, -1)
    change = np.flatnonzero(np.diff(active)) + 1
    starts = np.concatenate([[0], change])
    stops = np.concatenate([change, [len(active)]])
    runs: list[list[int]] = []  # [first frame, stop frame, class index]
    for k0, k1 in zip(starts, stops, strict=True):
        c = int(active[k0])
        if c < 0:
            continue
        if runs and runs[-1][2] == c and edges[k0] - edges[runs[-1][1]] <= merge_gap * sr:
            runs[-1][1] = int(k1)
        else:
            runs.append([int(k0), int(k1), c])
    events = []
    for k0, k1, c in runs:
        start, end = edges[k0] / sr, edges[k1] / sr
        if end - start >= min_duration:
            events.append((float(start), float(end), str(classes[c]),
                           float(scores[k0:k1, c].mean())))
    return events


def energy_gate(frame_power: np.ndarray, gate_db: float | None) -> np.ndarray | None:
    """Frames at least ``gate_db`` dB above the file's noise floor (None: no gate).

    The floor is the 10th percentile of the frames' levels: a recording is mostly
    background, and the quietest tenth of it is a robust estimate of that background.

    Parameters
    ----------
    frame_power : np.ndarray, shape (n_frames,)
        Mean square of each frame.
    gate_db : float or None

    Returns
    -------
    np.ndarray of bool, shape (n_frames,), or None
    """
    if gate_db is None:
        return None
    level = 10 * np.log10(np.maximum(frame_power, 1e-12))
    return level >= np.percentile(level, FLOOR_PERCENTILE) + gate_db


def events_table(file: str, events) -> pd.DataFrame:
    """``file, start, end, class, probability`` rows of one file's events."""
    import pandas as pd  # here, not at the top: the block workers import this package

    return pd.DataFrame([(file, *e) for e in events], columns=EVENT_COLUMNS)
