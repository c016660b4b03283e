"""What lint and the graph say is what the dialog does, and the engine runs only what lint passes.

Flows are drawn at random (hypothesis): menus with random keys and on_fail, services with
`next`, transfers, random retry settings. Each is written as YAML, linted as `ivr lint` does and
played by the real Dialog with no input, unknown keys, keys that lead on and speech nothing
matches. The reference is what lint and the graph describe: the graph's edges
(ivr.flow.graphcheck) for where keys and give-ups lead, the escalation rule they print
(ivr.nlu.escalation) for when a menu gives up.
"""

from __future__ import annotations

import contextlib
import io
import re
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.cli import main
from ivr.dialog import Dialog
from ivr.flow import Flow, lint_flow, load_flow
from ivr.flow.graph import to_mermaid
from ivr.flow.graphcheck import edges
from ivr.nlu import IntentMatcher
from ivr.nlu.escalation import Count, Miss, Rule
from ivr.types import Dtmf, Utterance

from .conftest import FLOWS

GIBBERISH = "xylophone quantum"
"""Speech no intent matches (a miss 'not understood')."""
KEYS = "123#"


# -- drawing flows -----
@st.composite
def flows(draw: st.DrawFn) -> dict[str, Any]:
    """A small flow as plain data: menus m0.., services s0.., a transfer and an end node."""
    n_menus = draw(st.integers(1, 4))
    n_services = draw(st.integers(0, 2))
    menus = [f"m{k}" for k in range(n_menus)]
    services = [f"s{k}" for k in range(n_services)]
    terminals = ["agent", "bye"]
    everything = menus + services + terminals
    nodes: dict[str, Any] = {}
    for m in menus:
        node: dict[str, Any] = {"type": "menu", "prompt": {"en": f"Menu {m}."}}
        keys = draw(st.lists(st.sampled_from("123"), unique=True, max_size=2))
        if keys:
            node["dtmf"] = {k: draw(st.sampled_from(everything)) for k in keys}
        if draw(st.booleans()):
            node["on_fail"] = draw(st.sampled_from(everything))
        nodes[m] = node
    for k, s in enumerate(services):  # next only to menus, terminals or later services:
        later = menus + services[k + 1:] + terminals  # no loop of services
        node = {"type": "service", "prompt": {"en": f"Service {s}."}}
        if draw(st.booleans()):
            node["next"] = draw(st.sampled_from(later))
        nodes[s] = node
    nodes["agent"] = {"type": "transfer", "queue": "agents", "prompt": {"en": "Agent."}}
    nodes["bye"] = {"type": "end", "prompt": {"en": "Bye."}}
    return {
        "flow": "drawn", "languages": ["en"], "start": "m0",
        "settings": {"max_retries": draw(st.integers(0, 4)),
                     "max_low_confidence": draw(st.integers(1, 5)),
                     "fallback_queue": "general"},
        "queues": {"general": {"priority": "normal"}, "agents": {"priority": "normal"}},
        "prompts": {"confirm": {"en": "You want to {label}?"}, "reprompt": {"en": "Sorry?"},
                    "no_input": {"en": "Hello?"}, "handoff": {"en": "Transferring."}},
        "confirm_words": {"yes": {"en": ["yes"]}, "no": {"en": ["no"]}},
        "intents": {}, "nodes": nodes,
    }


EVENTS = st.lists(st.sampled_from(["silence", "say", *KEYS]), max_size=40)


@contextlib.contextmanager
def written(data: dict[str, Any]) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "drawn.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")
        yield path


# -- the dialog -----
def play(flow: Flow, events: Sequence[str]) -> Dialog:
    """The real dialog, fed `events` until the call ends."""
    d = Dialog(flow, "en", IntentMatcher({}, "en"), "drawn")
    d.start()
    for ev in events:
        if d.done:
            break
        if ev == "silence":
            d.on_no_input()
        elif ev == "say":
            d.on_utterance(Utterance(GIBBERISH, "en"))
        else:
            d.on_dtmf(Dtmf(ev))
    return d


