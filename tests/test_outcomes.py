"""The call-outcome log beside the queue, run against every backend (real SQLite, real
redis-server), and the session side: every call that ends writes one record.

What a supervisor reads (containment, transfers by reason, navigation accuracy, busiest nodes)
is computed from these records, so each figure is checked here against hand-counted calls.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import redis

from ivr.call import Hotline, Say
from ivr.errors import QueueError
from ivr.flow import load_flow
from ivr.handoff import CallOutcome, open_queue
from ivr.handoff.outcome_figures import call_figures
from ivr.handoff.redis import RedisQueue
from ivr.handoff.redis_outcomes import RedisOutcomeLog, outcome_keys
from ivr.handoff.sqlite_schema import SCHEMA_VERSION
from ivr.qa.script import load_scripts

from .conftest import BANK, ROOT
from .redis_server import RedisServer
from .test_handoff_shared import CARD, STORES, FixedClock, Store, handoff

T0 = 1_700_000_000.0


def outcome(call_id: str, kind: str = "contained", node: str = "balance_inquiry", *,
            at: float = T0, **changes: object) -> CallOutcome:
    base = CallOutcome(call_id=call_id, at=at, lang="ko", node=node, kind=kind,  # type: ignore[arg-type]
                       turns=2, duration_s=3.5)
    return replace(base, **changes)  # type: ignore[arg-type]


# -- every backend ----------------------------------------------------------------------------


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh queue store per backend (the shared queue suite's URLs): the log lives there."""
    s = Store(STORES[request.param](request, tmp_path))
    yield s
    for queue in s.opened:
        queue.close()


def test_a_record_round_trips_and_a_retry_keeps_one(store: Store) -> None:
    log = store.open(FixedClock(T0 + 10)).outcomes
    o = outcome("c-1", "handed_off", "card_loss", reason="caller_asked", queue="cards",
                overlays=("elderly_green_channel",), expected_node="card_loss")
    assert log.record(o) is True
    assert log.record(replace(o, turns=9)) is False  # a retried write: one record, the first
    assert log.since(T0 - 1) == [o]


def test_the_version_grows_with_each_new_record_only(store: Store) -> None:
    clock = FixedClock(T0)
    log = store.open(clock).outcomes
    assert log.version() == 0
    log.record(outcome("c-1"))
    first = log.version()
    log.record(outcome("c-1"))  # a retry: nothing new
    assert log.version() == first > 0
    clock.now = T0 + log.retention_s + 1  # the next write drops c-1: the version still grows
    log.record(outcome("c-2", at=clock.now))
    assert log.version() > first
    assert store.open().outcomes.version() == log.version()  # every process sees it


def test_since_is_a_time_window_oldest_first(store: Store) -> None:
    log = store.open(FixedClock(T0 + 100)).outcomes
    for n, at in enumerate((T0 + 50, T0 + 10, T0 + 30)):
        log.record(outcome(f"c-{n}", at=at))
    assert [o.call_id for o in log.since(T0 + 20)] == ["c-2", "c-0"]
    assert [o.call_id for o in log.since(T0, limit=1)] == ["c-1"]
    assert log.since(T0 + 60) == []


def test_old_records_are_dropped_on_writing(store: Store) -> None:
    clock = FixedClock(T0)
    log = store.open(clock).outcomes
    log.record(outcome("old", at=T0))
    clock.now = T0 + log.retention_s + 1
    log.record(outcome("new", at=clock.now))
    assert [o.call_id for o in log.since(0.0)] == ["new"]  # bounded: "old" is gone


def test_digits_never_reach_the_log(store: Store) -> None:
    log = store.open(FixedClock(T0)).outcomes
    log.record(outcome("c-9", "handed_off", f"node {CARD}", reason=f"pin 4321 {CARD}"))
    (got,) = log.since(0.0)
    assert CARD[-8:] not in got.node + got.reason and "4321" not in got.reason
    assert got.call_id == "c-9"  # the engine's id is kept: masking would merge c-1 and c-2


@pytest.mark.parametrize("bad", [{"kind": "maybe"}, {"lang": "fr"}, {"at": float("nan")},
                                 {"turns": -1}, {"call_id": ""}, {"duration_s": -2.0}])
def test_invalid_records_are_refused(store: Store, bad: dict[str, object]) -> None:
    log = store.open().outcomes
    with pytest.raises(QueueError, match="invalid call outcome"):
        log.record(replace(outcome("c-1"), **bad))  # type: ignore[arg-type]


