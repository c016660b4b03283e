"""Leases, release, transfer, closing, the audit trail, retention and service level: what every
backend must do (the shared suite's second half, over SQLite and a real redis-server)."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import threading
import time
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.errors import QueueError
from ivr.handoff import HandoffQueue, open_queue
from ivr.types import Priority, Slot

from .test_handoff_shared import CARD, FixedClock, Store, handoff, queue, store

__all__ = ["queue", "store"]  # the shared fixtures, over every backend

T0 = 1_700_000_000.0


def ids(records: list) -> list[str]:  # type: ignore[type-arg]
    return [r.handoff.call_id for r in records]


def events(q: HandoffQueue, call_id: str) -> list[tuple[str, str, str]]:
    return [(e.event, e.actor, e.detail) for e in q.history(call_id)]


def test_a_take_is_a_lease_that_runs_out(store: Store) -> None:
    clock = FixedClock(T0)
    q = store.open(clock)
    q.put(handoff("first", created_at=T0 - 50))
    q.put(handoff("later", created_at=T0 - 10))
    got = q.take(agent="a1", lease_s=30)
    assert got is not None and got.lease_until == T0 + 30 and q.get("first") == got
    clock.now = T0 + 29.5
    assert q.expire() == 0 and q.take(agent="a2", lease_s=30).handoff.call_id == "later"
    clock.now = T0 + 30  # a1's lease is over: "first" is back at the head of the line
    assert ids(q.list()) == [] and q.expire() == 1 and ids(q.list()) == ["first"]
    assert q.renew("first", "a1") is False and q.done("first", "a1", "resolved") is False
    again = q.take(agent="a3")
    assert again is not None and again.handoff.call_id == "first" and again.taken_by == "a3"
    assert events(q, "first") == [("filed", "engine", ""), ("taken", "a1", ""),
                                  ("expired", "a1", "lease"), ("taken", "a3", "")]


def test_renew_keeps_the_lease_and_only_its_holder_may(store: Store) -> None:
    clock = FixedClock(T0)
    q = store.open(clock)
    q.put(handoff("c1"))
    q.take(agent="a1", lease_s=10)
    clock.now = T0 + 8
    assert q.renew("c1", "a2") is False and q.renew("c1", "a1", 10) is True
    clock.now = T0 + 15
    assert q.expire() == 0 and q.get("c1").lease_until == T0 + 18  # type: ignore[union-attr]
    assert q.renew("nobody", "a1") is False
    assert [e for e, _, _ in events(q, "c1")] == ["filed", "taken"]  # renewals not audited


def test_release_puts_the_caller_back_at_their_place(store: Store) -> None:
    q = store.open(FixedClock(T0))
    q.put(handoff("early", created_at=T0 - 30))
    q.put(handoff("late", created_at=T0 - 5))
    q.take(agent="a1")
    assert q.release("early", "a2") is False and q.release("early", "a1") is True
    assert q.release("early", "a1") is False
    assert ids(q.list()) == ["early", "late"]
    back = q.get("early")
    assert back is not None and (back.status, back.taken_by, back.lease_until) == (
        "waiting", None, None)
    assert events(q, "early")[-1] == ("released", "a1", "")


def test_transfer_moves_the_caller_and_a_retried_filing_is_still_one(store: Store) -> None:
    q = store.open(FixedClock(T0))
    filed = handoff("c1", queue="cards")
    q.put(filed)
    q.take("cards", agent="a1")
    assert q.transfer("c1", "a2", "fraud") is False
    assert q.transfer("c1", "a1", "fraud") is True
    assert ids(q.list("cards")) == [] and ids(q.list("fraud")) == ["c1"]
    assert q.get("c1").handoff.queue == "fraud"  # type: ignore[union-attr]
    assert q.put(filed) is False  # the engine's retry of the original filing: no second record
    assert events(q, "c1")[-1] == ("transferred", "a1", "cards")
    assert q.history("c1")[-1].queue == "fraud"
    assert q.take(["loans", "fraud"], agent="a2").handoff.call_id == "c1"  # type: ignore[union-attr]


def test_done_closes_the_record_for_good(store: Store) -> None:
    clock = FixedClock(T0)
    q = store.open(clock)
    q.put(handoff("c1"))
    q.take(agent="a1")
    clock.now = T0 + 12
    assert q.done("c1", "a2", "resolved") is False
    assert q.done("c1", "a1", "resolved") is True
    assert q.done("c1", "a1", "resolved") is False and q.release("c1", "a1") is False
    [closed] = q.list(status="done")
    assert (closed.status, closed.disposition, closed.done_at, closed.taken_by) == (
        "done", "resolved", T0 + 12, "a1")
    clock.now = T0 + 1000
    assert q.expire() == 0 and q.take(agent="a2") is None and q.list() == []
    assert events(q, "c1")[-1] == ("done", "a1", "resolved")
    with pytest.raises(QueueError, match="disposition"):
        q.done("c1", "a1", "")


def test_take_filters_by_several_queues_and_languages(queue: HandoffQueue) -> None:
    queue.put(handoff("fraud-ko", queue="fraud", lang="ko", priority=Priority.URGENT))
    queue.put(handoff("cards-en", queue="cards", lang="en", created_at=T0 - 9))
    queue.put(handoff("cards-zh", queue="cards", lang="zh", created_at=T0 - 5))
    queue.put(handoff("loans-en", queue="loans", lang="en", created_at=T0 - 20))
    assert queue.take([], agent="a") is None and queue.take(agent="a", langs=[]) is None
    assert queue.take(["cards", "fraud"], agent="a", langs={"zh"}).handoff.call_id == "cards-zh"  # type: ignore[union-attr]
    assert queue.take(["cards", "loans"], agent="a", langs=["en"]).handoff.call_id == "loans-en"  # type: ignore[union-attr]
    assert queue.take("cards", agent="a", langs=["ko", "zh"]) is None
    assert queue.take(None, agent="a", langs=["en", "ko"]).handoff.call_id == "fraud-ko"  # type: ignore[union-attr]
    assert ids(queue.list()) == ["cards-en"]
    for bad in ({"langs": ["fr"]}, {"lease_s": 0}, {"lease_s": float("nan")}):
        with pytest.raises(QueueError):
            queue.take(agent="a", **bad)  # type: ignore[arg-type]


def test_the_audit_trail_has_who_and_when_and_no_caller_text(store: Store) -> None:
    clock = FixedClock(T0)
    q = store.open(clock)
    q.put(handoff("c1", heard=(f"卡号{CARD}",), created_at=T0 - 3))
    clock.now = T0 + 1
    q.take(agent="a1")
    clock.now = T0 + 2
    q.note("c1", "transfer_failed", "sip", "486")
    q.note("c1", "transferred_sip", f"agent {CARD}", "")  # digits in a label are masked
    q.note("unfiled", "transfer_failed", "sip", "503")
    q.note("unfiled", "transfer_failed", "engine", "SIP 403")  # the phone line's form
    assert [(e.at, e.event, e.queue) for e in q.history("c1")] == [
        (T0 - 3, "filed", "cards"), (T0 + 1, "taken", "cards"),
        (T0 + 2, "transfer_failed", "cards"), (T0 + 2, "transferred_sip", "cards")]
    assert q.history("c1")[2].detail == "486" and q.history("unfiled")[0].queue == ""
    everything = q.audit()
    assert [e.event for e in everything] == ["filed", "taken", "transfer_failed",
                                            "transferred_sip", "transfer_failed",
                                            "transfer_failed"]
    assert [e.detail for e in q.history("unfiled")] == ["503", "SIP 403"]
    assert [e.call_id for e in q.audit(since=T0 + 1, limit=2)] == ["c1", "c1"]
    assert q.audit(limit=0) == [] and q.history("nobody") == []
    assert all("62220212" not in str(e) and CARD not in str(e) for e in everything)
    for bad in ("", "Transfer Failed", "x" * 40):
        with pytest.raises(QueueError, match="lower-case word"):
            q.note("c1", bad, "sip")
    with pytest.raises(QueueError, match="one line"):
        q.note("c1", "transfer_failed", "sip", "line\nbreak")


def test_purge_drops_caller_text_of_old_closed_records_and_keeps_the_audit(store: Store) -> None:
    clock = FixedClock(T0)
    q = store.open(clock)
    for call in ("old", "recent", "open"):
        q.put(handoff(call, slots=(Slot("card_tail", "1234", "1234"),)))
    q.take(agent="a1")
    q.done("old", "a1", "resolved")
    clock.now = T0 + 50
    q.take(agent="a1")
    q.done("recent", "a1", "callback")
    clock.now = T0 + 100
    assert q.purge(older_than_s=60) == 1 and q.purge(older_than_s=60) == 0
    old = q.get("old")
    assert old is not None and (old.handoff.heard, old.handoff.slots, old.handoff.candidates) == (
        (), (), ())
    assert old.handoff.path == handoff().path and old.disposition == "resolved"
    assert q.get("recent").handoff.heard == handoff().heard  # type: ignore[union-attr]
    assert q.get("open").handoff.heard == handoff().heard  # type: ignore[union-attr]
    assert [e for e, _, _ in events(q, "old")] == ["filed", "taken", "done", "purged"]
    assert q.put(handoff("old")) is False  # a late retry of a purged record is still one
    assert q.purge(older_than_s=0) == 1
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(QueueError, match="age in seconds"):
            q.purge(bad)


def test_stats_count_done_and_the_service_level(store: Store) -> None:
    clock = FixedClock(T0)
    q = store.open(clock)
    for n, filed in enumerate((T0 - 5, T0 - 30, T0 - 50, T0 - 3)):
        q.put(handoff(f"c{n}", created_at=filed))
    q.put(handoff("l1", queue="loans", created_at=T0 - 1))
    for _ in range(3):  # c2 waited 50 s, c1 30 s, c0 5 s (served oldest first)
        q.take("cards", agent="a1")
    q.done("c2", "a1", "resolved")
    q.release("c1", "a1")  # answered once: still counts as answered at 30 s
    clock.now = T0 + 25  # c3 now waits 28 s: past the target, missed
    cards, loans = q.stats().queues
    assert (cards.waiting, cards.taken, cards.done) == (2, 1, 1)
    assert (cards.answered, cards.answered_in_target, cards.missed) == (3, 1, 1)
    assert cards.sla == pytest.approx(1 / 4)
    assert (cards.wait_p50, cards.wait_p90, cards.wait_max) == (30.0, 50.0, 50.0)
    assert (loans.answered, loans.missed, loans.sla) == (0, 1, 0.0)
    strict = q.stats(sla_target_s=60).queues[0]
    assert (strict.answered_in_target, strict.missed, strict.sla) == (3, 0, 1.0)
    assert q.stats().as_dict()["queues"][0]["sla"]["share"] == 0.25


def test_stats_json_gives_waits_to_the_millisecond(store: Store) -> None:
    clock = FixedClock(T0)
    q = store.open(clock)
    q.put(handoff("c0", created_at=T0 - 12.7237498760))
    q.put(handoff("c1", created_at=T0 - 0.5))
    q.take("cards", agent="a1")
    sla = q.stats().as_dict()["queues"][0]
    assert sla["sla"]["wait_max_seconds"] == 12.724
    assert sla["oldest_waiting_seconds"] == 0.5


# -- two agents never hold the same caller: threads and processes, judged by the audit trail ----


def check_trail(q: HandoffQueue, calls: list[str]) -> None:
    """Every call's history is filed, then taken / given back in turn, and ends done."""
    for call in calls:
        holder = None
        trail = q.history(call)
        assert trail[0].event == "filed"
        for e in trail[1:]:
            if e.event == "taken":
                assert holder is None, f"{call} taken by {e.actor} while {holder} held it"
                holder = e.actor
            else:
                assert e.actor == holder, f"{call}: {e.event} by {e.actor}, held by {holder}"
                holder = None
        assert trail[-1].event == "done"


