"""The SQLite queue's own promises: the file, its journal, its schema, its URLs, kill -9.

Behaviour every backend shares is in test_handoff_shared.py.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ivr.errors import QueueError
from ivr.handoff import DEFAULT_QUEUE_PATH, open_queue
from ivr.handoff.sqlite import SCHEMA_VERSION, SqliteQueue
from ivr.types import Slot

from .conftest import ROOT
from .test_handoff_shared import CARD, handoff


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "handoff.sqlite3"


def test_wal_mode_and_schema_version(db: Path) -> None:
    with SqliteQueue(db) as queue:
        assert queue.journal_mode == "wal"
    raw = sqlite3.connect(db)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    finally:
        raw.close()


def test_memory_queue_has_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for target in (":memory:", "sqlite::memory:"):
        queue = open_queue(target)
        assert queue.put(handoff()) is True and queue.put(handoff()) is False
        queue.close()
    assert list(tmp_path.iterdir()) == []


def test_no_card_digits_in_the_file_bytes(db: Path) -> None:
    spaced = "6222 0212 3456 7894"
    with SqliteQueue(db) as queue:
        queue.put(
            handoff(
                heard=(f"我的卡号是{CARD}", f"card {spaced}",
                       "卡号六二二二零二幺二三四五六七八九四"),
                slots=(Slot("card_number", CARD, CARD), Slot("pin", "4321", "4321")),
            )
        )
        raw = b"".join(p.read_bytes() for p in db.parent.iterdir())
    for secret in (CARD, spaced, "六二二二零二幺二三四五六七八九四", "4321"):
        assert secret.encode() not in raw


def test_a_refused_duplicate_writes_nothing(db: Path) -> None:
    with SqliteQueue(db) as queue:
        queue.put(handoff("call"))
        with pytest.raises(QueueError):
            queue.put(handoff("call", queue="loans"))
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT call_id, queue FROM handoffs").fetchall() == [("call", "cards")]
    raw.close()


# -- where the file is: URLs, folders ----------------------------------------------------------


def test_url_forms_name_the_same_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "q").mkdir()
    path = tmp_path / "q" / "h.sqlite3"
    for n, target in enumerate(
        (f"sqlite://{path}", f"sqlite:{path}", "sqlite:q/h.sqlite3", "q/h.sqlite3", str(path), path)
    ):
        with open_queue(target) as queue:  # type: ignore[attr-defined]
            assert isinstance(queue, SqliteQueue)
            assert queue.path.resolve() == path
            assert queue.put(handoff(f"c{n}")) is True
            assert len(queue.list()) == n + 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q"]


@pytest.mark.parametrize("target", ["sqlite://x", "sqlite://host/q.sqlite3", "sqlite:", "SQLITE://x"])
def test_a_sqlite_url_with_a_host_or_no_file_is_refused(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(QueueError, match="sqlite:///abs/path or sqlite:relative/path"):
        open_queue(target)
    assert list(tmp_path.iterdir()) == []  # no folder named "sqlite:"


@pytest.mark.parametrize("target", ["/typo/x.sqlite3", "sqlite:///typo/x.sqlite3", "typo/x.db"])
def test_a_missing_folder_is_an_error_not_a_new_queue(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(QueueError, match=r"folder .*typo does not exist"):
        open_queue(target)
    assert not Path("/typo").exists() and list(tmp_path.iterdir()) == []


def test_the_default_var_folder_is_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("IVR_QUEUE", raising=False)
    with open_queue() as queue:  # type: ignore[attr-defined]
        assert queue.path == DEFAULT_QUEUE_PATH
    assert (tmp_path / DEFAULT_QUEUE_PATH).is_file()
    open_queue("var/demo-queue.sqlite3").close()  # `make demo`'s queue, in ivr's own folder
    assert (tmp_path / "var" / "demo-queue.sqlite3").is_file()


def test_ivr_queue_may_be_a_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR_QUEUE", f"sqlite://{tmp_path / 'env.sqlite3'}")
    with open_queue() as queue:  # type: ignore[attr-defined]
        assert queue.path == tmp_path / "env.sqlite3"


# -- a file that is not (our) queue --------------------------------------------------------------


def test_corrupt_file_is_a_queue_error(db: Path) -> None:
    db.write_text("this is not a database, just some notes\n" * 100)
    with pytest.raises(QueueError, match=rf"queue DB {db}: .*not a database"):
        open_queue(db)


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


def test_other_schema_version_is_refused(db: Path) -> None:
    open_queue(db).close()
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE schema_version SET version = 99")
    raw.close()
    with pytest.raises(QueueError, match="schema version"):
        open_queue(db)


def test_unreadable_record_is_a_queue_error(db: Path) -> None:
    queue = open_queue(db)
    queue.put(handoff("c1"))
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE handoffs SET record = '{\"call_id\": 1}'")
    raw.close()
    for attempt in (queue.list, lambda: queue.take(agent="a1"), lambda: queue.put(handoff("c1"))):
        with pytest.raises(QueueError, match="record 1 is unreadable"):
            attempt()
    queue.close()
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT status FROM handoffs").fetchall() == [("waiting",)]
    raw.close()


def test_unreadable_priority_in_stats_is_a_queue_error(db: Path) -> None:
    with SqliteQueue(db) as queue:
        queue.put(handoff("c1"))
        with sqlite3.connect(db) as raw:
            raw.execute("UPDATE handoffs SET priority = 42")
        raw.close()
        with pytest.raises(QueueError, match="unreadable counts"):
            queue.stats()


# -- kill -9 --------------------------------------------------------------------------------------

_FILER = """
import sys
from dataclasses import replace
from ivr.handoff import open_queue
from tests.test_handoff_shared import handoff
queue = open_queue(sys.argv[1])
for i in range(100000):
    queue.put(handoff(f"k{i:06d}"))
    print(i, flush=True)
