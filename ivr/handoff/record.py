"""The handoff record every queue backend stores: validated, masked, encoded the same way.

A backend calls `prepare` on the way in (validate, mask caller text, stamp the filing time),
stores `encode_json` of the result, and reads records back with `decode_json`. Filing the same
call again is recognised with `check_refiling`: the same record (a retry) is a no-op, a
different record under a used call id is a `DuplicateCallId` — two callers are never merged
and never dropped in silence.

Every text that came from the caller (transcripts, slots) is masked again here, so a full card
number cannot reach any backend's storage even if the code that built the `Handoff` forgot.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

from ..errors import QueueError
from ..privacy import mask_sensitive, mask_slot
from ..types import LANGS, Candidate, Handoff, Priority, Slot

__all__ = [
    "DEFAULT_LEASE_S",
    "STATUSES",
    "DuplicateCallId",
    "QueuedHandoff",
    "Status",
    "check_refiling",
    "decode",
    "decode_json",
    "encode",
    "encode_json",
    "one_of",
    "prepare",
    "problem",
    "same_call",
    "strip_caller_text",
]

Status = Literal["waiting", "taken", "done"]
STATUSES: tuple[Status, ...] = ("waiting", "taken", "done")
"""Every status a record can have: filed and waiting for an agent, held by one under a lease,
or closed with a disposition (out of the line for good)."""

DEFAULT_LEASE_S = 60.0
"""Seconds an agent holds a caller after `take` or `renew`; then the caller goes back in line."""

_T = TypeVar("_T")


class DuplicateCallId(QueueError):
    """A different record was filed under a call id the queue already holds.

    Two calls must never share an id: the second is refused (not merged, not dropped) and the
    error names the id, so the caller side can report it.
    """


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
    """Unix time it was taken, when taken (or when the agent who closed it took it)."""
    lease_until: float | None = None
    """Unix time the agent's lease ends, when taken; after it the caller goes back in line."""
    disposition: str | None = None
    """How the agent closed it, when done ("resolved", "callback", ...)."""
    done_at: float | None = None
    """Unix time it was closed, when done."""

    def __str__(self) -> str:
        state = f"taken by {self.taken_by or '?'}" if self.status == "taken" else self.status
        if self.status == "done":
            state = f"done ({self.disposition or '-'}) by {self.taken_by or '?'}"
        return f"#{self.id} {self.handoff} {state}"


def prepare(h: Handoff, *, now: float, where: str) -> Handoff:
    """Validate a handoff, mask caller text, stamp the filing time if unset.

    Args:
        h: The record to file.
        now: Unix time used when `h.created_at` is 0.0 (unset).
        where: The backend and place, for error messages ("queue DB var/handoff.sqlite3").

    Raises:
        QueueError: A field has the wrong type or value.
    """
    if not isinstance(h, Handoff):
        raise QueueError(f"{where}: not a Handoff: {type(h).__name__}")
    wrong = problem(h)
    if wrong:
        raise QueueError(f"{where}: invalid handoff {h.call_id!r}: {wrong}")
    prepared = replace(
        h,
        priority=Priority(h.priority),
        heard=tuple(mask_sensitive(t) for t in h.heard),
        slots=tuple(mask_slot(s) for s in h.slots),
        created_at=now if h.created_at == 0.0 else float(h.created_at),
    )
    try:
        encode_json(prepared)  # text every backend can store: no lone surrogates
    except UnicodeError as exc:
        raise QueueError(f"{where}: invalid handoff {h.call_id!r}: {exc}") from exc
    return prepared


def problem(h: Handoff) -> str:
    """What is wrong with a handoff's fields, or "" when nothing is."""
    if not isinstance(h.call_id, str) or not h.call_id:
        return "call_id must be a non-empty string"
    if not isinstance(h.queue, str) or not h.queue:
        return "queue must be a non-empty string"
    if h.priority not in set(Priority):
        return f"unknown priority {h.priority!r}"
    if h.lang not in LANGS:
        return f"unknown language {h.lang!r}"
    if not all(isinstance(t, str) for t in (*h.heard, *h.path, h.reason, *h.overlays)):
        return "heard, path, reason and overlays must be strings"
    if h.intent is not None and not isinstance(h.intent, str):
        return "intent must be a string or None"
    if not all(
        isinstance(c, Candidate) and isinstance(c.intent, str) and _finite(c.score)
        for c in h.candidates
    ):
        return "candidates must be Candidate values with finite scores"
    if not all(
        isinstance(s, Slot) and all(isinstance(v, str) for v in (s.name, s.value, s.masked))
        for s in h.slots
    ):
        return "slots must be Slot values of strings"
    if not _finite(h.created_at):
        return f"created_at must be a finite number, not {h.created_at!r}"
    return ""


