"""The engine's client against the sample bank when it is slow, failing, down or hostile.

Real HTTP on loopback; the service's own request log says how many requests reached it, so
"fails fast without touching the network" and "retried, but done once" are counted, not
assumed. Timeouts here are short (0.3 s) against a service made slower (1 s).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from ivr.backend import Backend, BackendConfig, BackendError
from ivr.errors import UsageError
from samples.bank.seed import PERSONAS, customers

from .bank_server import TOKEN_ENV, BankServer

KO, ZH, EN = PERSONAS


def _client(server: BankServer, **options: Any) -> Backend:
    config = {"token_env": TOKEN_ENV, "timeout_s": 0.3, "retries": 2, "backoff_s": 0.01,
              **options}
    return Backend(BackendConfig(server.url, **config))


def _wait_for(check: Callable[[], bool], within_s: float = 15.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, "the service did not catch up"
        time.sleep(0.05)


def _logged(server: BankServer, since: int) -> list[dict[str, Any]]:
    return server.requests(since)


def test_slow_service_times_out_after_the_retries(bank_api: BankServer) -> None:
    since = bank_api.last_seq()
    bank_api.mode("slow", delay_s=1.0)
    with pytest.raises(BackendError) as e:
        _client(bank_api).call("balance", {"customer_id": ZH.id})
    assert e.value.reason == "timeout" and "after 3 attempts" in e.value.detail
    _wait_for(lambda: len(_logged(bank_api, since)) == 3)


def test_slow_writes_are_retried_but_done_once(bank_api: BankServer) -> None:
    """verify counts failures: three attempts of one wrong-PIN call count one failure."""
    who = list(customers(40))[24]
    number = "+" + who.caller_number
    wrong = "9" * len(who.pin) if who.pin != "9" * len(who.pin) else "8" * len(who.pin)
    since = bank_api.last_seq()
    bank_api.mode("slow", delay_s=1.0)
    with pytest.raises(BackendError) as e:
        _client(bank_api).call("verify", {"caller_number": number, "pin": wrong})
    assert e.value.reason == "timeout"
    _wait_for(lambda: len(_logged(bank_api, since)) == 3)
    replayed = [r["replayed"] for r in _logged(bank_api, since)]
    assert sorted(replayed) == [False, True, True]
    bank_api.mode("ok")
    again = _client(bank_api).call("verify", {"caller_number": number, "pin": wrong})
    assert again["failures"] == 2  # one from the three slow attempts, one now


def test_writes_are_not_repeated_after_sending_when_the_service_does_not_dedupe(
        bank_api: BankServer) -> None:
    since = bank_api.last_seq()
    bank_api.mode("fail")
    with pytest.raises(BackendError) as e:
        _client(bank_api, dedupes=False).call("send_sms", {"customer_id": EN.id,
                                                             "kind": "statement"})
    assert e.value.reason == "http_500" and "after 1 attempt" in e.value.detail
    assert len(_logged(bank_api, since)) == 1


def test_failing_service_is_http_500_after_the_retries(bank_api: BankServer) -> None:
    since = bank_api.last_seq()
    bank_api.mode("fail")
    with pytest.raises(BackendError) as e:
        _client(bank_api).call("freeze_card", {"customer_id": KO.id})
    assert e.value.reason == "http_500" and "unavailable" in e.value.detail
    assert [r["status"] for r in _logged(bank_api, since)] == [500, 500, 500]


def test_down_service_refuses_and_comes_back(bank_api: BankServer) -> None:
    since = bank_api.last_seq()
    bank_api.mode("down")
    client = _client(bank_api)
    with pytest.raises(BackendError) as e:
        client.call("balance", {"customer_id": ZH.id})
    assert e.value.reason == "refused" and "after 3 attempts" in e.value.detail
    assert _logged(bank_api, since) == []
    bank_api.mode("ok")
    assert client.call("balance", {"customer_id": ZH.id})["currency"] == "CNY"


def test_down_for_a_while_comes_back_by_itself(bank_api: BankServer) -> None:
    bank_api.mode("down", for_s=0.5)
    client = _client(bank_api, retries=0)
    with pytest.raises(BackendError):
        client.call("balance", {"customer_id": ZH.id})
    _wait_for(lambda: bank_api.admin("GET", "/admin/health")["up"] is True)
    assert client.call("balance", {"customer_id": ZH.id})["currency"] == "CNY"


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_fails_fast_and_closes(bank_api: BankServer) -> None:
    clock = _Clock()
    config = BackendConfig(bank_api.url, token_env=TOKEN_ENV, timeout_s=2.0, retries=1,
                           backoff_s=0.0, breaker_failures=3, breaker_reset_s=30.0)
    client = Backend(config, clock=clock)
    bank_api.mode("fail")
    since = bank_api.last_seq()
    for _ in range(3):
        with pytest.raises(BackendError) as e:
            client.call("balance", {"customer_id": ZH.id})
        assert e.value.reason == "http_500"
    assert client.breaker.state == "open"
    reached = len(_logged(bank_api, since))
    assert reached == 6  # 3 calls x (1 + 1 retry)
    bank_api.mode("ok")
    for _ in range(5):
        with pytest.raises(BackendError) as e:
            client.call("balance", {"customer_id": ZH.id})
        assert e.value.reason == "breaker_open"
    assert len(_logged(bank_api, since)) == reached  # not one more request reached it
    clock.now += 29.9
    with pytest.raises(BackendError):
        client.call("balance", {"customer_id": ZH.id})
    clock.now += 0.2
    assert client.breaker.state == "half_open"
    assert client.call("balance", {"customer_id": ZH.id})["currency"] == "CNY"
    assert client.breaker.state == "closed"
    assert len(_logged(bank_api, since)) == reached + 1


def test_failed_trial_opens_the_breaker_again(bank_api: BankServer) -> None:
    clock = _Clock()
    config = BackendConfig(bank_api.url, token_env=TOKEN_ENV, retries=0, breaker_failures=1,
                           breaker_reset_s=10.0)
    client = Backend(config, clock=clock)
    bank_api.mode("fail")
    with pytest.raises(BackendError):
        client.call("balance", {"customer_id": ZH.id})
    clock.now += 10
    with pytest.raises(BackendError) as e:
        client.call("balance", {"customer_id": ZH.id})  # the trial, still failing
    assert e.value.reason == "http_500" and client.breaker.state == "open"
    with pytest.raises(BackendError) as e:
        client.call("balance", {"customer_id": ZH.id})
    assert e.value.reason == "breaker_open"


def test_a_4xx_is_not_a_service_failure(bank_api: BankServer) -> None:
    client = _client(bank_api, breaker_failures=2)
    for _ in range(4):
        with pytest.raises(BackendError) as e:
            client.call("balance", {"customer_id": "C99999"})
        assert e.value.reason == "http_4xx"
    assert client.breaker.state == "closed"


@pytest.mark.parametrize("mode", ["huge", "garbage", "array"])
def test_hostile_replies_are_bad_replies(bank_api: BankServer, mode: str) -> None:
    since = bank_api.last_seq()
    bank_api.mode(mode)
    with pytest.raises(BackendError) as e:
        _client(bank_api, timeout_s=5.0).call("balance", {"customer_id": ZH.id})
    assert e.value.reason == "bad_reply"
    assert len(_logged(bank_api, since)) == 1  # never retried: the answer would be the same


def test_reply_over_the_limit_is_a_bad_reply(bank_api: BankServer) -> None:
    with pytest.raises(BackendError) as e:
        _client(bank_api, max_reply_bytes=64).call("transactions",
                                                   {"customer_id": ZH.id, "limit": 10})
    assert e.value.reason == "bad_reply" and "limit 64" in e.value.detail


def test_wrong_token_is_a_4xx(bank_api: BankServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "not-the-token")
    with pytest.raises(BackendError) as e:
        _client(bank_api).call("balance", {"customer_id": ZH.id})
    assert e.value.reason == "http_4xx" and "unauthorized" in e.value.detail


def test_missing_token_is_one_usage_line(bank_api: BankServer,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV)
    with pytest.raises(UsageError, match=f"set \\${TOKEN_ENV}"):
        _client(bank_api)


@pytest.mark.parametrize("url", ["ftp://bank", "http://", "https://u:p@bank", "bank:8765",
                                 "http://bank/?token=x"])
def test_bad_urls_are_usage_errors(url: str) -> None:
    with pytest.raises(UsageError):
        BackendConfig(url)


@pytest.mark.parametrize("option", [{"timeout_s": 0}, {"timeout_s": float("nan")},
                                    {"retries": -1}, {"retries": 11}, {"breaker_failures": 0},
                                    {"backoff_s": -1.0}, {"token_env": "A B"}])
def test_bad_options_are_usage_errors(option: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        BackendConfig("http://127.0.0.1:1", **option)


def test_neither_token_nor_pin_reaches_logs_or_errors(
        bank_api: BankServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = _client(bank_api)
    client.call("verify", {"caller_number": "+" + KO.caller_number, "pin": KO.pin})
    pin = "73515948"  # eight digits nothing else in a log line has by chance
    messages = [repr(client)]
    for mode in ("fail", "garbage", "down"):
        bank_api.mode(mode)
        with pytest.raises(BackendError) as e:
            client.call("verify", {"caller_number": "+" + KO.caller_number, "pin": pin})
        messages.append(str(e.value))
        bank_api.mode("ok")
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("ivr"))
    text = caplog.text + "\n".join(messages)
    assert "verify" in ours and "fail" not in messages[0]
    assert bank_api.token not in text and pin not in text and KO.pin not in ours
    assert '"pin"' not in text