# -- the reference: lint's and the graph's description -----
def described(flow: Flow, events: Sequence[str]) -> tuple[list[str], tuple[str, ...] | None]:
    """(path, outcome) as the graph's edges and the escalation rule describe the call;
    outcome is ("node", node) or ("handoff", queue, reason), None while the call goes on."""
    rule = Rule.of(flow.settings)
    path: list[str] = []

    def enter(nid: str, reason: str | None) -> tuple[str, ...] | None:
        while True:
            path.append(nid)
            node = flow.nodes[nid]
            nxt = [e.target for e in edges(flow, nid) if e.kind == "next"]
            if node.type == "service" and nxt:
                nid, reason = nxt[0], None
                continue
            if node.type in ("service", "end"):
                return ("node", nid)
            if node.type == "transfer":
                return ("handoff", node.queue or "", reason or "caller_asked")
            return None

    outcome = enter(flow.start, None)
    count = Count()
    kinds = {"silence": (Miss.NO_INPUT, "no_input"), "say": (Miss.SAID, "no_match")}
    for ev in events:
        if outcome is not None:
            break
        here = path[-1]
        keyed = {e.label: e.target for e in edges(flow, here) if e.kind == "dtmf"}
        if ev in keyed:
            outcome, count = enter(keyed[ev], None), Count()
            continue
        miss, reason = kinds.get(ev, (Miss.KEY, "no_match"))
        count = rule.count(count, miss)
        if rule.limit(count) is None:
            continue
        fail = [e.target for e in edges(flow, here) if e.kind == "fail"]
        outcome = (enter(fail[0], reason) if fail else
                   ("handoff", flow.settings.fallback_queue, reason))
        count = Count()
    return path, outcome


def actual(d: Dialog) -> tuple[list[str], tuple[str, ...] | None]:
    o = d.outcome
    if o is None:
        return d.path, None
    if o.type == "node":
        return d.path, ("node", o.node or "")
    return d.path, ("handoff", o.queue or "", o.reason or "")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=flows(), events=EVENTS)
def test_the_dialog_does_what_the_graph_and_lint_describe(data: dict[str, Any],
                                                         events: list[str]) -> None:
    with written(data) as path:
        flow = load_flow(path)
        assert actual(play(flow, events)) == described(flow, events)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=flows(), misses=st.lists(st.sampled_from(["silence", "say", "#"]), min_size=60,
                                     max_size=60))
def test_a_flow_where_a_caller_could_miss_for_ever_is_refused_by_lint(
        data: dict[str, Any], misses: list[str]) -> None:
    """A caller who is never understood reaches an outcome within (menus x misses allowed)
    turns on every flow lint passes; a flow where they can go round for ever has an error."""
    with written(data) as path:
        report = lint_flow(path)
        flow = load_flow(path)
    menus = sum(n.type == "menu" for n in flow.nodes.values())
    bound = menus * Rule.of(flow.settings).misses
    d = play(flow, misses[:bound])
    errors = [f for f in report.findings if f.level == "error"]
    if not d.done:
        assert {f.code for f in errors} & {"cycle", "miss-loop"}, report.findings
    if not errors:
        assert d.done


# -- the number lint and the graph print is the dialog's -----
_SAID_FIRST = re.compile(r"after (\d+) answers? not understood, or (\d+) miss")
_ALL_SAME = re.compile(r"after (\d+) miss(?:es)? \(")


def _printed_limits(note: str) -> tuple[int, int]:
    """(misses not understood, misses of other kinds) after which lint says the menu gives up."""
    m = _SAID_FIRST.search(note)
    if m:
        return int(m.group(1)), int(m.group(2))
    m = _ALL_SAME.search(note)
    assert m, note
    return int(m.group(1)), int(m.group(1))