def _work(url: str, agent: str, start: threading.Barrier | None = None) -> int:
    """Take with short leases; close, release, or let the lease run out, in turn."""
    q = open_queue(url)
    if start is not None:
        start.wait()
    closed = 0
    for n in itertools.count():
        got = q.take(agent=agent, lease_s=0.2)
        if got is None:
            if not q.list() and not q.list(status="taken"):
                break
            time.sleep(0.05)
            continue
        if n % 3 == 1:
            q.release(got.handoff.call_id, agent)
        elif n % 7 == 5:
            time.sleep(0.25)  # the lease runs out; someone else takes the caller
        else:
            closed += q.done(got.handoff.call_id, agent, "resolved")
    q.close()
    return closed


def test_threads_with_leases_never_hold_the_same_caller(queue: HandoffQueue,
                                                        store: Store) -> None:
    calls = [f"t{i:03d}" for i in range(60)]
    for call in calls:
        queue.put(handoff(call))
    start = threading.Barrier(4)
    closed: list[int] = []
    workers = [threading.Thread(target=lambda a=f"a{i}": closed.append(
        _work(store.url, a, start))) for i in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert sum(closed) == len(calls) and len(queue.list(status="done")) == len(calls)
    check_trail(queue, calls)


def test_processes_with_leases_never_hold_the_same_caller(queue: HandoffQueue,
                                                          store: Store) -> None:
    calls = [f"p{i:03d}" for i in range(40)]
    for call in calls:
        queue.put(handoff(call))
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        closed = pool.starmap(_work, [(store.url, f"a{i}") for i in range(3)])
    assert sum(closed) == len(calls)
    check_trail(queue, calls)


# -- random interleavings against a model --------------------------------------------------------


@dataclass
class Model:
    """The queue's promised behaviour, the slow and obvious way."""

    now: float = T0
    records: dict[str, dict[str, object]] = field(default_factory=dict)
    seq: itertools.count = field(default_factory=itertools.count)  # type: ignore[type-arg]

    def expire(self) -> int:
        out = [r for r in self.records.values()
               if r["status"] == "taken" and r["until"] <= self.now]  # type: ignore[operator]
        for r in out:
            r.update(status="waiting", agent=None, until=None)
        return len(out)

    def order(self, status: str) -> list[str]:
        rows = [(-r["priority"], r["filed"], r["n"], c)  # type: ignore[operator]
                for c, r in self.records.items() if r["status"] == status]
        return [c for *_, c in sorted(rows)]  # type: ignore[type-var]

    def held(self, call: str, agent: str) -> dict[str, object] | None:
        self.expire()
        r = self.records.get(call)
        return r if r and r["status"] == "taken" and r["agent"] == agent else None


CALLS, AGENTS, QUEUES = ["c0", "c1", "c2", "c3"], ["a", "b"], ["cards", "fraud"]
PRIORITY = dict(zip(CALLS, [Priority.NORMAL, Priority.URGENT, Priority.NORMAL, Priority.LOW],
                    strict=True))
steps = st.lists(st.one_of(
    st.tuples(st.just("put"), st.sampled_from(CALLS)),
    st.tuples(st.just("take"), st.sampled_from(AGENTS), st.sampled_from([None, *QUEUES])),
    st.tuples(st.sampled_from(["release", "renew", "done"]), st.sampled_from(CALLS),
              st.sampled_from(AGENTS)),
    st.tuples(st.just("transfer"), st.sampled_from(CALLS), st.sampled_from(AGENTS),
              st.sampled_from(QUEUES)),
    st.tuples(st.just("wait"), st.sampled_from([1.0, 5.0, 10.0])),
    st.tuples(st.just("expire"),),
), max_size=30)
_fresh = itertools.count()


def _step(q: HandoffQueue, m: Model, step: tuple) -> None:  # type: ignore[type-arg]
    kind, *a = step
    if kind == "put":
        new = a[0] not in m.records
        assert q.put(handoff(a[0], priority=PRIORITY[a[0]], created_at=m.now)) is new
        if new:
            m.records[a[0]] = dict(status="waiting", priority=PRIORITY[a[0]], filed=m.now,
                                   n=next(m.seq),
                                   queue="cards", agent=None, until=None)
    elif kind == "take":
        got = q.take(a[1], agent=a[0], lease_s=8)
        m.expire()
        want = [c for c in m.order("waiting") if a[1] in (None, m.records[c]["queue"])]
        assert (got.handoff.call_id if got else None) == (want[0] if want else None)
        if want:
            m.records[want[0]].update(status="taken", agent=a[0], until=m.now + 8)
    elif kind == "wait":
        m.now += a[0]
    elif kind == "expire":
        assert q.expire() == m.expire()
    else:
        ok = {"release": lambda: q.release(a[0], a[1]), "renew": lambda: q.renew(a[0], a[1], 8),
              "done": lambda: q.done(a[0], a[1], "resolved"),
              "transfer": lambda: q.transfer(a[0], a[1], a[2] if len(a) > 2 else "")}[kind]()
        r = m.held(a[0], a[1])
        assert ok is (r is not None)
        if r is not None:
            r.update({"release": dict(status="waiting", agent=None, until=None),
                      "renew": dict(until=m.now + 8), "done": dict(status="done", until=None),
                      "transfer": dict(status="waiting", agent=None, until=None,
                                       queue=a[2] if len(a) > 2 else "")}[kind])


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(script=steps)
def test_random_interleavings_match_the_model(store: Store, script: list) -> None:  # type: ignore[type-arg]
    url = store.url
    n = next(_fresh)
    url = (url.replace("prefix=", f"prefix=m{n}-") if url.startswith("redis")
           else url.replace(".sqlite3", f"-{n}.sqlite3"))
    m = Model()
    clock = FixedClock(T0)
    q = open_queue(url, clock=clock)
    try:
        for step in script:
            _step(q, m, step)
            clock.now = m.now
        assert q.expire() == m.expire()
        for status in ("waiting", "taken", "done"):
            assert ids(q.list(status=status)) == m.order(status)
        for call, r in m.records.items():
            got = q.get(call)
            assert got is not None and (got.status, got.lease_until, got.handoff.queue) == (
                r["status"], r["until"], r["queue"])
    finally:
        q.close()


# -- the command line ----------------------------------------------------------------------------


def test_cli_take_release_done_history_purge_stats(store: Store,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from ivr.cli import main

    q = store.open()
    q.put(handoff("c1", heard=(f"卡号{CARD}",), created_at=0.0))  # filed now
    q.put(handoff("c2", priority=Priority.URGENT, created_at=0.0))

    def cli(*args: str) -> tuple[int, str, str]:
        try:
            code = main(["queue", *args, "--queue", store.url])
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return code, out.out, out.err

    code, out, _ = cli("take", "--agent", "a1", "--lease", "30", "--json")
    taken = json.loads(out)
    assert code == 0 and taken["call_id"] == "c2" and taken["lease_until"] is not None
    assert cli("release", "c2", "--agent", "a2")[0] == 2  # not theirs: one line, exit 2
    code, _, err = cli("done", "c2", "--agent", "a2", "--disposition", "resolved")
    assert code == 2 and err.startswith("ivr: error: ") and len(err.splitlines()) == 1
    assert cli("release", "c2", "--agent", "a1")[0] == 0
    assert cli("take", "--agent", "a1")[0] == 0
    assert cli("done", "c2", "--agent", "a1", "--disposition", "resolved")[0] == 0
    assert cli("take", "--agent", "a1")[0] == 0  # c1
    assert cli("done", "c1", "--agent", "a1", "--disposition", "callback")[0] == 0
    code, out, _ = cli("history", "c2")
    assert code == 0 and [line.split()[3] for line in out.splitlines()] == [
        "filed", "taken", "released", "taken", "done"]
    code, out, _ = cli("history", "c1", "--json")
    assert code == 0 and json.loads(out.splitlines()[-1])["detail"] == "callback"
    assert cli("history", "nobody")[0] == 2
    code, out, _ = cli("list", "--status", "done")
    assert code == 0 and len(out.splitlines()) == 2 and "done by a1" in out
    code, out, _ = cli("purge", "--days", "0")
    assert code == 0 and "in 2 closed calls" in out
    assert q.get("c1").handoff.heard == ()  # type: ignore[union-attr]
    code, out, _ = cli("stats", "--sla-target", "60")
    assert code == 0 and "in 60s" in out.splitlines()[0] and "100%" in out
    code, out, _ = cli("stats", "--json")
    assert json.loads(out)["queues"][0]["sla"]["answered"] == 2
    assert cli("purge", "--days", "-1")[0] == 2 and cli("take", "--lease", "0")[0] == 2
