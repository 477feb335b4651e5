"""Dataset folders: layout detection and the clip manifest (see :mod:`.layouts`)."""

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
