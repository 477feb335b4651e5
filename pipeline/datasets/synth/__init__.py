"""The embedded dataset: a synthetic, UrbanSound8K-shaped set of urban sound scenes.

The generator draws a *plan* first (:mod:`.plan`: the metadata table, folds and each clip's
file format, no audio), then renders every clip independently (:mod:`.write`): the class's
source, one of several documented sub-types (:mod:`.recipes`, built from the signal blocks
of :mod:`.dsp`), placed in a scene (:mod:`.scenes`: an urban ambience, the recording's
microphone and room, the distance its salience means, sometimes another class intruding).
Slices of one recording share its sub-type, parameters, scene, microphone and file format.
:mod:`.record` keeps the list of files a run wrote, so that a later run never replaces
anything else.
"""

from pipeline.datasets.synth.dsp import SR
from pipeline.datasets.synth.plan import (
    AV_TRAIN_FOLDS,
    CLASS_WEIGHTS,
    METADATA_COLUMNS,
    N_FOLDS,
    RARE_RATES,
    RARE_SUBTYPES,
    RATES,
    SLICE,
    SUBTYPES,
    class_counts,
    plan,
)
from pipeline.datasets.synth.recipes import REGISTRY, describe, draw_subtype
from pipeline.datasets.synth.record import RECORD, RECORD_FORMAT, planned_files
from pipeline.datasets.synth.scenes import AMBIENCES, render_ambience, render_source
from pipeline.datasets.synth.write import LAYOUTS, generate, outputs_of, render_clip, wav_bytes

__all__ = [
    "AMBIENCES", "AV_TRAIN_FOLDS", "CLASS_WEIGHTS", "LAYOUTS", "METADATA_COLUMNS", "N_FOLDS",
    "RARE_RATES", "RARE_SUBTYPES", "RATES", "RECORD", "RECORD_FORMAT", "REGISTRY", "SLICE", "SR",
    "SUBTYPES", "class_counts", "describe", "draw_subtype", "generate", "outputs_of", "plan",
    "planned_files", "render_ambience", "render_clip", "render_source", "wav_bytes",
]  # fmt: skip
