"""The SQLite queue's layout (schema version 2), its migration from version 1, and opening a
file when other processes are opening or writing it at the same moment.

Version 2 adds leases, closing and an audit trail: `handoffs` gains `lang`, `lease_until`,
`first_taken_at`, `disposition`, `done_at` and `purged_at`, its status may be "done", and an
`audit` table holds one row per change. A version-1 file is migrated in place, in one
transaction: its rows are copied with their ids, each gets a "filed" event, and records an
agent had taken (version 1 had no leases and no closing: a take was the end of the record's
life in the queue) become "done" with the disposition "taken_before_v2" — never handed to a
second agent.

Busy files: `PRAGMA journal_mode = WAL` and `BEGIN IMMEDIATE` can fail at once with "database
is locked" while another connection holds the write lock — SQLite's busy handler does not
cover switching the journal mode — so `retry_locked` retries such steps, with jittered sleeps,
until the busy timeout has passed.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

from ..errors import QueueError

__all__ = ["SCHEMA_VERSION", "ensure_schema", "is_locked", "retry_locked"]

SCHEMA_VERSION = 2
"""The layout this code reads and writes; version 1 is migrated, any other is refused."""

_T = TypeVar("_T")

_HANDOFFS = """CREATE TABLE IF NOT EXISTS handoffs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id TEXT NOT NULL UNIQUE,
    queue TEXT NOT NULL,
    priority INTEGER NOT NULL,
    reason TEXT NOT NULL,
    lang TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('waiting', 'taken', 'done')),
    created_at REAL NOT NULL,
    taken_by TEXT,
    taken_at REAL,
    first_taken_at REAL,
    lease_until REAL,
    disposition TEXT,
    done_at REAL,
    purged_at REAL,
    record TEXT NOT NULL
)"""
_INDEXES = (
    """CREATE INDEX IF NOT EXISTS handoffs_serving
        ON handoffs (status, queue, priority DESC, created_at, id)""",
    "CREATE INDEX IF NOT EXISTS handoffs_leases ON handoffs (status, lease_until)",
    "CREATE INDEX IF NOT EXISTS handoffs_closed ON handoffs (status, done_at)",
)
_AUDIT = (
    """CREATE TABLE IF NOT EXISTS audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        call_id TEXT NOT NULL,
        event TEXT NOT NULL,
        actor TEXT NOT NULL,
        queue TEXT NOT NULL,
        detail TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS audit_call ON audit (call_id, id)",
    "CREATE INDEX IF NOT EXISTS audit_time ON audit (at, id)",
)
_V1_COPY = """INSERT INTO handoffs (id, call_id, queue, priority, reason, lang, status,
    created_at, taken_by, taken_at, first_taken_at, disposition, done_at, record)
    SELECT id, call_id, queue, priority, reason, COALESCE(json_extract(record, '$.lang'), ''),
        CASE status WHEN 'taken' THEN 'done' ELSE status END, created_at, taken_by, taken_at,
        taken_at, CASE status WHEN 'taken' THEN 'taken_before_v2' END,
        CASE status WHEN 'taken' THEN ? END, record
    FROM handoffs_v1"""
_V1_EVENTS = """INSERT INTO audit (at, call_id, event, actor, queue, detail)
    SELECT at, call_id, event, actor, queue, detail FROM (
        SELECT created_at AS at, id, 0 AS n, call_id, 'filed' AS event, 'engine' AS actor,
            queue, 'before_v2' AS detail FROM handoffs
        UNION ALL
        SELECT done_at, id, 1, call_id, 'done', COALESCE(taken_by, ''), queue, disposition
            FROM handoffs WHERE status = 'done'
    ) ORDER BY at, id, n"""


def is_locked(exc: BaseException) -> bool:
    """Whether a SQLite error means another connection holds the lock (worth waiting for)."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def retry_locked(step: Callable[[], _T], patience: float) -> _T:
    """Run `step`, again while it fails with "database is locked", for up to `patience` s."""
    deadline = time.monotonic() + patience
    pause = 0.002
    while True:
        try:
            return step()
        except sqlite3.OperationalError as exc:
            if not is_locked(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause * (0.5 + random.random()))
        pause = min(0.1, pause * 2)


def ensure_schema(conn: sqlite3.Connection, where: str, now: float) -> None:
    """Create the layout in an empty file, migrate version 1, or refuse anything else.

    Runs in the caller's write transaction (`BEGIN IMMEDIATE`), so two processes opening a
    new file at once create or migrate it once.
    """
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if tables - {"sqlite_sequence"} and "schema_version" not in tables:
        raise QueueError(f"{where}: not a handoff queue (other tables)")
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    versions = [r[0] for r in conn.execute("SELECT version FROM schema_version")]
    if versions == [1]:
        _migrate_v1(conn, now)
    elif versions and versions != [SCHEMA_VERSION]:
        raise QueueError(f"{where}: schema version {versions}, this ivr reads {SCHEMA_VERSION} "
                         "(and migrates 1)")
    for statement in (_HANDOFFS, *_INDEXES, *_AUDIT):
        conn.execute(statement)
    if not versions:
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))


def _migrate_v1(conn: sqlite3.Connection, now: float) -> None:
    """Version 1 -> 2 in place (inside the caller's transaction)."""
    conn.execute("DROP INDEX IF EXISTS handoffs_serving")
    conn.execute("ALTER TABLE handoffs RENAME TO handoffs_v1")
    conn.execute(_HANDOFFS)
    conn.execute(_V1_COPY, (now,))
    conn.execute("DROP TABLE handoffs_v1")
    for statement in _AUDIT:
        conn.execute(statement)
    conn.execute(_V1_EVENTS)
    conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
