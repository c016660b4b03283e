"""Turn ranked candidates into one decision, with the thresholds from the flow file."""

from __future__ import annotations

from typing import Protocol

from ..types import Decision, DecisionKind
from .escalation import Count, Rule
from .matcher import Scores

__all__ = ["Thresholds", "decide"]


class Thresholds(Protocol):
    """What the policy reads from a flow's settings (ivr.flow.model.Settings provides it)."""

    @property
    def accept(self) -> float:
        """Top confidence at or above this (with enough margin) is accepted."""

    @property
    def confirm(self) -> float:
        """At or above this (below accept) the caller is asked to confirm."""

    @property
    def margin(self) -> float:
        """Lead over the runner-up needed to accept."""

    @property
    def max_out_of_scope(self) -> float:
        """Accept only while the probability that the caller wants none of the flow's intents
        (Scores.out_of_scope_probability) stays below this; at or above it, confirm."""

    @property
    def max_low_confidence(self) -> int:
        """Turns not understood before the menu gives up (ivr.nlu.escalation)."""

    @property
    def max_retries(self) -> int:
        """Menus ask again this many times (ivr.nlu.escalation)."""


def _gives_up(settings: Thresholds, low_streak: int) -> bool:
    """One more turn not understood reaches the flow's limit (ivr.nlu.escalation)."""
    return Rule.of(settings).limit(Count(said=low_streak + 1)) == "said"


def decide(scores: Scores, settings: Thresholds, *, low_streak: int = 0,
           unsure: bool = False) -> Decision:
    """One decision for one turn.

    Args:
        scores: the matcher's ranking.
        settings: the flow's thresholds.
        low_streak: answers not understood at this node before this one.
        unsure: the words were heard on weak evidence (`Utterance.unsure`): what would be
            accepted is confirmed instead ("unsure_speech").

    Tiers: accept when the top score reaches `accept`, leads the runner-up by `margin` and the
    out-of-scope probability stays under `max_out_of_scope`; confirm when it reaches
    `confirm`; otherwise reprompt — or hand off when this makes `max_low_confidence` answers
    not understood at the node (ivr.nlu.escalation). Nothing usable said is a no-match, never
    a route.
    """
    cands = scores.candidates[:3]
    top = scores.top
    if not scores.normalized or top is None or top.score <= 0.0:
        kind, reason = DecisionKind.REPROMPT, "no_match"
        if _gives_up(settings, low_streak):
            kind = DecisionKind.HANDOFF
        return Decision(kind, None, 0.0, cands, reason)
    maybe_none = (settings.max_out_of_scope < 1.0
                  and scores.out_of_scope_probability >= settings.max_out_of_scope)
    if top.score >= settings.accept and scores.margin >= settings.margin and not maybe_none \
            and not unsure:
        return Decision(DecisionKind.ACCEPT, top.intent, top.score, cands, None)
    if top.score >= settings.confirm:
        why = ("medium_confidence" if top.score < settings.accept else
               "close_second" if scores.margin < settings.margin else
               "maybe_out_of_scope" if maybe_none else "unsure_speech")
        return Decision(DecisionKind.CONFIRM, top.intent, top.score, cands, why)
    kind = DecisionKind.REPROMPT
    if _gives_up(settings, low_streak):
        kind = DecisionKind.HANDOFF
    return Decision(kind, None, top.score, cands, "low_confidence")
