"""The routing score: the matcher and the learnt classifier, pooled and calibrated.

Two sources of evidence per intent:

* the matcher's confidence `m` (ivr/nlu/matcher.py): how well the utterance covers one
  example phrase, the intent's vocabulary and the sound of its phrases;
* the classifier's probability `p` (ivr/nlu/classifier.py): TF-IDF n-grams and a linear model
  trained on the same phrases, with the engine's out-of-scope examples as one more class, so
  it learns which n-grams tell neighbouring intents apart and how much mass to leave to
  "none of these".

The routing confidence of intent i is a logistic pool of the two,

    conf_i = sigmoid(a * m_i + b * log(p_i + eps) + c)

with (a, b, c) = `CALIBRATION`, fitted as the probability that i is the caller's intent on
the two independent dev sets (eval/independent dev and dev2, zh, en, ko pooled; `python -m
bench.intent_fit`), so the flow's accept / confirm thresholds read as probabilities of being
right. The out-of-scope competition comes with it twice: mass the classifier gives to
out-of-scope lowers every real intent's `p`, and `Scores.out_of_scope_probability` carries
that mass to the policy, which confirms instead of accepting when it reaches the flow's
`max_out_of_scope` (a request for another company's password or bill borrows a real intent's
words, so its pooled confidence alone can be high).

Flows too large for a dense linear model (more than `CLASSIFIER_MAX_INTENTS` intents, or more
than classifier.MAX_WEIGHTS weights) are scored by the matcher alone; the classifier is fitted
on one BLAS thread (with more, on a busy machine, L-BFGS is several times slower) and kept on
disk per flow digest (ivr/nlu/cache.py), so a flow loads without refitting.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from ..types import Candidate, Lang
from .cache import cached_classifier
from .classifier import ClassifierTooLarge, IntentClassifier
from .contrast import focus
from .matcher import OUT_OF_SCOPE, IntentMatcher, Scores

__all__ = ["CALIBRATION", "CLASSIFIER_MAX_INTENTS", "Evidence", "IntentScorer", "pool"]

CALIBRATION = (3.96, 1.73, 0.24)
"""(a, b, c) of sigmoid(a * matcher + b * log(p + eps) + c): `python -m bench.intent_fit` on
both independent dev sets (dev, dev2). Only the scale of (a, b) and c were refitted: a / b is
the one first fitted on dev (3.18 / 1.39), because the top-1 ranking of every flow moves with
it; a free refit, (5.25, 1.37, -0.99), weighs the matcher more and costs BANKING77 a point of
top-1 at 10 phrases per intent (74.4 -> 73.4 %, below the plain linear model)."""
EPS = 1e-4
"""Floor of the classifier probability inside the log (an intent it never saw)."""
CLASSIFIER_MAX_INTENTS = 400
"""Above this many intents the classifier is not trained (its weights grow with intents x
n-grams); the matcher alone ranks, with its own calibration."""


def pool(matcher: float, proba: float, calibration: tuple[float, float, float] = CALIBRATION
         ) -> float:
    """The calibrated routing confidence of one intent, from its two pieces of evidence."""
    a, b, c = calibration
    z = a * matcher + b * math.log(proba + EPS) + c
    return 1.0 / (1.0 + math.exp(-z))


@dataclass(frozen=True)
class Evidence:
    """Why one candidate scored what it did (for `ivr route --explain`)."""

    intent: str
    """Intent id."""
    score: float
    """The routing confidence (the pool of the two below)."""
    matcher: float
    """The matcher's calibrated confidence."""
    classifier: float
    """The classifier's probability (0 when the flow is scored by the matcher alone)."""


