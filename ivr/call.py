"""One call end to end: inputs in, recogniser, dialog, queue, trace out.

`Hotline` holds what calls share — the flow, one matcher per language, one loaded speech model
per language (loaded on first use, never per file) and the human queue. It owns no stage's
logic: it only moves values from one room to the next.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from .asr import AsrCrash, Recognizer, SpeechService, grammar_words
from .audio import FrameBudget, WavReader, frames, open_wav
from .dialog import Dialog, Turn
from .flow.model import Flow
from .handoff import HandoffQueue
from .models import resolve_model
from .nlu.matcher import IntentMatcher, builtin_out_of_scope
from .nlu.policy import decide
from .privacy import mask_sensitive
from .speech import Heard, Judge, Listener, SpeechConfig
from .types import Audio, Candidate, Dtmf, Handoff, Lang, Outcome, TraceEvent, Utterance

_log = logging.getLogger(__name__)

__all__ = [
    "CallInput", "CallResult", "HangUp", "Hotline", "Press", "RouteResult", "Say", "Silence",
    "Speak",
]


@dataclass(frozen=True)
class Say:
    """A typed caller turn."""

    text: str
    """What the caller says."""


@dataclass(frozen=True)
class Speak:
    """A caller turn as audio."""

    path: str
    """WAV file."""


@dataclass(frozen=True)
class Press:
    """DTMF keys."""

    keys: str
    """One or more of 0-9 * #."""


@dataclass(frozen=True)
class Silence:
    """The caller says nothing."""

    seconds: float = 5.0
    """How long."""


@dataclass(frozen=True)
class HangUp:
    """The caller hangs up."""


CallInput = Say | Speak | Press | Silence | HangUp


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

    def as_dict(self) -> dict[str, object]:
        """The `ivr route --json` contract."""
        return {"text": self.text, "intent": self.intent, "node": self.node,
                "confidence": self.confidence, "decision": self.decision,
                "candidates": [{"intent": c.intent, "score": c.score} for c in self.candidates]}


class Hotline:
    """A flow ready to take calls."""

    def __init__(self, flow: Flow, *, queue: HandoffQueue | None = None,
                 model: str | Path | None = None,
                 recognizer_factory: Callable[[Lang], Recognizer] | None = None,
                 speech: SpeechConfig | None = None) -> None:
        self.flow = flow
        self.queue = queue
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
        """The intent matcher for a language (built once)."""
        if lang not in self._matchers:
            examples = {i: it.phrases.get(lang, ()) for i, it in self.flow.intents.items()}
            self._matchers[lang] = IntentMatcher(examples, lang, builtin_out_of_scope(lang))
        return self._matchers[lang]

    def recognizer(self, lang: Lang) -> Recognizer:
        """The recogniser for a language (model loaded once, in worker processes).

        On loading, every phrase and yes/no word of the flow in that language is checked
        against the model's vocabulary; words it cannot output are logged as a warning and
        kept in `unknown_words` (a grammar cannot contain them, so they can only be typed).
        """
        if lang not in self._recognizers:
            self._recognizers[lang] = self._factory(lang)
            vocab: frozenset[str] = getattr(self._recognizers[lang], "vocabulary", frozenset())
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

    def hear(self, dialog: Dialog, audio: Audio | WavReader,
             budget: FrameBudget | None = None) -> Heard:
        """One caller turn of recorded audio through the speech front-end (raises AsrCrash):
        decoded audio, or a file streamed frame by frame (read only as far as the turn goes),
        spending the call's `budget` if given."""
        source = audio.frames(20) if isinstance(audio, WavReader) else frames(audio, 20)
        return self.listener(dialog.lang).listen(
            budget.take(source) if budget else source, grammar=self.grammar(dialog),
            allowed=self.flow.intents_at(dialog.node.id), confirming=dialog.confirming,
            narrowband=audio.narrowband)

    def close(self) -> None:
        """Stop the recognition processes (they also stop when this process exits)."""
        for rec in self._recognizers.values():
            if isinstance(rec, SpeechService):
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
                           round(d.confidence, 4), d.kind.value, d.candidates)

    def grammar(self, dialog: Dialog) -> tuple[str, ...]:
        """What can be said at the dialog's current point, in words the model knows."""
        key = (dialog.lang, dialog.node.id, dialog.confirming)
        if key not in self._grammars:
            rec = self.recognizer(dialog.lang)
            vocab: frozenset[str] = getattr(rec, "vocabulary", frozenset())
            self._grammars[key] = grammar_words(dialog.expected(), vocab, dialog.lang).phrases
        return self._grammars[key]

    def run(self, call_id: str, lang: Lang, inputs: Iterable[CallInput]) -> CallResult:
        """Play one call through the flow; files the handoff, if any, to the queue."""
        dialog = Dialog(self.flow, lang, self.matcher(lang), call_id)
        dialog.start()
        audio_s = decode_s = 0.0
        latencies: list[float] = []
        budget = FrameBudget(self.speech.max_call_audio_s)
        for item in inputs:
            if dialog.done:
                break
            if isinstance(item, Say):
                dialog.on_utterance(Utterance(item.text, lang))
            elif isinstance(item, Speak):
                try:
                    self.listener(lang)  # a missing model is reported before a missing file
                    with open_wav(item.path) as wav:
                        heard = self.hear(dialog, wav, budget)
                except AsrCrash as exc:  # the recogniser died: a human takes the call
                    _log.warning("ivr: call %s: %s; handing off", call_id, exc)
                    dialog.on_error("asr_error")
                    continue
                audio_s, decode_s = audio_s + heard.audio_seconds, decode_s + heard.decode_seconds
                if budget.exhausted:  # cut mid-turn: a human takes the call, not half a turn
                    _log.warning("ivr: call %s: over %g s of audio; handing off", call_id,
                                 budget.seconds)
                    dialog.on_error("audio_limit")
                    continue
                t0 = time.perf_counter()
                if heard.utterance is None:
                    dialog.on_no_input()
                else:
                    dialog.on_utterance(heard.utterance)
                    latencies.append(heard.latency_s + time.perf_counter() - t0)
            elif isinstance(item, Press):
                for key in item.keys:
                    if not dialog.done:
                        dialog.on_dtmf(Dtmf(key))
            elif isinstance(item, Silence):
                dialog.on_no_input()
            else:
                dialog.on_hangup()
        outcome = dialog.on_hangup()
        if (dialog.handoff is not None and self.queue is not None  # DuplicateCallId propagates
                and not self.queue.put(replace(dialog.handoff, created_at=time.time()))):
            _log.info("ivr: call %s: already in the queue (a retried filing)", call_id)
        return CallResult(call_id, lang, tuple(dialog.turns), tuple(dialog.path), outcome,
                          tuple(dialog.trace), dialog.handoff, audio_s, decode_s,
                          tuple(latencies))
