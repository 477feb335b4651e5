"""The report's own pictures (matplotlib PNGs): per-class recall of every model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipeline.classes import CLASSES
from pipeline.evaluate import png_bytes, pyplot


def class_recall_png(models: Sequence) -> bytes:
    """Recall of every class (rows) for every model (bars), as PNG bytes.

    ``models`` are :class:`pipeline.evaluate.ModelCV`, drawn in the given order.
    """
    plt = pyplot()
    classes = [c for c in CLASSES if any(c in m.per_class_recall for m in models)]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.8 / max(1, len(models))
    x = np.arange(len(classes))
    for k, m in enumerate(models):
        values = [m.per_class_recall.get(c, np.nan) for c in classes]
        ax.bar(x + (k - (len(models) - 1) / 2) * width, values, width=width, label=m.name)
    ax.set_xticks(x, classes, rotation=30, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("recall (out of fold)")
    ax.set_title("recall per class")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncols=min(len(models), 5), loc="upper center",
              bbox_to_anchor=(0.5, -0.42), frameon=False)
    return png_bytes(fig)
