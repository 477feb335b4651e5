"""The one place that writes files: atomic writes, ownership, output-place checks, OS-error
wording.

Every output (Parquet, CSV, JSON, PNG, model files) is written to a unique temporary file
beside its final name and renamed, so a killed run never leaves a half-written file under
the final name. A write to a symbolic link goes to the file it points to (the link stays).

Ownership: a command replaces or removes only files it owns. Before any work it lists the
files it will write (or remove) in each output folder in an :class:`Outputs`; each must be
absent, or listed in the folder's record :data:`OUTPUT_RECORD` as written by the tool and
unchanged since (same size and SHA-256: a file edited after we wrote it is the user's
now). Anything else stops the command with one line (exit 2) unless ``force`` is given; an
output that is also one of the command's inputs is refused even then.
"""

from __future__ import annotations

import errno
import glob
import hashlib
import json
import os
import resource
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pipeline.core.errors import UserError


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


# C0 control characters as escapes, as path_text writes undecodable bytes (\xNN): a file
# name may hold any of them, and a printed line must stay one line.
_ESCAPES = {**{c: f"\\x{c:02x}" for c in range(32)}, 0x7F: "\\x7f",
            ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"}


def one_line(value: Any) -> str:
    """``str(value)`` with its control characters escaped (a newline as ``\\n``), so a
    file name printed in a line or a tab-separated field never breaks it."""
    return str(value).translate(_ESCAPES)


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


def write_target(path: str | os.PathLike) -> Path:
    """Where a write to ``path`` lands: the file a symbolic link points to, else ``path``.

    Replacing the link by a file would cut it from what it shares (a ``params.yaml``
    linked to a common file, say), so writes follow it.
    """
    path = Path(path)
    return Path(os.path.realpath(path)) if os.path.islink(path) else path


def atomic_write(path: str | os.PathLike, write: Callable[[str], Any]) -> None:
    """Let ``write(tmp)`` produce a file, then rename it to ``path``.

    The temporary file is ``.NAME.XXXXXXXX.tmp.SUFFIX`` beside ``path``: unique, so two
    writers never share one, and with ``path``'s suffix, which writers such as
    ``numpy.savez`` insist on. Those left by a write that was killed before its rename are
    removed first, so a killed run leaves nothing behind once rerun. When ``path`` is a
    symbolic link, its target is written (temporary file in the target's folder) and the
    link is kept. A file that is replaced keeps its permissions.

    Raises
    ------
    UserError
        The file system refuses the write (full disk, file size limit, read-only, no
        permission), also when ``write`` is a library's and says so in its own words;
        whatever ``path`` held before stays intact and no temporary file is left.
    """
    shown = Path(path)
    _note_write(shown)
    path = write_target(shown)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for leftover in path.parent.glob(temporary_names(path)):
            leftover.unlink(missing_ok=True)
        mode = path.stat().st_mode & 0o7777 if path.is_file() else _umask_mode()
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                   suffix=f".tmp{path.suffix}")
        os.close(fd)
        try:
            write(tmp)
        except OSError:
            raise
        except Exception:
            code = _full_disk(tmp)
            if code is None:
                raise
            raise OSError(code, os.strerror(code)) from None
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise UserError(f"cannot write {path_text(shown)}: {os_error_reason(exc)}") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _full_disk(tmp: str) -> int | None:
    """``ENOSPC`` or ``EFBIG`` when the file system or the file size limit explains why a
    library failed writing ``tmp`` (XGBoost says only "write incomplete"), else None."""
    try:
        if os.statvfs(os.path.dirname(tmp) or ".").f_bavail == 0:
            return errno.ENOSPC
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if limit != resource.RLIM_INFINITY and os.path.getsize(tmp) >= limit:
            return errno.EFBIG
    except OSError:
        return None
    return None


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
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Dictionary encoding pays for repeated values (ids, labels, error kinds), not for
    # measured floats, where building the dictionary costs more than the rest of the write.
    measured = (pa.types.is_floating, pa.types.is_list, pa.types.is_fixed_size_list)
    dictionary = [f.name for f in table.schema if not any(is_(f.type) for is_ in measured)]
    atomic_write(path, lambda tmp: pq.write_table(table, tmp, use_dictionary=dictionary))


# --- ownership -----------------------------------------------------------------------------
#: Record of the files the tool wrote in an output folder (relative POSIX names).
OUTPUT_RECORD = ".urbansound-files.json"
RECORD_FORMAT = "urbansound-files/1"
#: Records of earlier versions (the clip generator's), still read: their files are owned.
LEGACY_RECORDS = {".urbansound-synth.json": "urbansound-synth/1"}
_CHUNK = 1 << 20


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def fingerprint(path: str | os.PathLike) -> dict:
    """Size and SHA-256 of the file at ``path`` (links followed); no time, so that a
    record, like the files it lists, is the same in every run."""
    return {"size": os.stat(path).st_size, "sha256": _digest(Path(path))}


