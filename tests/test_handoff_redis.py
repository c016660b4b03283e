"""The Redis queue's own promises: URLs and key prefixes, one-line errors, many takers, the
bytes on the server, a crash of the server, the command line.

Behaviour every backend shares is in test_handoff_shared.py.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from ivr.errors import QueueError
from ivr.handoff import open_queue
from ivr.handoff.redis import DEFAULT_PREFIX, RedisQueue
from ivr.handoff.redis_url import key as _key
from ivr.handoff.redis_url import sortable_time
from ivr.types import Priority, Slot

from .conftest import ROOT
from .redis_server import REDIS_SERVER, RedisServer, free_port
from .test_handoff_shared import CARD, handoff


def raw(server: RedisServer, db: int = 0) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=server.port, db=db)


@pytest.fixture
def url(redis_server: RedisServer) -> str:
    return redis_server.url()


# -- URLs, prefixes, databases -------------------------------------------------------------------


def test_url_forms(redis_server: RedisServer) -> None:
    port = redis_server.port
    raw(redis_server, 3).flushdb()
    with open_queue(f"redis://127.0.0.1:{port}/3") as q:  # type: ignore[attr-defined]
        assert isinstance(q, RedisQueue) and q.prefix == DEFAULT_PREFIX
        assert q.put(handoff("c1")) is True
    with open_queue(f"REDIS://127.0.0.1:{port}/3?prefix=ivr") as q:  # type: ignore[attr-defined]
        assert q.put(handoff("c1")) is False  # the same keys: default prefix is "ivr"
    with open_queue(f"redis://127.0.0.1:{port}/3?prefix=other") as q:  # type: ignore[attr-defined]
        assert q.list() == []  # another prefix: another queue
    with open_queue(f"redis://127.0.0.1:{port}/4") as q:  # type: ignore[attr-defined]
        assert q.list() == []  # another database: another queue
    keys = sorted(k.decode() for k in raw(redis_server, 3).scan_iter())
    assert keys and all(k.startswith(("ivr:", "other:")) for k in keys)
    assert keys == sorted({
        _key("ivr", "schema"), _key("ivr", "seq"), _key("ivr", "calls"), _key("ivr", "queues"),
        _key("ivr", "record", "1"), _key("ivr", "waiting"), _key("ivr", "waiting", "cards"),
        _key("ivr", "wl", "zh", "cards"), _key("ivr", "audit"), _key("ivr", "auditseq"),
        _key("ivr", "history", "c1"), _key("other", "schema"),
    })


def test_queue_names_with_colons_do_not_mix(url: str) -> None:
    with open_queue(url) as q:  # type: ignore[attr-defined]
        q.put(handoff("a", queue="x"))
        q.put(handoff("b", queue="x:y"))
        assert [i.handoff.call_id for i in q.list("x")] == ["a"]
        assert [i.handoff.call_id for i in q.list("x:y")] == ["b"]
        assert q.take("x:y", agent="a1").handoff.call_id == "b"
        assert [i.handoff.call_id for i in q.list("x")] == ["a"]


def test_another_layout_version_is_refused(redis_server: RedisServer) -> None:
    url = redis_server.url(prefix="old")
    raw(redis_server).set("old:schema", "0")
    with pytest.raises(QueueError, match=r"key layout version '0' under prefix 'old'"):
        open_queue(url)


def test_an_empty_prefix_is_refused(redis_server: RedisServer) -> None:
    with pytest.raises(QueueError, match="prefix= names no key prefix"):
        open_queue(f"redis://127.0.0.1:{redis_server.port}/0?prefix=")


# -- one-line errors -----------------------------------------------------------------------------


def test_connection_refused_is_one_line_without_the_password() -> None:
    port = free_port()
    with pytest.raises(QueueError) as info:
        open_queue(f"redis://agent:s3cret-pw@127.0.0.1:{port}/0")
    message = str(info.value)
    assert message.startswith(f"queue redis://agent:***@127.0.0.1:{port}/0: cannot connect: ")
    assert "\n" not in message and "s3cret" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_a_tls_url_to_a_plain_server_is_one_line(redis_server: RedisServer) -> None:
    with pytest.raises(QueueError, match=rf"^queue rediss://127.0.0.1:{redis_server.port}/0\?"
                                         r"socket_connect_timeout=2: cannot connect: [^\n]+$"):
        open_queue(f"rediss://127.0.0.1:{redis_server.port}/0?socket_connect_timeout=2")


def test_an_unreadable_record_is_a_queue_error(url: str, redis_server: RedisServer) -> None:
    with open_queue(url) as q:  # type: ignore[attr-defined]
        q.put(handoff("c1"))
        prefix = url.rsplit("=", 1)[1]
        raw(redis_server).hset(_key(prefix, "record", "1"), "record", "{not json")
        with pytest.raises(QueueError, match=r"record 1 is unreadable"):
            q.list()
        with pytest.raises(QueueError, match=r"cannot take a handoff: record 1 is unreadable"):
            q.take(agent="a1")
        assert raw(redis_server).zcard(_key(prefix, "waiting")) == 1  # not lost to the agent
        assert raw(redis_server).hget(_key(prefix, "record", "1"), "status") == b"waiting"


def test_the_cli_says_one_line_when_redis_is_down(tmp_path: Path) -> None:
    out = run_cli(["queue", "list", "--queue", f"redis://:pw@127.0.0.1:{free_port()}/0"], tmp_path)
    assert out.returncode == 2 and out.stdout == ""
    [line] = out.stderr.splitlines()
    assert line.startswith("ivr: error: queue redis://:***@127.0.0.1:") and "pw@" not in line


# -- many takers -----------------------------------------------------------------------------------


def test_eight_threads_take_while_records_are_filed(url: str) -> None:
    calls = [f"c{i:03d}" for i in range(400)]
    start = threading.Barrier(9)
    got: dict[str, list[str]] = {}
    filed = threading.Event()

    def take(agent: str) -> None:
        with open_queue(url) as q:  # type: ignore[attr-defined]
            start.wait()
            mine = got.setdefault(agent, [])
            while True:
                item = q.take(agent=agent)
                if item is not None:
                    mine.append(item.handoff.call_id)
                elif filed.is_set() and not q.list():
                    return

    workers = [threading.Thread(target=take, args=(f"a{i}",)) for i in range(8)]
    for w in workers:
        w.start()
    with open_queue(url) as q:  # type: ignore[attr-defined]
        start.wait()
        for call in calls:
            assert q.put(handoff(call)) is True
        filed.set()
        for w in workers:
            w.join(timeout=60)
        taken = {i.handoff.call_id: i.taken_by for i in q.list(status="taken")}
    everything = [c for mine in got.values() for c in mine]
    assert sorted(everything) == calls  # every record taken exactly once
    assert all(taken[c] == agent for agent, mine in got.items() for c in mine)


_TAKER = """
import sys
from ivr.handoff import open_queue
q = open_queue(sys.argv[1])
while (item := q.take(agent=sys.argv[2])) is not None:
    print(item.handoff.call_id, flush=True)
