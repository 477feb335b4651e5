"""The timeline picture of one recording: spectrogram, class probabilities, events.

Three stacked panels share the time axis: the log-mel spectrogram; one thin row per class
with its frame score filled under the curve, the threshold dashed and the frames the
energy gate closes (if one is used) shaded; and one lane per
class with the detected events as bars in the class colour (annotated events, when given,
as outlined bars in the upper half of each lane). Long recordings are pooled down to at most
:data:`MAX_COLUMNS` columns (mean power for the spectrogram, maximum score for the curves,
so that a one-second gun shot in an hour stays visible).
"""

from __future__ import annotations

import numpy as np

MAX_COLUMNS = 2000  # about one per pixel of the 20-inch figure at 100 dpi
_DB_RANGE = 80.0


def _pool(values: np.ndarray, edges: np.ndarray, limit: int, how) -> tuple[np.ndarray, np.ndarray]:
    """Pool columns of ``values`` (rows, n) with boundaries ``edges`` (n + 1) to <= limit."""
    n = values.shape[1]
    if n <= limit:
        return values, edges
    groups = np.linspace(0, n, limit + 1).astype(np.int64)
    starts = groups[:-1]
    return how.reduceat(values, starts, axis=1) / (
        np.diff(groups) if how is np.add else 1), edges[groups]


def _hz_ticks(n_mels: int, sr: int) -> tuple[list[float], list[str]]:
    """Positions (band index) and labels of round frequencies on a mel band axis."""
    from pipeline.features.mfcc import mel_frequencies

    edges = mel_frequencies(n_mels + 2, fmin=0.0, fmax=sr / 2)[1:-1]
    hz = [f for f in (100, 250, 500, 1000, 2000, 4000, 8000) if f < sr / 2]
    return [float(np.interp(f, edges, np.arange(n_mels)) + 0.5) for f in hz], [
        f"{f // 1000}k" if f >= 1000 else str(f) for f in hz]


def _tick_step(duration: float) -> float:
    """A round step in seconds giving at most about 20 ticks over ``duration``."""
    steps = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400)
    return next((s for s in steps if duration / s <= 20), 3600 * (duration // 72000 + 1))


def _clock(seconds: float, _pos=None) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def timeline_png(
    *, title: str, sr: int, duration: float, mel_power: np.ndarray, mel_edges: np.ndarray,
    scores: np.ndarray, frame_edges: np.ndarray, classes, events, threshold: float,
    reference=None, allowed: np.ndarray | None = None,
) -> bytes:
    """Render the timeline of one recording as PNG bytes.

    Parameters
    ----------
    title : str
    sr : int
        Rate of the sample positions in ``mel_edges`` and ``frame_edges``.
    duration : float
        Seconds.
    mel_power : np.ndarray, shape (n_mels, n_columns)
    mel_edges : np.ndarray, shape (n_columns + 1,)
    scores : np.ndarray, shape (n_frames, n_classes)
    frame_edges : np.ndarray, shape (n_frames + 1,)
    classes : sequence of str, length n_classes
    events : sequence of (start_s, end_s, class, probability)
    threshold : float
    reference : sequence of (start_s, end_s, class), optional
        Annotated events, drawn above the detected ones.
    allowed : np.ndarray of bool, shape (n_frames,), optional
        Frames the energy gate lets hold events; the others are shaded in the curves.
    """
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    from pipeline.evaluation import png_bytes, pyplot

    plt = pyplot()
    classes = list(classes)
    colors = plt.get_cmap("tab10")(np.arange(len(classes)) % 10)
    colors[7 % len(colors)] = (0.22, 0.23, 0.47, 1.0)  # tab10's grey would read as "no class"
    fig = plt.figure(figsize=(20, 11))
    # Margins set here: tight layout cannot place the nested grid of the class curves.
    grid = fig.add_gridspec(3, 1, height_ratios=[3.0, 5.0, 2.6], hspace=0.08, left=0.085,
                            right=0.99, top=0.965, bottom=0.055)

    ax = fig.add_subplot(grid[0])
    power, edges = _pool(mel_power, mel_edges, MAX_COLUMNS, np.add)
    db = 10 * np.log10(np.maximum(power, 1e-12))
    ax.pcolormesh(edges / sr, np.arange(db.shape[0] + 1), db, cmap="magma", shading="flat",
                  vmin=db.max() - _DB_RANGE, vmax=db.max(), rasterized=True)
    ax.set_yticks(*_hz_ticks(db.shape[0], sr))
    ax.set_ylabel("frequency (mel scale)")
    ax.set_title(title, loc="left", fontsize=13)
    axes = [ax]

    curves = grid[1].subgridspec(len(classes), 1, hspace=0.0)
    pooled, f_edges = _pool(scores.T, frame_edges, MAX_COLUMNS, np.maximum)
    t = np.repeat(f_edges / sr, 2)[1:-1]
    gated = None
    if allowed is not None:  # a pooled column is shaded only if all its frames are gated
        open_ = _pool(allowed[None, :].astype(float), frame_edges, MAX_COLUMNS, np.maximum)[0]
        gated = np.repeat(open_[0] == 0, 2)
    for i, name in enumerate(classes):
        row = fig.add_subplot(curves[i], sharex=ax)
        if gated is not None:
            row.fill_between(t, 1, where=gated, color="0.88", lw=0, step=None)
        row.fill_between(t, np.repeat(pooled[i], 2), color=colors[i], alpha=0.8, lw=0)
        row.axhline(threshold, color="0.3", lw=0.6, ls="--")
        row.set_ylim(0, 1)
        row.set_yticks([])
        row.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
        axes.append(row)

    # One lane per class: detected events fill it, or its lower part under the annotated ones.
    lanes = fig.add_subplot(grid[2], sharex=ax)
    lane = {name: i for i, name in enumerate(classes)}
    # (offset from the lane's centre, height) of the bars; one bar collection per class.
    detected_span = (-0.4, 0.8) if reference is None else (0.02, 0.4)
    for name, i in lane.items():
        annotated = [(start, end - start) for start, end, c in reference or () if c == name]
        if annotated:
            lanes.broken_barh(annotated, (i - 0.42, 0.4), facecolor="0.85", edgecolor="black",
                              lw=0.8)
        found = [(start, end - start) for start, end, c, _ in events if c == name]
        if found:
            lanes.broken_barh(found, (i + detected_span[0], detected_span[1]), color=colors[i])
    for k in range(1, len(classes)):
        lanes.axhline(k - 0.5, color="0.8", lw=0.6)
    lanes.set_yticks(range(len(classes)), classes, fontsize=9)
    lanes.set_ylim(len(classes) - 0.5, -0.5)
    lanes.set_ylabel("detected events" if reference is None
                     else "events: annotated (outlined, top)\nand detected (colour, below)")
    axes.append(lanes)

    for a in axes:
        a.grid(axis="x", color="0.75" if a is not ax else "white", lw=0.5, alpha=0.6)
    for a in axes[:-1]:
        a.tick_params(labelbottom=False)
    lanes.set_xlim(0, duration)
    lanes.xaxis.set_major_locator(MultipleLocator(_tick_step(duration)))
    lanes.xaxis.set_major_formatter(FuncFormatter(_clock))
    lanes.set_xlabel("time (m:ss or h:mm:ss)")
    return png_bytes(fig, tight=False)
