"""Starting a command as a terminal would, for the tests that send it Ctrl-C."""

from __future__ import annotations

import signal


def interruptible() -> None:
    """In the child before exec: Ctrl-C's default action back. A shell without job control
    starts a background command (``bash .ci/run &``) with SIGINT ignored, every descendant
    inherits that, and Python then installs no KeyboardInterrupt handler: the command would
    never see the Ctrl-C these tests send, as a user's foreground command does."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