def test_the_log_is_shared_by_every_process_on_one_url(store: Store) -> None:
    store.open(FixedClock(T0)).outcomes.record(outcome("engine-a"))
    store.open(FixedClock(T0)).outcomes.record(outcome("engine-b", at=T0 + 1))
    assert [o.call_id for o in store.open().outcomes.since(0.0)] == ["engine-a", "engine-b"]


# -- the figures --------------------------------------------------------------------------------


def test_figures_are_counted_as_by_hand() -> None:
    calls = [
        outcome("a", expected_node="balance_inquiry"),  # labelled, reached
        outcome("b", node="card_loss", expected_node="card_loss"),  # labelled, reached
        outcome("c", "handed_off", "root", reason="low_confidence", expected_node="transfer"),
        outcome("d", "handed_off", "card_loss", reason="caller_asked"),
        outcome("e", "failed", "root", reason="asr_error", queue="general"),
        outcome("f", "caller_hung_up", "root", reason="caller_hung_up"),
        outcome("g", "handed_off", "root", reason="low_confidence"),
    ]
    f = call_figures(calls, window_s=3600, top=2)
    assert f.calls == 7 and dict(f.by_kind) == {"contained": 2, "handed_off": 3,
                                                 "caller_hung_up": 1, "failed": 1}
    assert f.containment == pytest.approx(2 / 7)
    assert f.transfers == (("low_confidence", 2), ("asr_error", 1), ("caller_asked", 1))
    assert (f.labelled, f.navigated, f.navigation_accuracy) == (3, 2, pytest.approx(2 / 3))
    assert f.busiest == (("root", 4), ("card_loss", 2))
    empty = call_figures([])
    assert (empty.containment, empty.navigation_accuracy, empty.busiest) == (None, None, ())


# -- the session writes one record per call -----------------------------------------------------


def test_every_call_that_ends_is_recorded(tmp_path: Path) -> None:
    queue = open_queue(tmp_path / "q.sqlite3")
    hotline = Hotline(load_flow(BANK), queue=queue)
    hotline.run("t-contained", "en", [Say("check my balance"), Say("yes")],
                label="balance_inquiry")
    hotline.run("t-asked", "en", [Say("let me talk to a person please")], label="card_loss")
    hotline.run("t-hung", "en", [])
    call = hotline.open_call("t-failed", "en")
    call.start()
    call.fail("asr_error", "recogniser died")
    call.hang_up()
    call.hang_up()  # twice: still one record
    got = {o.call_id: o for o in queue.outcomes.since(0.0)}
    assert {k: (o.kind, o.node, o.reason) for k, o in got.items()} == {
        "t-contained": ("contained", "balance_inquiry", ""),
        "t-asked": ("handed_off", "human_agent", "caller_asked"),
        "t-hung": ("caller_hung_up", "root", "caller_hung_up"),
        "t-failed": ("failed", "root", "asr_error"),
    }
    assert got["t-contained"].navigated is True and got["t-asked"].navigated is False
    assert got["t-hung"].expected_node is None and got["t-contained"].turns == 2
    assert all(o.lang == "en" and o.duration_s >= 0 for o in got.values())
    queue.close()


def test_a_log_that_cannot_be_written_never_costs_the_call(tmp_path: Path) -> None:
    queue = open_queue(tmp_path / "q.sqlite3")
    hotline = Hotline(load_flow(BANK), queue=queue)
    with sqlite3.connect(tmp_path / "q.sqlite3") as raw:
        raw.execute("DROP TABLE call_outcomes")
    raw.close()
    result = hotline.run("t-1", "en", [Say("I lost my card"), Say("yes")])
    assert result.outcome.type == "node"  # the caller was served; the figure is lost, logged
    queue.close()


def test_handoffs_carry_the_calls_overlays(tmp_path: Path) -> None:
    flow = replace(load_flow(BANK), overlays=("elderly_green_channel",))
    queue = open_queue(tmp_path / "q.sqlite3")
    Hotline(flow, queue=queue).run("t-1", "en", [Say("let me talk to a person please")])
    (waiting,) = queue.list()
    assert waiting.handoff.overlays == ("elderly_green_channel",)
    (o,) = queue.outcomes.since(0.0)
    assert o.overlays == ("elderly_green_channel",)
    queue.close()


# -- SQLite schema 2 -> 3 -------------------------------------------------------------------------


