"""Node steps without the bank: reading values, speaking them, the schema and lint of steps,
and the collect machine (retries, read-back, secrets) through the dialog.

The few runner tests that need a reply use `Recorder`, a Services that answers from a table and
records what it was sent (unit tests only; end to end, tests/test_business_calls.py talks to
the real sample bank).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.dialog import Dialog
from ivr.errors import FlowErrors
from ivr.flow import load_flow
from ivr.flow.lint import lint_flow
from ivr.flow.steps import Collect, parse_condition
from ivr.nlu.matcher import IntentMatcher
from ivr.nlu.slots import spoken_number
from ivr.steps import ServiceError, money, spoken_date, spoken_value
from ivr.steps.runner import _compare
from ivr.steps.speak import fill, sino_korean
from ivr.steps.values import read_keys, read_speech
from ivr.types import Dtmf, Utterance

from .conftest import FLOWS

MINI = (FLOWS / "mini.yaml").read_text("utf-8")
CARD = Collect("card_tail", "digits", 4, 4, "#", {"zh": "", "en": ""})
PIN = Collect("pin", "digits", 4, 6, "#", {"zh": "", "en": ""}, secret=True)

STEPS = '''
    steps:
      - collect:
          slot: card_tail
          length: 4
          terminator: "#"
          confirm: true
          prompt: {zh: "请输入卡号后四位。", en: "Card digits please."}
      - collect:
          slot: pin
          min: 4
          max: 6
          terminator: "#"
          secret: true
          prompt: {zh: "请输入密码。", en: "Your PIN please."}
      - authenticate: {using: [caller_number, card_tail, pin]}
      - request:
          op: freeze_card
          with: {customer_id: "{customer_id}", card_tail: "{card_tail}"}
          into: {confirmation: confirmation, already_frozen: already_frozen}
      - branch: {if: already_frozen, then: human_agent}
      - say: {zh: "已冻结，确认号{confirmation:digits}。", en: "Frozen: {confirmation:digits}."}
'''


def _flow(tmp_path: Path, steps: str = STEPS, node: str = "card_loss") -> Path:
    text = MINI.replace(f'''  {node}:
    type: service
''', f'''  {node}:
    type: service
{steps.strip(chr(10))}
''', 1)
    assert text != MINI
    path = tmp_path / "flow.yaml"
    path.write_text(text, "utf-8")
    return path


class Recorder:
    """Answers operations from a table; records every payload (unit tests only)."""

    def __init__(self, replies: Mapping[str, Any]) -> None:
        self.replies = dict(replies)
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def call(self, operation: str, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        self.sent.append((operation, dict(payload)))
        reply = self.replies[operation]
        if isinstance(reply, ServiceError):
            raise reply
        return dict(reply)


def _dialog(path: Path, services: Recorder | None, lang: str = "en") -> Dialog:
    flow = load_flow(path)
    examples = {i: it.phrases.get(lang, ()) for i, it in flow.intents.items()}
    d = Dialog(flow, lang, IntentMatcher(examples, lang), "t1",  # type: ignore[arg-type]
               services=services, caller="14155550123")
    d.start()
    return d


# -- reading and speaking values ------------------------------------------------------------------
@pytest.mark.parametrize(("text", "lang", "want"), [
    ("六二二五", "zh", "6225"), ("尾号是幺三一四", "zh", "1314"), ("삼삼오공", "ko", "3350"),
    ("seven three eight two", "en", "7382"), ("4 4 1 7", "en", "4417"), ("五五", "zh", None),
])
def test_card_tail_said_in_any_numeral_system(text: str, lang: str, want: str | None) -> None:
    assert read_speech(CARD, text, lang) == want  # type: ignore[arg-type]


def test_keys_dates_and_amounts() -> None:
    date = Collect("birth_date", "date", 1, 32, "#", {})
    amount = Collect("amount", "amount", 1, 32, "#", {})
    assert read_keys(date, "19850314") == "1985-03-14" and read_keys(date, "19851399") is None
    assert read_speech(date, "1985年3月14日", "zh") == "1985-03-14"
    assert read_speech(date, "1985년 3월 14일", "ko") == "1985-03-14"
    assert read_speech(date, "March 14th, 1985", "en") == "1985-03-14"
    assert read_keys(amount, "42*5") == "42.50" and read_keys(amount, "0") is None
    assert read_speech(amount, "三百五十块", "zh") == "350.00"
    assert read_keys(PIN, "12345") == "12345" and read_keys(PIN, "123") is None


@pytest.mark.parametrize(("amount", "currency", "lang", "want"), [
    ("1234.50", "CNY", "zh", "人民币1234元5角"), ("1234.56", "CNY", "zh", "人民币1234元5角6分"),
    ("1234.50", "USD", "en", "$1,234.50"), ("1234", "CNY", "en", "1,234 yuan"),
    ("1234", "KRW", "ko", "천이백삼십사원"), ("15000", "KRW", "ko", "만 오천원"),
    ("1234", "KRW", "en", "1,234 won"),
])
def test_money_per_language(amount: str, currency: str, lang: str, want: str) -> None:
    assert money(amount, currency, lang) == want  # type: ignore[arg-type]


@given(st.integers(min_value=1, max_value=10**12 - 1))
def test_sino_korean_reads_back_as_the_same_number(n: int) -> None:
    assert spoken_number(sino_korean(n), "ko") == n


def test_dates_lists_and_templates() -> None:
    assert spoken_date("2026-12-04", "zh") == "2026年12月4日"
    assert spoken_date("2026-12-04", "ko") == "2026년 12월 4일"
    assert spoken_date("2026-12-04", "en") == "December 4, 2026"
    atms = [{"id": "BJ-1", "name": "China World", "hours": "24h", "open_now": True},
            {"id": "BJ-2", "name": "Wangfujing", "hours": "08:00-22:00", "open_now": False}]
    assert spoken_value(atms, "list", "en") == ("China World, 24h, open now; "
                                               "Wangfujing, 08:00-22:00, closed now")
    tx = [{"date": "2026-12-01", "amount": "35.50", "currency": "USD", "merchant": "Uber"}]
    want = "1: December 1, 2026, $35.50, Uber"
    assert fill("{tx:count}: {tx}", {"tx": tx}, "en") == want
    assert fill("{balance:amount}", {"balance": "10", "currency": "KRW"}, "ko") == "십원"


@pytest.mark.parametrize(("cond", "value", "holds"), [
    ("already_frozen", True, True), ("not eligible", False, True), ("count > 3", 5, True),
    ("count < 3", "5", False), ("name == bob", "bob", True), ("eligible == true", True, True),
    ("count >= 3", None, False),
])
def test_conditions_without_eval(cond: str, value: object, holds: bool) -> None:
    parsed = parse_condition(cond)
    assert parsed is not None and _compare(parsed, value) is holds


def test_a_condition_that_is_code_is_refused() -> None:
    assert parse_condition("__import__('os').system('x')") is None
    assert parse_condition("not a == b") is None


# -- schema and lint ------------------------------------------------------------------------------
def test_step_problems_each_at_file_line_col(tmp_path: Path) -> None:
    bad = '''
    steps:
      - colect: {slot: x}
      - collect: {slot: card_tail, kind: digit, lenght: 4, prompt: {zh: "请输入。"}}
      - branch: {if: "a and b", then: nowhere}
      - say: {zh: "好的"}
'''
    with pytest.raises(FlowErrors) as info:
        load_flow(_flow(tmp_path, bad))
    text = str(info.value)
    assert "flow.yaml:56:9: node 'card_loss': unknown step 'colect'" in text
    assert "(did you mean 'collect'?)" in text
    assert "flow.yaml:57:42: node 'card_loss' collect: unknown kind 'digit'" in text
    assert "flow.yaml:57:49: unknown key 'lenght' in node 'card_loss' collect" in text
    assert "flow.yaml:59:14: node 'card_loss' say: missing text for language 'en'" in text
    assert "condition 'a and b' is not" in text and "unknown node 'nowhere'" in text


def _lint(tmp_path: Path, steps: str) -> list[str]:
    return [str(f) for f in lint_flow(_flow(tmp_path, steps)).findings if f.level == "error"]


def test_lint_refuses_identity_before_authenticate(tmp_path: Path) -> None:
    early = STEPS.replace("      - authenticate: {using: [caller_number, card_tail, pin]}\n", "")
    found = _lint(tmp_path, early)
    assert any("request 'freeze_card' needs the caller's identity" in f for f in found), found
    assert _lint(tmp_path, STEPS) == []


def test_lint_refuses_identity_reached_by_a_branch_before_authenticate(tmp_path: Path) -> None:
    """balance_inquiry asks with customer_id; card_loss branches there before verifying."""
    path = _flow(tmp_path, '''
    steps:
      - branch: {if: caller_number, then: balance_inquiry}
''')
    text = path.read_text("utf-8").replace('''  balance_inquiry:
    type: service
''', '''  balance_inquiry:
    type: service
    steps:
      - authenticate: {using: [caller_number]}
      - request: {op: balance, with: {customer_id: "{customer_id}"}, into: {balance: balance}}
''')
    path.write_text(text, "utf-8")
    assert [str(f) for f in lint_flow(path).findings if f.level == "error"] == []
    path.write_text(text.replace("      - authenticate: {using: [caller_number]}\n", "", 1),
                    "utf-8")
    found = [str(f) for f in lint_flow(path).findings if f.level == "error"]
    assert any("request 'balance' needs the caller's identity" in f for f in found), found


def test_lint_undefined_variables_and_secrets_leaving(tmp_path: Path) -> None:
    found = _lint(tmp_path, STEPS.replace("{confirmation:digits}。", "{pin}{balnce}。"))
    assert any("variable 'balnce' is never set" in f for f in found)
    assert any("secret 'pin' may only be sent by authenticate" in f for f in found)
    assert all("flow.yaml:75:9: error" in f for f in found)  # at the say step


# -- the collect machine --------------------------------------------------------------------------
REPLIES = {"verify": {"verified": True, "customer_id": "C1", "failures": 0},
           "freeze_card": {"frozen": True, "already_frozen": False, "confirmation": "FZ123"}}


def test_a_pin_is_never_echoed_stored_or_sent_but_to_verify(tmp_path: Path) -> None:
    bank = Recorder(REPLIES)
    d = _dialog(_flow(tmp_path), bank)
    d.on_dtmf(Dtmf("2"))
    for key in "4417":
        d.on_dtmf(Dtmf(key))
    d.on_utterance(Utterance("yes", "en"))
    d.on_utterance(Utterance("nine eight seven six", "en"))  # the PIN said aloud
    d.on_dtmf(Dtmf("#"))
    assert d.outcome is not None and d.outcome.type == "node"
    assert [op for op, _ in bank.sent] == ["verify", "freeze_card"]
    assert bank.sent[0][1] == {"caller_number": "14155550123", "card_tail": "4417",
                               "pin": "9876"}
    assert "pin" not in bank.sent[1][1] and "pin" not in d.state.values
    trace = str([e.as_dict() for e in d.trace]) + str(d.heard) + str(d.turns)
    assert "9876" not in trace and "nine eight" not in trace
    assert d.state.slots["pin"].masked == "***"
    spoken = [d.spoken.get(e.step, e.get("text")) for e in d.trace if e.kind == "prompt"]
    assert spoken[-1] == "Frozen: F Z 1 2 3."  # said whole, kept masked in the trace


def test_read_back_denied_asks_again_and_no_input_hands_over(tmp_path: Path) -> None:
    d = _dialog(_flow(tmp_path), Recorder(REPLIES))
    d.on_dtmf(Dtmf("2"))
    for key in "1234":
        d.on_dtmf(Dtmf(key))
    d.on_dtmf(Dtmf("2"))  # no: enter it again
    assert d.node.id == "card_loss" and not d.done and d.state.slots == {}
    for _ in range(3):
        d.on_no_input()
    assert d.handoff is not None and d.handoff.reason == "no_input"
    assert d.handoff.queue == "general"


def test_backend_error_hands_over_with_what_was_done(tmp_path: Path) -> None:
    replies = {**REPLIES, "freeze_card": ServiceError("breaker_open")}
    d = _dialog(_flow(tmp_path), Recorder(replies), lang="zh")
    d.on_dtmf(Dtmf("2"))
    for key in "4417#1":  # the # after four digits ends that entry; 1 confirms
        d.on_dtmf(Dtmf(key))
    for key in "123456":
        d.on_dtmf(Dtmf(key))
    assert d.handoff is not None and d.handoff.reason == "backend_error"
    slots = {s.name: s.masked for s in d.handoff.slots}
    assert slots["steps_done"] == "collect card_tail, collect pin, authenticate"
    assert slots["card_tail"] == "4417" and slots["pin"] == "***"
    assert [e.get("reason") for e in d.trace if e.kind == "request"] == [None, "breaker_open"]
