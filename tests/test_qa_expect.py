"""Checking replayed calls, masking what QA prints, metrics and the confusion matrix (text
calls on the small test flow: no speech model needed)."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.call import CallInput, HangUp, Hotline, Press, Say, Silence
from ivr.flow import Flow
from ivr.qa.expect import check_call, check_expect, input_turns, labelled_turns
from ivr.qa.metrics import (
    NONE,
    compute_metrics,
    confusion,
    confusion_of,
    intent_targets,
    percentile,
)
from ivr.qa.redact import describe_input, redact_result
from ivr.qa.report import call_json, format_call, met_expectations
from ivr.qa.runner import CallRun, RunConfig, run_suite
from ivr.qa.script import CallScript, load_scripts
from ivr.qa.svg import confusion_svg

from .conftest import FLOWS

MINI = str(FLOWS / "mini.yaml")


@pytest.fixture(scope="module")
def hotline(mini: Flow) -> Hotline:
    return Hotline(mini)


def script(*inputs: CallInput, turns: tuple[dict[str, object], ...] = (),
           **expect: object) -> CallScript:
    return CallScript("c1", "en", inputs, "x.yaml:1", dict(expect), turns)


def test_inputs_map_to_the_turns_they_made() -> None:
    inputs = (Say("a"), Press("123"), HangUp(), Silence(1.0))
    assert input_turns(inputs, 5) == [range(0, 1), range(1, 4), range(4, 4), range(4, 5)]
    assert input_turns(inputs, 2) == [range(0, 1), range(1, 2), range(2, 2), range(2, 2)]


def test_met_turn_and_call_expectations_give_no_failures(hotline: Hotline) -> None:
    s = script(Say("I lost my card"), turns=({"intent": "card_loss", "decision": "accept",
                                              "node": "card_loss"},),
               outcome={"type": "node", "node": "card_loss"}, node="card_loss",
               intent="card_loss", path=["root", "card_loss"], max_latency=5.0)
    assert check_call(s, hotline.run("c1", "en", s.inputs)) == ()


def test_a_failure_names_the_turn_what_was_expected_and_what_was_heard(hotline: Hotline) -> None:
    s = script(Say("I lost my card"), Say("and more"),
               turns=({"intent": "balance_inquiry"}, {"decision": "accept"}),
               outcome={"type": "handoff", "queue": "fraud"}, path=["root"])
    failures = check_call(s, hotline.run("c1", "en", s.inputs))
    by = {(f.turn, f.what): f for f in failures}
    f = by[(1, "intent")]
    assert (f.expected, f.got) == ("balance_inquiry", "card_loss")
    assert "say 'I lost my card': heard 'I lost my card' -> accept card_loss" in f.at
    assert by[(2, "turn")].got == "the call had ended"  # turn 2 never played
    assert by[(None, "outcome type")].expected == "handoff"
    assert by[(None, "outcome queue")].got == "none"
    assert by[(None, "path")].got == "root > card_loss"
    assert str(f).startswith("turn 1: intent expected balance_inquiry, got card_loss [")


def test_replay_keeps_its_call_level_check(hotline: Hotline) -> None:
    result = hotline.run("c1", "en", [Say("I lost my card")])
    assert met_expectations(result, {"outcome": {"type": "node", "node": "card_loss"}}) == []
    [problem] = met_expectations(result, {"outcome": {"node": "fraud_report"}})
    assert "outcome node expected fraud_report, got card_loss" in problem


def test_keyed_digit_runs_are_masked_in_turns_traces_and_printouts(hotline: Hotline) -> None:
    # 4, 5 and 3 are no menu keys in the mini flow: each is logged, then the call is handed off
    result = hotline.run("keyed", "en", [Press("4539148803436467")])
    assert [t.heard for t in result.turns] == ["dtmf:***"] * 3  # the engine never logs them
    safe = redact_result(result)
    assert [t.heard for t in safe.turns] == ["dtmf:***"] * 3
    assert [dict(e.data)["key"] for e in safe.trace if e.kind == "dtmf"] == ["***"] * 3
    shown = format_call(result, verbose=True) + json.dumps(call_json(result))
    assert "dtmf:4" not in shown and "key=4" not in shown
    assert describe_input(Press("4539148803436467")) == "dtmf ***"
    assert describe_input(Press("0")) == "dtmf 0"
    menu = redact_result(hotline.run("menu", "en", [Press("1")]))
    assert menu.turns[0].heard == "dtmf:1"  # a key that chose a menu entry stays readable
    assert [dict(e.data)["key"] for e in menu.trace if e.kind == "dtmf"] == ["1"]
    typed = redact_result(hotline.run("pin", "en", [Say("hello"), Press("73")]))
    assert [t.heard for t in typed.turns] == ["hello", "dtmf:***", "dtmf:***"]  # not choices
    assert "key=7" not in format_call(hotline.run("pin", "en", [Press("73")]), verbose=True)


def test_spoken_card_numbers_are_masked_in_failure_context(hotline: Hotline) -> None:
    s = script(Say("my card 4111 1111 1111 1111 was stolen"), turns=({"intent": "human_agent"},))
    [f] = [f for f in check_call(s, hotline.run("c", "en", s.inputs)) if f.turn == 1]
    assert "4111 1111" not in f.at and "****1111" in f.at


def test_labels_come_from_turns_then_the_call(hotline: Hotline, mini: Flow) -> None:
    targets = intent_targets(mini)
    explicit = script(Say("my card"), Say("yes"), turns=({"intent": "card_loss"},))
    res = hotline.run("c", "en", explicit.inputs)
    [lab] = labelled_turns(explicit, res, targets)
    assert (lab.turn, lab.expected, lab.matcher, lab.node) == (0, "card_loss", True, "root")
    by_node = script(Say("the weather"), Say("I lost my card"), node="card_loss")
    res = hotline.run("c", "en", by_node.inputs)
    assert [(x.turn, x.expected, x.got) for x in labelled_turns(by_node, res, targets)] == [
        (1, "card_loss", "card_loss")]
    oos = script(Say("the weather is nice"), Say("what time is it"),
                 outcome={"type": "handoff", "reason": "low_confidence"})
    res = hotline.run("c", "en", oos.inputs)
    assert [x.expected for x in labelled_turns(oos, res, targets)] == [None, None]
    keyed = script(Say("hello"), Press("2"), node="card_loss")
    assert labelled_turns(keyed, hotline.run("c", "en", keyed.inputs), targets) == []


def suite(tmp_path: Path, text: str) -> list[CallScript]:
    path = tmp_path / "s.yaml"
    path.write_text(text, "utf-8")
    return load_scripts(path)


RUNS = """lang: en
calls:
  - call: ok
    turns: [{say: "I lost my card", expect: {intent: card_loss}}]
    expect: {node: card_loss}
  - call: wrong
    turns: [{say: "someone stole money from my account", expect: {intent: card_loss}}]
    expect: {outcome: {type: node, node: card_loss}}
  - call: oos
    turns: [{say: "the weather is nice"}, {say: "what time is it"}]
    expect: {outcome: {type: handoff, reason: low_confidence}}
  - call: keys
    turns: [{dtmf: "0"}]
    expect: {outcome: {type: handoff, queue: general}}
  - call: known
    xfail: "not routed yet"
    turns: [{say: "the weather is nice"}]
    expect: {node: balance_inquiry}
