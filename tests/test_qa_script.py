"""Call scripts: the old format still loads, turn and call expectations, every problem at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.call import HangUp, Press, Say, Silence, Speak
from ivr.errors import FlowErrors
from ivr.flow import Flow
from ivr.qa.expect import unknown_names
from ivr.qa.script import load_scripts, load_suite, suite_files

from .conftest import ROOT


def write(tmp_path: Path, text: str, name: str = "calls.yaml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    return path


def test_the_committed_sample_scripts_still_load() -> None:
    scripts = load_suite([ROOT / "samples" / "calls"])
    assert len(scripts) >= 25
    assert all(s.expect and not s.turn_expect and s.xfail is None for s in scripts)


def test_single_call_file_with_every_turn_kind(tmp_path: Path) -> None:
    path = write(tmp_path, """
lang: zh
turns:
  - say: 我的卡丢了
  - audio: a.wav
  - dtmf: "12#"
  - silence: 2.5
  - hangup
expect: {outcome: {type: node, node: card_loss}}
""")
    [s] = load_scripts(path)
    assert s.call_id == "calls" and s.lang == "zh" and s.source == f"{path}:2"
    assert s.inputs == (Say("我的卡丢了"), Speak(str(tmp_path / "a.wav")), Press("12#"),
                        Silence(2.5), HangUp())
    assert s.expect == {"outcome": {"type": "node", "node": "card_loss"}}
    assert s.turn_expect == () and s.turn_expectations(3) == {}


def test_turn_and_call_expectations_and_xfail(tmp_path: Path) -> None:
    path = write(tmp_path, """
lang: en
calls:
  - call: one
    xfail: "matcher: 'my card' is not confirmed yet"
    turns:
      - {say: "my card", expect: {intent: card_loss, decision: confirm, node: root}}
      - say: "yes"
      - {dtmf: "1", expect: {decision: dtmf, max_latency: 0.5}}
    expect: {node: card_loss, queue: null, intent: null, path: [root, card_loss],
             slots: {card_tail: "1234"}, max_latency: 1.5}
""")
    [s] = load_scripts(path)
    assert s.xfail == "matcher: 'my card' is not confirmed yet"
    assert s.turn_expect == ({"intent": "card_loss", "decision": "confirm", "node": "root"},
                             {}, {"decision": "dtmf", "max_latency": 0.5})
    assert s.expect == {"node": "card_loss", "queue": None, "intent": None,
                        "path": ["root", "card_loss"], "slots": {"card_tail": "1234"},
                        "max_latency": 1.5}
    assert type(s.expect["max_latency"]) is float and type(s.turn_expect[2]["max_latency"]) is float


def test_every_problem_is_reported_with_its_position(tmp_path: Path) -> None:
    path = write(tmp_path, """lang: en
calls:
  - call: a
    turns:
      - {say: "x", expect: {decision: yes, intnt: card_loss}}
      - {sya: "y"}
    expect: {outcome: {typ: node}, nod: x, max_latency: -1}
    xfial: "x"
  - call: a
    turns: [{say: "z"}]
""")
    with pytest.raises(FlowErrors) as err:
        load_suite([path])
    text = str(err.value)
    for fragment in (":5:39: decision yes: write it quoted", "'intnt' (did you mean 'intent'?)",
                     ":6:9: bad turn 'sya: y'", "'typ' (did you mean 'type'?)",
                     "'nod' (did you mean 'node'?)", "'max_latency' is a number of seconds",
                     ":8:5: unknown call key 'xfial' (did you mean 'xfail'?)",
                     "call id 'a' is used twice"):
        assert fragment in text, text
    assert len(err.value.problems) == 8


def test_a_folder_is_a_suite_in_name_order(tmp_path: Path) -> None:
    write(tmp_path, "lang: en\nturns: [{say: b}]\n", "suite/b.yaml")
    write(tmp_path, "lang: en\nturns: [{say: a}]\n", "suite/sub/a.yml")
    write(tmp_path, "not a script", "suite/notes.txt")
    files = suite_files([tmp_path / "suite"])
    assert [f.name for f in files] == ["b.yaml", "a.yml"]
    assert [s.call_id for s in load_suite([tmp_path / "suite"])] == ["b", "a"]


def test_expectations_naming_what_the_flow_lacks(tmp_path: Path, bank: Flow) -> None:
    path = write(tmp_path, """lang: en
calls:
  - call: a
    turns: [{say: "x", expect: {intent: card_los}}]
    expect: {outcome: {node: card_los, queue: frod}, path: [root, crd_loss]}
""")
    problems = [p.message for p in unknown_names(load_scripts(path), bank)]
    assert len(problems) == 4
    assert "expects intent 'card_los'" in problems[0] and "did you mean 'card_loss'" in problems[0]
    assert any("queue 'frod'" in p and "'fraud'" in p for p in problems)
    assert any("path names unknown node 'crd_loss'" in p for p in problems)


def test_the_committed_suite_names_only_what_the_bank_flow_has(bank: Flow) -> None:
    scripts = load_suite([ROOT / "tests" / "calls"])
    assert unknown_names(scripts, bank) == []
    for s in scripts:
        for item in s.inputs:
            assert not isinstance(item, Speak) or Path(item.path).is_file(), item
