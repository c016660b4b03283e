"""The human queue: callers the engine hands to an agent, with everything heard so far.

A backend implements `HandoffQueue`; `open_queue` picks one from a URL scheme (`BACKENDS`).
Records are served by priority (highest first), then by the time they were filed, then by id,
and each is claimed by exactly one agent. What a record is (validation, masking, its JSON) is
the same for every backend (`ivr.handoff.record`), and so are the figures
(`ivr.handoff.stats`); a new backend is one module plus one row in `BACKENDS`. Beside each
queue, in the same storage, is the call-outcome log (`HandoffQueue.outcomes`,
`ivr.handoff.outcomes`): one record per finished call, contained or not.

Example:
    >>> queue = open_queue("sqlite:var/handoff.sqlite3")   # doctest: +SKIP
    >>> queue.put(handoff)                                 # doctest: +SKIP
    True
    >>> print(format_handoff(queue.take(agent="a7")))       # doctest: +SKIP
"""

from __future__ import annotations

import builtins
import os
import re
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Protocol

from ..errors import QueueError
from ..types import Handoff
from . import sqlite
from .audit import EVENTS, AuditEvent
from .outcomes import KINDS, CallOutcome, OutcomeLog
from .record import DEFAULT_LEASE_S, STATUSES, DuplicateCallId, QueuedHandoff, Status
from .stats import DEFAULT_SLA_TARGET_S, QueueCounts, QueueStats

__all__ = [
    "BACKENDS",
    "DEFAULT_LEASE_S",
    "DEFAULT_QUEUE_PATH",
    "DEFAULT_SLA_TARGET_S",
    "EVENTS",
    "KINDS",
    "STATUSES",
    "AuditEvent",
    "CallOutcome",
    "Clock",
    "DuplicateCallId",
    "HandoffQueue",
    "OutcomeLog",
    "QueueCounts",
    "QueueStats",
    "QueuedHandoff",
    "Status",
    "default_queue_path",
    "open_queue",
]

DEFAULT_QUEUE_PATH = sqlite.DEFAULT_FOLDER / "handoff.sqlite3"
"""Where the queue lives when $IVR_QUEUE is not set (relative to the working directory)."""

Clock = Callable[[], float]
"""A source of Unix time (tests pass a fixed one)."""


class HandoffQueue(Protocol):
    """What every queue backend offers. Methods raise `QueueError` when storage fails."""

    @property
    def outcomes(self) -> OutcomeLog:
        """The call-outcome log kept beside this queue, in the same storage
        (`ivr.handoff.outcomes`): every engine filing here records its finished calls there."""
        ...

    def put(self, h: Handoff) -> bool:
        """File a handoff, masked (`ivr.handoff.record.prepare`); idempotent on `call_id`.

        Returns:
            True if the record is new; False if this same record was filed before (a retry:
            nothing changes).

        Raises:
            DuplicateCallId: A different record is already filed under `h.call_id`.
            QueueError: The record is invalid or the storage cannot be written.
        """
        ...

    def list(
        self, queue: str | None = None, status: str = "waiting"
    ) -> builtins.list[QueuedHandoff]:
        """Records with `status` (in one queue, or all when `queue` is None), in serving order:
        priority (highest first), then filing time, then id."""
        ...

    def get(self, call_id: str) -> QueuedHandoff | None:
        """The record filed under `call_id` (waiting, taken or done), or None."""
        ...

    def take(
        self,
        queue: str | Sequence[str] | None = None,
        agent: str = "",
        *,
        langs: Collection[str] | None = None,
        lease_s: float = DEFAULT_LEASE_S,
    ) -> QueuedHandoff | None:
        """Atomically claim the next waiting record for `agent`, under a lease.

        Leases past their time go back in line first (at their original place: priority, then
        filing time). Two agents (or processes) taking at once never get the same record.

        Args:
            queue: One queue name, several, or None for every queue.
            agent: Who takes it (a label: no caller text).
            langs: The caller languages the agent speaks; None for any.
            lease_s: Seconds the agent holds the record unless renewed.

        Returns:
            The claimed record, now "taken" with `lease_until` set, or None when nothing
            waits that the agent may take.
        """
        ...

    def renew(self, call_id: str, agent: str, lease_s: float = DEFAULT_LEASE_S) -> bool:
        """Extend the lease to now + `lease_s`; False when `agent` no longer holds it."""
        ...

    def release(self, call_id: str, agent: str) -> bool:
        """Back to waiting at its original place; False when `agent` does not hold it."""
        ...

    def transfer(self, call_id: str, agent: str, queue: str) -> bool:
        """To another queue, waiting; False when `agent` does not hold it."""
        ...

    def done(self, call_id: str, agent: str, disposition: str) -> bool:
        """Close with a disposition, out of the line; False when `agent` does not hold it."""
        ...

    def expire(self) -> int:
        """Leases past their time back to waiting; how many."""
        ...

    def note(self, call_id: str, event: str, actor: str, detail: str = "") -> None:
        """Add an event from outside the queue (e.g. the phone line's "transfer_failed")."""
        ...

    def history(self, call_id: str) -> builtins.list[AuditEvent]:
        """The audit events of one call, oldest first."""
        ...

    def audit(self, since: float = 0.0, limit: int = 1000) -> builtins.list[AuditEvent]:
        """The audit events of the whole floor from `since`, oldest first, at most `limit`."""
        ...

    def purge(self, older_than_s: float) -> int:
        """Drop transcripts, slots and candidates of records closed longer ago than
        `older_than_s`; the audit trail stays. How many records were purged."""
        ...

    def stats(self, sla_target_s: float = DEFAULT_SLA_TARGET_S) -> QueueStats:
        """Per-queue counts, the age of the oldest waiting record, and the service level."""
        ...

    def close(self) -> None:
        """Release the storage; the queue cannot be used afterwards."""
        ...