def _fit(examples: Mapping[str, Iterable[str]], lang: Lang,
         borrowed: Mapping[str, Iterable[str]]) -> IntentClassifier:
    """The classifier, fitted on one BLAS thread (L-BFGS on a busy 2-core machine: 7-11 s
    with the default threads, ~1 s with one)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return IntentClassifier(examples, lang, borrowed=borrowed)


class IntentScorer(IntentMatcher):
    """An IntentMatcher whose `score` pools the matcher with a learnt classifier.

    It is an IntentMatcher (same constructor, same `Scores`), so the dialog, the speech judge
    and the benches take it unchanged; `matcher_score` gives the matcher's own ranking.
    """

    def __init__(self, examples: Mapping[str, Iterable[str]], lang: Lang,
                 out_of_scope: Iterable[str] = (),
                 borrowed: Mapping[str, Iterable[str]] | None = None,
                 borrowed_out_of_scope: Iterable[str] = ()) -> None:
        """`borrowed` (zh, ko): the same intents' English phrases and `borrowed_out_of_scope`
        the English out-of-scope examples; the classifier learns from them only the English
        words a caller mixes in ("帮我查下balance", "credit report 요청합니다")."""
        listed = {i: tuple(p) for i, p in examples.items()}
        oos = tuple(out_of_scope)
        super().__init__(listed, lang, oos)
        phrased = {i: p for i, p in listed.items() if p}
        if oos:
            phrased[OUT_OF_SCOPE] = oos
        lent = {i: tuple(p) for i, p in (borrowed or {}).items() if i in phrased and p}
        if borrowed_out_of_scope and OUT_OF_SCOPE in phrased:
            lent[OUT_OF_SCOPE] = tuple(borrowed_out_of_scope)
        self.classifier: IntentClassifier | None = None
        if 2 <= len(phrased) <= CLASSIFIER_MAX_INTENTS:
            try:
                self.classifier = cached_classifier(phrased, lang,
                                                    lambda: _fit(phrased, lang, lent),
                                                    borrowed=lent)
            except ClassifierTooLarge:
                return
            self._col = {i: k for k, i in enumerate(self.classifier.intents)}

    def matcher_score(self, text: str, allowed: Collection[str] | None = None) -> Scores:
        """The matcher's ranking alone (no classifier)."""
        return super().score(text, allowed)

    def evidence(self, text: str, allowed: Collection[str] | None = None
                 ) -> tuple[Scores, tuple[Evidence, ...]]:
        """The pooled ranking and, per candidate (same order), the evidence behind it."""
        base = super().score(text, allowed)
        if self.classifier is None:
            ev = tuple(Evidence(c.intent, c.score, c.score, 0.0) for c in base.candidates)
            return base, ev
        row = self.classifier.proba([focus(text, self.lang)])[0]
        col = self._col
        probs = {c.intent: float(row[col[c.intent]]) if c.intent in col else 0.0
                 for c in base.candidates}
        if not base.normalized:
            ev = tuple(Evidence(c.intent, c.score, c.score, round(probs[c.intent], 4))
                       for c in base.candidates)
            return base, ev
        # never rounded to 0: the policy reads 0 as "nothing usable said" (no_match)
        pooled = [(max(round(pool(c.score, probs[c.intent]), 4), 1e-4), c)
                  for c in base.candidates]
        pooled.sort(key=lambda x: (-x[0], x[1].intent))  # by confidence, ties by intent id
        cands = tuple(Candidate(c.intent, s) for s, c in pooled)
        ev = tuple(Evidence(c.intent, s, c.score, round(probs[c.intent], 4)) for s, c in pooled)
        oos = round(float(row[col[OUT_OF_SCOPE]]), 4) if OUT_OF_SCOPE in col else 0.0
        return replace(base, candidates=cands, out_of_scope_probability=oos), ev

    def score(self, text: str, allowed: Collection[str] | None = None) -> Scores:
        """Rank the intents (all, or only `allowed`) by the pooled, calibrated confidence."""
        return self.evidence(text, allowed)[0]

    def out_of_scope_probability(self, text: str) -> float:
        """The classifier's probability that no intent of the flow is meant (0 without it)."""
        if self.classifier is None or OUT_OF_SCOPE not in self._col:
            return 0.0
        row = self.classifier.proba([focus(text, self.lang)])[0]
        return float(np.round(row[self._col[OUT_OF_SCOPE]], 4))
