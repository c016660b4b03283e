"""Navigation accuracy and decoding cost of three speech pipelines, on the same callers.

* **plain** — free decoding of the whole recording, then rapidfuzz's best match over the
  flow's phrases (`fuzz.ratio` >= `PLAIN_CUTOFF`, the best plain setting on the tuning
  callers that accepts at most 10 % of out-of-scope ones; rapidfuzz's default WRatio accepts
  a third of them at any cut-off, and is reported as **plain_wratio** >= 80).
* **grammar** — ivr before the speech front-end: one phrase-grammar decode of the whole
  recording, then the matcher and the flow's policy.
* **ivr** — the speech front-end: voice activity and endpointing, two grammar views and free
  decoding side by side, the judge, then the matcher and the flow's policy.

A caller in scope counts as *routed* when the decision is accept with the right intent (and
*confirmed* when it is a confirmation of the right intent: one "네" away); out of scope counts
as *accepted* when anything is accepted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz, process, utils

from ivr.asr import DecoderConfig, Engine, SpeechService, StreamSpec
from ivr.asr.results import DualResult
from ivr.audio import frames, pcm_frames
from ivr.call import Hotline
from ivr.nlu.matcher import IntentMatcher
from ivr.nlu.policy import Thresholds, decide
from ivr.speech import Listener, TurnContext
from ivr.types import DecisionKind, Utterance

from .corpus import OUT_OF_SCOPE
from .speech_data import Caller

__all__ = ["PIPELINES", "PLAIN_CUTOFF", "WRATIO_CUTOFF", "Router", "Tally", "decoding_cost",
           "plain_route", "route_all"]

PIPELINES = ("plain", "plain_wratio", "grammar", "ivr")
PLAIN_CUTOFF = 50.0
"""rapidfuzz `fuzz.ratio` score a plain-pipeline best match needs."""
WRATIO_CUTOFF = 80.0
"""rapidfuzz WRatio score for the plain_wratio variant (the customary 80)."""


@dataclass
class Tally:
    """Decisions of one pipeline in one condition."""

    n: int = 0
    routed: int = 0
    confirmed: int = 0
    misrouted: int = 0
    oos: int = 0
    oos_accepted: int = 0
    oos_confirmed: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    def add(self, label: str, kind: str, intent: str | None, heard: str) -> None:
        """Count one decision (kind: accept, confirm or anything else)."""
        if label == OUT_OF_SCOPE:
            self.oos += 1
            self.oos_accepted += kind == "accept"
            self.oos_confirmed += kind == "confirm"
        else:
            self.n += 1
            self.routed += kind == "accept" and intent == label
            self.confirmed += kind == "confirm" and intent == label
            self.misrouted += kind == "accept" and intent != label
        if len(self.examples) < 400:
            self.examples.append({"label": label, "decision": kind, "intent": intent,
                                  "heard": heard})

    def figures(self) -> dict[str, float | int]:
        """Percentages, rounded to 0.1."""
        def pct(a: int, b: int) -> float:
            return round(100.0 * a / b, 1) if b else 0.0
        return {"callers": self.n, "routed_pct": pct(self.routed, self.n),
                "routed_or_confirmed_pct": pct(self.routed + self.confirmed, self.n),
                "misrouted_pct": pct(self.misrouted, self.n), "out_of_scope": self.oos,
                "oos_accepted_pct": pct(self.oos_accepted, self.oos),
                "oos_confirmed_pct": pct(self.oos_confirmed, self.oos)}


def policy_route(matcher: IntentMatcher, allowed: Collection[str], settings: Thresholds,
                 text: str, unsure: bool = False) -> tuple[str, str | None]:
    """The flow's policy on `text`: ("accept" | "confirm" | "no", intent)."""
    d = decide(matcher.score(text, allowed), settings, unsure=unsure)
    kind = d.kind.value if d.kind in (DecisionKind.ACCEPT, DecisionKind.CONFIRM) else "no"
    return kind, d.intent


def plain_route(text: str, phrases: Sequence[tuple[str, str]], *, wratio: bool = False
                ) -> tuple[str, str | None]:
    """The plain pipeline's decision for `text` over (phrase, intent) pairs: rapidfuzz's best
    phrase, if it scores enough."""
    if not text:
        return ("no", None)
    scorer, cutoff = (fuzz.WRatio, WRATIO_CUTOFF) if wratio else (fuzz.ratio, PLAIN_CUTOFF)
    best = process.extractOne(text, [p for p, _ in phrases], scorer=scorer,
                              processor=utils.default_process, score_cutoff=cutoff)
    return ("accept", phrases[best[2]][1]) if best else ("no", None)


