"""The call-outcome log: one frozen record per finished call, from every engine, beside the queue.

The queue only sees the calls a human takes; a supervisor also needs the calls the engine
finished itself (containment), where callers went (the busiest nodes) and, for QA calls whose
script names the node they should reach, navigation accuracy. Every call session writes one
`CallOutcome` when its call ends, into the log of the queue it files handoffs into (the same
`--queue` URL: a `call_outcomes` table in the SQLite file, sorted-set keys under the Redis
prefix), so every engine host feeds one log and every desk reads the same figures.

A record holds no caller text: identifiers from the flow (language, node, reason, overlay
names), counts and times. Every text field but the call id (the engine's own identifier, kept
as the handoff queue keeps it) is masked again on the way in (`prepare_outcome`). Records older
than the log's retention (default 7 days) are dropped when new ones are written.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

from ..errors import QueueError
from ..privacy import mask_sensitive
from ..types import LANGS, Lang

__all__ = [
    "DEFAULT_RETENTION_S",
    "KINDS",
    "CallOutcome",
    "Kind",
    "OutcomeLog",
    "decode_outcome",
    "encode_outcome",
    "prepare_outcome",
]

Kind = Literal["contained", "handed_off", "caller_hung_up", "failed"]
KINDS: tuple[Kind, ...] = ("contained", "handed_off", "caller_hung_up", "failed")
"""How a call ended for the floor: the engine served it (reached a business node), handed it
to a human (with a reason), the caller hung up before either, or the platform failed and a human
took the call (asr_error, audio_limit: a handoff too, counted apart)."""

DEFAULT_RETENTION_S = 7 * 24 * 3600.0
"""How long outcome records are kept (they are small; the supervisor's window is an hour)."""

_MAX_TEXT = 200
"""Longest identifier kept (node, reason, overlay names, call id)."""


@dataclass(frozen=True)
class CallOutcome:
    """One finished call, as the floor counts it (no transcripts, no digits)."""

    call_id: str
    """The call's id (as the queue keeps it: the engine's own identifier)."""
    at: float
    """Unix time the call ended."""
    lang: Lang
    """The caller's language."""
    node: str
    """The node the call reached: the business node when contained, else where it ended."""
    kind: Kind
    """contained, handed_off, caller_hung_up or failed."""
    reason: str = ""
    """Why, for handed_off, failed and caller_hung_up (the handoff reason); else ""."""
    queue: str = ""
    """The human queue, for handed_off and failed."""
    overlays: tuple[str, ...] = ()
    """Overlays active on the call's flow, in order."""
    turns: int = 0
    """Caller turns (utterances, key groups, silences) the dialog took."""
    duration_s: float = 0.0
    """Seconds from answering to hanging up."""
    expected_node: str | None = None
    """A QA label: the node the call's script expects it to reach (None: unlabelled)."""

    @property
    def navigated(self) -> bool | None:
        """Whether a labelled call reached its expected node (None: unlabelled)."""
        return None if self.expected_node is None else self.node == self.expected_node

    def __str__(self) -> str:
        why = f" ({self.reason})" if self.reason and self.kind != "contained" else ""
        return f"outcome {self.call_id}: {self.kind}{why} at {self.node}"


class OutcomeLog(Protocol):
    """Where call sessions write outcomes and desks read them; beside a queue, same storage."""

    retention_s: float
    """Records older than this many seconds are dropped on writing."""

    def record(self, outcome: CallOutcome) -> bool:
        """Store one outcome (masked: `prepare_outcome`); idempotent on `call_id`.

        Returns:
            True if new, False if an outcome was already recorded under this call id.

        Raises:
            QueueError: The record is invalid or the storage cannot be written.
        """
        ...

    def since(self, start: float, limit: int = 100_000) -> list[CallOutcome]:
        """Outcomes of calls that ended at or after `start`, oldest first, at most `limit`."""
        ...

    def version(self) -> int:
        """A number that grows with every new record (one cheap read: live pages poll it)."""
        ...


def _text(value: object, name: str, where: str) -> str:
    if not isinstance(value, str):
        raise QueueError(f"{where}: invalid call outcome: {name} must be a string")
    return mask_sensitive(value)[:_MAX_TEXT]


def prepare_outcome(o: CallOutcome, *, where: str) -> CallOutcome:
    """Validate an outcome and mask every text in it.

    Raises:
        QueueError: A field has the wrong type or value.
    """
    if not isinstance(o, CallOutcome):
        raise QueueError(f"{where}: not a CallOutcome: {type(o).__name__}")
    if o.kind not in KINDS:
        raise QueueError(f"{where}: invalid call outcome: unknown kind {o.kind!r}")
    if o.lang not in LANGS:
        raise QueueError(f"{where}: invalid call outcome: unknown language {o.lang!r}")
    for name, number in (("at", o.at), ("duration_s", o.duration_s)):
        if isinstance(number, bool) or not isinstance(number, int | float) \
                or not math.isfinite(number) or number < 0:
            raise QueueError(f"{where}: invalid call outcome: {name} must be a finite number "
                             f">= 0, not {number!r}")
    if isinstance(o.turns, bool) or not isinstance(o.turns, int) or o.turns < 0:
        raise QueueError(f"{where}: invalid call outcome: turns must be a whole number >= 0")
    call_id = o.call_id  # the engine's own id, kept as the handoff queue keeps it: masking
    if not isinstance(call_id, str) or not call_id or len(call_id) > _MAX_TEXT:  # would merge
        raise QueueError(f"{where}: invalid call outcome: call_id must be a non-empty string "
                         f"of at most {_MAX_TEXT} characters")  # c-41 and c-42 into one
    expected = o.expected_node
    return replace(
        o, call_id=call_id, node=_text(o.node, "node", where),
        reason=_text(o.reason, "reason", where), queue=_text(o.queue, "queue", where),
        overlays=tuple(_text(v, "overlays", where) for v in o.overlays),
        at=float(o.at), duration_s=round(float(o.duration_s), 3),
        expected_node=None if expected is None else _text(expected, "expected_node", where))


def encode_outcome(o: CallOutcome) -> str:
    """An outcome as compact, key-sorted JSON text."""
    data: dict[str, Any] = {
        "call_id": o.call_id, "at": o.at, "lang": o.lang, "node": o.node, "kind": o.kind,
        "reason": o.reason, "queue": o.queue, "overlays": list(o.overlays), "turns": o.turns,
        "duration_s": o.duration_s, "expected_node": o.expected_node,
    }
    return json.dumps(data, ensure_ascii=False, sort_keys=True, allow_nan=False)


def decode_outcome(text: str | bytes) -> CallOutcome:
    """An outcome from its JSON text; raises ValueError/KeyError/TypeError if malformed."""
    d = json.loads(text)
    if not isinstance(d, dict):
        raise TypeError("an outcome is a JSON object")
    kind, lang, expected = d["kind"], d["lang"], d.get("expected_node")
    if kind not in KINDS or lang not in LANGS:
        raise ValueError(f"unknown kind {kind!r} or language {lang!r}")
    overlays: Sequence[object] = d.get("overlays", ())
    return CallOutcome(
        call_id=str(d["call_id"]), at=float(d["at"]), lang=lang, node=str(d["node"]),
        kind=kind, reason=str(d.get("reason", "")), queue=str(d.get("queue", "")),
        overlays=tuple(str(v) for v in overlays), turns=int(d.get("turns", 0)),
        duration_s=float(d.get("duration_s", 0.0)),
        expected_node=None if expected is None else str(expected))
