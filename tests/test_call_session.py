"""The call session: the one place that steps a dialog, whatever drives it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from ivr.call import (
    Call,
    HangUp,
    Hotline,
    Press,
    Prompt,
    Say,
    Silence,
    Speak,
    call_language,
    play,
)
from ivr.errors import UsageError
from ivr.flow import load_flow
from ivr.handoff import open_queue

from .conftest import BANK, ROOT


@pytest.fixture(scope="module")
def hotline() -> Hotline:
    return Hotline(load_flow(BANK))


def test_prompts_come_out_as_events_with_their_node_language_and_rate(hotline: Hotline) -> None:
    call = hotline.open_call("s1", "en")
    greeting = call.start()
    assert greeting and all(isinstance(p, Prompt) and p.lang == "en" for p in greeting)
    assert {p.node for p in greeting} == {"root"} and all(p.text for p in greeting)
    assert all(p.rate == hotline.flow.settings.prompt_rate for p in greeting)
    assert call.start() == ()  # answered once
    lost = call.say("I lost my card")
    assert {p.node for p in lost} == {"card_loss"} and call.node == "card_loss"
    assert not call.done  # asked for the card's last four digits (the node's steps)
    call.hang_up()
    assert call.say("anything") == () and call.press("1") == ()  # a finished call ignores input


def test_prompts_are_exactly_what_the_trace_says_was_said(hotline: Hotline) -> None:
    call = hotline.open_call("s2", "zh")
    said = [*call.start(), *call.say("嗯"), *call.silence(), *call.say("啊")]
    spoken = [e for e in call.trace if e.kind in ("prompt", "announcement", "system")
              and e.get("text")]
    assert [p.text for p in said] == [e.get("text") for e in spoken]
    assert [p.node for p in said] == [e.node for e in spoken]


def test_hang_up_files_once_and_returns_the_same_result(tmp_path: Path) -> None:
    queue = open_queue(tmp_path / "q.sqlite3")
    hotline = Hotline(load_flow(BANK), queue=queue)
    call = hotline.open_call("fraud-1", "en")
    call.start()
    call.say("someone is draining my account, I'm being scammed")
    first = call.hang_up()
    assert call.hang_up() is first
    assert first.handoff is not None and first.handoff.queue == "fraud"
    assert [q.handoff.call_id for q in queue.list()] == ["fraud-1"]


def test_fail_hands_the_caller_over_with_the_reason(hotline: Hotline) -> None:
    call = hotline.open_call("s3", "ko")
    call.start()
    prompts = call.fail("line_error", "RTP stopped")
    assert prompts and call.done
    result = call.hang_up()
    assert result.handoff is not None and result.handoff.reason == "line_error"


def test_the_scripted_driver_is_a_thin_loop_over_the_session(hotline: Hotline) -> None:
    keys = play(hotline.open_call("s4", "en"), [Press("0")])
    assert keys.handoff is not None
    hung = play(hotline.open_call("s5", "en"), [Say("hmm"), HangUp(), Say("I lost my card")])
    assert hung.path == ("root",) and len(hung.turns) == 1
    quiet = play(hotline.open_call("s6", "en"), [Silence(), Silence(), Silence()])
    assert quiet.outcome.type in ("handoff", "hangup")
    assert hotline.run("s7", "en", [Say("I lost my card")]).path == ("root", "card_loss")


def test_one_language_rule() -> None:
    wav = Speak("x.wav")
    assert call_language("zh", [Say("hi")], "c") == "zh"
    assert call_language(None, [wav, Press("1"), Silence()], "c") == "ko"
    with pytest.raises(UsageError, match=r"^a\.yaml: call 'c1' has no 'lang'; pass --lang$"):
        call_language(None, [wav, Say("hello")], "a.yaml: call 'c1'")
    with pytest.raises(UsageError):
        call_language(None, [Press("1")], "c")


def test_the_documented_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    doc = (ROOT / "docs" / "call-session.md").read_text("utf-8")
    code = re.search(r"```python\n(.*?)```", doc, re.S)
    assert code is not None and len(code.group(1).splitlines()) <= 25
    exec(compile(code.group(1), "docs/call-session.md", "exec"), {})
    out = capsys.readouterr().out
    assert "handoff to fraud" in out and "root > fraud_freeze > fraud_report" in out


def test_only_the_session_steps_a_dialog() -> None:
    """grep finds one loop that steps a dialog: no driver builds one or calls its events."""
    events = {"on_utterance", "on_dtmf", "on_no_input", "on_error", "on_hangup", "start"}
    offenders = []
    for path in sorted([*(ROOT / "ivr").rglob("*.py"), *(ROOT / "bench").rglob("*.py")]):
        if path.name == "dialog.py" or path.parts[-2:] == ("call", "session.py"):
            continue
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "Dialog"):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: builds a Dialog")
            if (isinstance(node, ast.Attribute) and node.attr in events
                    and isinstance(node.value, ast.Attribute) and node.value.attr == "dialog"):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: .dialog.{node.attr}")
    assert offenders == []


def test_a_call_is_a_call() -> None:
    assert Call.__module__ == "ivr.call.session"