class Router:
    """The three pipelines' decisions for callers at the start node of one hotline."""

    def __init__(self, hotline: Hotline, baseline: SpeechService) -> None:
        self.hotline, self.baseline = hotline, baseline
        flow = hotline.flow
        self.matcher = hotline.matcher("ko")
        self.allowed = flow.intents_at(flow.start)
        call = hotline.open_call("bench", "ko")
        call.start()
        self.dialog_grammar = hotline.grammar(call.dialog)
        self.phrases = [(p, i) for i in self.allowed for p in flow.intents[i].phrases["ko"]]

    def policy(self, text: str, unsure: bool = False) -> tuple[str, str | None]:
        return policy_route(self.matcher, self.allowed, self.hotline.flow.settings, text,
                            unsure)

    def plain(self, text: str, *, wratio: bool = False) -> tuple[str, str | None]:
        """The plain pipeline's decision: rapidfuzz's best phrase, if it scores enough."""
        return plain_route(text, self.phrases, wratio=wratio)

    def hear(self, caller: Caller) -> tuple[Utterance | None, DualResult | None, DualResult]:
        """What ivr's front-end heard (utterance and result) and the baseline decoder's
        result."""
        call = self.hotline.open_call("bench", "ko")
        call.start()
        dialog = call.dialog
        heard = self.hotline.listener("ko").listen(frames(caller.audio, 20), TurnContext(
            self.hotline.grammar(dialog), frozenset(self.hotline.flow.intents_at(dialog.node.id)),
            narrowband=caller.audio.narrowband))
        stream = self.baseline.open_stream(StreamSpec(self.dialog_grammar))
        for frame in pcm_frames(caller.audio.pcm):
            stream.feed(frame)
        return heard.utterance, heard.result, stream.final()

    def ours(self, utterance: Utterance | None) -> tuple[str, str | None, str]:
        """The front-end pipeline's (decision kind, intent, what was heard)."""
        if utterance is None:
            return (*self.policy(""), "")
        return (*self.policy(utterance.text, utterance.unsure), utterance.text)

    def route(self, caller: Caller) -> dict[str, tuple[str, str | None, str]]:
        """Per pipeline: (decision kind, intent, what was heard)."""
        heard, _, result = self.hear(caller)
        free = result.free.text if result.free else ""
        gram = result.grammar.text if result.grammar else ""
        return {"ivr": self.ours(heard), "grammar": (*self.policy(gram), gram),
                "plain": (*self.plain(free), free),
                "plain_wratio": (*self.plain(free, wratio=True), free)}


def route_all(hotline: Hotline, baseline: SpeechService, callers: Sequence[Caller], *,
              threads: int = 4, progress: Callable[[int], None] | None = None,
              router: Router | None = None,
              each: Callable[[Caller], None] | None = None) -> dict[str, dict[str, Tally]]:
    """Tallies per pipeline and condition for `callers` (decoded `threads` at a time) by
    `router` (default `Router`); `each` is called with every caller as its turn is tallied.
    The one per-caller scoring loop of the speech benches."""
    router = router or Router(hotline, baseline)
    tallies: dict[str, dict[str, Tally]] = {}
    with ThreadPoolExecutor(threads) as pool:
        for done, (caller, routes) in enumerate(
                zip(callers, pool.map(router.route, callers), strict=True)):
            for pipeline, (kind, intent, text) in routes.items():
                tally = tallies.setdefault(pipeline, {}).setdefault(caller.condition, Tally())
                tally.add(caller.example.label, kind, intent, text)
            if each is not None:
                each(caller)
            if progress is not None:
                progress(done + 1)
    for p in PIPELINES:
        tallies.setdefault(p, {})
    return tallies


def decoding_cost(hotline: Hotline, callers: Sequence[Caller]) -> dict[str, float]:
    """Real-time factor on one core, in this process, per pipeline (wall s / audio s)."""
    model = hotline.recognizer("ko")
    model_dir = model.model_dir
    call = hotline.open_call("bench", "ko")
    call.start()
    grammar = hotline.grammar(call.dialog)
    allowed = hotline.flow.intents_at(call.node)
    audio_s = sum(c.audio.seconds for c in callers)
    out: dict[str, float] = {}
    engine = Engine(model_dir, "ko", DecoderConfig(views=("plain",)))
    for name, kwargs in (("plain", {"free": True}), ("grammar", {"free": False})):
        started = time.perf_counter()
        for c in callers:
            stream = engine.stream(StreamSpec(grammar if name == "grammar" else None, **kwargs))
            for frame in pcm_frames(c.audio.pcm):
                stream.feed(frame)
            stream.final()
        out[name] = round((time.perf_counter() - started) / audio_s, 4)
    del engine
    from ivr.asr import VoskRecognizer
    from ivr.audio import frames
    from ivr.speech import Judge

    local = VoskRecognizer(model_dir, "ko", hotline.speech.service.decoder)
    listener = Listener(local, Judge(hotline.matcher("ko"), hotline.flow.settings,
                                     hotline.speech.judge), hotline.speech.endpoint)
    started = time.perf_counter()
    for c in callers:
        listener.listen(frames(c.audio, 20), TurnContext(grammar, frozenset(allowed),
                                                         narrowband=c.audio.narrowband))
    out["ivr"] = round((time.perf_counter() - started) / audio_s, 4)
    return out
