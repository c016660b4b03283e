"""The human queue: idempotent filing, serving order, one agent per record, safe storage."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.errors import QueueError
from ivr.handoff import (
    DEFAULT_QUEUE_PATH,
    HandoffQueue,
    QueuedHandoff,
    default_queue_path,
    open_queue,
)
from ivr.handoff.format import (
    format_handoff,
    format_stats,
    format_summary,
    handoff_to_json,
)
from ivr.handoff.sqlite import SqliteQueue
from ivr.privacy import mask_sensitive, mask_slot
from ivr.types import LANGS, Candidate, Handoff, Priority, Slot

CARD = "6222021234567894"


class Clock:
    """A settable clock, so times in tests are exact."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def handoff(call_id: str = "c1", **changes: Any) -> Handoff:
    base = Handoff(
        call_id=call_id,
        queue="cards",
        priority=Priority.NORMAL,
        reason="low_confidence",
        lang="zh",
        heard=("我想问一下", "信用卡"),
        candidates=(Candidate("card_info", 0.61), Candidate("lost_card", 0.42)),
        path=("welcome", "main_menu"),
        slots=(Slot("card_tail", "1234", "1234"),),
        intent="card_info",
        created_at=1_700_000_000.0,
    )
    return replace(base, **changes)


QueueFactory = Callable[[Path], HandoffQueue]


@pytest.fixture(params=["sqlite"])
def make_queue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[QueueFactory]:
    """Opens queues of one backend; every test here runs against every backend."""
    opened: list[HandoffQueue] = []

    def make(path: Path = tmp_path / "q" / "handoff.sqlite3") -> HandoffQueue:
        queue = open_queue(path) if request.param == "sqlite" else None
        assert queue is not None
        opened.append(queue)
        return queue

    yield make
    for queue in opened:
        queue.close()


@pytest.fixture
def queue(make_queue: QueueFactory, tmp_path: Path) -> HandoffQueue:
    return make_queue(tmp_path / "q" / "handoff.sqlite3")


def test_put_is_idempotent_on_call_id(queue: HandoffQueue) -> None:
    first = handoff("c1")
    assert queue.put(first) is True
    assert queue.put(replace(first, queue="loans", reason="caller_asked")) is False
    [stored] = queue.list(queue=None)
    assert stored.handoff == first
    assert stored.status == "waiting" and stored.taken_by is None and stored.taken_at is None


def test_round_trip_is_exact(queue: HandoffQueue) -> None:
    h = handoff(
        priority=Priority.URGENT,
        lang="ko",
        heard=("카드를 잃어버렸어요", "네"),
        slots=(Slot("card_tail", "1234", "1234"), Slot("amount", "500", "500")),
        intent=None,
        created_at=1_700_000_123.25,
    )
    queue.put(h)
    stored = queue.list()[0].handoff
    assert stored == h
    assert type(stored.priority) is Priority and type(stored.heard) is tuple


safe_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=20)
handoffs = st.builds(
    Handoff,
    call_id=safe_text.filter(bool),
    queue=safe_text.filter(bool),
    priority=st.sampled_from(Priority),
    reason=safe_text,
    lang=st.sampled_from(LANGS),
    heard=st.lists(safe_text, max_size=4).map(tuple),
    candidates=st.lists(
        st.builds(Candidate, intent=safe_text, score=st.floats(0, 1)), max_size=3
    ).map(tuple),
    path=st.lists(safe_text, max_size=4).map(tuple),
    slots=st.lists(st.builds(Slot, name=safe_text, value=safe_text, masked=safe_text), max_size=3)
    .map(tuple),
    intent=st.none() | safe_text,
    created_at=st.floats(1, 4e9),
)


@settings(max_examples=50, suppress_health_check=[HealthCheck.too_slow])
@given(h=handoffs)
def test_round_trip_property(h: Handoff) -> None:
    with SqliteQueue(":memory:") as queue:
        assert queue.put(h)
        [stored] = queue.list()
    expected = replace(
        h,
        heard=tuple(mask_sensitive(t) for t in h.heard),
        slots=tuple(mask_slot(s) for s in h.slots),
    )
    assert stored.handoff == expected


