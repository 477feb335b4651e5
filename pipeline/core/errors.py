"""Job-level errors.

A :class:`UserError` is a mistake the user can fix (a bad argument, an unreadable CSV, a
missing folder). The CLI prints its message on one line and exits with code 2, never a
traceback. Clip-level problems are not exceptions of the job: they become error rows.

Library code (:mod:`pipeline.features`, :mod:`pipeline.nn`) does not know whether a user
wrote the values it is given, so it raises its own subclasses of :class:`InputError` (a
``ValueError``) instead; the CLI reports one that reaches it exactly like a ``UserError``.
A value quoted in a message goes through :func:`shown`, so that a message stays one short
line whatever the value.
"""

import math
import reprlib
from typing import Any

# At most a few dozen characters of a value, a few items of a container, two levels deep.
_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 40
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 4
_SHORT.maxlevel = 2


def shown(value: object) -> str:
    """``repr(value)``, truncated to a few dozen characters for an error message."""
    return _SHORT.repr(value)


class UserError(Exception):
    """A user mistake, reported as one line and exit code 2."""


class InputError(ValueError):
    """Values a library function cannot use (parameters, a file's contents), with a
    one-line reason; the CLI reports it like a :class:`UserError`."""


def check_range(what: str, value: Any, low: float, high: float, *, integer: bool = False,
                above: bool = False, unit: str = "") -> None:
    """Refuse ``value`` unless it is a finite number (an ``int`` when ``integer``) with
    ``low <= value <= high`` (``low < value`` when ``above``).

    Bounds keep every parameter within what a 4-s clip and a small machine can take, so a
    typo (an extra digit, ``inf``, ``1e30``) is one line instead of an hour of swapping or
    an overflow deep inside a stage.

    Raises
    ------
    UserError
        ``"{what} must be at least LOW and at most HIGH{unit} (an integer), got VALUE"``
        (the value cut short).
    """
    is_number = isinstance(value, int if integer else (int, float)) and not isinstance(value,
                                                                                        bool)
    fits = (is_number and math.isfinite(value) and value <= high
            and (value > low if above else value >= low))
    if not fits:
        kind, bound = ("an integer", "{:d}") if integer else ("a number", "{:g}")
        raise UserError(f"{what} must be {'above' if above else 'at least'} "
                        f"{bound.format(low)} and at most {bound.format(high)}{unit} ({kind}), "
                        f"got {shown(value)}")
