"""Combine grammar and free decoding into the one transcript the dialog is handed.

A phrase grammar is a hard constraint: whatever the caller says comes out as menu words, and
Vosk's word confidences stay near 1.0 either way. So a grammar transcript is trusted only on
the matcher's evidence, of three kinds:

* **agreement** — each utterance is decoded with the grammar in two views (as is, and 10 %
  faster; see `ivr.asr.condition.condition`). Speech the menu covers gives the same intent in
  both; speech it does not cover is forced onto menu words differently each time.
* **phrase fit** — how close the chosen transcript is, in sound (jamo / pinyin keys), to one
  whole phrase of the grammar. Vosk compiles a grammar into a bigram model, so speech the menu
  does not cover comes out as a salad of menu words that fits no phrase well.
* **free support** — the matcher's score, for the grammar's intent, of what free decoding
  heard. Free decoding is not pulled towards the menu, so its agreement is evidence that the
  grammar did not force the words.

The views vote for the intents the policy would accept or confirm; the intent with most votes
(then the best fit) wins, and its best-fitting transcript is the candidate. Trusted
(`agree` views, or fit >= `fit_alone`, or fit >= `fit_supported` with support >= `support`):
the candidate goes to the dialog, whose policy decides accept / confirm / reprompt as for text.
Not trusted, but at 16 kHz still voted for and fitting a phrase >= `confirm_fit`: the
candidate goes to the dialog marked unsure, and the caller is asked to confirm it (a guess the
caller can refuse, never a route without a yes). Otherwise the dialog gets the free
transcript if the matcher would not route it anyway (so the trace shows what was heard), else
an empty one — a no-match, never a forced route.
The thresholds were tuned on the tuning callers (samples/speech/ko_callers.yaml and the tune
half of tests/data/intents/ko.yaml, in all three benchmark conditions): the most callers
routed with at most 10 % of out-of-scope callers accepted in every condition.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from rapidfuzz import fuzz, process

from ..asr.results import DualResult
from ..nlu.matcher import IntentMatcher
from ..nlu.normalize import normalize
from ..nlu.phonetic import phonetic_key
from ..nlu.policy import Thresholds, decide
from ..types import DecisionKind, Lang
from .context import TurnContext

__all__ = ["Judge", "JudgeConfig", "Verdict"]


@dataclass(frozen=True)
class JudgeConfig:
    """Thresholds for trusting a grammar transcript."""

    agree: int = 2
    """Views voting for the same intent that are enough on their own."""
    fit_alone: float = 0.70
    """Phrase fit that is enough on its own."""
    fit_supported: float = 0.60
    """Phrase fit that is enough when free decoding supports the same intent."""
    support: float = 0.25
    """Matcher score of the free transcript for the grammar's intent that counts as support."""
    narrowband_agree_fit: float = 0.60
    """On 8 kHz audio, views agreeing count only when the transcript also fits a phrase this
    well: the wideband model hears narrowband speech poorly, and two views forced onto the
    same menu words are then weak evidence. At 16 kHz the rule would cost right accepts, so
    there it is not applied (measured: see bench/results/speech_tuning.md)."""
    narrowband_fit_alone: float | None = None
    """`fit_alone` on 8 kHz audio (None: as wideband)."""
    narrowband_fit_supported: float | None = None
    """`fit_supported` on 8 kHz audio (None: as wideband)."""
    narrowband_lead_view: int | None = 1
    """On 8 kHz audio, the grammar view (index in `DecoderConfig.views`: 1 is "fast") whose
    transcript is trusted on its own when the policy would route it and it fits a phrase at
    least `narrowband_lead_fit` (None: no view leads). Played 10 % faster, narrowband speech
    reaches 330..3740 Hz, nearer the band the wideband model was trained on, and on the
    independent dev callers the fast view alone routed 2-5x the plain view's callers
    (see bench/results/speech_tuning.md)."""
    narrowband_lead_fit: float = 0.65
    """Phrase fit the leading view's transcript needs on 8 kHz audio."""
    confirm_fit: float | None = 0.60
    """At 16 kHz, a grammar transcript not trusted by the rules above but whose views still
    vote for an intent, fitting a phrase at least this well, goes to the dialog marked
    unsure (`Verdict.unsure`): the caller is asked to confirm that intent, never routed
    without a yes (None: such a transcript is a no-match). On the independent dev + dev2
    callers at 16 kHz (bench/results/speech_tuning.md), with `confirm_max_out_of_scope`,
    0.60 routed 72 -> 83 of 290 for 4 more wrong confirmations and 6 more out-of-scope
    callers asked to confirm (of 142); on 8 kHz lines the rule asked more wrong than right,
    so it is wideband only."""
    confirm_max_out_of_scope: float = 0.10
    """...and only while the classifier's probability that the transcript is out of scope
    stays under this: a salad of menu words that reads like something the bank does not do
    is not worth a question. On dev + dev2 (290 in scope, 142 out of scope at 16 kHz) the
    unsure transcripts with fit >= 0.60 were 19 right, 13 wrong and 26 out of scope; under
    0.10, 12 right, 4 wrong and 6 out of scope."""
    free_fallback: float | None = None
    """When the grammar transcript is not trusted, the free transcript goes to the dialog
    (whose policy then accepts, confirms or reprompts it as typed text) if the matcher's top
    score for it reaches this; None: never, the free transcript is then passed only when it
    would not route (so the trace shows what was heard)."""

    def band(self, narrowband: bool) -> tuple[float, float]:
        """(fit_alone, fit_supported) for the line's band."""
        if not narrowband:
            return self.fit_alone, self.fit_supported
        alone, supported = self.narrowband_fit_alone, self.narrowband_fit_supported
        return (self.fit_alone if alone is None else alone,
                self.fit_supported if supported is None else supported)


