"""The audit trail of the human queue, and the checks on what agents and callers of the queue
pass in (agent names, dispositions, leases, queue and language filters) — the same for every
backend.

Every change of a record's state is one `AuditEvent`, written in the same atomic step as the
change itself: filed, taken, released, expired, transferred, done, purged, plus the events
others note from outside the queue (`HandoffQueue.note`: the phone line's "transferred_sip",
"transfer_failed"). Renewals are not audited (one every few seconds per agent).

An event carries who and when, the call id and the queue — never caller text. `actor` and
`detail` are labels (agent names, queue names, dispositions, SIP status codes); they pass
through `label`, which refuses control characters and long text, and masks digit runs that
could be a card number or a PIN like every text the queue stores (a detail that is exactly a
SIP status, "486" or "503 Service Unavailable", is kept).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import QueueError
from ..privacy import mask_sensitive
from ..types import LANGS

__all__ = [
    "ENGINE",
    "EVENTS",
    "AgentStep",
    "AuditEvent",
    "agent_step",
    "check_age",
    "check_lease",
    "event_from_json",
    "event_to_json",
    "label",
    "lang_filter",
    "queue_filter",
]

EVENTS = ("filed", "taken", "released", "expired", "transferred", "done", "purged")
"""The events the queue writes itself; `note` adds others (lower-case words)."""

ENGINE = "engine"
"""The actor of a "filed" event (the engine that handed the caller over)."""

_LABEL_MAX = 64
_EVENT = re.compile(r"[a-z][a-z0-9_]{0,31}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
_SIP_STATUS = re.compile(r"(?:SIP )?[1-6][0-9]{2}(?: [A-Za-z][A-Za-z ]*)?")
"""A SIP status ("486", "SIP 403", "503 Service Unavailable"): kept as it is in a detail."""


@dataclass(frozen=True)
class AuditEvent:
    """One change in the queue's state (or a noted event), with who and when."""

    at: float
    """Unix time of the change."""
    call_id: str
    """The record's call id."""
    event: str
    """What happened: one of `EVENTS`, or a noted event."""
    actor: str
    """Who did it: the agent, "engine" for a filing, the agent who lost an expired lease."""
    queue: str
    """The queue the record is in after the change."""
    detail: str = ""
    """A label: the disposition, the queue a transfer came from, a SIP status code."""

    def __str__(self) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.event} {self.call_id} in {self.queue} by {self.actor or '?'}{detail}"


def label(value: object, what: str, *, where: str, empty: bool = True) -> str:
    """`value` as a label fit for the audit trail: a short one-line string, digits masked.

    Raises:
        QueueError: Not a string, empty when `empty` is False, longer than 64 characters, or
            with control characters.
    """
    if not isinstance(value, str):
        raise QueueError(f"{where}: {what} must be a string, not {type(value).__name__}")
    if not value and not empty:
        raise QueueError(f"{where}: {what} must not be empty")
    if len(value) > _LABEL_MAX or _CONTROL.search(value):
        raise QueueError(f"{where}: {what} must be one line of at most {_LABEL_MAX} characters")
    try:
        value.encode("utf-8")
    except UnicodeError:
        raise QueueError(f"{where}: {what} is not valid text") from None
    if what == "detail" and _SIP_STATUS.fullmatch(value):
        return value
    return mask_sensitive(value)


def event_name(value: object, *, where: str) -> str:
    """A noted event's name: a lower-case word ("transfer_failed"), or QueueError."""
    if not isinstance(value, str) or not _EVENT.fullmatch(value):
        raise QueueError(f"{where}: an event is a lower-case word such as transfer_failed, "
                         f"not {value!r}")
    return value


def check_lease(lease_s: object, *, where: str) -> float:
    """A lease length in seconds: a finite number above 0 and at most a day."""
    if (isinstance(lease_s, bool) or not isinstance(lease_s, int | float)
            or not math.isfinite(lease_s) or not 0 < lease_s <= 86_400):
        raise QueueError(f"{where}: a lease is a number of seconds above 0 and at most "
                         f"86400, not {lease_s!r}")
    return float(lease_s)


def check_age(older_than_s: object, *, where: str) -> float:
    """A retention age in seconds: a finite number, 0 or more."""
    if (isinstance(older_than_s, bool) or not isinstance(older_than_s, int | float)
            or not math.isfinite(older_than_s) or older_than_s < 0):
        raise QueueError(f"{where}: purge takes an age in seconds, 0 or more, not "
                         f"{older_than_s!r}")
    return float(older_than_s)


def queue_filter(queue: str | Sequence[str] | None, *, where: str) -> tuple[str, ...] | None:
    """The queues `take` may serve from: None for every queue, else the names (maybe none)."""
    if queue is None:
        return None
    names = (queue,) if isinstance(queue, str) else tuple(queue)
    if not all(isinstance(n, str) and n for n in names):
        raise QueueError(f"{where}: queue names must be non-empty strings, not {queue!r}")
    return tuple(dict.fromkeys(names))


def lang_filter(langs: Collection[str] | None, *, where: str) -> tuple[str, ...] | None:
    """The caller languages `take` may serve: None for any, else known languages (maybe none)."""
    if langs is None:
        return None
    if isinstance(langs, str):
        langs = (langs,)
    unknown = [lang for lang in langs if lang not in LANGS]
    if unknown:
        raise QueueError(f"{where}: unknown language {unknown[0]!r} (known: {', '.join(LANGS)})")
    return tuple(lang for lang in LANGS if lang in langs)


@dataclass(frozen=True)
class AgentStep:
    """The checked arguments of an agent step (take, renew, release, transfer, done), the same
    for every backend: `target` is transfer's queue or done's disposition."""

    agent: str
    lease_s: float = 0.0
    target: str = ""
    queues: tuple[str, ...] | None = None
    langs: tuple[str, ...] | None = None


def agent_step(where: str, agent: object, *, lease_s: object = None,
               target: tuple[str, object] | None = None,
               queue: str | Sequence[str] | None = None,
               langs: Collection[str] | None = None) -> AgentStep:
    """Check an agent step's arguments once, before any backend's storage step; QueueError
    names the first bad one. `target` is (what, value): ("queue", q) or ("disposition", d)."""
    return AgentStep(
        agent=label(agent, "agent", where=where),
        lease_s=0.0 if lease_s is None else check_lease(lease_s, where=where),
        target="" if target is None else label(target[1], target[0], where=where, empty=False),
        queues=queue_filter(queue, where=where),
        langs=lang_filter(langs, where=where),
    )


def event_to_json(e: AuditEvent) -> dict[str, Any]:
    """The JSON shape of an event (for ``--json`` and the desk)."""
    return {"at": e.at, "call_id": e.call_id, "event": e.event, "actor": e.actor,
            "queue": e.queue, "detail": e.detail}


def event_from_json(text: str | bytes) -> AuditEvent:
    """An event from its stored JSON (the time may be a number or its text); raises ValueError,
    KeyError or TypeError when malformed."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise TypeError("an event is a JSON object")
    fields = [data[k] for k in ("call_id", "event", "actor", "queue", "detail")]
    if not all(isinstance(f, str) for f in fields):
        raise TypeError("event fields must be strings")
    return AuditEvent(float(data["at"]), *fields)
