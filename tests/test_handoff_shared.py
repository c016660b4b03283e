"""What every human-queue backend must do, run against each one.

A new backend passes this file unchanged: add one entry to `STORES` (a function giving the URL
of a fresh, empty store for one test). Only behaviour every backend promises lives here;
storage details (files, journal modes, schema versions) go in the backend's own test file.
"""

from __future__ import annotations

import itertools
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.errors import QueueError
from ivr.handoff import Clock, DuplicateCallId, HandoffQueue, open_queue
from ivr.privacy import mask_sensitive, mask_slot
from ivr.types import LANGS, Candidate, Handoff, Priority, Slot

CARD = "6222021234567894"


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


class FixedClock:
    """A settable clock, so times in tests are exact."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


STORES: dict[str, Callable[[pytest.FixtureRequest, Path], str]] = {
    "sqlite": lambda request, tmp: f"sqlite://{tmp / 'handoff.sqlite3'}",
    "redis": lambda request, tmp: request.getfixturevalue("redis_server").url(),
}
"""Backend -> the URL of a fresh, empty store for one test (given the test's request, for
fixtures such as a server, and a private temp folder). Redis: a fresh key prefix per test."""


@dataclass
class Store:
    """One test's store: a URL any process can open, and the handles opened on it."""

    url: str
    opened: list[HandoffQueue] = field(default_factory=list)

    def open(self, clock: Clock = time.time) -> HandoffQueue:
        queue = open_queue(self.url, clock=clock)
        self.opened.append(queue)
        return queue


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = Store(STORES[request.param](request, tmp_path))
    yield s
    for queue in s.opened:
        queue.close()


@pytest.fixture
def queue(store: Store) -> HandoffQueue:
    return store.open()


# -- idempotency: a retry is one record, two calls are never merged ----------------------------


def test_a_retried_filing_is_one_record(queue: HandoffQueue) -> None:
    first = handoff("c1")
    assert queue.put(first) is True
    assert queue.put(replace(first, created_at=first.created_at + 30)) is False  # stamped later
    assert queue.put(first) is False
    [stored] = queue.list(queue=None)
    assert stored.handoff == first
    assert stored.status == "waiting" and stored.taken_by is None and stored.taken_at is None


def test_a_retry_after_masking_is_still_the_same_record(queue: HandoffQueue) -> None:
    first = handoff("c1", heard=(f"卡号{CARD}",), slots=(Slot("card_number", CARD, CARD),))
    assert queue.put(first) is True
    assert queue.put(first) is False
    assert len(queue.list()) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"queue": "loans"},
        {"reason": "caller_asked"},
        {"heard": ("别的来电",)},
        {"priority": Priority.URGENT},
        {"path": ("welcome",)},
    ],
)
def test_a_different_record_under_a_used_call_id_is_refused(
    queue: HandoffQueue, change: dict[str, Any]
) -> None:
    first = handoff("call")
    queue.put(first)
    with pytest.raises(DuplicateCallId, match="'call' is already filed") as info:
        queue.put(handoff("call", **change))
    assert isinstance(info.value, QueueError)
    assert "\n" not in str(info.value)
    assert [q.handoff for q in queue.list()] == [first]  # the first is kept unchanged


def test_a_refused_duplicate_names_no_caller_digits(queue: HandoffQueue) -> None:
    queue.put(handoff("call"))
    with pytest.raises(DuplicateCallId) as info:
        queue.put(handoff("call", heard=(f"我的卡号是{CARD}",)))
    assert "7894" not in str(info.value) and "heard" in str(info.value)


def test_a_retry_of_a_taken_record_leaves_it_taken(queue: HandoffQueue) -> None:
    queue.put(handoff("c1"))
    taken = queue.take(agent="a7")
    assert queue.put(handoff("c1")) is False
    assert queue.list(status="taken") == [taken] and queue.list() == []
    with pytest.raises(DuplicateCallId):
        queue.put(handoff("c1", reason="no_match"))


def test_two_calls_that_say_the_same_are_two_records(queue: HandoffQueue) -> None:
    assert queue.put(handoff("a/call.wav")) is True
    assert queue.put(handoff("b/call.wav")) is True
    assert sorted(q.handoff.call_id for q in queue.list()) == ["a/call.wav", "b/call.wav"]


# -- the record survives storage exactly, masked -----------------------------------------------


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
_serial = itertools.count()