@settings(max_examples=60, deadline=None)
@given(retries=st.integers(0, 6), low=st.integers(1, 6))
def test_lint_note_and_graph_label_state_when_the_dialog_gives_up(retries: int,
                                                                 low: int) -> None:
    flow_data: dict[str, Any] = {
        "flow": "one", "languages": ["en"], "start": "root",
        "settings": {"max_retries": retries, "max_low_confidence": low},
        "queues": {"general": {"priority": "normal"}},
        "prompts": {"confirm": {"en": "You want to {label}?"}, "reprompt": {"en": "Sorry?"},
                    "no_input": {"en": "Hello?"}, "handoff": {"en": "Transferring."}},
        "confirm_words": {"yes": {"en": ["yes"]}, "no": {"en": ["no"]}},
        "intents": {}, "nodes": {
            "root": {"type": "menu", "prompt": {"en": "Press 1."}, "dtmf": {"1": "bye"}},
            "bye": {"type": "end", "prompt": {"en": "Bye."}}},
    }
    with written(flow_data) as path:
        notes = [f.problem.message for f in lint_flow(path).findings if f.code == "no-on-fail"]
        flow = load_flow(path)
    said, other = _printed_limits(notes[0])
    for event, printed in (("say", said), ("silence", other), ("#", other)):
        gave_up_at = next(k for k in range(1, 20) if play(flow, [event] * k).done)
        assert gave_up_at == printed, (event, notes[0])
    rule = Rule.of(flow.settings)
    assert f'"{rule.label()}"| q_general' in to_mermaid(flow)


# -- commands run only what lint passes -----
CYCLE = """\
flow: cyc
languages: [en]
start: a
queues: {general: {priority: normal}}
prompts:
  confirm: {en: "You want to {label}, is that right?"}
  reprompt: {en: "Sorry?"}
  no_input: {en: "Still there?"}
  handoff: {en: "Transferring."}
confirm_words: {"yes": {en: ["yes"]}, "no": {en: ["no"]}}
intents: {}
nodes:
  a: {type: menu, prompt: {en: "A."}, on_fail: b}
  b: {type: menu, prompt: {en: "B."}, on_fail: a}
"""


def _run(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.stdin", io.StringIO(stdin))
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("command", ["route", "chat", "call", "replay", "test"])
def test_every_command_that_runs_a_flow_refuses_what_lint_rejects(command: str,
                                                                  tmp_path: Path) -> None:
    flow = tmp_path / "cyc.yaml"
    flow.write_text(CYCLE, "utf-8")
    script = tmp_path / "calls" / "c.yaml"
    script.parent.mkdir()
    script.write_text("call: c\nlang: en\nturns: [{silence: 5}, {silence: 5}]\n", "utf-8")
    argv = {"route": ["route", "--lang", "en", "hello"],
            "chat": ["chat", "--lang", "en", "--queue", str(tmp_path / "q.sqlite3")],
            "call": ["call", "--lang", "en", "--no-voice"],
            "replay": ["replay", str(script), "--queue", str(tmp_path / "q.sqlite3")],
            "test": ["test", str(script.parent)]}[command]
    code, out, err = _run([*argv, "--flow", str(flow)], stdin="hello\n" * 6)
    assert code == 2 and "Transferring." not in out, out
    lines = err.splitlines()
    assert lines and all(re.match(rf"{re.escape(str(flow))}:\d+:\d+: ", ln) for ln in lines), err
    assert "cycle with no way out: a → b → a" in err


def test_warnings_and_notes_do_not_stop_a_flow(tmp_path: Path) -> None:
    flow = tmp_path / "warn.yaml"
    flow.write_text((FLOWS / "mini.yaml").read_text("utf-8")
                    + "  orphan:\n    type: end\n    prompt: {zh: 再见, en: Bye}\n", "utf-8")
    assert lint_flow(flow).count("warning") == 1
    code, out, _ = _run(["route", "--flow", str(flow), "--lang", "en", "I lost my card"])
    assert code == 0 and "card_loss" in out
