"""Shared fixtures: the flows under test, paths, a real redis-server, the sample bank."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.flow import Flow, load_flow

from .bank_server import TOKEN_ENV, BankServer
from .redis_server import REDIS_SERVER, RedisServer

ROOT = Path(__file__).resolve().parent.parent
FLOWS = ROOT / "tests" / "flows"
BANK = ROOT / "flows" / "bank_hotline.yaml"


@pytest.fixture(scope="session")
def mini() -> Flow:
    return load_flow(FLOWS / "mini.yaml")


@pytest.fixture(scope="session")
def bank() -> Flow:
    return load_flow(BANK)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server on 127.0.0.1 for the whole session (skipped when not installed)."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def bank_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BankServer]:
    """The sample bank back-end (samples/bank) as a real process for the whole session."""
    server = BankServer(tmp_path_factory.mktemp("bank")).start()
    yield server
    server.stop()


@pytest.fixture
def bank_api(bank_service: BankServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[BankServer]:
    """The session's sample bank, its token in the environment, back in mode ok afterwards."""
    monkeypatch.setenv(TOKEN_ENV, bank_service.token)
    yield bank_service
    bank_service.mode("ok")
