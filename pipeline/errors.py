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

import reprlib

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
