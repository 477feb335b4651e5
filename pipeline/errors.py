"""Job-level errors.

A :class:`UserError` is a mistake the user can fix (a bad argument, an unreadable CSV, a
missing folder). The CLI prints its message on one line and exits with code 2, never a
traceback. Clip-level problems are not exceptions of the job: they become error rows.
"""


class UserError(Exception):
    """A user mistake, reported as one line and exit code 2."""
