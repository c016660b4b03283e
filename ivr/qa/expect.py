"""Checking a replayed call against its script: per turn and per call, and which turns are
labelled with the intent they should have routed to (for accuracy, confusion and calibration).

Inputs and turns are not one to one: a `dtmf: "123"` input is one turn per key, a hang-up is
none, and inputs after the call ended play nothing. `input_turns` maps them; a turn's
expectations are checked against the last turn its input produced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..call import CallInput, CallResult, HangUp, Press, Speak
from ..errors import FlowProblem
from ..flow.model import Flow
from ..types import TraceEvent, TurnKind
from .redact import describe_input, redact_result
from .script import CallScript, suggest

__all__ = [
    "MATCHER_DECISIONS", "NAVIGATION_KEYS", "Failure", "Label", "check_call", "check_expect",
    "input_turns", "labelled_turns", "routed_intent", "unknown_names",
]

MATCHER_DECISIONS = (TurnKind.ACCEPT, TurnKind.CONFIRM, TurnKind.REPROMPT, TurnKind.HANDOFF)
"""Turn decisions made by the intent matcher (the others: dtmf, no_input, yes, no)."""
NAVIGATION_KEYS = frozenset({"outcome", "node", "queue", "reason", "path"})
"""Call expectations about where the call ended: navigation accuracy counts these."""
_OUT_OF_SCOPE_REASONS = frozenset({"low_confidence", "no_match"})


@dataclass(frozen=True)
class Failure:
    """One expectation a call did not meet."""

    turn: int | None
    """1-based input number, or None for an expectation on the whole call."""
    key: str
    """The expectation, e.g. "intent", "outcome", "max_latency"."""
    what: str
    """What differs, e.g. "intent", "outcome queue"."""
    expected: str
    """What the script expected."""
    got: str
    """What the call did."""
    at: str = ""
    """The input and what was heard and decided there (masked)."""

    def __str__(self) -> str:
        where = f"turn {self.turn}" if self.turn is not None else "call"
        ctx = f" [{self.at}]" if self.at else ""
        return f"{where}: {self.what} expected {self.expected}, got {self.got}{ctx}"

    def as_dict(self) -> dict[str, Any]:
        """JSON shape."""
        return {"turn": self.turn, "key": self.key, "what": self.what,
                "expected": self.expected, "got": self.got, "at": self.at}


@dataclass(frozen=True)
class Label:
    """A turn with the intent it should have gone to (None: nothing should be routed)."""

    turn: int
    """Index into the call's turns."""
    expected: str | None
    """The right intent."""
    got: str | None
    """The intent the turn decided on (accept or confirm), or None."""
    matcher: bool
    """The intent matcher decided this turn (not a key, yes/no or silence)."""
    node: str
    """Where the matcher decided it ("" for other turns)."""
    text: str
    """What was heard (masked), for re-scoring in calibration."""


def show(value: Any) -> str:
    """An expected or actual value, short and readable."""
    if value is None:
        return "none"
    if isinstance(value, list | tuple):
        return " > ".join(str(v) for v in value) or "(empty)"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def input_turns(inputs: Sequence[CallInput], n_turns: int) -> list[range]:
    """For each input, the indexes of the turns it produced (empty: it never played)."""
    out, pos = [], 0
    for item in inputs:
        count = len(item.keys) if isinstance(item, Press) else 0 if isinstance(item, HangUp) else 1
        out.append(range(min(pos, n_turns), min(pos + count, n_turns)))
        pos += count
    return out


def _decision_events(trace: Sequence[TraceEvent]) -> list[tuple[TraceEvent, str]]:
    """Each matcher decision event with the text heard just before it."""
    out, heard = [], ""
    for e in trace:
        if e.kind == "heard":
            heard = str(dict(e.data).get("text", ""))
        elif e.kind == "decision":
            out.append((e, heard))
    return out


def _slots_of(value: Any) -> dict[str, str]:
    items = value.split() if isinstance(value, str) else list(value or ())
    pairs = (str(i).partition("=") for i in items)
    return {k: v for k, sep, v in pairs if sep}


def _turn_slots(result: CallResult, turn: int) -> dict[str, str]:
    k = sum(1 for t in result.turns[:turn] if t.decision in MATCHER_DECISIONS)
    events = _decision_events(result.trace)
    if result.turns[turn].decision not in MATCHER_DECISIONS or k >= len(events):
        return {}
    return _slots_of(dict(events[k][0].data).get("slots"))


def _call_slots(result: CallResult) -> dict[str, str]:
    got: dict[str, str] = {}
    for e, _ in _decision_events(result.trace):
        got.update(_slots_of(dict(e.data).get("slots")))
    if result.handoff is not None:
        got.update({s.name: s.masked for s in result.handoff.slots})
    return got


