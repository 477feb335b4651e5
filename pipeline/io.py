"""The one place that writes files: atomic writes, output-place checks, OS-error wording.

Every output (Parquet, CSV, JSON, PNG, model files) is written to a unique temporary file
beside its final name and renamed, so a killed run never leaves a half-written file under
the final name. Stages check their output places with :func:`check_output_dir` before any
work starts, so a mistake in ``--out`` costs one line, not a whole cross-validation.
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


# --- atomic writes -------------------------------------------------------------------------
def _umask_mode() -> int:
    """Permissions a plain ``open(path, "w")`` would give (mkstemp files are private)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def temporary_names(path: str | os.PathLike) -> str:
    """Glob pattern of the temporary files :func:`atomic_write` uses for ``path``."""
    path = Path(path)
    return f".{glob.escape(path.name)}.{'?' * 8}.tmp*"


def atomic_write(path: str | os.PathLike, write: Callable[[str], Any]) -> None:
    """Let ``write(tmp)`` produce a file, then rename it to ``path``.

    The temporary file is ``.NAME.XXXXXXXX.tmp.SUFFIX`` beside ``path``: unique, so two
    writers never share one, and with ``path``'s suffix, which writers such as
    ``numpy.savez`` insist on. Those left by a write that was killed before its rename are
    removed first, so a killed run leaves nothing behind once rerun.

    Raises
    ------
    UserError
        The file system refuses the write (full disk, file size limit, read-only, no
        permission); whatever ``path`` held before stays intact.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for leftover in path.parent.glob(temporary_names(path)):
            leftover.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                   suffix=f".tmp{path.suffix}")
        os.close(fd)
        write(tmp)
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise UserError(f"cannot write {path_text(path)}: {os_error_reason(exc)}") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def atomic_write_parquet(path: str | os.PathLike, table) -> None:
    """Write the ``pyarrow.Table`` ``table`` to ``path`` atomically."""
    import pyarrow.parquet as pq

    atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def check_regular_file(path: str | os.PathLike, what: str) -> None:
    """Refuse to read ``path`` unless it is a regular file (or a link to one): a named pipe
    nobody writes to would block the read forever, a device never ends.

    A path that does not exist passes (the reader says "not found" in its own words).

    Raises
    ------
    UserError
        ``"{what} {path} is not a regular file"``.
    """
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if not stat.S_ISREG(mode):
        raise UserError(f"{what} {path_text(path)} is not a regular file")
