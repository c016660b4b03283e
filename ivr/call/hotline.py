"""What calls share: the flow, one matcher and one speech model per language, the queue.

`Hotline` loads each of those once (a speech model on first use, never per file) and opens
call sessions (`open_call`); it owns no stage's logic and steps no dialog itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from ..asr import Recognizer, SpeechService, grammar_words
from ..dialog import Dialog
from ..flow.model import Flow
from ..handoff import HandoffQueue, OutcomeLog
from ..models import resolve_model
from ..nlu.matcher import IntentMatcher, builtin_out_of_scope
from ..nlu.policy import decide
from ..nlu.scorer import IntentScorer
from ..privacy import mask_sensitive
from ..speech import Judge, Listener, SpeechConfig
from ..steps import Services
from ..types import Lang
from .inputs import CallInput
from .replay import play
from .result import CallResult, RouteResult
from .session import Call

_log = logging.getLogger(__name__)

__all__ = ["Hotline"]


class Hotline:
    """A flow ready to take calls."""

    def __init__(self, flow: Flow, *, queue: HandoffQueue | None = None,
                 model: str | Path | None = None,
                 recognizer_factory: Callable[[Lang], Recognizer] | None = None,
                 speech: SpeechConfig | None = None, services: Services | None = None) -> None:
        self.flow = flow
        self.services = services
        """The bank's systems, one per process, shared by every call (None: none)."""
        self.queue = queue
        self.outcomes: OutcomeLog | None = None if queue is None else queue.outcomes
        """Where finished calls are recorded: the log beside the queue (same storage)."""
        self.speech = speech or SpeechConfig()
        self._model = model
        self._factory = recognizer_factory or self._load_vosk
        self._matchers: dict[Lang, IntentMatcher] = {}
        self._recognizers: dict[Lang, Recognizer] = {}
        self._listeners: dict[Lang, Listener] = {}
        self._grammars: dict[tuple[Lang, str, bool], tuple[str, ...]] = {}
        self.unknown_words: dict[Lang, tuple[str, ...]] = {}
        """Per language: flow words the speech model cannot output (reported at load)."""

    def _load_vosk(self, lang: Lang) -> Recognizer:
        return SpeechService(resolve_model(lang, self._model), lang, self.speech.service)

    def matcher(self, lang: Lang) -> IntentMatcher:
        """The intent scorer for a language (built once): the matcher pooled with the learnt
        classifier (ivr.nlu.scorer)."""
        if lang not in self._matchers:
            examples = {i: it.phrases.get(lang, ()) for i, it in self.flow.intents.items()}
            english = {} if lang == "en" else {
                i: it.phrases.get("en", ()) for i, it in self.flow.intents.items()}
            self._matchers[lang] = IntentScorer(
                examples, lang, builtin_out_of_scope(lang), borrowed=english,
                borrowed_out_of_scope=builtin_out_of_scope("en") if english else ())
        return self._matchers[lang]

    def recognizer(self, lang: Lang) -> Recognizer:
        """The recogniser for a language (model loaded once, in worker processes).

        On loading, every phrase and yes/no word of the flow in that language is checked
        against the model's vocabulary; words it cannot output are logged as a warning and
        kept in `unknown_words` (a grammar cannot contain them, so they can only be typed).
        """
        if lang not in self._recognizers:
            self._recognizers[lang] = self._factory(lang)
            vocab = self._recognizers[lang].vocabulary
            phrases = [p for it in self.flow.intents.values() for p in it.phrases.get(lang, ())]
            phrases += [w for kind in self.flow.confirm_words.values() for w in kind.get(lang, ())]
            found = grammar_words(phrases, vocab, lang)
            self.unknown_words[lang] = found.unknown
            if found.unknown:
                _log.warning("ivr: %d %s word(s) of the flow are not in the speech model's "
                             "vocabulary and cannot be recognised: %s (in e.g. %r)",
                             len(found.unknown), lang, ", ".join(found.unknown),
                             found.dropped[0])
        return self._recognizers[lang]

    def listener(self, lang: Lang) -> Listener:
        """The speech front-end for a language: endpointing, dual decoding, the judge."""
        if lang not in self._listeners:
            judge = Judge(self.matcher(lang), self.flow.settings, self.speech.judge)
            # the flow's no-input timer (an overlay may lengthen it, e.g. for elderly callers)
            timers = replace(self.speech.endpoint,
                             no_input_s=self.flow.settings.no_input_seconds)
            self._listeners[lang] = Listener(self.recognizer(lang), judge, timers)
        return self._listeners[lang]

    def close(self) -> None:
        """Stop the recognition processes (they also stop when this process exits)."""
        for rec in self._recognizers.values():
            rec.close()
        self._recognizers.clear()
        self._listeners.clear()

    def route(self, text: str, lang: Lang) -> RouteResult:
        """Route one first sentence at the start node."""
        scores = self.matcher(lang).score(text, self.flow.intents_at(self.flow.start))
        d = decide(scores, self.flow.settings)
        routed = d.kind.value in ("accept", "confirm") and d.intent is not None
        node = self.flow.intents[d.intent].target if routed and d.intent else None
        return RouteResult(mask_sensitive(text), d.intent if routed else None, node,
                           round(d.confidence, 4), d.kind.value, d.candidates, d.reason,
                           scores.out_of_scope_probability)

    def grammar(self, dialog: Dialog) -> tuple[str, ...]:
        """What can be said at the dialog's current point, in words the model knows."""
        key = (dialog.lang, dialog.node.id, dialog.confirming)
        if key not in self._grammars:
            vocab = self.recognizer(dialog.lang).vocabulary
            self._grammars[key] = grammar_words(dialog.expected(), vocab, dialog.lang).phrases
        return self._grammars[key]

    def open_call(self, call_id: str, lang: Lang, *, caller: str | None = None,
                  label: str | None = None) -> Call:
        """A new call session (see `ivr.call.session`); `call_id` must be unique per call;
        `caller` is the caller's number when the line gives one (authenticate may use it);
        `label` is the node a QA script expects the call to reach (recorded with its outcome,
        for navigation accuracy)."""
        return Call(self, call_id, lang, caller=caller, label=label)

    def run(self, call_id: str, lang: Lang, inputs: Iterable[CallInput], *,
            caller: str | None = None, label: str | None = None) -> CallResult:
        """Play one scripted call (see `ivr.call.replay.play`); files its handoff, if any,
        and records its outcome (with `label`, the node its script expects)."""
        return play(self.open_call(call_id, lang, caller=caller, label=label), inputs)
