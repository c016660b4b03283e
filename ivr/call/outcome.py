"""A finished call as the floor counts it: `CallResult` -> `CallOutcome` (no caller text)."""

from __future__ import annotations

from ..handoff import CallOutcome
from ..handoff.outcomes import Kind
from .result import CallResult

__all__ = ["call_outcome"]


def call_outcome(result: CallResult, *, at: float, overlays: tuple[str, ...],
                 duration_s: float, failure: str | None = None,
                 label: str | None = None) -> CallOutcome:
    """The outcome record of one call.

    Args:
        result: What the call produced.
        at: Unix time it ended.
        overlays: Overlays active on the call's flow.
        duration_s: Seconds from answering to hanging up.
        failure: The platform failure that handed the caller off (asr_error, audio_limit,
            line_dead), if one did: the call counts as "failed", not "handed_off".
        label: The node the call's QA script expects it to reach, if any.
    """
    o = result.outcome
    kind: Kind
    if o.type == "node":
        kind = "contained"
    elif o.type == "handoff":
        kind = "failed" if failure is not None else "handed_off"
    else:
        kind = "caller_hung_up"
    return CallOutcome(
        call_id=result.call_id, at=at, lang=result.lang, node=o.node or "", kind=kind,
        reason="" if kind == "contained" else (o.reason or ""), queue=o.queue or "",
        overlays=tuple(overlays), turns=len(result.turns), duration_s=max(0.0, duration_s),
        expected_node=label)
