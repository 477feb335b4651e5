"""The registry of sound recipes: one registered function per class and sub-type.

A sub-type is a function ``draw(rec) -> render`` registered with :func:`subtype`: ``draw``
takes the recording's generator ``rec`` and draws everything a recording keeps fixed (pitch,
size, rate, timbre), and returns ``render(n, rng) -> ndarray (n,)``, which draws what
changes from slice to slice (event times, small variations) from the clip's generator.
Each class picks its sub-type per recording with the registered weights, so slices of one
recording share their sub-type and parameters. The docstring of each sub-type is its
documentation; :func:`describe` lists them.

The modules are grouped by what makes the sound: :mod:`.hums` (air conditioner, engine
idling), :mod:`.tools` (drilling, jackhammer), :mod:`.signals` (car horn, siren, gun shot),
:mod:`.living` (dog bark, children playing), :mod:`.music` (street music); :mod:`.voice`
holds the voice model shared by children, singers and crowds.
"""

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


# Importing the modules registers their sub-types.
from pipeline.datasets.synth.recipes import hums, living, music, signals, tools  # noqa: E402,F401