q.close()
"""


def test_eight_processes_never_take_the_same_record(url: str, tmp_path: Path) -> None:
    calls = [f"p{i:03d}" for i in range(400)]
    with open_queue(url) as q:  # type: ignore[attr-defined]
        for call in calls:
            q.put(handoff(call, priority=Priority(len(call) % 4)))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", _TAKER, url, f"a{i}"], env=env,
                              stdout=subprocess.PIPE, text=True) for i in range(8)]
    outs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(c for out in outs for c in out) == calls


# -- what the server holds -----------------------------------------------------------------------


def test_no_card_digits_reach_the_server(url: str, redis_server: RedisServer) -> None:
    with open_queue(url) as q:  # type: ignore[attr-defined]
        q.put(handoff(heard=(f"我的卡号是{CARD}", "card 6222 0212 3456 7894",
                             "卡号六二二二零二幺二三四五六七八九四"),
                      slots=(Slot("card_number", CARD, CARD), Slot("pin", "4321", "4321"))))
        q.take(agent="a1")
    server, prefix = raw(redis_server), url.rsplit("=", 1)[1]
    keys = list(server.scan_iter(f"{prefix}:*"))
    assert len(keys) == 11  # schema seq calls queues record taken(x2) leases, audit trail (x3)
    dumped = b"".join(server.dump(k) or b"" for k in keys)
    for secret in (CARD, "6222 0212 3456 7894", "六二二二零二幺二三四五六七八九四", "4321"):
        assert secret.encode() not in dumped


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=2, max_size=8))
def test_sortable_time_sorts_as_the_floats(times: list[float]) -> None:
    assert all(len(sortable_time(t)) == 16 for t in times)
    by_text = sorted(times, key=sortable_time)
    assert by_text == sorted(times)  # ties (0.0 and -0.0 too) compare equal as floats
    assert sortable_time(-0.0) == sortable_time(0.0)
    assert struct.calcsize(">d") == 8


@given(st.lists(st.floats(1, 4e9), min_size=1, max_size=5), st.floats(0, 4e9))  # 0.0: unset
def test_stats_counted_on_the_server_keep_exact_times(
    redis_server: RedisServer, times: list[float], now: float
) -> None:
    with RedisQueue(redis_server.url(), clock=lambda: now) as q:
        for n, t in enumerate(times):
            q.put(handoff(f"c{n}", created_at=t, reason=f"r{n % 2}", queue="a:b\x00c"))
        [counts] = q.stats().queues
    assert counts.queue == "a:b\x00c" and counts.waiting == len(times)
    assert counts.oldest_waiting_seconds == max(0.0, now - min(times))
    assert dict(counts.by_reason) == {
        r: sum(1 for n in range(len(times)) if f"r{n % 2}" == r) for r in ("r0", "r1")
        if any(f"r{n % 2}" == r for n in range(len(times)))
    }


# -- a crash of the server ------------------------------------------------------------------------


@pytest.fixture
def aof_server(tmp_path: Path) -> Iterator[RedisServer]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path / "aof", aof=True).start()
    yield server
    server.stop()


def test_kill_9_of_the_server_loses_no_acknowledged_record(aof_server: RedisServer) -> None:
    url = aof_server.url(prefix="crash")
    q = open_queue(url)
    for i in range(50):
        assert q.put(handoff(f"c{i:02d}", created_at=1000.0 + i)) is True
    taken = q.take(agent="a1")
    aof_server.kill()
    with pytest.raises(QueueError, match=r"^queue redis://[^\n]*: cannot file a handoff: "):
        q.put(handoff("lost"))  # not acknowledged: an error, not a silent drop
    q.close()
    aof_server.start()
    with open_queue(url) as again:  # type: ignore[attr-defined]
        assert again.list(status="taken") == [taken]
        assert [i.handoff.call_id for i in again.list()] == [f"c{i:02d}" for i in range(1, 50)]
        assert again.put(handoff("c01", created_at=1001.0)) is False  # still idempotent
        assert again.put(handoff("c50")) is True
        assert max(i.id for i in again.list()) == 51  # ids keep increasing


# -- the command line ---------------------------------------------------------------------------


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("IVR_QUEUE", None)
    return subprocess.run([sys.executable, "-m", "ivr.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_cli_list_take_stats(url: str, tmp_path: Path) -> None:
    with open_queue(url) as q:  # type: ignore[attr-defined]
        q.put(handoff("c1", created_at=100.0))
        q.put(handoff("f1", queue="fraud", priority=Priority.URGENT, created_at=200.0))
    listed = run_cli(["queue", "list", "--queue", url], tmp_path)
    assert listed.returncode == 0, listed.stderr
    first, second = listed.stdout.splitlines()
    assert "f1" in first and "c1" in second  # urgent first
    took = run_cli(["queue", "take", "--queue", url, "--agent", "a9"], tmp_path)
    assert took.returncode == 0 and "f1" in took.stdout, took.stderr
    stats = run_cli(["queue", "stats", "--queue", url, "--json"], tmp_path)
    assert stats.returncode == 0, stats.stderr
    assert '"waiting": 1' in stats.stdout and '"taken": 1' in stats.stdout
    assert list(tmp_path.iterdir()) == []  # no SQLite file made on the side


# -- layout 1 (the old code's keys), migrated in place ---------------------------------------------


def test_a_layout_1_prefix_is_migrated(redis_server: RedisServer) -> None:
    from ivr.handoff.record import encode_json

    prefix = "v1"
    r = raw(redis_server)
    r.set(_key(prefix, "schema"), "1")
    for n, (call, status) in enumerate((("w1", "waiting"), ("t1", "taken"), ("w2", "waiting")),
                                       start=1):
        h = handoff(call, lang="en", created_at=1000.0 + n)
        member = sortable_time(h.created_at) + f"{n:020d}"
        fields = {"record": encode_json(h), "status": status, "queue": "cards",
                  "score": str(-int(h.priority)),
                  "member": member, "reason": h.reason, "created_at": repr(h.created_at)}
        if status == "taken":
            fields.update(taken_by="old-agent", taken_at="1010.0")
        r.hset(_key(prefix, "record", str(n)), mapping=fields)
        r.hset(_key(prefix, "calls"), call, n)
        for key in (_key(prefix, status), _key(prefix, status, "cards")):
            r.zadd(key, {member: -int(h.priority)})
    r.set(_key(prefix, "seq"), 3)
    r.sadd(_key(prefix, "queues"), "cards")
    with RedisQueue(redis_server.url(prefix=prefix), clock=lambda: 2000.0) as q:
        assert r.get(_key(prefix, "schema")) == b"3"  # 1 -> 2 -> 3
        assert [i.handoff.call_id for i in q.list()] == ["w1", "w2"]
        [closed] = q.list(status="done")
        assert (closed.handoff.call_id, closed.disposition, closed.taken_by) == (
            "t1", "taken_before_v2", "old-agent")  # a v1 take was final: never served twice
        assert q.take(agent="a", langs=["zh"]) is None  # languages were filled in
        assert q.take(agent="a", langs=["en"]).handoff.call_id == "w1"  # type: ignore[union-attr]
        assert [e.event for e in q.history("t1")] == ["filed", "done"]
        assert q.put(handoff("w2", lang="en", created_at=5.0)) is False
        assert q.stats().queues[0].answered == 2
