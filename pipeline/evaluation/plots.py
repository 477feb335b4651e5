"""PNG pictures of cross-validation results (matplotlib, file-only backend)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np
from sklearn.metrics import confusion_matrix

from pipeline.datasets.classes import CLASSES

if TYPE_CHECKING:
    from pipeline.evaluation.results import CVResult


def pyplot():
    """matplotlib.pyplot with the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_bytes(fig, *, tight: bool = True) -> bytes:
    """Render ``fig`` to PNG bytes and close it (laid out tight in the one drawing that
    saving does, unless ``tight`` is False: a figure of nested grids sets its own margins,
    which tight layout cannot place; ``bbox_inches="tight"`` would draw it twice)."""
    buf = io.BytesIO()
    if tight:
        fig.set_layout_engine("tight")
    fig.savefig(buf, format="png", dpi=100)
    pyplot().close(fig)
    return buf.getvalue()


def confusion_png(actual, predicted, title: str) -> bytes:
    """A row-normalised confusion matrix (recall on the diagonal) as PNG bytes.

    ``actual`` and ``predicted`` are class names, both of shape (n,).
    """
    plt = pyplot()
    actual, predicted = np.asarray(actual, dtype=object), np.asarray(predicted, dtype=object)
    present = set(np.unique(actual)) | set(np.unique(predicted))
    labels = [c for c in CLASSES if c in present]
    cm = confusion_matrix(actual, predicted, labels=labels).astype(float)
    cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7, 6))
    im = ax.imshow(cm, vmin=0, vmax=1, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{cm[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(title)
    fig.colorbar(im, ax=ax)
    # Margins for the ten class names, set once: a tight layout would draw the 100 cell
    # labels twice.
    fig.subplots_adjust(left=0.24, bottom=0.25, right=0.99, top=0.95)
    return png_bytes(fig, tight=False)


def fold_accuracy_png(result: CVResult) -> bytes:
    """Accuracy of every model on every fold, as PNG bytes."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    for model in result.models.values():
        ax.plot([f.fold for f in model.folds], [f.accuracy for f in model.folds], marker="o",
                label=f"{model.name} ({model.accuracy_mean:.3f})")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(result.run.protocol)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.tick_params(axis="x", rotation=45)
    return png_bytes(fig)
