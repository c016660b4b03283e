"""The desk's notion of who is asking: agents file, signed sessions, CSRF, throttling (a fake
clock; hypothesis for the signatures)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.desk.agents import Agent, AgentStore, parse_skills
from ivr.desk.session_store import SessionStore
from ivr.desk.sessions import Sessions, Throttle, csrf_ok
from ivr.errors import UsageError

from .desk_support import FAST_HASH


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


ALICE = Agent("alice", "agent", frozenset({"fraud", "en"}))
SESSIONS = Sessions(b"k" * 32, clock=Clock())


@given(st.text(min_size=1, max_size=60), st.integers(min_value=0), st.characters())
def test_a_signature_does_not_survive_any_change(value: str, where: int, char: str) -> None:
    signed = SESSIONS.sign(value)
    assert SESSIONS.unsign(signed) == value
    i = where % len(signed)
    changed = signed[:i] + char + signed[i + 1:]
    if changed != signed:
        assert SESSIONS.unsign(changed) is None


def test_sessions_expire_and_end() -> None:
    clock = Clock()
    sessions = Sessions(clock=clock, ttl_s=100)
    session, cookie = sessions.start(ALICE)
    assert sessions.find(cookie) == session and session.lang == "en"
    assert sessions.find(session.token) is None  # the bare token, unsigned
    assert Sessions(clock=clock).find(cookie) is None  # another desk's key
    clock.now += 99
    assert sessions.find(cookie) is not None
    clock.now += 1
    assert sessions.find(cookie) is None
    session, cookie = sessions.start(ALICE)
    assert [a.name for a in sessions.agents()] == ["alice"]
    sessions.end(session)
    assert sessions.find(cookie) is None and sessions.agents() == []


def test_csrf_tokens_must_match_exactly() -> None:
    assert csrf_ok("abc", "abc")
    for given_value in (None, "", "abd", "abc ", b"abc", 1, "abé", "\udcff"):
        assert not csrf_ok("abc", given_value)


def test_throttle_locks_after_the_limit_and_doubles() -> None:
    clock = Clock()
    throttle = Throttle(limit=5, window_s=900, first_lock_s=30, max_lock_s=100, clock=clock)
    for _ in range(4):
        throttle.failed("name:bob", "addr:1")
    assert throttle.locked("name:bob") == 0.0
    throttle.failed("name:bob", "addr:1")
    assert throttle.locked("name:bob") == 30.0 and throttle.locked("addr:1", "x") == 30.0
    clock.now += 30
    assert throttle.locked("name:bob") == 0.0
    for _ in range(5):
        throttle.failed("name:bob")
    assert throttle.locked("name:bob") == 60.0
    clock.now += 60
    for _ in range(5):
        throttle.failed("name:bob")
    assert throttle.locked("name:bob") == 100.0  # capped
    throttle.succeeded("name:bob")
    assert throttle.locked("name:bob") == 0.0


def test_old_failures_are_forgotten() -> None:
    clock = Clock()
    throttle = Throttle(limit=3, window_s=60, clock=clock)
    for _ in range(2):
        throttle.failed("name:bob")
    clock.now += 61
    throttle.failed("name:bob")
    assert throttle.locked("name:bob") == 0.0


def test_agents_file_keeps_only_argon2_hashes(tmp_path: Path) -> None:
    path = tmp_path / "agents.sqlite3"
    store = AgentStore(path, hasher=FAST_HASH)
    store.add("alice", "agent", parse_skills("fraud, en,,zh"), "s3cret-words")
    assert store.verify("alice", "s3cret-words") == Agent("alice", "agent",
                                                         frozenset({"fraud", "en", "zh"}))
    assert store.verify("alice", "s3cret-word") is None
    assert store.verify("nobody", "s3cret-words") is None
    store.close()
    data = path.read_bytes()
    assert b"s3cret-words" not in data and b"$argon2id$" in data
    assert AgentStore(path).get("alice") is not None  # reopened


@pytest.mark.parametrize("call, message", [
    (lambda s: s.add("alice", "agent", frozenset(), "another-password"), "already exists"),
    (lambda s: s.add("bob", "admin", frozenset(), "long-enough"), "role must be one of"),
    (lambda s: s.add("bob", "agent", frozenset(), "short"), "at least 8"),
    (lambda s: s.add("bob smith", "agent", frozenset(), "long-enough"), "agent name must be"),
    (lambda s: s.add("bob", "agent", frozenset({"<b>"}), "long-enough"), "a skill must be"),
])
def test_bad_agents_are_refused(tmp_path: Path, call: object, message: str) -> None:
    store = AgentStore(tmp_path / "agents.sqlite3", hasher=FAST_HASH)
    store.add("alice", "agent", frozenset(), "a-password")
    with pytest.raises(UsageError, match=message):
        call(store)  # type: ignore[operator]


def test_a_file_that_is_not_an_agents_store_is_one_error(tmp_path: Path) -> None:
    other = tmp_path / "plain.txt"
    other.write_text("hello\n", "utf-8")
    with pytest.raises(UsageError, match="not an agents store"):
        AgentStore(other)


def test_sessions_survive_a_desk_restart_and_logout_revokes_them(tmp_path: Path) -> None:
    clock = Clock()
    agents = AgentStore(tmp_path / "agents.sqlite3", hasher=FAST_HASH)
    agents.add("alice", "agent", frozenset({"fraud", "en"}), "long enough pw")
    first = Sessions(clock=clock, ttl_s=100, store=SessionStore(agents))
    session, cookie = first.start(agents.get("alice"))  # type: ignore[arg-type]
    first.set_lang(session, "zh")
    stored = (tmp_path / "agents.sqlite3").read_bytes()
    assert session.token.encode() not in stored and cookie.encode() not in stored

    again = Sessions(clock=clock, ttl_s=100, store=SessionStore(agents))  # the desk restarted
    found = again.find(cookie)
    assert found is not None and (found.agent, found.csrf, found.lang) == (
        session.agent, session.csrf, "zh")
    assert [a.name for a in again.agents()] == ["alice"]  # online, from before the restart
    assert Sessions(clock=clock).find(cookie) is None  # a desk without the file's key

    again.end(found)  # logged out on one desk: dead on every desk on this file
    assert first.find(cookie) is None
    assert Sessions(clock=clock, store=SessionStore(agents)).find(cookie) is None

    _, cookie = first.start(agents.get("alice"))  # type: ignore[arg-type]
    clock.now += 100
    assert Sessions(clock=clock, store=SessionStore(agents)).find(cookie) is None  # expired
    agents.close()


def test_a_removed_agents_session_is_not_found(tmp_path: Path) -> None:
    clock = Clock()
    agents = AgentStore(tmp_path / "agents.sqlite3", hasher=FAST_HASH)
    agents.add("bob", "agent", frozenset({"en"}), "long enough pw")
    sessions = Sessions(clock=clock, store=SessionStore(agents))
    _, cookie = sessions.start(agents.get("bob"))  # type: ignore[arg-type]
    with sqlite3.connect(tmp_path / "agents.sqlite3") as raw:
        raw.execute("DELETE FROM agents WHERE name = 'bob'")
    raw.close()
    assert Sessions(clock=clock, store=SessionStore(agents)).find(cookie) is None
    assert sessions.find(cookie) is None  # the server re-reads the file: revoked here too
    agents.close()
