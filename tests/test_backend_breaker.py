"""The circuit breaker alone: its states against a plain reference, one trial in half-open
even under threads, and the client's one breaker shared by every thread's calls."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.backend import Backend, BackendConfig, CircuitBreaker, shared_backend
from samples.bank.seed import PERSONAS

from .bank_server import TOKEN_ENV, BankServer


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _Reference:
    """The rule written out plainly: count failures of calls let through; N open it; after
    reset one trial; its outcome closes or reopens."""

    def __init__(self, limit: int, reset: float) -> None:
        self.limit, self.reset = limit, reset
        self.failures, self.opened, self.trial = 0, None, False

    def allow(self, now: float) -> bool:
        if self.opened is None:
            return True
        if now - self.opened >= self.reset and not self.trial:
            self.trial = True
            return True
        return False

    def report(self, ok: bool, now: float) -> None:
        if ok:
            self.failures, self.opened, self.trial = 0, None, False
            return
        self.failures += 1
        if self.trial or self.failures >= self.limit:
            self.opened = now
        self.trial = False


events = st.lists(st.one_of(st.just("ok"), st.just("fail"), st.floats(0.0, 20.0)), max_size=60)


@given(st.integers(1, 5), events)
def test_breaker_follows_the_reference(limit: int, steps: list[str | float]) -> None:
    clock = _Clock()
    breaker, reference = CircuitBreaker(limit, 10.0, clock), _Reference(limit, 10.0)
    for step in steps:
        if isinstance(step, float):
            clock.now += step
            continue
        allowed = breaker.allow()
        assert allowed == reference.allow(clock.now)
        if allowed:  # only calls let through are reported, as Backend.call does
            (breaker.success if step == "ok" else breaker.failure)()
            reference.report(step == "ok", clock.now)


def test_open_after_n_failures_in_a_row_only() -> None:
    breaker = CircuitBreaker(3, 10.0, _Clock())
    for _ in range(5):
        breaker.failure()
        breaker.failure()
        breaker.success()
    assert breaker.state == "closed"
    for _ in range(3):
        breaker.failure()
    assert breaker.state == "open" and not breaker.allow()


def test_half_open_lets_exactly_one_trial_through_under_threads() -> None:
    clock = _Clock()
    breaker = CircuitBreaker(1, 5.0, clock)
    breaker.failure()
    clock.now = 5.0
    start = threading.Barrier(16)

    def ask() -> bool:
        start.wait()
        return breaker.allow()
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: ask(), range(16)))
    assert answers.count(True) == 1


def test_invalid_limits() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(0, 1.0)


def test_one_breaker_for_every_thread(bank_api: BankServer) -> None:
    """Calls from many threads share one pool and one breaker; failures from all of them count
    together and open it for all."""
    client = Backend(BackendConfig(bank_api.url, token_env=TOKEN_ENV, retries=0,
                                   breaker_failures=8, breaker_reset_s=60.0))
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda _: client.call("balance", {"customer_id": PERSONAS[1].id}),
                                range(32)))
    assert {r["currency"] for r in replies} == {"CNY"}
    bank_api.mode("fail")

    def fail(_: int) -> str:
        try:
            client.call("balance", {"customer_id": PERSONAS[1].id})
        except Exception as e:
            return getattr(e, "reason", "?")
        return "ok"
    with ThreadPoolExecutor(8) as pool:
        reasons = list(pool.map(fail, range(32)))
    assert reasons.count("http_500") >= 8 and "breaker_open" in reasons
    assert client.breaker.state == "open"


def test_shared_backend_is_one_per_config(bank_api: BankServer) -> None:
    config = BackendConfig(bank_api.url, token_env=TOKEN_ENV)
    assert shared_backend(config) is shared_backend(BackendConfig(bank_api.url,
                                                                  token_env=TOKEN_ENV))
    assert shared_backend(config).breaker is shared_backend(config).breaker


def test_config_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IVR_BANK_URL", raising=False)
    assert BackendConfig.from_env() is None
    monkeypatch.setenv("IVR_BANK_URL", "https://gateway.bank.example")
    config = BackendConfig.from_env(timeout_s=1.5)
    assert config is not None and config.tls and config.timeout_s == 1.5
    assert BackendConfig.from_env("http://127.0.0.1:8765") == BackendConfig("http://127.0.0.1:8765")
