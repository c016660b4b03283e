"""Turn ranked candidates into one decision, with the thresholds from the flow file."""

from __future__ import annotations

from ..flow.escalation import Count, Rule
from ..flow.model import Settings
from ..types import Decision, DecisionKind
from .matcher import Scores

__all__ = ["decide"]


def _gives_up(settings: Settings, low_streak: int) -> bool:
    """One more turn not understood reaches the flow's limit (ivr.flow.escalation's rule)."""
    return Rule.of(settings).limit(Count(said=low_streak + 1)) == "said"


def decide(scores: Scores, settings: Settings, *, low_streak: int = 0) -> Decision:
    """One decision for one turn.

    Args:
        scores: the matcher's ranking.
        settings: the flow's thresholds.
        low_streak: answers not understood at this node before this one.

    Tiers: accept when the top score reaches `accept` and leads the runner-up by `margin`;
    confirm when it reaches `confirm`; otherwise reprompt — or hand off when this makes
    `max_low_confidence` answers not understood at the node (ivr.flow.escalation). Nothing
    usable said is a no-match, never a route.
    """
    cands = scores.candidates[:3]
    top = scores.top
    if not scores.normalized or top is None or top.score <= 0.0:
        kind, reason = DecisionKind.REPROMPT, "no_match"
        if _gives_up(settings, low_streak):
            kind = DecisionKind.HANDOFF
        return Decision(kind, None, 0.0, cands, reason)
    if top.score >= settings.accept and scores.margin >= settings.margin:
        return Decision(DecisionKind.ACCEPT, top.intent, top.score, cands, None)
    if top.score >= settings.confirm:
        why = "close_second" if top.score >= settings.accept else "medium_confidence"
        return Decision(DecisionKind.CONFIRM, top.intent, top.score, cands, why)
    kind = DecisionKind.REPROMPT
    if _gives_up(settings, low_streak):
        kind = DecisionKind.HANDOFF
    return Decision(kind, None, top.score, cands, "low_confidence")
