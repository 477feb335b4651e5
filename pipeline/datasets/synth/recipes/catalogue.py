"""The catalogue of sound recipes: sub-types registered by class, drawn by their weights."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Render = Callable[[int, np.random.Generator], np.ndarray]
Draw = Callable[[np.random.Generator], Render]


@dataclass(frozen=True)
class Subtype:
    """One registered sub-type of a class."""

    cls: str
    name: str
    weight: float
    draw: Draw
    doc: str


REGISTRY: dict[str, dict[str, Subtype]] = {}


def subtype(cls: str, name: str, weight: float) -> Callable[[Draw], Draw]:
    """Register ``draw`` as sub-type ``name`` of class ``cls``, drawn with ``weight``."""

    def register(draw: Draw) -> Draw:
        doc = " ".join((draw.__doc__ or "").split())
        REGISTRY.setdefault(cls, {})[name] = Subtype(cls, name, weight, draw, doc)
        return draw

    return register


def draw_subtype(cls: str, rec: np.random.Generator) -> tuple[str, Render]:
    """Pick a sub-type of ``cls`` with the registered weights and draw a recording of it.

    Returns
    -------
    name : str
    render : callable ``(n, rng) -> ndarray (n,)``
    """
    entries = list(REGISTRY[cls].values())
    w = np.array([e.weight for e in entries], dtype=float)
    chosen = entries[int(rec.choice(len(entries), p=w / w.sum()))]
    return chosen.name, chosen.draw(rec)


def describe() -> dict[str, dict[str, str]]:
    """Class → sub-type → one-paragraph description."""
    return {c: {n: s.doc for n, s in subs.items()} for c, subs in REGISTRY.items()}
