"""The human queue: callers the engine hands to an agent, with everything heard so far.

A backend implements `HandoffQueue`; `open_queue` picks one from a path (SQLite is the only one
today, see `ivr.handoff.sqlite`). Records are served by priority (highest first), then by the
time they were filed, then by id, and each is claimed by exactly one agent.

Example:
    >>> queue = open_queue(default_queue_path())      # doctest: +SKIP
    >>> queue.put(handoff)                            # doctest: +SKIP
    True
    >>> print(format_handoff(queue.take(agent="a7")))  # doctest: +SKIP
"""

from __future__ import annotations

import builtins
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from ..errors import QueueError
from ..types import Handoff, Priority

__all__ = [
    "DEFAULT_QUEUE_PATH",
    "STATUSES",
    "HandoffQueue",
    "QueueCounts",
    "QueueStats",
    "QueuedHandoff",
    "Status",
    "default_queue_path",
    "open_queue",
]

Status = Literal["waiting", "taken"]
STATUSES: tuple[Status, ...] = ("waiting", "taken")
"""Every status a record can have: filed and waiting for an agent, or claimed by one."""

DEFAULT_QUEUE_PATH = Path("var") / "handoff.sqlite3"
"""Where the queue lives when $IVR_QUEUE is not set (relative to the working directory)."""


@dataclass(frozen=True)
class QueuedHandoff:
    """A handoff as stored in a queue, with its serving state."""

    id: int
    """The queue's own record id (increasing in filing order)."""
    handoff: Handoff
    """The record as filed (sensitive digits masked)."""
    status: Status
    """"waiting" or "taken"."""
    taken_by: str | None = None
    """The agent who took it, when taken."""
    taken_at: float | None = None
    """Unix time it was taken, when taken."""

    def __str__(self) -> str:
        state = f"taken by {self.taken_by or '?'}" if self.status == "taken" else self.status
        return f"#{self.id} {self.handoff} {state}"


@dataclass(frozen=True)
class QueueCounts:
    """The state of one named queue."""

    queue: str
    """Queue name."""
    waiting: int
    """Records waiting for an agent."""
    taken: int
    """Records already claimed."""
    by_reason: tuple[tuple[str, int], ...]
    """Waiting records per handoff reason, most frequent first (ties by name)."""
    by_priority: tuple[tuple[Priority, int], ...]
    """Waiting records per priority, highest priority first; every priority is listed."""
    oldest_waiting_seconds: float | None
    """Age of the oldest waiting record, None when nothing waits."""

    def __str__(self) -> str:
        return f"{self.queue}: {self.waiting} waiting, {self.taken} taken"


@dataclass(frozen=True)
class QueueStats:
    """A snapshot of every queue that holds at least one record."""

    queues: tuple[QueueCounts, ...]
    """One entry per queue, sorted by name."""
    at: float
    """Unix time the snapshot was taken (ages are measured from it)."""

    @property
    def waiting(self) -> int:
        """Records waiting, over all queues."""
        return sum(q.waiting for q in self.queues)

    @property
    def taken(self) -> int:
        """Records taken, over all queues."""
        return sum(q.taken for q in self.queues)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape (for ``--json``): totals, then one object per queue."""
        return {
            "at": self.at,
            "waiting": self.waiting,
            "taken": self.taken,
            "queues": [
                {
                    "queue": c.queue,
                    "waiting": c.waiting,
                    "taken": c.taken,
                    "by_reason": dict(c.by_reason),
                    "by_priority": {str(p): n for p, n in c.by_priority},
                    "oldest_waiting_seconds": c.oldest_waiting_seconds,
                }
                for c in self.queues
            ],
        }

    def __str__(self) -> str:
        return f"{len(self.queues)} queues, {self.waiting} waiting, {self.taken} taken"


class HandoffQueue(Protocol):
    """What every queue backend offers. Methods raise `QueueError` when storage fails."""

    def put(self, h: Handoff) -> bool:
        """File a handoff; idempotent on `call_id`.

        Returns:
            True if the record is new; False if that call id was already filed, in which case
            the first record is kept unchanged.
        """
        ...

    def list(
        self, queue: str | None = None, status: str = "waiting"
    ) -> builtins.list[QueuedHandoff]:
        """Records with `status` (in one queue, or all when `queue` is None), in serving order:
        priority (highest first), then filing time, then id."""
        ...

    def take(self, queue: str | None = None, agent: str = "") -> QueuedHandoff | None:
        """Atomically claim the next waiting record for `agent`.

        Two agents (or processes) taking at once never get the same record.

        Returns:
            The claimed record, now "taken", or None when nothing waits.
        """
        ...

    def stats(self) -> QueueStats:
        """Per-queue counts and the age of the oldest waiting record."""
        ...

    def close(self) -> None:
        """Release the storage; the queue cannot be used afterwards."""
        ...


def default_queue_path() -> Path:
    """The queue path: $IVR_QUEUE when set and not empty, else ./var/handoff.sqlite3."""
    configured = os.environ.get("IVR_QUEUE", "")
    return Path(configured) if configured else DEFAULT_QUEUE_PATH


def open_queue(path: str | Path) -> HandoffQueue:
    """Open (creating if needed) the queue stored at `path`.

    Args:
        path: A SQLite file; its parent directory is created if missing.

    Raises:
        QueueError: The storage cannot be opened, is not a queue, or the backend is unknown.
    """
    text = str(path)
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise QueueError(f"queue {text}: no {scheme} backend here; give a SQLite file path")
    from .sqlite import SqliteQueue  # here, not at the top: sqlite.py imports this module

    return SqliteQueue(path)
