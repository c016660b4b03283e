"""Queue figures, the same for every backend: a backend counts, this module assembles.

A backend reports its records grouped as `Tally` values (one per queue, status, priority and
reason, with a count and the oldest filing time) — a SQL `GROUP BY`, or `tally` over records
for a store that cannot group — and `build_stats` turns them into a `QueueStats`.

Service level per queue comes from `Wait` rows (when each record was filed and first taken):
the share of callers answered within the target (default 20 s) among those answered plus
those still waiting past it, and waiting-time percentiles (nearest rank) of those answered.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..types import Priority
from .record import STATUSES, QueuedHandoff, Status, one_of

__all__ = [
    "DEFAULT_SLA_TARGET_S",
    "QueueCounts",
    "QueueStats",
    "Tally",
    "Wait",
    "build_stats",
    "parse_figures",
    "percentile",
    "tally",
    "waits",
]

DEFAULT_SLA_TARGET_S = 20.0
"""The service-level target: a caller should be taken within this many seconds."""


@dataclass(frozen=True)
class Tally:
    """How many records share a queue, status, priority and reason."""

    queue: str
    """Queue name."""
    status: Status
    """"waiting", "taken" or "done"."""
    priority: Priority
    """Their priority."""
    reason: str
    """Their handoff reason."""
    count: int
    """How many records."""
    oldest: float
    """The earliest filing time (Unix) among them."""


@dataclass(frozen=True)
class Wait:
    """When one record was filed and first taken (for the service level)."""

    queue: str
    """Its queue now."""
    created_at: float
    """Unix time it was filed."""
    first_taken_at: float | None
    """Unix time an agent first took it; None while never taken."""


@dataclass(frozen=True)
class QueueCounts:
    """The state of one named queue."""

    queue: str
    """Queue name."""
    waiting: int
    """Records waiting for an agent."""
    taken: int
    """Records held by an agent."""
    by_reason: tuple[tuple[str, int], ...]
    """Waiting records per handoff reason, most frequent first (ties by name)."""
    by_priority: tuple[tuple[Priority, int], ...]
    """Waiting records per priority, highest priority first; every priority is listed."""
    oldest_waiting_seconds: float | None
    """Age of the oldest waiting record, None when nothing waits."""
    done: int = 0
    """Records closed."""
    answered: int = 0
    """Records taken at least once."""
    answered_in_target: int = 0
    """Of those, taken within the target the first time."""
    missed: int = 0
    """Records never taken and already waiting longer than the target."""
    sla_target_s: float = DEFAULT_SLA_TARGET_S
    """The target (seconds)."""
    wait_p50: float | None = None
    """Median wait until first taken (seconds), None when none was taken."""
    wait_p90: float | None = None
    """90th percentile of that wait."""
    wait_max: float | None = None
    """The longest wait until first taken."""

    @property
    def sla(self) -> float | None:
        """Share answered within the target: in target / (answered + missed); None if none."""
        total = self.answered + self.missed
        return self.answered_in_target / total if total else None

    def __str__(self) -> str:
        return f"{self.queue}: {self.waiting} waiting, {self.taken} taken, {self.done} done"


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

    @property
    def done(self) -> int:
        """Records closed, over all queues."""
        return sum(q.done for q in self.queues)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape (for ``--json``): totals, then one object per queue."""
        return {
            "at": self.at,
            "waiting": self.waiting,
            "taken": self.taken,
            "done": self.done,
            "queues": [
                {
                    "queue": c.queue,
                    "waiting": c.waiting,
                    "taken": c.taken,
                    "done": c.done,
                    "by_reason": dict(c.by_reason),
                    "by_priority": {str(p): n for p, n in c.by_priority},
                    "oldest_waiting_seconds": _ms(c.oldest_waiting_seconds),
                    "sla": {
                        "target_seconds": c.sla_target_s,
                        "answered": c.answered,
                        "answered_in_target": c.answered_in_target,
                        "missed": c.missed,
                        "share": c.sla,
                        "wait_p50_seconds": _ms(c.wait_p50),
                        "wait_p90_seconds": _ms(c.wait_p90),
                        "wait_max_seconds": _ms(c.wait_max),
                    },
                }
                for c in self.queues
            ],
        }

    def __str__(self) -> str:
        return (f"{len(self.queues)} queues, {self.waiting} waiting, {self.taken} taken, "
                f"{self.done} done")


