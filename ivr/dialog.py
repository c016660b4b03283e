"""One call's state machine: where the caller is, retries, confirmation, escalation.

The dialog never touches audio or YAML: it receives utterances, DTMF keys and no-input events,
and answers with the prompts to play. Every step is appended to the call's trace; when the
call ends, `outcome` is set, and `handoff` holds the record for the human queue if any.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .flow.model import Flow, Node
from .nlu.escalation import Count, Miss, Rule
from .nlu.matcher import IntentMatcher
from .nlu.normalize import normalize
from .nlu.policy import decide
from .nlu.slots import extract_slots
from .privacy import (
    FULL_MASK,
    LONE_TURNS,
    is_secret_turn,
    lone_digits,
    mask_sensitive,
    mask_turn_slots,
    secret_follows,
)
from .steps import CallState, Next, Services, StepRunner
from .types import (
    Candidate,
    Decision,
    DecisionKind,
    Dtmf,
    Handoff,
    Lang,
    Outcome,
    Priority,
    Slot,
    TraceEvent,
    TurnKind,
    Utterance,
)

__all__ = ["GRAMMAR_PHRASES", "Dialog", "Turn", "yes_or_no"]

GRAMMAR_PHRASES = 24
"""Example phrases per intent that go into a node's speech grammar."""


@dataclass(frozen=True)
class Turn:
    """What one caller turn did: the replay contract's per-turn record."""

    heard: str
    """Transcript (masked), the DTMF key as "dtmf:5", or "" for no input."""
    intent: str | None
    """Intent decided on, if any."""
    confidence: float
    """Top confidence, 0..1."""
    decision: TurnKind
    """The policy's decision (accept, confirm, reprompt, handoff), or dtmf / yes / no /
    no_input; JSON: its string value."""
    node: str
    """Node the call is at after the turn."""

    def as_dict(self) -> dict[str, Any]:
        """JSON shape."""
        return {"heard": self.heard, "intent": self.intent, "confidence": self.confidence,
                "decision": self.decision.value, "node": self.node}


def yes_or_no(text: str, lang: Lang, flow: Flow) -> bool | None:
    """True for yes, False for no, None when the answer is neither. "No" words win ties."""
    norm = normalize(text, lang)
    if not norm:
        return None
    tokens = f" {norm} "

    def said(word: str) -> bool:
        w = normalize(word, lang)
        return bool(w) and (w in norm if lang == "zh" else f" {w} " in tokens)

    if any(said(w) for w in flow.confirm_words["no"].get(lang, ())):
        return False
    if any(said(w) for w in flow.confirm_words["yes"].get(lang, ())):
        return True
    return None