def fingerprint_bytes(data: bytes) -> dict:
    """:func:`fingerprint` of a file holding ``data``, without reading it back."""
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def unchanged(path: str | os.PathLike, recorded: dict | None) -> bool:
    """Whether the file at ``path`` still has the size and contents ``recorded``.

    ``None`` (a file claimed before it was written, or listed by an older record without
    fingerprints) counts as unchanged. The contents are hashed only when the size matches.
    """
    if recorded is None:
        return True
    try:
        return (os.stat(path).st_size == recorded.get("size")
                and _digest(Path(path)) == recorded.get("sha256"))
    except (OSError, AttributeError):
        return False


def safe_relative(name: object) -> bool:
    """Whether a record entry names a file inside its folder (no absolute path, no ``..``)."""
    if not isinstance(name, str) or not name or name.startswith("/") or "\\" in name:
        return False
    return all(part not in ("", ".", "..") for part in name.split("/"))


def read_record(folder: str | os.PathLike) -> dict[str, dict | None] | None:
    """``{relative name: fingerprint or None}`` of the files the tool wrote in ``folder``
    (its record merged with a legacy one); None when there is no usable record.

    A record naming anything outside its folder is not trusted at all.
    """
    files: dict[str, dict | None] = {}
    found = False
    for name, fmt in ((OUTPUT_RECORD, RECORD_FORMAT), *LEGACY_RECORDS.items()):
        if (Path(folder) / name).is_symlink():  # ours are plain files
            continue
        try:
            record = json.loads((Path(folder) / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict) or record.get("format") not in (fmt, RECORD_FORMAT):
            continue
        entries = record.get("files")
        if isinstance(entries, list):
            entries = dict.fromkeys(entries)
        if not isinstance(entries, dict) or not all(safe_relative(f) for f in entries):
            continue
        found = True
        for f, fp in entries.items():
            files.setdefault(f, fp if isinstance(fp, dict) else None)
    return files if found else None


def write_record(folder: str | os.PathLike, files: dict[str, dict | None], **extra: Any) -> None:
    """Write ``folder``'s record of its files (``extra``: JSON-able facts kept with it)."""
    folder = Path(folder)
    atomic_write_json(folder / OUTPUT_RECORD,
                      {"format": RECORD_FORMAT, **extra, "files": dict(sorted(files.items()))})
    for legacy in LEGACY_RECORDS:  # merged into the record just written
        if (folder / legacy).is_file() and not (folder / legacy).is_symlink():
            (folder / legacy).unlink()


def _identity(path: str | os.PathLike) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path``, links followed; None when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _identities(paths: Iterable[str | os.PathLike]) -> set[tuple[int, int]]:
    return {i for i in map(_identity, paths) if i is not None}


_ACTIVE: list[Outputs] = []


def _folders_under(folder: Path) -> set[Path]:
    """``folder`` and every folder below it (links not followed); empty when it is absent."""
    if not folder.is_dir():
        return set()
    return {folder, *(Path(top) / d for top, dirs, _ in os.walk(folder) for d in dirs)}


def remove_output(path: str | os.PathLike) -> None:
    """Remove the file ``path`` when it exists: through the open :class:`Outputs` that
    claimed it (so its record follows), else directly."""
    where = os.path.abspath(path)
    for outputs in _ACTIVE:
        for name in (*outputs.names, *outputs.removes):
            if os.path.abspath(outputs.path(name)) == where:
                outputs.remove(name)
                return
    Path(path).unlink(missing_ok=True)


def _note_write(path: Path) -> None:
    """Record ``path`` as claimed before its first byte lands (see :meth:`Outputs.begin`)."""
    where = os.path.abspath(path)
    for outputs in _ACTIVE:
        if where in outputs._absolute:
            outputs.begin()


class Outputs:
    """The files one command writes (``names``) or removes (``removes``) in ``folder``,
    checked when built, before any work and before any folder is created.

    Use it as a ``with`` block around the writes: the first write (through
    :func:`atomic_write`, or an explicit :meth:`begin` when other processes write) lists
    the names in the folder's record, so a run killed midway still owns what it wrote; the
    end of the block records the fingerprints of the files that exist.

    Parameters
    ----------
    folder : path
        The output folder; ``names`` are POSIX paths relative to it.
    names, removes : iterable of str
        Files written; files removed when present (a stale answer key, say).
    force : bool
        Replace (or remove) files the tool did not write, too.
    inputs : iterable of path
        Files the command reads: none of them may be an output, even with ``force``.
    proof : callable, optional
        ``proof(folder)`` true when a folder without a record was written by the tool all
        the same (an earlier version's output that carries its own proof): its ``names``
        count as the tool's own.

    Raises
    ------
    UserError
        An output is a folder, is one of ``inputs``, or exists without being the tool's own
        unchanged file (and ``force`` is false).
    """

    def __init__(self, folder: str | os.PathLike, names: Iterable[str] = (), *,
                 removes: Iterable[str] = (), force: bool = False,
                 inputs: Iterable[str | os.PathLike] = (),
                 proof: Callable[[Path], bool] | None = None):
        self.folder = Path(folder)
        self.names = list(dict.fromkeys(names))
        self.removes = [n for n in dict.fromkeys(removes) if n not in self.names]
        self.force = force
        self._absolute = {os.path.abspath(self.folder / n) for n in self.names}
        self._begun = False
        self._folders: set[Path] = set()
        self._known: dict[str, dict] = {}
        self._check(list(inputs), proof)

    def _check(self, inputs: Iterable[str | os.PathLike],
               proof: Callable[[Path], bool] | None) -> None:
        if self.folder.exists() and not self.folder.is_dir():
            raise UserError(f"cannot write into {path_text(self.folder)}: it exists and is "
                            "not a folder")
        own = self.folder / OUTPUT_RECORD
        if os.path.lexists(own) and (own.is_symlink() or not own.is_file()):
            raise UserError(f"cannot keep the record of {path_text(self.folder)}: "
                            f"{path_text(own)} is not a plain file (remove it)")
        record = read_record(self.folder) if self.folder.is_dir() else None
        if record is None:
            owned = self.folder.is_dir() and proof is not None and proof(self.folder)
            record = dict.fromkeys(self.names) if owned else {}
        read: set[tuple[int, int]] | None = None  # the inputs, once an output exists
        for name in (*self.names, *self.removes):
            path = self.folder / name
            if not os.path.lexists(path):
                continue
            if path.is_dir():
                raise UserError(f"cannot write {path_text(path)}: it is a folder")
            read = _identities(inputs) if read is None else read
            if _identity(path) in read:
                raise UserError(f"refusing to replace {path_text(path)}: this command reads "
                                "it (choose another output)")
            if self.force or (name in record and unchanged(path, record[name])):
                continue
            why = ("was changed since urbansound wrote it" if name in record
                   else "was not written by urbansound")
            raise UserError(f"refusing to replace {path_text(path)}: it {why}; nothing was "
                            "changed (--force replaces it)")

    def path(self, name: str) -> Path:
        """The path of output ``name``."""
        return self.folder / name

    def begin(self) -> None:
        """List every output in the folder's record (as not yet fingerprinted), creating the
        folder; done once, before the first write."""
        if self._begun:
            return
        self._begun = True
        self.folder.mkdir(parents=True, exist_ok=True)
        record = read_record(self.folder) or {}
        record.update(dict.fromkeys(self.names))
        write_record(self.folder, record)

    def remove(self, name: str) -> None:
        """Remove output ``name`` (one of ``names`` or ``removes``) when it exists."""
        if name not in self.removes and name not in self.names:
            raise ValueError(f"{name} is not an output of this command")
        path = self.path(name)
        if os.path.lexists(path):
            self.begin()
            path.unlink()

    def written(self, name: str, fp: dict) -> None:
        """Note the :func:`fingerprint` of output ``name``, taken by its writer from the
        bytes it wrote (:func:`fingerprint_bytes`), so :meth:`commit` need not read the
        file back (writers in other processes return it with their results)."""
        self._known[name] = fp

    def commit(self) -> None:
        """Record the fingerprints of the outputs that exist now, drop the others."""
        if not self._begun:
            return
        record = read_record(self.folder) or {}
        for name in (*self.names, *self.removes):
            path = self.path(name)
            if name in self.names and path.is_file():
                known = self._known.get(name)
                same_size = known is not None and os.stat(path).st_size == known["size"]
                record[name] = known if same_size else fingerprint(path)
            else:
                record.pop(name, None)
        if record:
            write_record(self.folder, record)
        else:
            (self.folder / OUTPUT_RECORD).unlink(missing_ok=True)

    def __enter__(self) -> Outputs:
        _ACTIVE.append(self)
        self._folders = _folders_under(self.folder)
        return self

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: object) -> None:
        _ACTIVE.remove(self)
        try:
            self.commit()
        except (OSError, UserError) as error:
            if kind is None:  # a failure of the command itself is the one to report
                if isinstance(error, UserError):
                    raise
                raise UserError(f"cannot write {path_text(self.folder / OUTPUT_RECORD)}: "
                                f"{os_error_reason(error)}") from None
        finally:
            if kind is not None:  # a failed command leaves no empty folder it created
                for folder in sorted(_folders_under(self.folder) - self._folders,
                                     reverse=True):
                    try:
                        folder.rmdir()
                    except OSError:
                        pass


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
