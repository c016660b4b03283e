"""The agent desk over real HTTP handling (starlette's TestClient), a real SQLite queue and the
bank flow: login, cookies, CSRF, throttling, skills, escaping, masking, actions, metrics.
Every test runs over both queue backends (SQLite and a real redis-server)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from ivr.desk.app import CSP, build_app
from ivr.desk.i18n import STRINGS
from ivr.flow import Flow
from ivr.handoff import CallOutcome
from ivr.types import Slot

from .desk_support import CARD, HOSTILE, PASSWORD, Floor, csrf_of, handoff, make_floor


@pytest.fixture(params=["sqlite", "redis"])
def floor(request: pytest.FixtureRequest, tmp_path: Path, bank: Flow) -> Iterator[Floor]:
    """The desk over each queue backend: a SQLite file, and a real redis-server."""
    url = request.getfixturevalue("redis_server").url() if request.param == "redis" else None
    f = make_floor(tmp_path, bank, queue_url=url)
    yield f
    f.queue.close()


def client(floor: Floor) -> TestClient:
    return TestClient(build_app(floor.desk), base_url="http://127.0.0.1",
                      follow_redirects=False)


def login(c: TestClient, name: str, password: str = PASSWORD) -> int:
    token = csrf_of(c.get("/login").text)
    return c.post("/login", data={"name": name, "password": password, "csrf": token}).status_code


def agent(floor: Floor, name: str) -> TestClient:
    c = client(floor)
    assert login(c, name) == 303
    return c


def test_login_sets_a_strict_httponly_expiring_cookie(floor: Floor) -> None:
    c = client(floor)
    page = c.get("/login")
    assert "httponly" in page.headers["set-cookie"].lower()
    token = csrf_of(page.text)
    r = c.post("/login", data={"name": "alice", "password": PASSWORD, "csrf": token})
    assert r.status_code == 303
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("ivr_desk="))
    flags = cookie.lower()
    assert "httponly" in flags and "samesite=strict" in flags and "max-age=28800" in flags
    assert c.get("/desk").status_code == 200


def test_pages_need_a_login(floor: Floor) -> None:
    c = client(floor)
    for path in ("/desk", "/queues/general", "/call?id=x", "/supervisor"):
        r = c.get(path)
        assert (r.status_code, r.headers["location"]) == (303, "/login"), path
    assert c.get("/events").status_code == 401


def test_a_forged_or_logged_out_cookie_is_worthless(floor: Floor) -> None:
    c = agent(floor, "bob")
    cookie = c.cookies["ivr_desk"]
    token, _, mac = cookie.rpartition(".")
    forged = client(floor)
    forged.cookies.set("ivr_desk", f"{token}.{'0' * len(mac)}")
    assert forged.get("/desk").status_code == 303
    csrf = csrf_of(c.get("/desk").text)
    assert c.post("/logout", data={"csrf": csrf}).status_code == 303
    again = client(floor)
    again.cookies.set("ivr_desk", cookie)
    assert again.get("/desk").status_code == 303


def test_post_without_the_csrf_token_is_refused_and_changes_nothing(floor: Floor) -> None:
    floor.queue.put(handoff("c1"))
    c = agent(floor, "bob")
    assert c.post("/take", data={}).status_code == 403
    assert c.post("/take", data={"csrf": "wrong"}).status_code == 403
    assert c.post("/take", data={"csrf": "wrongé"}).status_code == 403  # was a 500
    assert [q.handoff.call_id for q in floor.queue.list(None, "waiting")] == ["c1"]
    assert c.post("/logout", data={}).status_code == 403
    assert c.get("/desk").status_code == 200  # still logged in
    fresh = client(floor)
    fresh.get("/login")
    r = fresh.post("/login", data={"name": "bob", "password": PASSWORD})
    assert r.status_code == 403  # the login form needs its token too


def test_wrong_passwords_are_throttled_and_counted(floor: Floor) -> None:
    c = client(floor)
    assert [login(c, "bob", "guess-guess") for _ in range(5)] == [401] * 5
    assert login(c, "bob") == 429  # locked: even the right password waits
    assert login(c, "nobody-at-all", "whatever-pw") == 429  # the address is locked too
    metrics = client(floor).get("/metrics").text
    assert "ivr_desk_login_failures_total 7.0" in metrics


def test_an_agent_sees_only_the_queues_and_languages_their_skills_allow(floor: Floor) -> None:
    floor.queue.put(handoff("fraud-1", "fraud"))
    floor.queue.put(handoff("zh-1", "general", "zh", heard=("我的卡丢了",)))
    floor.queue.put(handoff("en-1", "general", "en"))
    bob, alice = agent(floor, "bob"), agent(floor, "alice")
    page = bob.get("/desk").text
    assert 'data-queue="fraud"' not in page and "fraud-1" not in page
    assert "en-1" in page and "zh-1" not in page
    assert bob.get("/queues/fraud").status_code == 403
    assert bob.get("/events?view=queue&arg=fraud").status_code == 403
    assert bob.post("/take", data={"csrf": csrf_of(page), "queue": "fraud"}).status_code == 403
    r = bob.post("/take", data={"csrf": csrf_of(page)})
    assert r.headers["location"] == "/call?id=en-1"  # not the urgent fraud caller, not zh
    page = alice.get("/desk").text
    assert "fraud-1" in page and "zh-1" in page
    assert alice.get("/queues/fraud").status_code == 200
    r = alice.post("/take", data={"csrf": csrf_of(page)})
    assert r.headers["location"] == "/call?id=fraud-1"  # urgent first


def test_hostile_caller_text_is_text_and_the_card_shows_its_last_four(floor: Floor) -> None:
    floor.queue.put(handoff("evil", heard=(HOSTILE, f"my card is {CARD}"),
                            slots=(Slot("card_number", CARD.replace(" ", ""), "****1234"),)))
    c = agent(floor, "bob")
    c.post("/take", data={"csrf": csrf_of(c.get("/desk").text)})
    r = c.get("/call?id=evil")
    assert r.status_code == 200
    assert r.headers["content-security-policy"] == CSP and "'unsafe-inline'" not in CSP
    assert "<script>document" not in r.text and "<img src=x" not in r.text
    assert "&lt;script&gt;document.title=&#34;pwned&#34;&lt;/script&gt;" in r.text
    assert "4111" not in r.text and "1234" in r.text
    assert "root → card_loss" in r.text and "0.62" in r.text


def test_another_agents_call_is_not_yours(floor: Floor) -> None:
    floor.queue.put(handoff("c1"))
    alice, bob = agent(floor, "alice"), agent(floor, "bob")
    alice.post("/take", data={"csrf": csrf_of(alice.get("/desk").text)})
    assert bob.get("/call?id=c1").status_code == 403
    r = bob.post("/call/close", data={"csrf": csrf_of(bob.get("/desk").text), "id": "c1",
                                      "disposition": "resolved"})
    assert r.status_code == 409
    assert floor.queue.get("c1").status == "taken"  # type: ignore[union-attr]


def test_close_transfer_release(floor: Floor) -> None:
    for call_id in ("a", "b", "c"):
        floor.queue.put(handoff(call_id))
    c = agent(floor, "alice")
    csrf = csrf_of(c.get("/desk").text)
    for _ in range(3):
        c.post("/take", data={"csrf": csrf})
    assert c.post("/call/close", data={"csrf": csrf, "id": "a", "disposition": "made-up"}
                  ).status_code == 409
    assert c.post("/call/close", data={"csrf": csrf, "id": "a", "disposition": "resolved"}
                  ).status_code == 303
    assert c.post("/call/transfer", data={"csrf": csrf, "id": "b", "queue": "fraud"}
                  ).status_code == 303
    assert c.post("/call/release", data={"csrf": csrf, "id": "c"}).status_code == 303
    got = {k: floor.queue.get(k) for k in "abc"}
    assert got["a"].status == "done" and got["a"].disposition == "resolved"  # type: ignore[union-attr]
    assert (got["b"].status, got["b"].handoff.queue) == ("waiting", "fraud")  # type: ignore[union-attr]
    assert got["c"].status == "waiting"  # type: ignore[union-attr]
    events = [e.event for e in floor.queue.history("a")]
    assert events == ["filed", "taken", "done"]
    metrics = client(floor).get("/metrics").text
    assert 'ivr_desk_closes_total{disposition="resolved"} 1.0' in metrics
    assert "ivr_desk_takes_total 3.0" in metrics
    assert 'ivr_desk_queue_depth{queue="fraud",status="waiting"} 1.0' in metrics


def test_supervisor_page_is_for_supervisors(floor: Floor) -> None:
    floor.queue.put(handoff("f1", "fraud", reason="priority_intent"))
    floor.queue.put(handoff("g1"))
    alice = agent(floor, "alice")
    alice.post("/take", data={"csrf": csrf_of(alice.get("/desk").text)})
    assert alice.get("/supervisor").status_code == 403
    assert alice.get("/events?view=supervisor").status_code == 403
    page = agent(floor, "sue").get("/supervisor").text
    assert 'data-queue="fraud"' in page and 'data-queue="general"' in page
    assert "alice" in page and "f1" in page  # who holds what
    assert "priority_intent: 1" in page and "low_confidence: 1" in page
    assert "card_loss: 2" in page  # the busiest nodes


def test_supervisor_sees_the_windows_calls(floor: Floor) -> None:
    now = time.time()
    log = floor.queue.outcomes
    for call_id, kind, node, reason, label, ago in (
            ("k1", "contained", "card_loss", "", "card_loss", 60),
            ("k2", "contained", "card_loss", "", None, 120),
            ("k3", "handed_off", "human_agent", "caller_asked", "balance_inquiry", 300),
            ("k4", "failed", "root", "asr_error", None, 30),
            ("old", "contained", "password_reset", "", "password_reset", 7200)):  # outside
        log.record(CallOutcome(call_id, now - ago, "ko", node, kind, reason,  # type: ignore[arg-type]
                               expected_node=label))
    sue = agent(floor, "sue")
    figures = sue.get("/supervisor.json").json()["calls"]
    assert figures["calls"] == 4 and figures["containment"] == 0.5
    assert figures["by_kind"] == {"contained": 2, "handed_off": 1, "caller_hung_up": 0,
                                  "failed": 1}
    assert figures["transfers"] == [{"reason": "asr_error", "calls": 1},
                                    {"reason": "caller_asked", "calls": 1}]
    assert figures["navigation"] == {"labelled": 2, "reached": 1, "accuracy": 0.5}
    assert figures["busiest"][0] == {"node": "card_loss", "calls": 2}
    page = sue.get("/supervisor").text
    assert 'id="containment">50 %' in page and "(1/2 " in page and "card_loss: 2" in page
    assert "password_reset" not in page.split('id="calls"')[1]  # two hours ago: not shown
    metrics = client(floor).get("/metrics").text
    assert 'ivr_desk_window_calls{kind="failed",window_s="3600"} 1.0' in metrics
    assert 'ivr_desk_window_containment_ratio{window_s="3600"} 0.5' in metrics
    assert 'ivr_desk_window_navigation_accuracy{window_s="3600"} 0.5' in metrics
    assert 'ivr_desk_window_transfers{reason="asr_error",window_s="3600"} 1.0' in metrics
    alice = agent(floor, "alice")
    assert alice.get("/supervisor.json").status_code == 403
    assert client(floor).get("/supervisor.json").status_code == 401


def test_a_call_the_engine_finished_changes_the_live_snapshot(floor: Floor) -> None:
    before = floor.desk.floor.snapshot().key()
    floor.queue.outcomes.record(CallOutcome("k1", time.time(), "en", "card_loss", "contained"))
    assert floor.desk.floor.snapshot().key() != before  # the hub wakes the pages at once


def test_no_labels_no_accuracy(floor: Floor) -> None:
    floor.queue.outcomes.record(CallOutcome("k1", time.time(), "en", "root", "caller_hung_up",
                                            "caller_hung_up"))
    figures = agent(floor, "sue").get("/supervisor.json").json()["calls"]
    assert figures["navigation"] == {"labelled": 0, "reached": 0, "accuracy": None}
    assert "ivr_desk_window_navigation_accuracy" not in client(floor).get("/metrics").text


def test_the_call_page_shows_the_records_overlays(floor: Floor) -> None:
    floor.queue.put(replace(handoff("o1"), overlays=("elderly_green_channel",)))
    bob = agent(floor, "bob")
    bob.post("/take", data={"csrf": csrf_of(bob.get("/desk").text)})
    page = bob.get("/call?id=o1").text
    assert '<p id="overlays">elderly_green_channel</p>' in page


def test_labels_follow_the_agents_language(floor: Floor) -> None:
    floor.queue.put(handoff("c1"))
    c = agent(floor, "alice")
    csrf = csrf_of(c.get("/desk").text)
    assert c.post("/lang", data={"csrf": csrf, "lang": "zh", "next": "/desk"}
                  ).headers["location"] == "/desk"
    page = c.get("/desk").text
    assert "接听下一位" in page and "挂失" in page  # the UI table and the flow's intent label
    c.post("/lang", data={"csrf": csrf, "lang": "ko", "next": "//evil.example/"})
    assert "다음 고객 받기" in c.get("/desk").text


def test_every_ui_string_exists_in_every_language() -> None:
    assert all(all(text.strip() for text in entry) for entry in STRINGS.values())


def test_an_agent_stays_logged_in_across_a_desk_restart(floor: Floor, bank: Flow) -> None:
    from ivr.desk.agents import AgentStore
    from ivr.desk.commands import build_desk

    from .desk_support import FAST_HASH

    alice = agent(floor, "alice")
    restarted = build_desk(floor.queue, bank, AgentStore(floor.agents_path, hasher=FAST_HASH))
    again = TestClient(build_app(restarted), base_url="http://127.0.0.1",
                       follow_redirects=False, cookies=alice.cookies)
    page = again.get("/desk")
    assert page.status_code == 200 and "alice" in page.text
    assert again.post("/logout", data={"csrf": csrf_of(page.text)}).status_code == 303
    assert alice.get("/desk").status_code == 303  # revoked on the first desk too
