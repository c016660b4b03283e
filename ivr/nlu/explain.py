"""Why an utterance scored what it did: `ivr route --explain`.

Per candidate: the routing confidence, the matcher's confidence and the classifier's
probability behind it (ivr/nlu/scorer.py), the flow's phrases of that intent nearest to the
utterance (ivr/nlu/matcher.py `nearest`) and the utterance's n-grams that weigh most for
the intent in the classifier — so a designer sees which phrase or word to add or change.

Privacy: the n-grams are taken from the *masked* utterance (card numbers, CVV and PIN digits
already replaced, in any numeral system), so no caller digit reaches the explanation; the
nearest phrases are the flow's own text.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from .contrast import focus
from .matcher import IntentMatcher
from .scorer import Evidence, IntentScorer

__all__ = ["CandidateWhy", "explain"]


@dataclass(frozen=True)
class CandidateWhy:
    """The evidence behind one candidate."""

    evidence: Evidence
    """Routing confidence, matcher confidence, classifier probability."""
    nearest: tuple[tuple[str, float], ...]
    """The intent's phrases closest to the utterance (normalised), with their phrase score."""
    ngrams: tuple[tuple[str, float], ...]
    """The utterance's n-grams weighing most for the intent ("family:n-gram", weight)."""

    def as_dict(self) -> dict[str, object]:
        """The JSON form (in `ivr route --json --explain`)."""
        ev = self.evidence
        return {"intent": ev.intent, "score": ev.score, "matcher": ev.matcher,
                "classifier": ev.classifier,
                "nearest": [{"phrase": p, "score": s} for p, s in self.nearest],
                "ngrams": [{"ngram": g, "weight": w} for g, w in self.ngrams]}

    def __str__(self) -> str:
        ev = self.evidence
        near = "; ".join(f"{p!r} {s:.2f}" for p, s in self.nearest) or "-"
        grams = ", ".join(f"{g} {w:+.2f}" for g, w in self.ngrams) or "-"
        return (f"  {ev.intent:<20} {ev.score:.2f} = matcher {ev.matcher:.2f} + classifier "
                f"{ev.classifier:.2f}\n    nearest: {near}\n    n-grams: {grams}")


def explain(scorer: IntentMatcher, text: str, masked: str,
            allowed: Collection[str] | None = None, *, top: int = 3,
            nearest: int = 3) -> tuple[CandidateWhy, ...]:
    """The evidence behind the `top` candidates for `text` (scored as routed).

    Args:
        scorer: the language's scorer (a plain matcher gives matcher evidence only).
        text: the utterance as heard (scored).
        masked: the same utterance masked (ivr.privacy.mask_sensitive): the only text whose
            pieces are shown.
        allowed: the intents allowed where the utterance was said.
        top: how many candidates.
        nearest: how many nearest phrases per candidate.
    """
    if isinstance(scorer, IntentScorer):
        _, evidence = scorer.evidence(text, allowed)
        clf = scorer.classifier
    else:
        cands = scorer.score(text, allowed).candidates
        evidence = tuple(Evidence(c.intent, c.score, c.score, 0.0) for c in cands)
        clf = None
    read = focus(masked, scorer.lang)  # as scored: a contrast's negated part left out
    out = []
    for ev in evidence[:top]:
        grams = clf.contributions(read, ev.intent) if clf is not None else ()
        out.append(CandidateWhy(ev, scorer.nearest(masked, ev.intent, nearest), grams))
    return tuple(out)