"""


def test_metrics_and_confusion_of_a_small_run(tmp_path: Path, mini: Flow) -> None:
    runs = run_suite(suite(tmp_path, RUNS), RunConfig(MINI))
    assert [r.status for r in runs] == ["pass", "fail", "pass", "pass", "xfail"]
    m = compute_metrics(runs, mini)
    assert (m.navigation.count, m.navigation.total) == (3, 5)
    # labelled: ok, wrong, two out-of-scope turns, and the known failure (counted honestly)
    assert (m.intent.count, m.intent.total) == (3, 5)
    assert m.transfer_by_reason.keys() == {"caller_asked", "low_confidence", "priority_intent"}
    assert m.containment.total == 5 and m.containment.count == 2
    assert m.latency_p50 is None and m.rtf is None  # no audio in these calls
    d = m.as_dict()
    assert d["fail"] == 1 and d["xfail"] == 1 and d["navigation_accuracy"]["value"] == 0.6
    conf = confusion(runs, mini)
    assert conf.labels[-1] == NONE
    assert conf.cell("card_loss", "card_loss") == 1
    assert conf.cell("card_loss", "fraud_report") == 1
    assert conf.cell(NONE, NONE) == 2
    assert conf.cell("balance_inquiry", NONE) == 1
    assert sum(map(sum, conf.as_dict()["matrix"])) == 5


def test_parallel_runs_give_the_same_results_in_script_order(tmp_path: Path) -> None:
    scripts = suite(tmp_path, RUNS)
    one = run_suite(scripts, RunConfig(MINI), jobs=1)
    two = run_suite(scripts, RunConfig(MINI), jobs=2)
    assert [r.result for r in one] == [r.result for r in two]
    assert [r.failures for r in one] == [r.failures for r in two]


def test_a_call_that_cannot_be_played_is_an_error_not_a_crash(tmp_path: Path) -> None:
    scripts = suite(tmp_path, "lang: en\nturns: [{audio: missing.wav}]\n")
    [run] = run_suite(scripts, RunConfig(MINI))
    assert run.status == "error" and run.result is None and not run.ok
    assert run.error is not None and "no English (en) speech model" in run.error


def test_percentiles() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([float(i) for i in range(101)], 95) == pytest.approx(95.0)


@given(st.lists(st.floats(0, 1e3, allow_nan=False), min_size=1, max_size=50),
       st.sampled_from([50.0, 90.0, 95.0, 99.0]))
def test_percentile_is_numpys_linear_definition(values: list[float], q: float) -> None:
    """One meaning of "p95" for the QA report and the benchmarks (they import this one)."""
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), abs=1e-9)


def test_a_benchmark_confusion_matrix_draws_with_its_title() -> None:
    conf = confusion_of({"out_of_scope": {NONE: 3, "a": 1}, "a": {"a": 2, "b": 1}})
    assert conf.labels == ("a", "b", "out_of_scope", NONE)
    assert conf.cell("a", "b") == 1 and conf.cell("out_of_scope", NONE) == 3
    svg = confusion_svg(conf, "zh (heldout)")
    root = ElementTree.fromstring(svg)  # well-formed: one font-size per element
    assert "zh (heldout)" in "".join(root.itertext())
    assert "zh (heldout)" not in confusion_svg(conf)


def test_check_expect_slots_and_latency(hotline: Hotline) -> None:
    result = hotline.run("c", "en", [Say("I lost my card")])
    failures = check_expect(result, {"slots": {"card_tail": "1234"}, "max_latency": 0.1})
    assert [(f.what, f.got) for f in failures] == [("slot card_tail", "none")]  # no audio turn


def _run(status: str, call: str = "c") -> CallRun:
    return CallRun(CallScript(call, "en", (Say("x"),), "s.yaml:3"), "en", None, (), status)  # type: ignore[arg-type]


def test_describe_every_input() -> None:
    assert describe_input(Say("pin 1234 please")) == "say 'pin *** please'"
    assert describe_input(Silence(2.0)) == "silence 2s"
    assert describe_input(HangUp()) == "hang up"
    assert _run("error").ok is False and _run("xpass").ok is True