"""


def test_a_killed_filer_loses_no_acknowledged_record(db: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", _FILER, str(db)], stdout=subprocess.PIPE,
                            text=True, cwd=ROOT, env=env)
    assert proc.stdout is not None
    acknowledged = -1
    for line in proc.stdout:
        acknowledged = int(line)
        if acknowledged >= 200:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with SqliteQueue(db) as queue:
        ids = [q.handoff.call_id for q in queue.list()]
        assert ids[: acknowledged + 1] == [f"k{i:06d}" for i in range(acknowledged + 1)]
        assert queue.put(handoff("k000000")) is False
        assert queue.put(replace(handoff("after"), queue="loans")) is True


# -- schema version 1 (the old code's DDL), migrated in place -------------------------------------

_V1_DDL = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    """CREATE TABLE handoffs (
        id INTEGER PRIMARY KEY AUTOINCREMENT, call_id TEXT NOT NULL UNIQUE,
        queue TEXT NOT NULL, priority INTEGER NOT NULL, reason TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('waiting', 'taken')),
        created_at REAL NOT NULL, taken_by TEXT, taken_at REAL, record TEXT NOT NULL)""",
    """CREATE INDEX handoffs_serving
        ON handoffs (status, queue, priority DESC, created_at, id)""",
    "INSERT INTO schema_version (version) VALUES (1)",
)


def test_a_version_1_file_is_migrated_in_place(db: Path) -> None:
    from ivr.handoff.record import encode_json

    raw = sqlite3.connect(db)
    for statement in _V1_DDL:
        raw.execute(statement)
    for n, (call, status) in enumerate((("w1", "waiting"), ("t1", "taken"), ("w2", "waiting"))):
        h = handoff(call, lang="ko", created_at=1000.0 + n)
        raw.execute("INSERT INTO handoffs (call_id, queue, priority, reason, status, created_at,"
                    " taken_by, taken_at, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (call, h.queue, int(h.priority), h.reason, status, h.created_at,
                     "old-agent" if status == "taken" else None,
                     1010.0 if status == "taken" else None, encode_json(h)))
    raw.commit()
    raw.close()
    with SqliteQueue(db, clock=lambda: 2000.0) as queue:
        assert [q.handoff.call_id for q in queue.list()] == ["w1", "w2"]
        [closed] = queue.list(status="done")
        assert (closed.handoff.call_id, closed.disposition, closed.taken_by) == (
            "t1", "taken_before_v2", "old-agent")  # a v1 take was final: never served twice
        assert queue.take(agent="a", langs=["zh"]) is None  # the language column is filled
        got = queue.take(agent="a", langs=["ko"])
        assert got is not None and got.handoff == handoff("w1", lang="ko", created_at=1000.0)
        assert [e.event for e in queue.history("t1")] == ["filed", "done"]
        assert queue.put(handoff("w2", lang="ko", created_at=5.0)) is False
        assert queue.stats().queues[0].answered == 2
    with sqlite3.connect(db) as again:
        assert again.execute("SELECT version FROM schema_version").fetchall() == [(3,)]  # 1->2->3
    again.close()


# -- "database is locked": busy writers and many openers at once -----------------------------------


def test_opening_waits_for_a_writer_instead_of_failing(db: Path) -> None:
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    holder.execute("BEGIN IMMEDIATE")  # a rollback-journal writer holds the lock
    done = threading.Timer(0.5, lambda: holder.execute("COMMIT"))
    done.start()
    try:
        with SqliteQueue(db) as queue:  # the old code: "database is locked" at once
            assert queue.journal_mode == "wal" and queue.put(handoff()) is True
    finally:
        done.join()
        holder.close()


def _open_and_take(path: str, agent: str, start: Any) -> list[str]:
    start.wait()
    queue = open_queue(path)
    queue.put(handoff(f"{agent}-own"))
    got = []
    while (item := queue.take(agent=agent)) is not None:
        got.append(item.handoff.call_id)
    queue.close()
    return got


def _into(out: dict[str, list[str]], path: str, agent: str, start: Any) -> None:
    out[agent] = _open_and_take(path, agent, start)


@pytest.mark.parametrize("how", ["threads", "processes"])
def test_eight_takers_opening_a_new_file_at_once_all_hold(tmp_path: Path, how: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    rounds = 6 if how == "processes" else 20
    with ctx.Manager() as manager, ctx.Pool(8) as pool:
        for n in range(rounds):
            path = str(tmp_path / f"r{n}.sqlite3")
            agents = [f"a{i}" for i in range(8)]
            if how == "processes":
                start = manager.Barrier(8)
                results = pool.starmap(_open_and_take, [(path, a, start) for a in agents])
            else:
                barrier = threading.Barrier(8)
                out: dict[str, list[str]] = {}
                threads = [threading.Thread(target=_into, args=(out, path, a, barrier))
                           for a in agents]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(timeout=60)
                results = list(out.values())
            taken = sorted(c for got in results for c in got)
            assert taken == sorted(f"{a}-own" for a in agents), f"round {n}"
