"""Finding and reading clips: dataset layouts and the clip manifest (``layouts``, ``tables``,
``prepare``), loading audio (``audio``), the class list (``classes``), the generator
(``synth``) and long scenes (``long_scenes``).

May import :mod:`pipeline.core` only (not :mod:`pipeline.features`, nor anything above).
"""

from pipeline.datasets.layouts import (
    AUDIO_EXTENSIONS,
    COLUMNS,
    dataset_files,
    describe,
    read_dataset,
    write_manifest,
)

__all__ = ["AUDIO_EXTENSIONS", "COLUMNS", "dataset_files", "describe", "read_dataset",
           "write_manifest"]