@settings(
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(h=handoffs)
def test_round_trip_property(queue: HandoffQueue, h: Handoff) -> None:
    h = replace(h, call_id=f"{next(_serial)}:{h.call_id}")  # one store for every example
    assert queue.put(h) is True
    assert queue.put(h) is False
    [stored] = [q.handoff for q in queue.list(status="waiting") if q.handoff.call_id == h.call_id]
    expected = replace(
        h,
        heard=tuple(mask_sensitive(t) for t in h.heard),
        slots=tuple(mask_slot(s) for s in h.slots),
    )
    assert stored == expected


def test_card_numbers_are_masked_before_storing(queue: HandoffQueue) -> None:
    queue.put(
        handoff(
            heard=(f"我的卡号是{CARD}", "card 6222 0212 3456 7894",
                   "卡号六二二二零二幺二三四五六七八九四"),
            slots=(Slot("card_number", CARD, CARD), Slot("pin", "4321", "4321")),
        )
    )
    for stored in (queue.list()[0].handoff, queue.take(agent="a1").handoff):  # type: ignore[union-attr]
        assert stored.heard == ("我的卡号是****7894", "card ****7894", "卡号****7894")
        assert stored.slots == (
            Slot("card_number", "****7894", "****7894"),
            Slot("pin", "***", "***"),
        )


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
    with pytest.raises(QueueError, match="invalid handoff"):
        queue.put(handoff(**bad))
    assert queue.list() == []


def test_unset_created_at_is_stamped(store: Store) -> None:
    queue = store.open(clock=FixedClock(1_700_000_500.0))
    queue.put(handoff(created_at=0.0))
    assert queue.list()[0].handoff.created_at == 1_700_000_500.0


# -- serving: priority, then age; one taker per record ------------------------------------------


def test_serving_order_priority_then_age(queue: HandoffQueue) -> None:
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


def test_take_claims_one_record(store: Store) -> None:
    queue = store.open(clock=FixedClock(1_700_000_900.0))
    queue.put(handoff("c1", queue="cards"))
    queue.put(handoff("c2", queue="loans", priority=Priority.HIGH))
    got = queue.take(queue="cards", agent="agent7")
    assert got is not None
    assert got.handoff.call_id == "c1"
    assert (got.status, got.taken_by, got.taken_at) == ("taken", "agent7", 1_700_000_900.0)
    assert queue.take(queue="cards") is None
    assert queue.list(status="taken") == [got]
    assert [q.handoff.call_id for q in queue.list("loans")] == ["c2"]
    assert queue.list("cards") == []


def test_unknown_status_is_refused(queue: HandoffQueue) -> None:
    with pytest.raises(QueueError, match="unknown status 'closed'"):
        queue.list(status="closed")


def _take_all(url: str, agent: str, start: threading.Barrier | None = None) -> list[str]:
    """Take until the queue is empty, on a handle of its own."""
    queue = open_queue(url)
    if start is not None:
        start.wait()
    got = []
    while (item := queue.take(agent=agent)) is not None:
        got.append(item.handoff.call_id)
    queue.close()
    return got


def test_threads_never_take_the_same_record(queue: HandoffQueue, store: Store) -> None:
    calls = [f"c{i:03d}" for i in range(120)]
    for call in calls:
        queue.put(handoff(call))
    start = threading.Barrier(3)
    results: dict[str, list[str]] = {}

    def run(agent: str) -> None:
        results[agent] = _take_all(store.url, agent, start)

    workers = [threading.Thread(target=run, args=(f"a{i}",)) for i in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=30)
    taken = [c for got in results.values() for c in got]
    assert sorted(taken) == calls  # every record taken exactly once
    assert {q.taken_by for q in queue.list(status="taken")} <= {"a0", "a1", "a2"}


def test_processes_never_take_the_same_record(queue: HandoffQueue, store: Store) -> None:
    calls = [f"p{i:03d}" for i in range(60)]
    for call in calls:
        queue.put(handoff(call))
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.starmap(_take_all, [(store.url, "a0"), (store.url, "a1")])
    taken = [c for got in results for c in got]
    assert sorted(taken) == calls


def test_persists_across_reopen(store: Store) -> None:
    first = store.open()
    first.put(handoff("c1"))
    first.put(handoff("c2"))
    taken = first.take(agent="a1")
    first.close()
    again = store.open()
    assert again.list(status="taken") == [taken]
    assert [q.handoff for q in again.list()] == [handoff("c2")]
    assert again.put(handoff("c1")) is False
    with pytest.raises(DuplicateCallId):
        again.put(handoff("c2", queue="loans"))


def test_closed_queue_is_a_queue_error(queue: HandoffQueue) -> None:
    queue.close()
    queue.close()
    with pytest.raises(QueueError, match="closed"):
        queue.put(handoff())


# -- figures ------------------------------------------------------------------------------------


def test_stats(store: Store) -> None:
    queue = store.open(clock=FixedClock(1_000.0))
    assert queue.stats().queues == ()
    queue.put(handoff("c1", created_at=700.0))
    queue.put(handoff("c2", created_at=880.0, reason="no_match", priority=Priority.URGENT))
    queue.put(handoff("c3", created_at=900.0))
    queue.put(handoff("l1", queue="loans", created_at=990.0, reason="caller_asked"))
    queue.take(queue="loans", agent="a1")
    stats = queue.stats()
    cards, loans = stats.queues
    assert (cards.queue, cards.waiting, cards.taken) == ("cards", 3, 0)
    assert cards.by_reason == (("low_confidence", 2), ("no_match", 1))
    assert cards.by_priority == (
        (Priority.URGENT, 1),
        (Priority.HIGH, 0),
        (Priority.NORMAL, 2),
        (Priority.LOW, 0),
    )
    assert cards.oldest_waiting_seconds == 300.0
    assert (loans.queue, loans.waiting, loans.taken, loans.oldest_waiting_seconds) == (
        "loans", 0, 1, None,
    )
    assert loans.by_reason == ()
    assert (stats.waiting, stats.taken, stats.at) == (3, 1, 1_000.0)
