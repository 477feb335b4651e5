"""Write tuned hyper-parameters into ``params.yaml`` (``tune --apply``), editing one key only.

A YAML round trip through PyYAML would drop every comment of the file, and the comments
are its documentation. So only the lines of ``train.NAME`` are rewritten (as one flow
mapping, keeping a trailing comment), everything else stays byte for byte, and the result
is parsed back and compared with what was meant before it replaces the file.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from pipeline.core.errors import UserError

SECTION = "train"
_KEY = re.compile(r"^(?P<indent>[ ]*)(?P<key>[A-Za-z_][\w-]*)\s*:(?P<rest>.*)$")
_COMMENT = re.compile(r"\s+#[^'\"]*$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_content(line: str) -> bool:
    """A line that is neither blank nor only a comment."""
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _block_end(lines: list[str], start: int, indent: int) -> int:
    """Index after the last line of the block opened at ``lines[start]`` (content lines
    deeper than ``indent``, with the blank and comment lines between them)."""
    end = start + 1
    for i in range(start + 1, len(lines)):
        if _is_content(lines[i]):
            if _indent(lines[i]) <= indent:
                break
            end = i + 1
    return end


def _flow(values: dict, indent: int, width: int = 100) -> list[str]:
    """``values`` as a YAML flow mapping, wrapped, continuation lines under ``indent``."""
    text = yaml.safe_dump(values, default_flow_style=True, sort_keys=False,
                          width=width, allow_unicode=True).rstrip("\n")
    first, *rest = text.split("\n")
    return [first, *(" " * indent + line.strip() for line in rest)]


def updated_text(text: str, name: str, values: dict) -> str:
    """``text`` of a params file with ``train.NAME`` set to ``values`` (merged over it).

    Parameters
    ----------
    text : str
        The params file.
    name : str
        Model name (key under ``train``).
    values : dict
        Hyper-parameters to set; the other keys of ``train.NAME`` are kept.

    Returns
    -------
    str

    Raises
    ------
    UserError
        The file is not valid YAML, ``train`` or ``train.NAME`` is not a mapping, or the
        edited file would not mean what was intended.
    """
    try:
        before = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"params file is not valid YAML: {str(exc).splitlines()[0]}") from None
    section = before.get(SECTION) if isinstance(before, dict) else None
    if not isinstance(before, dict) or not isinstance(section or {}, dict):
        raise UserError(f"params: '{SECTION}' is not a mapping; cannot write tuned parameters")
    current = (section or {}).get(name) or {}
    if not isinstance(current, dict):
        raise UserError(f"params: {SECTION}.{name} is not a mapping")
    merged = {**current, **values}

    lines = text.split("\n")
    top = next((i for i, line in enumerate(lines)
                if (m := _KEY.match(line)) and not m["indent"] and m["key"] == SECTION), None)
    if top is None:
        new = [f"{SECTION}:", *(f"  {line}" for line in _entry(name, merged, 2))]
        body = text if text.endswith("\n") or not text else text + "\n"
        out = body + "\n".join(new) + "\n"
    else:
        end = _block_end(lines, top, 0)
        keys = [(i, m) for i in range(top + 1, end)
                if _is_content(lines[i]) and (m := _KEY.match(lines[i]))]
        indent = min((len(m["indent"]) for _, m in keys), default=2)
        own = [(i, m) for i, m in keys if len(m["indent"]) == indent and m["key"] == name]
        pad = " " * indent
        if own:
            i, _ = own[0]
            stop = _block_end(lines, i, indent)
            comment = _COMMENT.search(lines[stop - 1])
            entry = _entry(name, merged, indent)
            if comment:
                entry[-1] += comment.group(0)
            lines[i:stop] = [pad + entry[0], *entry[1:]]
        else:
            last = max((i for i in range(top + 1, end) if _is_content(lines[i])), default=top)
            lines[last + 1:last + 1] = [pad + line if k == 0 else line
                                        for k, line in enumerate(_entry(name, merged, indent))]
        out = "\n".join(lines)
    expected = {**before, SECTION: {**(section or {}), name: merged}}
    if yaml.safe_load(out) != expected:
        raise UserError(f"params: cannot rewrite {SECTION}.{name} safely; set it by hand to "
                        f"{merged}")
    return out


def _entry(name: str, values: dict, indent: int) -> list[str]:
    """Lines of ``name: {flow mapping}``; the first without its indent."""
    column = indent + len(name) + 3  # where the mapping's "{" sits, plus one
    # PyYAML breaks a flow line only once it has passed the width: leave it room.
    first, *rest = _flow(values, column, width=max(20, 80 - column))
    return [f"{name}: {first}", *rest]


def apply_params(path: str | Path, name: str, values: dict) -> Path:
    """Set ``train.NAME`` of the params file ``path`` to ``values`` (merged), atomically.

    Returns
    -------
    Path
        The file written.
    """
    from pipeline.core.config import read_params_text
    from pipeline.core.io import atomic_write_text

    path = Path(path)
    atomic_write_text(path, updated_text(read_params_text(path), name, values))
    return path
