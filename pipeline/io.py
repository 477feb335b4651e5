"""File-system helpers shared by every stage: output places, OS-error wording, path text.

Stages check their output places with :func:`check_output_dir` before any work starts, so a
mistake in ``--out`` costs one line, not a whole cross-validation.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pipeline.errors import UserError


def os_error_reason(exc: OSError) -> str:
    """The one-line reason of an ``OSError`` (pyarrow's carry a long detail)."""
    if exc.errno:
        return os.strerror(exc.errno)
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def path_text(path: str | os.PathLike) -> str:
    """``path`` as valid UTF-8 text, for tables and messages.

    A file name that is not valid UTF-8 reaches Python with surrogate escapes, which no
    UTF-8 file (CSV, Parquet, JSON) can hold; its undecodable bytes are shown as ``\\xNN``.
    """
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def check_output_dir(path: str | os.PathLike, what: str = "output folder") -> Path:
    """Refuse an output folder that cannot be created or written, before any work starts.

    The folder is created (with its parents) and a temporary file is written and removed in
    it; folders created only for the check are removed again, so a refused or aborted
    command leaves nothing behind.

    Raises
    ------
    UserError
        ``path`` is a file, lies below a file, or cannot be created or written.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"cannot write {what} {path_text(path)}: it exists and is not a folder")
    created = []
    probe = path
    while not probe.exists():
        created.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise UserError(f"cannot write {what} {path_text(path)}: {path_text(probe)} is a file")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise UserError(f"cannot write {what} {path_text(path)}: {os_error_reason(exc)}") \
            from None
    finally:
        for folder in created:  # innermost first
            try:
                folder.rmdir()
            except OSError:
                break
    return path


def check_output_file(path: str | os.PathLike, what: str = "output file") -> Path:
    """Refuse an output file whose folder cannot be written or that is a folder itself."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"cannot write {what} {path_text(path)}: it is a folder")
    check_output_dir(path.parent, f"folder of the {what}")
    return path