class Dialog:
    """One call through a flow, in one language."""

    def __init__(self, flow: Flow, lang: Lang, matcher: IntentMatcher, call_id: str, *,
                 services: Services | None = None, caller: str | None = None) -> None:
        self.flow, self.lang, self.matcher, self.call_id = flow, lang, matcher, call_id
        self.services = services
        """The bank's systems for request and authenticate steps (None: none configured)."""
        self.state = CallState(values={"lang": lang, **({"caller_number": caller} if caller
                                                           else {})})
        """What the node steps collected and learned (ivr.steps)."""
        self.spoken: dict[int, str] = {}
        """Trace step -> the prompt as said, where the trace keeps it masked (a value read
        back, a confirmation number)."""
        self._steps: StepRunner | None = None
        self.node: Node = flow.nodes[flow.start]
        self.trace: list[TraceEvent] = []
        self.turns: list[Turn] = []
        self.path: list[str] = []
        self.heard: list[str] = []
        self.outcome: Outcome | None = None
        self.handoff: Handoff | None = None
        self._rule = Rule.of(flow.settings)
        self._count = Count()
        self._pending: Decision | None = None
        self._last: tuple[Candidate, ...] = ()
        self._intent: str | None = None
        self.slots: dict[str, Slot] = {}
        self._secret_next = False
        self._lone_turns = 0
        """Turns so far that held a lone spoken digit: from the second on, one is a secret
        being spread out ("1 please" / "hello" / "2 please"), so none is kept."""
        """The caller said a secret is coming: the next turn keeps no digit (ivr.privacy)."""
        """Slots heard so far in the call (masked forms only are ever printed)."""

    # -- trace -------------------------------------------------------------------------------
    def _log(self, kind: str, **data: Any) -> None:
        self.trace.append(TraceEvent(len(self.trace), kind, self.node.id,
                                     tuple(sorted(data.items()))))

    def _say(self, text: str, kind: str = "prompt") -> list[str]:
        self._log(kind, text=text)
        return [text]

    def _turn(self, heard: str, decision: TurnKind, intent: str | None = None,
              confidence: float = 0.0) -> None:
        self.turns.append(Turn(heard, intent, confidence, decision, self.node.id))

    @property
    def confirming(self) -> bool:
        """A confirmation question is waiting for yes or no."""
        return self._pending is not None

    def expected(self) -> tuple[str, ...]:
        """Phrases a caller may say at this point (what a speech grammar is built from).

        Waiting for yes or no: the yes and no words. Otherwise each intent's first
        GRAMMAR_PHRASES examples (the designer's main ones): a grammar of every example is so
        wide that it stops constraining the recogniser.
        """
        if self._pending is not None:
            return tuple(w for kind in ("yes", "no")
                         for w in self.flow.confirm_words[kind].get(self.lang, ()))
        return tuple(p for iid in self.flow.intents_at(self.node.id)
                     for p in self.flow.intents[iid].phrases.get(self.lang, ())[:GRAMMAR_PHRASES])

    @property
    def done(self) -> bool:
        """The call has ended."""
        return self.outcome is not None

    # -- moving ------------------------------------------------------------------------------
    def start(self) -> list[str]:
        """Enter the start node; returns the prompts to play."""
        extra = {"overlays": ",".join(self.flow.overlays)} if self.flow.overlays else {}
        self._log("start", lang=self.lang, flow=self.flow.name, **extra)
        notice = self.flow.announcement.get(self.lang)
        out = self._say(notice, "announcement") if notice else []
        return out + self._enter(self.flow.start, None)

    def _enter(self, node_id: str, reason: str | None) -> list[str]:
        self.node = self.flow.nodes[node_id]
        self.path.append(node_id)
        self._count = Count()
        self._pending = None
        self._steps = None
        self._log("enter", type=str(self.node.type))  # the trace holds plain values
        out = self._say(self.node.prompt.get(self.lang, ""))
        if self.node.type == "service" and self.node.steps:
            self._steps = StepRunner(self.node, self.lang, self.state, self.services,
                                     say=self._say_step, log=self._log,
                                     yes_no=lambda t: yes_or_no(t, self.lang, self.flow))
            return out + self._follow(self._steps.start())
        if self.node.type == "service":
            if self.node.next:
                return out + self._enter(self.node.next, None)
            self._finish(Outcome("node", node=self.node.id))
        elif self.node.type == "end":
            self._finish(Outcome("node", node=self.node.id))
        elif self.node.type == "transfer":
            prio = self.flow.queue_priority(self.node)
            why = reason or ("priority_intent" if prio >= Priority.HIGH else "caller_asked")
            self._hand_off(self.node.queue or self.flow.settings.fallback_queue, prio, why)
        return out

    # -- node steps ----------------------------------------------------------------------------
    def _say_step(self, text: str) -> None:
        """A step's prompt: said as is, kept in the trace masked."""
        shown = mask_sensitive(text)
        self._log("prompt", text=shown)
        if shown != text:
            self.spoken[len(self.trace) - 1] = text

    def _follow(self, nxt: Next) -> list[str]:
        """Act on what the node's steps came to (their prompts are already in the trace)."""
        if nxt.kind == "wait":
            return []
        self._steps = None
        if nxt.kind == "goto":
            return self._enter(nxt.target, None)
        if nxt.kind == "handoff":  # backend_error, auth_failed: the steps said why
            out = ([] if nxt.target in ("backend_error", "auth_failed") else
                   self._say(self.flow.prompts["handoff"].get(self.lang, ""), "system"))
            if self.node.on_fail:
                return out + self._enter(self.node.on_fail, nxt.target)
            self._hand_off_to_fallback(nxt.target)
            return out
        if self.node.next:
            return self._enter(self.node.next, None)
        self._finish(Outcome("node", node=self.node.id))
        return []

    def _collecting(self) -> bool:
        return self._steps is not None and self._steps.waiting is not None

    def _finish(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self._log("end", outcome=outcome.type, queue=outcome.queue, reason=outcome.reason)

    def _hand_off(self, queue: str, priority: Priority, reason: str) -> None:
        self.handoff = Handoff(
            call_id=self.call_id, queue=queue, priority=priority, reason=reason, lang=self.lang,
            heard=tuple(self.heard), candidates=self._last, path=tuple(self.path),
            slots=self._record_slots(), intent=self._intent, overlays=tuple(self.flow.overlays))
        self._log("handoff", queue=queue, priority=str(priority), reason=reason)
        self._finish(Outcome("handoff", node=self.node.id, queue=queue, reason=reason))

    def _record_slots(self) -> tuple[Slot, ...]:
        """Slots heard and collected (masked), and the steps done so far, for the agent."""
        slots = {**self.slots, **self.state.slots}
        if self.state.done:
            done = ", ".join(self.state.done)
            slots["steps_done"] = Slot("steps_done", done, done)
        return tuple(slots.values())

    def _fail(self, reason: str) -> list[str]:
        """Retries used up here: the node's on_fail, or the fallback queue."""
        out = self._say(self.flow.prompts["handoff"].get(self.lang, ""), "system")
        if self.node.on_fail and self.flow.nodes[self.node.on_fail].type == "transfer":
            return out + self._enter(self.node.on_fail, reason)
        if self.node.on_fail:
            return out + self._enter(self.node.on_fail, None)
        self._hand_off_to_fallback(reason)
        return out

    def _hand_off_to_fallback(self, reason: str) -> None:
        queue = self.flow.settings.fallback_queue
        self._hand_off(queue, self.flow.queues.get(queue, Priority.NORMAL), reason)

    def on_error(self, reason: str) -> list[str]:
        """The platform failed this call (e.g. its recogniser died): a human takes it now,
        in the fallback queue, with everything heard so far and `reason`."""
        if self.done:
            return []
        out = self._say(self.flow.prompts["handoff"].get(self.lang, ""), "system")
        self._hand_off_to_fallback(reason)
        return out

    def _miss(self, miss: Miss, reason: str, prompt: str) -> list[str]:
        """One miss at this menu: ask again, or give up where the escalation rule says."""
        self._count = self._rule.count(self._count, miss)
        if self._rule.limit(self._count) is not None:
            return self._fail(reason)
        text = self.flow.prompts[prompt].get(self.lang, "")
        return self._say(text, "system") + self._say(self.node.prompt.get(self.lang, ""))

    # -- events ------------------------------------------------------------------------------
    def on_utterance(self, utt: Utterance) -> list[str]:
        """The caller said something."""
        if self.done:
            return []
        if self._collecting():
            return self._collect_speech(utt)
        lone = lone_digits(utt.text)
        secret = (self._secret_next or is_secret_turn(self.node.prompt.get(self.lang, ""))
                  or (lone > 0 and self._lone_turns >= LONE_TURNS))
        self._lone_turns += lone > 0
        self._secret_next = secret_follows(utt.text, secret=secret)
        heard = mask_sensitive(utt.text, secret=secret)
        self.heard.append(heard)
        self._log("heard", text=heard, source=utt.source)
        if self._pending is not None:
            answer = yes_or_no(utt.text, self.lang, self.flow)
            if answer is not None:
                return self._answer_confirm(heard, answer, self._pending)
            self._pending = None
        slots = extract_slots(utt.text, self.lang)  # raw: masked before it is stored
        stored = mask_turn_slots(slots, heard, secret=secret or is_secret_turn(utt.text))
        for slot in stored:
            self.slots[slot.name] = slot
        scores = self.matcher.score(utt.text, self.flow.intents_at(self.node.id))
        decision = decide(scores, self.flow.settings, low_streak=self._count.said,
                          unsure=utt.unsure)
        self._last = decision.candidates
        self._log("decision", decision=str(decision.kind), intent=decision.intent,
                  confidence=decision.confidence, reason=decision.reason,
                  candidates=" ".join(str(c) for c in decision.candidates),
                  slots=" ".join(str(s) for s in stored))
        return self._act(heard, decision)

    def _collect_speech(self, utt: Utterance) -> list[str]:
        """The caller answered a collect step by voice: kept masked (whole, if secret)."""
        step = self._steps.waiting if self._steps is not None else None
        secret = step is not None and step.secret
        heard = FULL_MASK if secret else mask_sensitive(utt.text, secret=self._secret_next)
        self.heard.append(heard)
        self._log("heard", text=heard, source=utt.source)
        out = self._follow(self._steps.on_speech(utt.text)) if self._steps else []
        self._turn(heard, TurnKind.COLLECT)
        return out

    def _act(self, heard: str, d: Decision) -> list[str]:
        if d.kind is DecisionKind.ACCEPT and d.intent:
            self._intent = d.intent
            out = self._enter(self.flow.intents[d.intent].target, None)
        elif d.kind is DecisionKind.CONFIRM and d.intent:
            self._pending = d
            label = self.flow.intents[d.intent].label.get(self.lang, d.intent)
            out = self._say(self.flow.prompts["confirm"].get(self.lang, "").replace(
                "{label}", label), "confirm")
        else:  # reprompt, or handoff when this miss is the one the rule gives up at
            out = self._miss(Miss.SAID, d.reason or "no_match", "reprompt")
        self._turn(heard, TurnKind.of(d.kind), d.intent, d.confidence)
        return out

    def _answer_confirm(self, heard: str, yes: bool, pending: Decision) -> list[str]:
        self._log("confirmed" if yes else "denied", intent=pending.intent)
        if yes and pending.intent:
            self._intent = pending.intent
            out = self._enter(self.flow.intents[pending.intent].target, None)
        else:
            self._pending = None
            said_out = self._rule.limit(self._rule.count(self._count, Miss.SAID)) == "said"
            out = self._miss(Miss.SAID, "low_confidence" if said_out else "no_match", "reprompt")
        self._turn(heard, TurnKind.YES if yes else TurnKind.NO, pending.intent, pending.confidence)
        return out

    def on_dtmf(self, key: Dtmf) -> list[str]:
        """The caller pressed a key."""
        if self.done:
            return []
        if self._steps is not None and self._collecting():
            self._log("dtmf", key=FULL_MASK)
            out = self._follow(self._steps.on_key(key.value))
            self._turn(f"dtmf:{FULL_MASK}", TurnKind.COLLECT)
            return out
        target = self.node.dtmf.get(key.value)
        # A key that moves the call is a menu choice; any other may be a digit of a card
        # number or PIN being typed, so it is never written down.
        shown = key.value if target is not None else FULL_MASK
        self._log("dtmf", key=shown)
        if target is not None:
            self._intent = target if target in self.flow.intents else self._intent
            out = self._enter(target, None)
        else:
            out = self._miss(Miss.KEY, "no_match", "reprompt")
        self._turn(f"dtmf:{shown}", TurnKind.DTMF, None, 1.0 if target else 0.0)
        return out

    def on_no_input(self) -> list[str]:
        """The caller said nothing before the no-input timer ran out."""
        if self.done:
            return []
        self._log("no_input")
        self._pending = None
        if self._steps is not None and self._collecting():
            out = self._follow(self._steps.on_no_input())
        else:
            out = self._miss(Miss.NO_INPUT, "no_input", "no_input")
        self._turn("", TurnKind.NO_INPUT)
        return out

    def on_hangup(self) -> Outcome:
        """The caller hung up (or the script ran out of turns); returns how the call ended."""
        if self.outcome is None and self._steps is not None:  # reached the node, mid-steps
            self._finish(Outcome("node", node=self.node.id, reason="caller_hung_up"))
        if self.outcome is None:
            self._finish(Outcome("hangup", node=self.node.id, reason="caller_hung_up"))
        return self.outcome or Outcome("hangup", node=self.node.id, reason="caller_hung_up")