@dataclass(frozen=True)
class Verdict:
    """What the front-end hands the dialog for one utterance, and why."""

    text: str
    """The transcript for the dialog ("" when nothing usable was heard)."""
    source: Literal["grammar", "free", "none"]
    """Which decoder `text` came from."""
    trusted: bool
    """The grammar transcript passed the evidence test."""
    reason: str
    """agreed | in_grammar | supported | lead_view | unsure | free_fallback |
    out_of_grammar | nothing_heard | free_only."""
    grammar_text: str = ""
    """The grammar decoder's transcript."""
    free_text: str = ""
    """The free decoder's transcript ("" if it was shed or absent)."""
    intent: str | None = None
    """The matcher's top intent for the grammar transcript."""
    fit: float = 0.0
    """Phrase fit of the grammar transcript, 0..1."""
    support: float = 0.0
    """Free support for `intent`, 0..1."""
    votes: int = 0
    """Views whose transcript the policy would route to `intent`."""
    unsure: bool = False
    """Not trusted, but passed on to be confirmed, never accepted ("unsure",
    `JudgeConfig.confirm_fit`)."""

    def __str__(self) -> str:
        return (f"{self.reason} {self.source}:{self.text!r} fit={self.fit:.2f} "
                f"support={self.support:.2f}")


