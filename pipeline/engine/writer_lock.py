"""One writer per output folder: a lock file that names the process holding it."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.core.errors import UserError

LOCK_FILE = ".lock"


@contextmanager
def single_writer(folder: str | Path, *, what: str = "feature store",
                  command: str = "urbansound features") -> Iterator[None]:
    """Hold the lock of the ``what`` in ``folder`` (created if needed) during the block.

    The lock is an ``flock`` on ``folder/.lock``, which the system releases when its holder
    ends in any way, so the lock of a killed run (a stale lock: its PID is dead) is simply
    taken over. The file holds the holder's PID, to name it to a second writer.

    Raises
    ------
    UserError
        At once, when another process holds the lock, or the folder cannot be created.
    """
    folder = Path(folder)
    path = folder / LOCK_FILE
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {what} {folder}: {exc.strerror or exc}") from None
    try:
        fd = _acquire(path, folder, command)
    except OSError as exc:
        raise UserError(f"cannot lock {what} {folder}: {exc.strerror or exc}") from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        path.unlink(missing_ok=True)  # while still holding it: no one can take a removed lock
        os.close(fd)


def _acquire(path: Path, folder: Path, command: str) -> int:
    """A descriptor of ``path`` holding its lock."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise UserError(f"another {command} (PID {holder}) is writing into {folder}: "
                            "wait for it to end, or stop it") from None
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # its holder removed the file between our open and lock: open the new one
