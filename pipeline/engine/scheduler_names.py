"""The names of where tasks run: ``sync | threads | processes | tcp://HOST:PORT``.

A command names its scheduler once (``--scheduler`` or ``parallel.scheduler``);
:class:`pipeline.engine.cluster.Engine` opens it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.core.errors import UserError, shown

LOCAL_SCHEDULERS = ("sync", "threads", "processes")


@dataclass(frozen=True)
class Scheduler:
    """Where tasks run: ``kind`` is sync, threads, processes or distributed (at ``address``)."""

    kind: str
    address: str | None = None

    def __str__(self) -> str:
        return self.address if self.kind == "distributed" else self.kind


def parse_scheduler(text: str) -> Scheduler:
    """Parse ``sync | threads | processes | tcp://HOST:PORT``; anything else is a UserError."""
    value = str(text).strip()
    if value in LOCAL_SCHEDULERS:
        return Scheduler(value)
    host, sep, port = value.removeprefix("tcp://").rpartition(":")
    if value.startswith("tcp://") and host and sep and port.isdigit() and 0 < int(port) < 65536:
        return Scheduler("distributed", value)
    raise UserError(f"unknown scheduler {shown(text)}: use sync, threads, processes or tcp://HOST:PORT")