class Judge:
    """Turns a stream's two hypotheses into a `Verdict` with one language's matcher."""

    def __init__(self, matcher: IntentMatcher, settings: Thresholds,
                 config: JudgeConfig | None = None) -> None:
        self.matcher, self.settings = matcher, settings
        self.config = config or JudgeConfig()
        self.lang: Lang = matcher.lang
        self._keys: dict[tuple[str, ...], list[str]] = {}

    def _key(self, text: str) -> str:
        return phonetic_key(normalize(text, self.lang), self.lang)

    def fit(self, text: str, grammar: Sequence[str]) -> float:
        """Sound similarity, 0..1, of `text` to the closest whole phrase of `grammar`."""
        key = self._key(text)
        if not key or not grammar:
            return 0.0
        phrases = tuple(grammar)
        if phrases not in self._keys:
            if len(self._keys) > 256:
                self._keys.clear()
            self._keys[phrases] = [self._key(p) for p in phrases]
        best = process.extractOne(key, self._keys[phrases], scorer=fuzz.ratio)
        return float(best[1]) / 100.0 if best else 0.0

    def judge(self, result: DualResult, context: TurnContext) -> Verdict:
        """The verdict on one utterance's hypotheses (partial or final) at the turn's point
        of the dialog (its grammar, the intents allowed, a yes / no, the line)."""
        grammar = context.grammar
        ftext = result.free.text if result.free else ""
        texts = [h.text for h in result.grammars]
        if not grammar or not texts:  # nothing to constrain: plain free decoding
            return Verdict(ftext, "free" if ftext else "none", False,
                           "free_only" if ftext else "nothing_heard", free_text=ftext)
        if not any(texts) and not ftext:
            return Verdict("", "none", False, "nothing_heard")
        fits = [self.fit(t, grammar) for t in texts]
        if context.confirming:  # yes / no: the words are the whole grammar; views agree or fit well
            best = max(range(len(texts)), key=lambda i: fits[i])
            agreed = len(texts) >= self.config.agree and len(set(texts)) == 1 and texts[0]
            ok = bool(agreed) or fits[best] >= self.config.fit_alone
            return Verdict(texts[best] if ok else "", "grammar" if ok else "none", ok,
                           ("agreed" if agreed else "in_grammar") if ok else "out_of_grammar",
                           texts[best], ftext, None, fits[best])
        return self._vote(texts, fits, ftext, context.allowed, context.narrowband)

    def _vote(self, texts: list[str], fits: list[float], ftext: str,
              allowed: Collection[str], narrowband: bool = False) -> Verdict:
        votes: dict[str, list[int]] = {}
        scored = [self.matcher.score(text, allowed) if text else None for text in texts]
        decided = [decide(sc, self.settings) if sc is not None else None for sc in scored]
        for i, d in enumerate(decided):
            if d is not None and d.intent and d.kind in (DecisionKind.ACCEPT, DecisionKind.CONFIRM):
                votes.setdefault(d.intent, []).append(i)
        best = max(range(len(texts)), key=lambda i: fits[i])
        intent = None
        if votes:
            intent = max(sorted(votes),
                         key=lambda k: (len(votes[k]), max(fits[i] for i in votes[k])))
            best = max(votes[intent], key=lambda i: fits[i])
        fit, count = fits[best], len(votes.get(intent or "", ()))
        support = self._support(ftext, intent, allowed)
        c = self.config
        fit_alone, fit_supported = c.band(narrowband)
        agreed = count >= c.agree and (not narrowband or fit >= c.narrowband_agree_fit)
        reason = ("agreed" if agreed else "in_grammar" if fit >= fit_alone
                  else "supported" if fit >= fit_supported and support >= c.support else "")
        if intent is not None and reason:
            return Verdict(texts[best], "grammar", True, reason, texts[best], ftext, intent,
                           fit, support, count)
        lead = c.narrowband_lead_view
        if narrowband and lead is not None and lead < len(texts) and texts[lead] \
                and fits[lead] >= c.narrowband_lead_fit:
            d = decided[lead]
            if d is not None and d.intent and d.kind in (DecisionKind.ACCEPT,
                                                          DecisionKind.CONFIRM):
                return Verdict(texts[lead], "grammar", True, "lead_view", texts[lead], ftext,
                               d.intent, fits[lead], self._support(ftext, d.intent, allowed),
                               len(votes.get(d.intent, ())))
        unsure_scores = scored[best] if intent is not None else None
        if unsure_scores is not None and not narrowband and c.confirm_fit is not None \
                and fit >= c.confirm_fit \
                and unsure_scores.out_of_scope_probability < c.confirm_max_out_of_scope:
            return Verdict(texts[best], "grammar", False, "unsure", texts[best], ftext, intent,
                           fit, support, count, unsure=True)
        if ftext and c.free_fallback is not None:
            scores = self.matcher.score(ftext, allowed)
            top = scores.candidates[0] if scores.candidates else None
            if top is not None and top.score >= c.free_fallback:
                return Verdict(ftext, "free", True, "free_fallback", texts[best], ftext,
                               top.intent, fit, support, count)
        heard = ftext if ftext and self._would_not_route(ftext, allowed) else ""
        return Verdict(heard, "free" if heard else "none", False, "out_of_grammar", texts[best],
                       ftext, intent, fit, support, count)

    def outcome(self, verdict: Verdict, allowed: Collection[str]) -> tuple[str, str | None]:
        """What the dialog's policy would do with `verdict` (the transcript may differ
        between a partial and the final result without changing this)."""
        if not verdict.trusted and not verdict.unsure:
            return ("no_match", None)
        if verdict.intent is None:  # a yes / no answer: its words are the outcome
            return ("answer", verdict.text)
        d = decide(self.matcher.score(verdict.text, allowed), self.settings,
                   unsure=verdict.unsure)
        return (d.kind.value, d.intent)

    def _support(self, ftext: str, intent: str | None, allowed: Collection[str]) -> float:
        if intent is None or not ftext:
            return 0.0
        scores = self.matcher.score(ftext, allowed)
        return next((x.score for x in scores.candidates if x.intent == intent), 0.0)

    def _would_not_route(self, text: str, allowed: Collection[str]) -> bool:
        kind = decide(self.matcher.score(text, allowed), self.settings).kind
        return kind in (DecisionKind.REPROMPT, DecisionKind.HANDOFF)