def same_call(a: Handoff, b: Handoff) -> bool:
    """Whether two prepared records are the same filing (every field but the filing time)."""
    return _identity(a) == _identity(b)


def check_refiling(stored: Handoff, incoming: Handoff, *, where: str) -> None:
    """Accept a retried filing of `stored`; refuse a different record under its call id.

    Both records must be prepared. The filing time is not compared: a retry is stamped later.

    Raises:
        DuplicateCallId: `incoming` differs from `stored` in anything but `created_at`.
    """
    if same_call(stored, incoming):
        return
    differ = sorted(k for k, v in _identity(incoming).items() if _identity(stored)[k] != v)
    raise DuplicateCallId(
        f"{where}: call id {incoming.call_id!r} is already filed with a different record "
        f"(differs in {', '.join(differ)}); this handoff was not filed: give every call "
        f"its own id"
    )


def strip_caller_text(h: Handoff) -> Handoff:
    """The record without what the caller said (transcripts, slots, candidates): what is kept
    of a closed record after retention (`HandoffQueue.purge`)."""
    return replace(h, heard=(), slots=(), candidates=())


def _identity(h: Handoff) -> dict[str, Any]:
    data = encode(h)
    del data["created_at"]
    return data


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def encode(h: Handoff) -> dict[str, Any]:
    """The JSON shape of a stored handoff (every field, priority as its number)."""
    return {
        "call_id": h.call_id,
        "queue": h.queue,
        "priority": int(h.priority),
        "reason": h.reason,
        "lang": h.lang,
        "heard": list(h.heard),
        "candidates": [{"intent": c.intent, "score": c.score} for c in h.candidates],
        "path": list(h.path),
        "slots": [{"name": s.name, "value": s.value, "masked": s.masked} for s in h.slots],
        "intent": h.intent,
        "created_at": h.created_at,
        "overlays": list(h.overlays),
    }


def encode_json(h: Handoff) -> str:
    """`encode` as compact, key-sorted JSON text (UTF-8 encodable; raises UnicodeError if not)."""
    text = json.dumps(encode(h), ensure_ascii=False, sort_keys=True, allow_nan=False)
    text.encode("utf-8")
    return text


def decode(data: dict[str, Any]) -> Handoff:
    """A handoff from its stored JSON shape; raises ValueError/KeyError/TypeError if malformed."""
    intent = data["intent"]
    return Handoff(
        call_id=_str(data["call_id"]),
        queue=_str(data["queue"]),
        priority=Priority(data["priority"]),
        reason=_str(data["reason"]),
        lang=one_of(data["lang"], LANGS),
        heard=tuple(_str(t) for t in data["heard"]),
        candidates=tuple(
            Candidate(intent=_str(c["intent"]), score=float(c["score"]))
            for c in data["candidates"]
        ),
        path=tuple(_str(p) for p in data["path"]),
        slots=tuple(
            Slot(name=_str(s["name"]), value=_str(s["value"]), masked=_str(s["masked"]))
            for s in data["slots"]
        ),
        intent=None if intent is None else _str(intent),
        created_at=float(data["created_at"]),
        overlays=tuple(_str(o) for o in data.get("overlays", ())),  # none before schema 3
    )


def decode_json(text: str | bytes) -> Handoff:
    """`decode` of stored JSON text; raises ValueError/KeyError/TypeError if malformed."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise TypeError(f"a record is a JSON object, not {type(data).__name__}")
    return decode(data)


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def one_of(value: object, options: tuple[_T, ...]) -> _T:
    """`value` as one of `options` (typed as they are), or ValueError."""
    for option in options:
        if value == option:
            return option
    raise ValueError(f"{value!r} is not one of {options}")