def test_serving_order_urgent_fraud_first(queue: HandoffQueue) -> None:
    queue.put(handoff("normal-early", created_at=100.0))
    queue.put(handoff("low", priority=Priority.LOW, created_at=50.0))
    queue.put(handoff("normal-late", created_at=200.0))
    queue.put(handoff("tie-a", priority=Priority.HIGH, created_at=150.0))
    queue.put(handoff("tie-b", priority=Priority.HIGH, created_at=150.0))
    queue.put(
        handoff("fraud", priority=Priority.URGENT, reason="priority_intent", created_at=300.0)
    )
    order = ["fraud", "tie-a", "tie-b", "normal-early", "normal-late", "low"]
    assert [q.handoff.call_id for q in queue.list()] == order
    taken = [queue.take(agent="a7") for _ in order]
    assert [q.handoff.call_id for q in taken if q] == order
    assert queue.take(agent="a7") is None


def test_take_claims_one_record(queue: HandoffQueue) -> None:
    queue.put(handoff("c1", queue="cards"))
    queue.put(handoff("c2", queue="loans", priority=Priority.HIGH))
    got = queue.take(queue="cards", agent="agent7")
    assert got is not None
    assert got.handoff.call_id == "c1"
    assert (got.status, got.taken_by) == ("taken", "agent7")
    assert got.taken_at is not None
    assert queue.take(queue="cards") is None
    assert [q.handoff.call_id for q in queue.list(status="taken")] == ["c1"]
    assert queue.list(status="taken")[0] == got
    assert [q.handoff.call_id for q in queue.list("loans")] == ["c2"]
    assert queue.list("cards") == []


def test_unknown_status_is_refused(queue: HandoffQueue) -> None:
    with pytest.raises(QueueError, match="unknown status 'done'"):
        queue.list(status="done")


def _take_all(path: str, agent: str, start: threading.Barrier | None = None) -> list[str]:
    """Take until the queue is empty, on a connection of its own."""
    queue = open_queue(path)
    if start is not None:
        start.wait()
    got = []
    while (item := queue.take(agent=agent)) is not None:
        got.append(item.handoff.call_id)
    queue.close()
    return got


def test_threads_never_take_the_same_record(queue: HandoffQueue, tmp_path: Path) -> None:
    calls = [f"c{i:03d}" for i in range(120)]
    for call in calls:
        queue.put(handoff(call))
    path = str(tmp_path / "q" / "handoff.sqlite3")
    start = threading.Barrier(3)
    results: dict[str, list[str]] = {}

    def run(agent: str) -> None:
        results[agent] = _take_all(path, agent, start)

    workers = [threading.Thread(target=run, args=(f"a{i}",)) for i in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=30)
    taken = [c for got in results.values() for c in got]
    assert sorted(taken) == calls  # every record taken exactly once
    assert {q.taken_by for q in queue.list(status="taken")} <= {"a0", "a1", "a2"}


def test_processes_never_take_the_same_record(queue: HandoffQueue, tmp_path: Path) -> None:
    calls = [f"p{i:03d}" for i in range(60)]
    for call in calls:
        queue.put(handoff(call))
    path = str(tmp_path / "q" / "handoff.sqlite3")
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.starmap(_take_all, [(path, "a0"), (path, "a1")])
    taken = [c for got in results for c in got]
    assert sorted(taken) == calls


def test_wal_mode_is_on(queue: HandoffQueue, tmp_path: Path) -> None:
    assert isinstance(queue, SqliteQueue)
    assert queue.journal_mode == "wal"
    raw = sqlite3.connect(tmp_path / "q" / "handoff.sqlite3")
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
    finally:
        raw.close()