def test_a_version_2_file_is_migrated_in_place(tmp_path: Path) -> None:
    db = tmp_path / "v2.sqlite3"
    with open_queue(db, clock=FixedClock(T0)) as q:  # type: ignore[attr-defined]
        q.put(handoff("w1"))
    with sqlite3.connect(db) as raw:  # back to what a version-2 ivr left
        raw.execute("DROP TABLE call_outcomes")
        raw.execute("UPDATE schema_version SET version = 2")
        record = raw.execute("SELECT record FROM handoffs").fetchone()[0]
        raw.execute("UPDATE handoffs SET record = json_remove(?, '$.overlays')", (record,))
    raw.close()
    with open_queue(db, clock=FixedClock(T0)) as q:  # type: ignore[attr-defined]
        (w1,) = q.list()
        assert w1.handoff == handoff("w1")  # filed before overlays were kept: none
        assert q.outcomes.record(outcome("c-1")) is True
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT version FROM schema_version").fetchall() == [(3,)]
    raw.close()
    assert SCHEMA_VERSION == 3


def test_handoff_overlays_round_trip(store: Store) -> None:
    queue = store.open()
    filed = handoff("c-1", overlays=("elderly_green_channel", "holiday"))
    queue.put(filed)
    got = queue.get("c-1")
    assert got is not None and got.handoff.overlays == filed.overlays
    assert queue.put(filed) is False  # a retry with the same overlays is the same record


# -- Redis layout 2 -> 3 -----------------------------------------------------------------------


def test_a_layout_2_prefix_is_migrated(redis_server: RedisServer) -> None:
    prefix = f"v2-{redis_server.url().rsplit('=', 1)[1]}"  # a fresh prefix
    with RedisQueue(redis_server.url(prefix=prefix), clock=FixedClock(T0)) as q:
        q.put(handoff("w1"))
    raw = redis.Redis(host="127.0.0.1", port=redis_server.port)
    raw.set(f"{prefix}:schema", "2")  # what a layout-2 ivr left (records without overlays)
    rid = raw.hget(f"{prefix}:calls", "w1")
    assert rid is not None
    stored = json.loads(raw.hget(f"{prefix}:record:{rid.decode()}", "record") or b"{}")
    stored.pop("overlays")
    raw.hset(f"{prefix}:record:{rid.decode()}", "record", json.dumps(stored))
    with RedisQueue(redis_server.url(prefix=prefix), clock=FixedClock(T0)) as q:
        assert raw.get(f"{prefix}:schema") == b"3"
        (w1,) = q.list()
        assert w1.handoff == handoff("w1")  # filed before overlays were kept: none
        assert q.outcomes.record(outcome("c-1")) is True
    raw.close()


# -- the QA runner labels its calls -------------------------------------------------------------


def test_ivr_test_records_each_call_with_its_scripts_label(tmp_path: Path) -> None:
    from ivr.cli import main

    suite = ROOT / "tests" / "calls" / "en_text.yaml"
    db = tmp_path / "qa.sqlite3"
    main(["test", str(suite), "--flow", str(BANK), "-j", "1", "--queue", str(db)])
    scripts = load_scripts(str(suite))
    with open_queue(db) as q:  # type: ignore[attr-defined]
        got = {o.call_id: o for o in q.outcomes.since(0.0)}
    assert set(got) == {s.call_id for s in scripts}  # every call, labelled or not
    for s in scripts:
        assert got[s.call_id].expected_node == s.expected_node, s.call_id
    labelled = [o for o in got.values() if o.expected_node is not None]
    assert labelled and any(o.navigated for o in labelled)
    assert got["en-balance"].expected_node == "balance_inquiry"


def test_the_redis_log_is_bounded_in_count_too(redis_server: RedisServer) -> None:
    with RedisQueue(redis_server.url(), clock=FixedClock(T0)) as q:
        log = RedisOutcomeLog(q.prefix, q.using, FixedClock(T0), "test", max_records=3)
        for n in range(5):
            assert log.record(outcome(f"c-{n}", at=T0 + n)) is True
        assert [o.call_id for o in log.since(0.0)] == ["c-2", "c-3", "c-4"]  # oldest dropped
        raw = redis.Redis(host="127.0.0.1", port=redis_server.port)
        zset, records = outcome_keys(q.prefix)
        assert raw.zcard(zset) == 3 and raw.hlen(records) == 3  # nothing left behind
        raw.close()
