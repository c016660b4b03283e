"""What a call session gives back: prompt events while it runs, one result when it ends."""

from __future__ import annotations

from dataclasses import dataclass

from ..dialog import Turn
from ..types import Candidate, Handoff, Lang, Outcome, TraceEvent

__all__ = ["CallResult", "Prompt", "RouteResult"]


@dataclass(frozen=True)
class Prompt:
    """One thing the engine says to the caller; the driver renders it (text, speech, RTP)."""

    text: str
    """What to say, in the call's language."""
    lang: Lang
    """Its language (picks the voice)."""
    node: str
    """The node that says it (picks a studio recording when one exists)."""
    rate: float = 1.0
    """Speaking rate relative to normal (the flow's `prompt_rate`; slower for elderly callers)."""

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class CallResult:
    """Everything one call produced."""

    call_id: str
    """The call's id."""
    lang: Lang
    """Caller language."""
    turns: tuple[Turn, ...]
    """Per-turn records."""
    path: tuple[str, ...]
    """Nodes visited."""
    outcome: Outcome
    """How it ended."""
    trace: tuple[TraceEvent, ...]
    """Every step (deterministic: no timings)."""
    handoff: Handoff | None
    """The queue record, if handed off."""
    audio_seconds: float = 0.0
    """Audio decoded."""
    decode_seconds: float = 0.0
    """Wall time decoding."""
    latencies: tuple[float, ...] = ()
    """Per spoken turn: seconds from the last audio frame to the decision."""


@dataclass(frozen=True)
class RouteResult:
    """A first sentence routed at the start node."""

    text: str
    """As given (masked)."""
    intent: str | None
    """Intent decided on (accept or confirm)."""
    node: str | None
    """Business node it leads to (accept or confirm)."""
    confidence: float
    """Top confidence."""
    decision: str
    """accept | confirm | reprompt | handoff."""
    candidates: tuple[Candidate, ...]
    """Top three."""
    reason: str | None = None
    """Why not a plain accept (the policy's reason: medium_confidence, close_second,
    maybe_out_of_scope, low_confidence, no_match); shown by `ivr route --explain`."""
    out_of_scope: float = 0.0
    """The classifier's probability that the caller wants none of the flow's intents."""

    def as_dict(self) -> dict[str, object]:
        """The `ivr route --json` contract."""
        return {"text": self.text, "intent": self.intent, "node": self.node,
                "confidence": self.confidence, "decision": self.decision,
                "candidates": [{"intent": c.intent, "score": c.score} for c in self.candidates]}
