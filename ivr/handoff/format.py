"""What a human agent reads: one handoff in full, the queue at a glance, and their JSON shapes.

Everything printed from caller text goes through `mask_sensitive` once more, so a record built
outside the queue still shows no card number. Times are printed in UTC, so output is the same
on every machine.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from ..privacy import mask_sensitive, mask_slot
from ..types import Priority
from .audit import AuditEvent
from .record import QueuedHandoff
from .stats import QueueStats

__all__ = [
    "format_age",
    "format_event",
    "format_handoff",
    "format_stats",
    "format_summary",
    "handoff_to_json",
]


def format_age(seconds: float) -> str:
    """A duration as "45s", "2m 05s" or "1h 02m" (negative durations count as 0)."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def _utc(unix: float) -> str:
    return datetime.fromtimestamp(unix, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _wait_end(q: QueuedHandoff, now: float | None) -> float:
    """When the wait ended: when taken, else `now` (default: the current time)."""
    if q.taken_at is not None:
        return q.taken_at
    return time.time() if now is None else now


def format_handoff(q: QueuedHandoff, *, now: float | None = None) -> str:
    """The whole context of one handoff, so the agent never asks the caller twice.

    Args:
        q: The queued record.
        now: Unix time to measure the wait against (default: the current time). For a taken
            record the wait ends when it was taken.

    Returns:
        Several lines: header, reason, language, intent, wait, then what was heard turn by
        turn, the candidates with scores, the slots (masked) and the path through the flow.
    """
    h = q.handoff
    end = _wait_end(q, now)
    state = "waiting" if q.status == "waiting" else f"taken by {q.taken_by or '?'}"
    if q.status == "taken" and q.taken_at is not None:
        state += f" at {_utc(q.taken_at)}"
    if q.status == "taken" and q.lease_until is not None:
        state += f", lease until {_utc(q.lease_until)}"
    if q.status == "done":
        state = f"done ({q.disposition or '-'}) by {q.taken_by or '?'}"
        state += f" at {_utc(q.done_at)}" if q.done_at is not None else ""
    lines = [
        f"Handoff #{q.id}  call {h.call_id}  -> queue {h.queue}  [{str(h.priority).upper()}]",
        f"  reason    {h.reason}",
        f"  language  {h.lang}",
        f"  intent    {h.intent or '-'}",
        f"  waited    {format_age(end - h.created_at)} (filed {_utc(h.created_at)})",
        f"  status    {state}",
        "Heard:",
    ]
    lines += [f"  {i}. {mask_sensitive(text)}" for i, text in enumerate(h.heard, 1)]
    lines += ["  (nothing)"] if not h.heard else []
    lines.append("Candidates:")
    width = max((len(c.intent) for c in h.candidates), default=0)
    lines += [f"  {c.intent:<{width}}  {c.score:.2f}" for c in h.candidates]
    lines += ["  (none)"] if not h.candidates else []
    lines.append("Slots:")
    slots = [mask_slot(s) for s in h.slots]
    width = max((len(s.name) for s in slots), default=0)
    lines += [f"  {s.name:<{width}}  {s.masked}" for s in slots]
    lines += ["  (none)"] if not slots else []
    lines.append(f"Path: {' -> '.join(h.path) if h.path else '(none)'}")
    return "\n".join(lines)


def format_summary(q: QueuedHandoff, *, now: float | None = None) -> str:
    """One line per record, for listing a queue: id, priority, queue, call, reason, wait, intent.

    Example: ``#7  URGENT  cards  c1  priority_intent  waited 2m 05s  report_fraud``
    """
    h = q.handoff
    waited = format_age(_wait_end(q, now) - h.created_at)
    taken = f"  {q.status} by {q.taken_by or '?'}" if q.status != "waiting" else ""
    return (
        f"#{q.id}  {str(h.priority).upper()}  {h.queue}  {h.call_id}  {h.reason}"
        f"  waited {waited}  {h.intent or '-'}{taken}"
    )


def handoff_to_json(q: QueuedHandoff) -> dict[str, Any]:
    """The JSON shape of a queued handoff (for ``--json``); priority is its name."""
    h = q.handoff
    slots = [mask_slot(s) for s in h.slots]
    return {
        "id": q.id,
        "status": q.status,
        "taken_by": q.taken_by,
        "taken_at": q.taken_at,
        "lease_until": q.lease_until,
        "disposition": q.disposition,
        "done_at": q.done_at,
        "call_id": h.call_id,
        "queue": h.queue,
        "priority": str(h.priority),
        "reason": h.reason,
        "lang": h.lang,
        "intent": h.intent,
        "heard": [mask_sensitive(t) for t in h.heard],
        "candidates": [{"intent": c.intent, "score": c.score} for c in h.candidates],
        "slots": [{"name": s.name, "value": s.value, "masked": s.masked} for s in slots],
        "path": list(h.path),
        "created_at": h.created_at,
    }


def format_event(e: AuditEvent) -> str:
    """One audit event as a line: when (UTC), what, which call, where, who, and the detail.

    Example: ``2023-11-14 22:13:20 UTC  taken  c1  queue cards  by a7``
    """
    detail = f"  ({mask_sensitive(e.detail)})" if e.detail else ""
    return (f"{_utc(e.at)}  {e.event}  {e.call_id}  queue {e.queue or '-'}  "
            f"by {mask_sensitive(e.actor) or '-'}{detail}")


def _share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _secs(value: float | None) -> str:
    return "-" if value is None else format_age(value)


def format_stats(s: QueueStats) -> str:
    """The queues as a small table: counts, waiting per priority, oldest wait, the service
    level (share taken within the target, median and 90th percentile wait), top reasons.

    Example::

        queue  waiting  taken  done  urgent  high  normal  low  oldest  in 20s  p50  p90  reasons
        cards        3      1     4       1     0       2    0  2m 05s     80%   9s  31s  no_match 3
        total        3      1     4       1     0       2    0  2m 05s
    """
    if not s.queues:
        return "no handoffs"
    levels = sorted(Priority, reverse=True)
    target = s.queues[0].sla_target_s
    header = ["queue", "waiting", "taken", "done", *map(str, levels), "oldest",
              f"in {target:g}s", "p50", "p90", "reasons"]
    rows = [header]
    for c in s.queues:
        counts = dict(c.by_priority)
        per_priority = [str(counts.get(p, 0)) for p in levels]
        oldest = "-" if c.oldest_waiting_seconds is None else format_age(c.oldest_waiting_seconds)
        reasons = ", ".join(f"{r} {n}" for r, n in c.by_reason) or "-"
        rows.append([c.queue, str(c.waiting), str(c.taken), str(c.done), *per_priority, oldest,
                     _share(c.sla), _secs(c.wait_p50), _secs(c.wait_p90), reasons])
    ages = [c.oldest_waiting_seconds for c in s.queues if c.oldest_waiting_seconds is not None]
    totals = [str(sum(dict(c.by_priority).get(p, 0) for c in s.queues)) for p in levels]
    oldest_all = format_age(max(ages)) if ages else "-"
    rows.append(["total", str(s.waiting), str(s.taken), str(s.done), *totals, oldest_all,
                 "", "", "", ""])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for row in rows:
        cells = [
            cell.ljust(widths[i]) if i in (0, len(header) - 1) else cell.rjust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
