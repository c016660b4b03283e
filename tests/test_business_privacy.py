"""1,000 generated calls with PINs and card numbers against the real sample bank: no PIN and no
card number in any log, trace, report or queue record, nor in the bank's request log except the
verify request itself (where the sample keeps only a keyed hash of the PIN).

Hypothesis draws each call: a seeded customer, a language, a business, the card tail and PIN
keyed or said (ASCII, Chinese, Sino-Korean or English digit words, spread over turns), right or
wrong PINs, a full card number blurted out, and hang-ups anywhere.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.backend import Backend, BackendConfig
from ivr.call import BankServices, CallInput, HangUp, Hotline, Press, Say
from ivr.flow import load_flow
from ivr.handoff import open_queue
from ivr.qa.report import call_json, format_call
from samples.bank.seed import Customer, customers

from .bank_server import TOKEN_ENV, BankServer
from .conftest import ROOT

pytestmark = pytest.mark.slow

CUSTOMERS = list(customers(40, seed=0))
FIRST = {
    "card_loss": {"zh": "我要挂失", "en": "report a lost card", "ko": "카드 분실 신고"},
    "upload_documents": {"zh": "上传资料", "en": "upload documents", "ko": "서류 제출"},
    "fraud_report": {"zh": "我被骗了", "en": "I'm being scammed", "ko": "보이스피싱 당했어요"},
}
WORDS = {
    "zh": "零一二三四五六七八九", "ko": "공일이삼사오육칠팔구",
    "en": ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
}
CARD_NUMBERS = ("4111111111111111", "5500005555555559", "6225880137706838")
"""Luhn-valid card numbers a caller might read out."""


def _words(digits: str, lang: str) -> str:
    table = WORDS[lang]
    return (" " if lang == "en" else "").join(table[int(d)] for d in digits)


@st.composite
def calls(draw: st.DrawFn) -> tuple[Customer, str, list[CallInput], tuple[str, ...]]:
    """One caller: who, the language, the inputs, and the secrets they gave."""
    who = draw(st.sampled_from(CUSTOMERS))
    lang = draw(st.sampled_from(("zh", "en", "ko")))
    business = draw(st.sampled_from(sorted(FIRST)))
    card = draw(st.sampled_from(CARD_NUMBERS))
    first = FIRST[business][lang]
    if draw(st.booleans()):
        first += {"zh": f"，卡号是{card}", "en": f", my card number is {card}",
                  "ko": f" 카드 번호는 {card}"}[lang]
    inputs: list[CallInput] = [Say(first)]
    pins = [who.pin if draw(st.booleans()) else draw(st.from_regex(r"\A[0-9]{6}\Z"))
            for _ in range(draw(st.integers(1, 3)))]
    for pin in pins:
        if business != "fraud_report":
            tail = who.cards[0]
            inputs.append(Press(tail) if draw(st.booleans()) else Say(_words(tail, lang)))
            inputs.append(Press("1"))
        how = draw(st.sampled_from(("keys", "words", "split")))
        if how == "keys":
            inputs.append(Press(pin + "#"))
        elif how == "words":
            inputs.append(Say(_words(pin, lang)))
        else:  # spread over two turns
            inputs += [Say(_words(pin[:2], lang)), Say(f"{pin[2:]}")]
    if draw(st.booleans()):
        inputs.insert(draw(st.integers(1, len(inputs))), HangUp())
    return who, lang, inputs, (*pins, card)


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BankServer]:
    server = BankServer(tmp_path_factory.mktemp("privacy-bank")).start()
    yield server
    server.stop()


class _Logs(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


_NOT_CALLER = re.compile(r"\d+\.\d+|127\.0\.0\.1:\d+|\bid=\d+|\"seq\": \d+")
"""Numbers that are the engine's own (scores, Unix times, ports, record ids): a PIN drawn
at random may share digits with them by chance, and is never written as any of them."""


def _scrub(text: str) -> str:
    return _NOT_CALLER.sub("#", text)


def _leaks(text: str, secrets: tuple[str, ...], lang: str) -> list[str]:
    text = _scrub(text)
    found = [s for s in secrets if s in text]
    return found + [s for s in secrets if len(s) <= 6 and _words(s, lang) in text]


def test_a_thousand_calls_keep_pins_and_card_numbers(
        bank: BankServer, tmp_path_factory: pytest.TempPathFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, bank.token)
    folder = tmp_path_factory.mktemp("privacy")
    queue_file = folder / "q.sqlite3"
    hotline = Hotline(load_flow(ROOT / "flows" / "bank_hotline.yaml"),
                      queue=open_queue(str(queue_file)),
                      services=BankServices(Backend(BackendConfig(bank.url,
                                                                  token_env=TOKEN_ENV))))
    logs = _Logs()
    root = logging.getLogger()
    root.addHandler(logs)
    old_level, counter, every_secret = root.level, [0], set()
    root.setLevel(logging.DEBUG)

    @settings(max_examples=1000, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(calls())
    def one(call: tuple[Customer, str, list[CallInput], tuple[str, ...]]) -> None:
        who, lang, inputs, secrets = call
        counter[0] += 1
        every_secret.update(secrets)
        result = hotline.run(f"p{counter[0]}", lang, inputs,  # type: ignore[arg-type]
                             caller=who.caller_number)
        sinks = json.dumps([e.as_dict() for e in result.trace], ensure_ascii=False)
        sinks += json.dumps(call_json(result), ensure_ascii=False, default=str)
        sinks += format_call(result, verbose=True)
        assert _leaks(sinks, secrets, lang) == [], sinks

    try:
        one()
    finally:
        root.removeHandler(logs)
        root.setLevel(old_level)
    assert counter[0] >= 1000
    assert hotline.queue is not None
    queued = json.dumps([[q.handoff.heard, [str(x) for x in q.handoff.slots], q.handoff.path,
                          [str(c) for c in q.handoff.candidates]] for q in hotline.queue.list()],
                        ensure_ascii=False)  # what came from callers (ids and times are not)
    assert len(hotline.queue.list()) > 100  # wrong PINs, hang-ups, fraud: handed over
    stored = _scrub(b"".join(p.read_bytes() for p in folder.iterdir()).decode("utf-8", "replace"))
    logged = _scrub("\n".join(logs.lines))
    queued = _scrub(queued)
    for secret in every_secret:
        at = queued.find(secret)
        assert at < 0, queued[max(0, at - 300):at + 100]
        at = stored.find(secret)
        assert at < 0, stored[max(0, at - 200):at + 60]
        assert secret not in logged, secret
    requests = bank.requests()
    assert sum(q["operation"] == "verify" for q in requests) > 100
    for q in requests:
        body = json.dumps(q["body"], ensure_ascii=False)
        pin = q["body"].get("pin") if isinstance(q["body"], dict) else None
        assert pin is None or (q["operation"] == "verify" and str(pin).startswith("hmac$")), q
        assert not any(card in body for card in CARD_NUMBERS), q
        if q["operation"] != "verify":
            assert not any(c.pin in body for c in CUSTOMERS), q
