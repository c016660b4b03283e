"""The supervisor's figures: the queues now, who holds what, the last hour from the audit, and
the window's calls from the outcome log.

Everything here is read from the queue's storage (its records, its stats, its audit trail and
the call-outcome log beside it), so every desk process connected to one queue shows the same
floor. `Hour` counts handoffs and what agents did with them; the calls the engines finished
themselves are in the outcome log, whose figures (`CallFigures`: containment, transfers by
reason, navigation accuracy, busiest nodes) come from `ivr.handoff.outcome_figures`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from ..handoff import AuditEvent, QueueStats
from ..handoff.outcome_figures import CallFigures
from .floor import Floor, Snapshot

__all__ = ["AgentLoad", "Board", "Hour", "QueueLine", "agent_loads", "last_hour", "queue_lines"]


@dataclass(frozen=True)
class QueueLine:
    """One queue on the supervisor's board."""

    queue: str
    """Queue name."""
    waiting: int
    """Callers waiting."""
    taken: int
    """Callers held by agents."""
    longest_s: float | None
    """The longest current wait (seconds), None when nobody waits."""
    sla: float | None
    """Share answered within the target, None when nothing was answered or missed yet."""
    sla_target_s: float
    """The target (seconds)."""


@dataclass(frozen=True)
class AgentLoad:
    """An agent and the callers they hold."""

    name: str
    """Agent name."""
    online: bool
    """Logged in to this desk now."""
    holds: tuple[str, ...]
    """Call ids they hold."""


@dataclass(frozen=True)
class Hour:
    """What happened to handoffs in the last hour (from the audit trail and the records)."""

    counts: tuple[tuple[str, int], ...]
    """Events by kind (filed, taken, released, expired, transferred, done)."""
    closed_share: float | None
    """Handoffs filed in the hour that agents closed, as a share; None when none was filed."""
    by_reason: tuple[tuple[str, int], ...]
    """Handoffs filed in the hour per reason, most first."""
    busiest: tuple[tuple[str, int], ...]
    """Nodes on the paths of those handoffs, most visited first (at most 8)."""


def queue_lines(floor: Floor, stats: QueueStats, snap: Snapshot) -> list[QueueLine]:
    """Every queue of the flow (and any other the queue holds), with its figures."""
    counts = {c.queue: c for c in stats.queues}
    names = list(floor.flow.queues) + sorted(set(counts) - set(floor.flow.queues))
    out = []
    for name in names:
        c = counts.get(name)
        ages = [snap.at - q.handoff.created_at for q in snap.waiting if q.handoff.queue == name]
        out.append(QueueLine(
            queue=name, waiting=len(ages),
            taken=sum(1 for q in snap.taken if q.handoff.queue == name),
            longest_s=max(ages) if ages else None,
            sla=c.sla if c is not None else None,
            sla_target_s=c.sla_target_s if c is not None else 20.0,
        ))
    return out


def agent_loads(snap: Snapshot, online: list[str]) -> list[AgentLoad]:
    """Agents logged in or holding callers, by name."""
    holds: dict[str, list[str]] = {name: [] for name in online}
    for q in snap.taken:
        holds.setdefault(q.taken_by or "?", []).append(q.handoff.call_id)
    return [AgentLoad(name, name in online, tuple(holds[name])) for name in sorted(holds)]


def last_hour(floor: Floor, events: list[AuditEvent], *, max_records: int = 500) -> Hour:
    """The hour's figures from its audit events (records read for reasons and paths)."""
    kinds = ("filed", "taken", "released", "expired", "transferred", "done")
    counts = Counter(e.event for e in events)
    filed = list(dict.fromkeys(e.call_id for e in events if e.event == "filed"))
    closed = {e.call_id for e in events if e.event == "done"}
    reasons: Counter[str] = Counter()
    nodes: Counter[str] = Counter()
    for call_id in filed[-max_records:]:
        record = floor.record(call_id)
        if record is None:
            continue
        reasons[record.handoff.reason] += 1
        nodes.update(record.handoff.path)
    return Hour(
        counts=tuple((k, counts.get(k, 0)) for k in kinds),
        closed_share=len(closed & set(filed)) / len(filed) if filed else None,
        by_reason=tuple(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        busiest=tuple(sorted(nodes.items(), key=lambda kv: (-kv[1], kv[0]))[:8]),
    )


@dataclass(frozen=True)
class Board:
    """Everything the supervisor sees, at one moment."""

    at: float
    """Unix time of the read."""
    lines: list[QueueLine]
    """The queues."""
    loads: list[AgentLoad]
    """The agents."""
    hour: Hour
    """Handoffs in the last hour (the audit trail)."""
    calls: CallFigures
    """Calls that ended in the window (the outcome log)."""

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of `/supervisor.json`."""
        hour = asdict(self.hour)
        return {"at": self.at, "queues": [asdict(q) for q in self.lines],
                "agents": [asdict(a) for a in self.loads],
                "handoffs": {"events": dict(self.hour.counts),
                             "closed_share": self.hour.closed_share,
                             "by_reason": dict(hour["by_reason"]),
                             "busiest": dict(hour["busiest"])},
                "calls": self.calls.as_dict()}