def _ms(seconds: float | None) -> float | None:
    """Seconds to the millisecond: a clock's 15 digits say nothing more (and read like a code)."""
    return None if seconds is None else round(seconds, 3)


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


def waits(records: Iterable[tuple[QueuedHandoff, float | None]]) -> list[Wait]:
    """`Wait` rows from records and their first-taken times."""
    return [Wait(r.handoff.queue, r.handoff.created_at, t) for r, t in records]


def parse_figures(rows: Iterable[Sequence[Any]], spans: Iterable[Sequence[Any]], *,
                  sign: int) -> tuple[list[Tally], list[Wait]]:
    """Tallies and waits from a store's rows: (queue, status, priority * sign, reason, count,
    oldest) and (queue, filed, first taken or None). Raises ValueError/TypeError if malformed."""
    tallies = [Tally(str(q), one_of(s, STATUSES), Priority(sign * int(p)), str(r), int(n),
                     float(t)) for q, s, p, r, n, t in rows]
    waits = [Wait(str(w[0]), float(w[1]), None if w[2] is None else float(w[2]))
             for w in spans]
    return tallies, waits


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile of sorted `values` (None when empty)."""
    if not values:
        return None
    rank = max(1, -(-len(values) * share // 1))
    return values[min(len(values), int(rank)) - 1]


def build_stats(
    tallies: Iterable[Tally],
    now: float,
    wait_rows: Iterable[Wait] = (),
    sla_target_s: float = DEFAULT_SLA_TARGET_S,
) -> QueueStats:
    """Per-queue counts, reasons and priorities of waiting records, the oldest age, and the
    service level from `wait_rows`."""
    counts: dict[Status, Counter[str]] = {s: Counter() for s in ("waiting", "taken", "done")}
    reasons: dict[str, Counter[str]] = {}
    priorities: dict[str, Counter[Priority]] = {}
    oldest: dict[str, float] = {}
    for t in tallies:
        reasons.setdefault(t.queue, Counter())
        priorities.setdefault(t.queue, Counter())
        counts[t.status][t.queue] += t.count
        if t.status != "waiting":
            continue
        reasons[t.queue][t.reason] += t.count
        priorities[t.queue][t.priority] += t.count
        oldest[t.queue] = min(oldest.get(t.queue, t.oldest), t.oldest)
    answered: dict[str, list[float]] = {}
    missed: Counter[str] = Counter()
    for w in wait_rows:
        if w.first_taken_at is not None:
            answered.setdefault(w.queue, []).append(max(0.0, w.first_taken_at - w.created_at))
        elif now - w.created_at > sla_target_s:
            missed[w.queue] += 1
    queues = []
    for name in sorted(reasons):
        spans = sorted(answered.get(name, []))
        queues.append(QueueCounts(
            queue=name,
            waiting=counts["waiting"][name],
            taken=counts["taken"][name],
            by_reason=tuple(sorted(reasons[name].items(), key=lambda kv: (-kv[1], kv[0]))),
            by_priority=tuple((p, priorities[name][p]) for p in sorted(Priority, reverse=True)),
            oldest_waiting_seconds=max(0.0, now - oldest[name]) if name in oldest else None,
            done=counts["done"][name],
            answered=len(spans),
            answered_in_target=sum(1 for w in spans if w <= sla_target_s),
            missed=missed[name],
            sla_target_s=sla_target_s,
            wait_p50=percentile(spans, 0.5),
            wait_p90=percentile(spans, 0.9),
            wait_max=spans[-1] if spans else None,
        ))
    return QueueStats(queues=tuple(queues), at=now)
