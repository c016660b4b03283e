"""The SQLite queue's own promises: the file, its journal, its schema, its URLs, kill -9.

Behaviour every backend shares is in test_handoff_shared.py.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

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
