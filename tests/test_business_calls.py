"""Business at the node, end to end against the REAL sample bank (samples/bank, over HTTP).

Every scenario of the flow in zh, en and ko (the QA suite tests/calls_bank, run as `ivr test
--backend URL` runs it); the bank slow, failing and down -> every caller reaches a human with
reason backend_error and is filed; the circuit breaker opens and closes; three wrong PINs ->
handed over, never served; the typhoon overlay's loan deferral; no PIN anywhere but verify.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.backend import Backend, BackendConfig
from ivr.call import BankServices, Hotline, Press, Say
from ivr.flow import load_flow, load_flow_with_overlays
from ivr.handoff import open_queue
from ivr.qa.runner import RunConfig, run_suite
from ivr.qa.script import load_suite

from .bank_server import TOKEN_ENV, BankServer
from .conftest import ROOT

BANK_FLOW = ROOT / "flows" / "bank_hotline.yaml"
TYPHOON = ROOT / "flows" / "overlays" / "typhoon.yaml"
SUITE = ROOT / "tests" / "calls_bank"
# (lang, caller number, card tail, PIN, first sentence) of seeded customers (seed 0)
CARD_LOSS = {
    "ko": ("821012345678", "5312", "4829", "카드 분실 신고"),
    "zh": ("8613800138000", "6225", "305917", "我要挂失"),
    "en": ("14155550123", "4417", "7164", "report a lost card"),
}


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BankServer]:
    """A sample bank of its own (the calls here freeze cards and open disputes)."""
    server = BankServer(tmp_path_factory.mktemp("business-bank")).start()
    yield server
    server.stop()


@pytest.fixture
def bank_env(bank: BankServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[BankServer]:
    monkeypatch.setenv(TOKEN_ENV, bank.token)
    monkeypatch.setenv("IVR_BANK_TOKEN", bank.token)
    yield bank
    bank.mode("ok")


def _hotline(bank: BankServer, tmp_path: Path, **limits: float) -> Hotline:
    config = BackendConfig(bank.url, token_env=TOKEN_ENV, **limits)  # type: ignore[arg-type]
    return Hotline(load_flow(BANK_FLOW), queue=open_queue(str(tmp_path / "q.sqlite3")),
                   services=BankServices(Backend(config)))


def _card_loss(hotline: Hotline, call_id: str, lang: str) -> None:
    caller, tail, pin, first = CARD_LOSS[lang]
    hotline.run(call_id, lang, [Say(first), Press(tail), Press("1"), Press(pin + "#")],  # type: ignore[arg-type]
                caller=caller)


def test_every_scenario_in_three_languages_against_the_sample_bank(bank_env: BankServer) -> None:
    scripts = load_suite([SUITE])
    assert {s.lang for s in scripts} == {"zh", "en", "ko"} and len(scripts) >= 27
    since = bank_env.last_seq()
    runs = run_suite(scripts, RunConfig(str(BANK_FLOW), backend=bank_env.url), jobs=1)
    failed = [(r.script.call_id, r.error, [str(f) for f in r.failures]) for r in runs
              if r.status != "pass"]
    assert failed == []
    made = {q["operation"] for q in bank_env.requests(since)}
    assert made >= {"verify", "freeze_card", "balance", "transactions", "send_sms",
                    "atm_nearby", "card_retained", "open_dispute"}


@pytest.mark.parametrize("mode", ["slow", "fail", "down"])
def test_bank_slow_failing_or_down_hands_every_caller_over_with_backend_error(
        bank_env: BankServer, tmp_path: Path, mode: str) -> None:
    hotline = _hotline(bank_env, tmp_path, timeout_s=0.5, retries=1, backoff_s=0.05,
                       breaker_failures=50)
    bank_env.mode(mode, delay_s=2.0)
    for lang in CARD_LOSS:
        _card_loss(hotline, f"{mode}-{lang}", lang)
    bank_env.mode("ok")
    assert hotline.queue is not None
    filed = {q.handoff.call_id: q.handoff for q in hotline.queue.list()}
    assert set(filed) == {f"{mode}-{lang}" for lang in CARD_LOSS}  # nothing lost
    for h in filed.values():
        assert h.reason == "backend_error" and h.queue == "general"
        slots = {s.name: s.masked for s in h.slots}
        assert slots["card_tail"] in {t for _, t, _, _ in CARD_LOSS.values()}
        assert slots["pin"] == "***" and "collect pin" in slots["steps_done"]
        assert "authenticate" not in slots["steps_done"]  # verify never answered


def test_breaker_opens_then_closes(bank_env: BankServer, tmp_path: Path) -> None:
    hotline = _hotline(bank_env, tmp_path, retries=0, breaker_failures=2, breaker_reset_s=0.5)
    bank_env.mode("fail")
    for k in range(2):
        _card_loss(hotline, f"trip-{k}", "en")
    before = bank_env.last_seq()
    call = hotline.open_call("fast-fail", "en", caller=CARD_LOSS["en"][0])
    call.start()
    call.say("report a lost card")
    call.press("4417")
    call.press("1")
    call.press("7164#")
    result = call.hang_up()
    assert result.handoff is not None and result.handoff.reason == "backend_error"
    assert [e.get("reason") for e in result.trace if e.kind == "request"] == ["breaker_open"]
    assert bank_env.last_seq() == before  # failed fast: nothing reached the bank
    bank_env.mode("ok")
    time.sleep(0.6)  # the breaker lets one trial through, which closes it
    call = hotline.open_call("closed-again", "en", caller=CARD_LOSS["en"][0])
    call.start()
    call.say("check my balance")
    call.press("4417")
    call.press("1")
    served = call.press("7164#")
    assert call.hang_up().outcome.type == "node" and "$" in served[-1].text


def test_three_wrong_pins_are_handed_over_never_served(bank_env: BankServer,
                                                       tmp_path: Path) -> None:
    hotline = _hotline(bank_env, tmp_path)
    since = bank_env.last_seq()
    caller, tail, _, first = CARD_LOSS["zh"]
    keys = [Press(tail), Press("1"), Press("999999#")] * 3
    result = hotline.run("zh-wrong-pins", "zh", [Say(first), *keys, Press("1")], caller=caller)
    assert result.handoff is not None and result.handoff.reason == "auth_failed"
    ops = [q["operation"] for q in bank_env.requests(since)]
    assert ops == ["verify"] * 3  # never a freeze
    assert "customer_id" not in str(result.trace)


def test_typhoon_loan_deferral_on_the_call(bank_env: BankServer, tmp_path: Path) -> None:
    flow = load_flow_with_overlays(BANK_FLOW, [TYPHOON], "2025-09-25T10:00:00+08:00", "hainan")
    config = BackendConfig(bank_env.url, token_env=TOKEN_ENV)
    hotline = Hotline(flow, services=BankServices(Backend(config)))
    call = hotline.open_call("ko-typhoon", "ko", caller="821012345678")
    call.start()
    call.say("대출 상환 유예")
    call.press("5312")
    call.press("1")
    said = call.press("4829#")
    result = call.hang_up()
    ops = [e.get("op") for e in result.trace if e.kind == "request"]
    assert ops == ["verify", "loan_deferral_check", "loan_deferral_request"]
    assert result.outcome.node == "loan_deferral" and "다음 상환일은" in said[-1].text


def test_no_pin_reaches_the_bank_outside_verify(bank_env: BankServer, tmp_path: Path) -> None:
    since = bank_env.last_seq()
    hotline = _hotline(bank_env, tmp_path)
    for lang in CARD_LOSS:
        _card_loss(hotline, f"pin-{lang}", lang)
    entries = bank_env.requests(since)
    pins = [pin for _, _, pin, _ in CARD_LOSS.values()]
    assert entries and all(q["status"] == 200 for q in entries)
    for q in entries:
        text = str(q["body"])
        assert ("pin" in q["body"]) == (q["operation"] == "verify")
        assert not any(pin in text for pin in pins), q
