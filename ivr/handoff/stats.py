"""Queue figures, the same for every backend: a backend counts, this module assembles.

A backend reports its records grouped as `Tally` values (one per queue, status, priority and
reason, with a count and the oldest filing time) — a SQL `GROUP BY`, or `tally` over records
for a store that cannot group — and `build_stats` turns them into a `QueueStats`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..types import Priority
from .record import QueuedHandoff, Status

__all__ = ["QueueCounts", "QueueStats", "Tally", "build_stats", "tally"]


@dataclass(frozen=True)
class Tally:
    """How many records share a queue, status, priority and reason."""

    queue: str
    """Queue name."""
    status: Status
    """"waiting" or "taken"."""
    priority: Priority
    """Their priority."""
    reason: str
    """Their handoff reason."""
    count: int
    """How many records."""
    oldest: float
    """The earliest filing time (Unix) among them."""


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


def tally(records: Iterable[QueuedHandoff]) -> list[Tally]:
    """Group stored records into tallies (for a backend with no grouping of its own)."""
    counts: Counter[tuple[str, Status, Priority, str]] = Counter()
    oldest: dict[tuple[str, Status, Priority, str], float] = {}
    for r in records:
        h = r.handoff
        key = (h.queue, r.status, Priority(h.priority), h.reason)
        counts[key] += 1
        oldest[key] = min(oldest.get(key, h.created_at), h.created_at)
    return [Tally(*key, count=n, oldest=oldest[key]) for key, n in counts.items()]


def build_stats(tallies: Iterable[Tally], now: float) -> QueueStats:
    """Per-queue counts, reasons and priorities of waiting records, and the oldest age."""
    waiting: Counter[str] = Counter()
    taken: Counter[str] = Counter()
    reasons: dict[str, Counter[str]] = {}
    priorities: dict[str, Counter[Priority]] = {}
    oldest: dict[str, float] = {}
    for t in tallies:
        reasons.setdefault(t.queue, Counter())
        priorities.setdefault(t.queue, Counter())
        if t.status == "taken":
            taken[t.queue] += t.count
            continue
        waiting[t.queue] += t.count
        reasons[t.queue][t.reason] += t.count
        priorities[t.queue][t.priority] += t.count
        oldest[t.queue] = min(oldest.get(t.queue, t.oldest), t.oldest)
    queues = tuple(
        QueueCounts(
            queue=name,
            waiting=waiting[name],
            taken=taken[name],
            by_reason=tuple(sorted(reasons[name].items(), key=lambda kv: (-kv[1], kv[0]))),
            by_priority=tuple((p, priorities[name][p]) for p in sorted(Priority, reverse=True)),
            oldest_waiting_seconds=max(0.0, now - oldest[name]) if name in oldest else None,
        )
        for name in sorted(reasons)
    )
    return QueueStats(queues=queues, at=now)
