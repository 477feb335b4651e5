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

# Importing the modules registers their sub-types.
from pipeline.datasets.synth.recipes import hums, living, music, signals, tools  # noqa: E402,F401
from pipeline.datasets.synth.recipes.catalogue import (
    REGISTRY,
    Draw,
    Render,
    Subtype,
    describe,
    draw_subtype,
    subtype,
)

__all__ = ["REGISTRY", "Draw", "Render", "Subtype", "describe", "draw_subtype", "subtype"]