def test_persists_across_reopen(make_queue: QueueFactory, tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "handoff.sqlite3"  # parent directories are created
    first = make_queue(path)
    first.put(handoff("c1"))
    first.put(handoff("c2"))
    taken = first.take(agent="a1")
    first.close()
    again = make_queue(path)
    assert again.list(status="taken") == [taken]
    assert [q.handoff for q in again.list()] == [handoff("c2")]
    assert again.put(handoff("c1")) is False


def test_corrupt_file_is_a_queue_error(tmp_path: Path) -> None:
    path = tmp_path / "handoff.sqlite3"
    path.write_text("this is not a database, just some notes\n" * 100)
    with pytest.raises(QueueError, match=rf"queue DB {path}: .*not a database"):
        open_queue(path)


def test_directory_at_path_is_a_queue_error(tmp_path: Path) -> None:
    with pytest.raises(QueueError, match="queue DB"):
        open_queue(tmp_path)


def test_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite3"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE customers (id INTEGER)")
    raw.close()
    with pytest.raises(QueueError, match="not a handoff queue"):
        open_queue(path)


def test_other_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "handoff.sqlite3"
    open_queue(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE schema_version SET version = 99")
    raw.close()
    with pytest.raises(QueueError, match="schema version"):
        open_queue(path)


def test_unreadable_record_is_a_queue_error(queue: HandoffQueue, tmp_path: Path) -> None:
    queue.put(handoff("c1"))
    with sqlite3.connect(tmp_path / "q" / "handoff.sqlite3") as raw:
        raw.execute("UPDATE handoffs SET record = '{\"call_id\": 1}'")
    raw.close()
    with pytest.raises(QueueError, match="record 1 is unreadable"):
        queue.list()
    with pytest.raises(QueueError, match="record 1 is unreadable"):
        queue.take(agent="a1")
    with sqlite3.connect(tmp_path / "q" / "handoff.sqlite3") as raw:
        assert raw.execute("SELECT status FROM handoffs").fetchall() == [("waiting",)]
    raw.close()


@pytest.mark.parametrize(
    "bad",
    [
        {"call_id": ""},
        {"queue": ""},
        {"lang": "fr"},
        {"priority": 7},
        {"created_at": float("nan")},
        {"candidates": (Candidate("x", float("nan")),)},
        {"heard": ("ok", 5)},
        {"heard": ("lone surrogate \ud800",)},
    ],
)
def test_invalid_handoffs_are_refused(queue: HandoffQueue, bad: dict[str, Any]) -> None:
    with pytest.raises(QueueError, match="queue DB"):
        queue.put(handoff(**bad))
    assert queue.list() == []


def test_closed_queue_is_a_queue_error(queue: HandoffQueue) -> None:
    queue.close()
    queue.close()
    with pytest.raises(QueueError, match="closed"):
        queue.put(handoff())


def test_unset_created_at_is_stamped(tmp_path: Path) -> None:
    clock = Clock(1_700_000_500.0)
    with SqliteQueue(tmp_path / "q.sqlite3", clock=clock) as queue:
        queue.put(handoff(created_at=0.0))
        assert queue.list()[0].handoff.created_at == 1_700_000_500.0


def test_card_numbers_are_masked_before_storing(queue: HandoffQueue, tmp_path: Path) -> None:
    spaced = "6222 0212 3456 7894"
    queue.put(
        handoff(
            heard=(f"我的卡号是{CARD}", f"card {spaced}", "卡号六二二二零二幺二三四五六七八九四"),
            slots=(Slot("card_number", CARD, CARD), Slot("pin", "4321", "4321")),
        )
    )
    stored = queue.list()[0].handoff
    assert stored.heard == ("我的卡号是****7894", "card ****7894", "卡号****7894")
    assert stored.slots == (
        Slot("card_number", "****7894", "****7894"),
        Slot("pin", "***", "***"),
    )
    raw = b"".join(p.read_bytes() for p in (tmp_path / "q").iterdir())
    for secret in (CARD, spaced, "六二二二零二幺二三四五六七八九四", "4321"):
        assert secret.encode() not in raw


def test_stats(tmp_path: Path) -> None:
    clock = Clock(1_000.0)
    with SqliteQueue(tmp_path / "q.sqlite3", clock=clock) as queue:
        assert queue.stats().queues == ()
        assert format_stats(queue.stats()) == "no handoffs"
        queue.put(handoff("c1", created_at=700.0))
        queue.put(handoff("c2", created_at=880.0, reason="no_match", priority=Priority.URGENT))
        queue.put(handoff("c3", created_at=900.0))
        queue.put(handoff("l1", queue="loans", created_at=990.0, reason="caller_asked"))
        queue.take(queue="loans", agent="a1")
        stats = queue.stats()
    cards, loans = stats.queues
    assert (cards.queue, cards.waiting, cards.taken) == ("cards", 3, 0)
    assert cards.by_reason == (("low_confidence", 2), ("no_match", 1))
    assert dict(cards.by_priority) == {
        Priority.URGENT: 1,
        Priority.HIGH: 0,
        Priority.NORMAL: 2,
        Priority.LOW: 0,
    }
    assert cards.oldest_waiting_seconds == 300.0
    assert (loans.waiting, loans.taken, loans.oldest_waiting_seconds) == (0, 1, None)
    assert (stats.waiting, stats.taken, stats.at) == (3, 1, 1_000.0)
    assert format_stats(stats).splitlines() == [
        "queue  waiting  taken  urgent  high  normal  low  oldest  reasons",
        "cards        3      0       1     0       2    0  5m 00s  low_confidence 2, no_match 1",
        "loans        0      1       0     0       0    0       -  -",
        "total        3      1       1     0       2    0  5m 00s",
    ]
    assert json.loads(json.dumps(stats.as_dict()))["queues"][0]["by_priority"]["urgent"] == 1


def test_format_handoff_gives_the_whole_context() -> None:
    q = QueuedHandoff(
        id=7,
        handoff=handoff(
            priority=Priority.URGENT,
            reason="priority_intent",
            intent="report_fraud",
            heard=("我的卡被盗刷了", f"卡号{CARD}"),
            candidates=(Candidate("report_fraud", 0.93), Candidate("lost_card", 0.4)),
            slots=(Slot("card_tail", "7890", "7890"), Slot("otp", "123456", "123456")),
            path=("welcome", "main_menu", "fraud"),
            created_at=1_700_000_000.0,
        ),
        status="waiting",
    )
    text = format_handoff(q, now=1_700_000_125.0)
    assert text.splitlines() == [
        "Handoff #7  call c1  -> queue cards  [URGENT]",
        "  reason    priority_intent",
        "  language  zh",
        "  intent    report_fraud",
        "  waited    2m 05s (filed 2023-11-14 22:13:20 UTC)",
        "  status    waiting",
        "Heard:",
        "  1. 我的卡被盗刷了",
        "  2. 卡号****7894",
        "Candidates:",
        "  report_fraud  0.93",
        "  lost_card     0.40",
        "Slots:",
        "  card_tail  7890",
        "  otp        ***",
        "Path: welcome -> main_menu -> fraud",
    ]
    assert format_summary(q, now=1_700_000_125.0) == (
        "#7  URGENT  cards  c1  priority_intent  waited 2m 05s  report_fraud"
    )
    data = handoff_to_json(q)
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data
    assert data["priority"] == "urgent" and data["heard"][1] == "卡号****7894"
    assert CARD not in json.dumps(data) and "123456" not in json.dumps(data)


def test_format_taken_handoff_measures_wait_until_taken() -> None:
    q = QueuedHandoff(
        1,
        handoff(heard=(), candidates=(), slots=(), path=(), intent=None, created_at=0.0),
        status="taken",
        taken_by="agent7",
        taken_at=3_725.0,
    )
    text = format_handoff(q, now=99_999.0)
    assert "waited    1h 02m" in text
    assert "taken by agent7 at 1970-01-01 01:02:05 UTC" in text
    assert "intent    -" in text and "Path: (none)" in text and "(nothing)" in text


def test_default_queue_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("IVR_QUEUE", raising=False)
    assert default_queue_path() == DEFAULT_QUEUE_PATH == Path("var/handoff.sqlite3")
    monkeypatch.setenv("IVR_QUEUE", str(tmp_path / "x.sqlite3"))
    assert default_queue_path() == tmp_path / "x.sqlite3"
    monkeypatch.setenv("IVR_QUEUE", "")
    assert default_queue_path() == DEFAULT_QUEUE_PATH


def test_unknown_backend_url_is_refused() -> None:
    with pytest.raises(QueueError, match="no redis backend"):
        open_queue("redis://localhost:6379/0")