def _slot_failures(want: Mapping[str, Any], got: Mapping[str, str]) -> list[tuple[str, str, str]]:
    return [(f"slot {name}", show(value), show(got.get(name)))
            for name, value in want.items() if got.get(name) != show(value)]


def routed_intent(result: CallResult) -> str | None:
    """The intent that routed the call: the last accepted or confirmed one, else the handoff's."""
    for t in reversed(result.turns):
        if t.decision in (TurnKind.ACCEPT, TurnKind.YES) and t.intent:
            return t.intent
    return result.handoff.intent if result.handoff is not None else None


def _listed(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _step_failures(result: CallResult, expect: Mapping[str, Any]
                   ) -> list[tuple[str, str, str, str]]:
    """Requests made (answered), variables spoken, words said in prompts (masked text)."""
    out = []
    made = [str(e.get("op")) for e in result.trace
            if e.kind == "request" and e.get("status") == "ok"]
    for op in _listed(expect["request"]) if "request" in expect else ():
        if op not in made:
            out.append(("request", "request", op, show(made)))
    spoke = {v for e in result.trace if e.kind == "said" for v in str(e.get("vars")).split(",")}
    for name in _listed(expect["spoke"]) if "spoke" in expect else ():
        if name not in spoke:
            out.append(("spoke", "variable spoken", name, show(sorted(spoke - {""}))))
    said = " ".join(str(e.get("text")) for e in result.trace if e.kind == "prompt")
    for text in _listed(expect["says"]) if "says" in expect else ():
        if text not in said:
            out.append(("says", "prompt text", show(text), "not said"))
    return out


def check_expect(result: CallResult, expect: Mapping[str, Any]) -> list[Failure]:
    """What the call did differently from its call-level `expect` (empty when all met)."""
    out: list[Failure] = []
    got_outcome = result.outcome.as_dict()
    ctx = f"path {' > '.join(result.path)}; outcome {result.outcome}"
    want = expect.get("outcome")
    if isinstance(want, dict):
        out.extend(Failure(None, "outcome", f"outcome {k}", show(v), show(got_outcome.get(k)),
                           ctx) for k, v in want.items() if got_outcome.get(k) != v)
    for key in ("node", "queue", "reason"):
        if key in expect and got_outcome.get(key) != expect[key]:
            out.append(Failure(None, key, f"final {key}", show(expect[key]),
                               show(got_outcome.get(key)), ctx))
    if "path" in expect and list(result.path) != list(expect["path"]):
        out.append(Failure(None, "path", "path", show(expect["path"]), show(result.path), ctx))
    if "intent" in expect and routed_intent(result) != expect["intent"]:
        out.append(Failure(None, "intent", "routed intent", show(expect["intent"]),
                           show(routed_intent(result)), ctx))
    if isinstance(expect.get("slots"), dict):
        out.extend(Failure(None, "slots", w, e, g, ctx)
                   for w, e, g in _slot_failures(expect["slots"], _call_slots(result)))
    out.extend(Failure(None, k, w, e, g, ctx) for k, w, e, g in _step_failures(result, expect))
    limit = expect.get("max_latency")
    if isinstance(limit, int | float) and result.latencies and max(result.latencies) > limit:
        out.append(Failure(None, "max_latency", "slowest turn latency", f"<= {limit:g}s",
                           f"{max(result.latencies):.3f}s", ctx))
    return out


def _turn_context(item: CallInput, result: CallResult, turn: int | None) -> str:
    if turn is None:
        return f"{describe_input(item)}: never played, the call had ended ({result.outcome})"
    t = result.turns[turn]
    heard = f"heard {t.heard!r}" if t.heard else "heard nothing"
    return (f"{describe_input(item)}: {heard} -> {t.decision} {t.intent or '-'} "
            f"{t.confidence:.2f}, then at {t.node}")


def _check_turn(want: Mapping[str, Any], result: CallResult, turn: int,
                latency: float | None) -> list[tuple[str, str, str, str]]:
    t = result.turns[turn]
    out = [(key, key, show(want[key]), show(getattr(t, key)))
           for key in ("node", "intent", "decision")
           if key in want and getattr(t, key) != want[key]]
    if isinstance(want.get("slots"), dict):
        out.extend(("slots", w, e, g)
                   for w, e, g in _slot_failures(want["slots"], _turn_slots(result, turn)))
    limit = want.get("max_latency")
    if isinstance(limit, int | float) and latency is not None and latency > limit:
        out.append(("max_latency", "latency", f"<= {limit:g}s", f"{latency:.3f}s"))
    return out


def check_call(script: CallScript, result: CallResult) -> tuple[Failure, ...]:
    """Every expectation of the script (turns, then the call) the result did not meet."""
    safe = redact_result(result)
    slices = input_turns(script.inputs, len(safe.turns))
    out: list[Failure] = []
    spoken = 0
    for i, (item, turns) in enumerate(zip(script.inputs, slices, strict=True)):
        latency = None
        if isinstance(item, Speak) and turns:
            latency = safe.latencies[spoken] if spoken < len(safe.latencies) else None
            spoken += 1
        want = script.turn_expectations(i)
        if not want:
            continue
        if not turns:
            out.append(Failure(i + 1, "played", "turn", "to be played", "the call had ended",
                               _turn_context(item, safe, None)))
            continue
        ctx = _turn_context(item, safe, turns[-1])
        out.extend(Failure(i + 1, key, what, e, g, ctx)
                   for key, what, e, g in _check_turn(want, safe, turns[-1], latency))
    out.extend(check_expect(safe, script.expect))
    return tuple(out)


def _matcher_turns(result: CallResult) -> list[tuple[int, str, str]]:
    """(turn index, decision node, heard text) of each turn the matcher decided."""
    events = _decision_events(result.trace)
    idx = [i for i, t in enumerate(result.turns) if t.decision in MATCHER_DECISIONS]
    return [(i, e.node, text) for i, (e, text) in zip(idx, events, strict=False)]


def _label(result: CallResult, turn: int, expected: str | None,
           matcher: Mapping[int, tuple[str, str]]) -> Label:
    node, text = matcher.get(turn, ("", result.turns[turn].heard))
    return Label(turn, expected, result.turns[turn].intent, turn in matcher, node, text)


def labelled_turns(script: CallScript, result: CallResult,
                   targets: Mapping[str, str]) -> list[Label]:
    """The turns of a call that say which intent was right.

    Turns with an `intent` expectation are labelled as written. Without any, the call's own
    expectations label it: `intent: X` the last matcher turn (`intent: null`: every matcher
    turn, as out of scope); else a final business node — the target of the intent in
    `targets` (node -> intent) — labels the last matcher turn, for calls without keys; else a
    handoff expected for low confidence or no match marks every matcher turn out of scope.
    """
    matcher = {i: (node, text) for i, node, text in _matcher_turns(result)}
    slices = input_turns(script.inputs, len(result.turns))
    explicit = [(turns[-1], script.turn_expectations(i)["intent"])
                for i, turns in enumerate(slices)
                if turns and "intent" in script.turn_expectations(i)]
    if explicit:
        return [_label(result, t, want, matcher) for t, want in explicit]
    expect, last = script.expect, max(matcher, default=None)
    raw = expect.get("outcome")
    outcome: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if "intent" in expect:
        if expect["intent"] is None:
            return [_label(result, t, None, matcher) for t in sorted(matcher)]
        return [_label(result, last, expect["intent"], matcher)] if last is not None else []
    node = str(expect.get("node", outcome.get("node")))
    keyed = any(isinstance(item, Press) for item in script.inputs)
    if node in targets and last is not None and not keyed:
        return [_label(result, last, targets[node], matcher)]
    if str(expect.get("reason", outcome.get("reason"))) in _OUT_OF_SCOPE_REASONS:
        return [_label(result, t, None, matcher) for t in sorted(matcher)]
    return []


def unknown_names(scripts: Sequence[CallScript], flow: Flow) -> list[FlowProblem]:
    """Expectations naming a node, intent or queue the flow lacks, and languages it lacks."""
    known = {"node": set(flow.nodes), "intent": set(flow.intents), "queue": set(flow.queues)}
    out = []
    for s in scripts:
        path, _, line = s.source.rpartition(":")

        def bad(message: str, _path: str = path, _line: str = line) -> None:
            out.append(FlowProblem(_path, int(_line or 0), 1, message))

        if s.lang is not None and s.lang not in flow.languages:
            bad(f"call '{s.call_id}': the flow has no language '{s.lang}'")
        outcome = s.expect.get("outcome")
        wants = [s.expect, *s.turn_expect, outcome if isinstance(outcome, dict) else {}]
        for want in wants:
            for kind, names in known.items():
                value = want.get(kind)
                if isinstance(value, str) and value not in names:
                    bad(f"call '{s.call_id}': expects {kind} '{value}', which the flow "
                        f"{flow.name} does not have{suggest(value, names)}")
        for node in s.expect.get("path") or ():
            if str(node) not in known["node"]:
                bad(f"call '{s.call_id}': path names unknown node '{node}'"
                    f"{suggest(str(node), known['node'])}")
    return out