Opener = Callable[[str, Clock], HandoffQueue]
"""Opens a backend from the part of the URL after "scheme:", with the clock to use."""



def _redis(location: str, clock: Clock) -> HandoffQueue:
    from . import redis  # imported on use: only a redis:// queue needs the client library

    return redis.open_location(location, clock)


def _rediss(location: str, clock: Clock) -> HandoffQueue:
    from . import redis

    return redis.open_tls_location(location, clock)


BACKENDS: dict[str, Opener] = {
    "sqlite": sqlite.open_location,
    "redis": _redis,
    "rediss": _rediss,
}
"""URL scheme -> backend. A plain path (no scheme) is a SQLite file."""

_PLANNED: dict[str, str] = {}
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")


def default_queue_path() -> Path:
    """The queue path: $IVR_QUEUE when set and not empty, else ./var/handoff.sqlite3."""
    configured = os.environ.get("IVR_QUEUE", "")
    return Path(configured) if configured else DEFAULT_QUEUE_PATH


def open_queue(target: str | Path | None = None, *, clock: Clock = time.time) -> HandoffQueue:
    """Open (creating if needed) the queue at `target`.

    Args:
        target: A URL (`sqlite:///abs/path`, `sqlite:relative/path`), or a plain path to a
            SQLite file (a `Path` is always a file path). None: $IVR_QUEUE when set, else
            var/handoff.sqlite3. A file's folder must exist; only the default folder var/ is
            created.
        clock: Source of Unix time for filing, taking and ages.

    Raises:
        QueueError: The backend is unknown, or the storage cannot be opened or is not a queue.
    """
    if target is None:
        target = os.environ.get("IVR_QUEUE", "") or DEFAULT_QUEUE_PATH
    if isinstance(target, Path):
        return sqlite.open_location(str(target), clock)
    match = _SCHEME.match(target)
    scheme = match.group(1).lower() if match else ""
    if match and scheme in BACKENDS:
        return BACKENDS[scheme](target[match.end():], clock)
    known = ", ".join(f"{s}:" for s in BACKENDS)
    if scheme in _PLANNED:
        raise QueueError(f"queue {target}: {_PLANNED[scheme]} (known: {known})")
    if match and target[match.end():].startswith("//"):
        raise QueueError(f"queue {target}: unknown backend '{scheme}' (known: {known})")
    return sqlite.open_location(target, clock)
