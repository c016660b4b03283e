"""The SQLite queue's layout (schema version 3), its migrations from 1 and 2, opening a file
when other processes are opening or writing it at the same moment, and the row-level steps
the queue's transactions are made of (claiming, expiring, audit rows, figures).

Version 2 adds leases, closing and an audit trail: `handoffs` gains `lang`, `lease_until`,
`first_taken_at`, `disposition`, `done_at` and `purged_at`, its status may be "done", and an
`audit` table holds one row per change. A version-1 file is migrated in place, in one
transaction: its rows are copied with their ids, each gets a "filed" event, and records an
agent had taken (version 1 had no leases and no closing: a take was the end of the record's
life in the queue) become "done" with the disposition "taken_before_v2" — never handed to a
second agent.

Version 3 adds the call-outcome log (`ivr.handoff.outcomes`): a `call_outcomes` table, one row
per finished call (call_id UNIQUE, the end time, kind, node, the QA label, the record as JSON).
Handoff records may carry the call's overlays in their JSON (records filed before have none).
A version-2 file is migrated in place by creating the table; a version-1 file goes 1 -> 2 -> 3
in one transaction.

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
from typing import Any, TypeVar

from ..errors import QueueError

__all__ = [
    "SCHEMA_VERSION",
    "claim",
    "ensure_schema",
    "expire_leases",
    "held",
    "is_locked",
    "number",
    "read_figures",
    "retry_locked",
    "serving_filter",
    "write_event",
]

SCHEMA_VERSION = 3
"""The layout this code reads and writes; versions 1 and 2 are migrated, any other refused."""

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
_OUTCOMES = (
    """CREATE TABLE IF NOT EXISTS call_outcomes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        call_id TEXT NOT NULL UNIQUE,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        node TEXT NOT NULL,
        expected_node TEXT,
        record TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS call_outcomes_time ON call_outcomes (at, id)",
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
        versions = [2]
    if versions == [2]:
        for statement in _OUTCOMES:  # 2 -> 3: the outcome log beside the queue
            conn.execute(statement)
        conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
    elif versions and versions != [SCHEMA_VERSION]:
        raise QueueError(f"{where}: schema version {versions}, this ivr reads {SCHEMA_VERSION} "
                         "(and migrates 1 and 2)")
    for statement in (_HANDOFFS, *_INDEXES, *_AUDIT, *_OUTCOMES):
        conn.execute(statement)
    if not versions:
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))


def _migrate_v1(conn: sqlite3.Connection, now: float) -> None:
    """Version 1 -> 2 in place (inside the caller's transaction); 2 -> 3 follows."""
    conn.execute("DROP INDEX IF EXISTS handoffs_serving")
    conn.execute("ALTER TABLE handoffs RENAME TO handoffs_v1")
    conn.execute(_HANDOFFS)
    conn.execute(_V1_COPY, (now,))
    conn.execute("DROP TABLE handoffs_v1")
    for statement in _AUDIT:
        conn.execute(statement)
    conn.execute(_V1_EVENTS)
    conn.execute("UPDATE schema_version SET version = 2")


def write_event(conn: sqlite3.Connection, at: float, call_id: str, event: str, actor: str,
                queue: str, detail: str = "") -> None:
    """One audit row (inside the transaction that makes the change)."""
    conn.execute("INSERT INTO audit (at, call_id, event, actor, queue, detail)"
                 " VALUES (?, ?, ?, ?, ?, ?)", (at, call_id, event, actor, queue, detail))


def expire_leases(conn: sqlite3.Connection, now: float) -> int:
    """Leases past their time back to waiting (their place in line is kept: priority and
    filing time are untouched), each audited "expired" with the agent who lost it."""
    rows = conn.execute(
        "SELECT id, call_id, taken_by, queue FROM handoffs WHERE status = 'taken'"
        " AND lease_until <= ? ORDER BY lease_until, id", (now,)).fetchall()
    for rowid, call_id, agent, queue in rows:
        conn.execute("UPDATE handoffs SET status = 'waiting', taken_by = NULL,"
                     " taken_at = NULL, lease_until = NULL WHERE id = ?", (rowid,))
        write_event(conn, now, call_id, "expired", agent or "", queue, "lease")
    return len(rows)


def number(value: object) -> float | None:
    """A nullable REAL column as a float or None."""
    return None if value is None else float(value)  # type: ignore[arg-type]


def read_figures(conn: sqlite3.Connection) -> tuple[list[Any], list[Any]]:
    """The grouped counts and every record's (queue, filed, first taken), in one snapshot."""
    conn.execute("BEGIN")
    try:
        rows = conn.execute("SELECT queue, status, priority, reason, COUNT(*), MIN(created_at)"
                            " FROM handoffs GROUP BY queue, status, priority, reason").fetchall()
        spans = conn.execute("SELECT queue, created_at, first_taken_at FROM handoffs").fetchall()
    finally:
        conn.execute("COMMIT")
    return rows, spans


def held(conn: sqlite3.Connection, call_id: str, agent: str, now: float) -> tuple[int, str] | None:
    """(id, queue) of `call_id` if `agent` holds its lease now (after expiring leases)."""
    expire_leases(conn, now)
    row = conn.execute("SELECT id, queue FROM handoffs WHERE call_id = ? AND status = 'taken'"
                       " AND taken_by = ?", (call_id, agent)).fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


def serving_filter(names: tuple[str, ...] | None,
                   languages: tuple[str, ...] | None) -> tuple[str, list[str]]:
    """The WHERE clause (and its arguments) of waiting records in these queues and languages
    (None: any)."""
    where, args = "status = 'waiting'", list[str]()
    for column, values in (("queue", names), ("lang", languages)):
        if values is not None:
            where += f" AND {column} IN ({', '.join('?' * len(values))})"
            args += values
    return where, args


def claim(conn: sqlite3.Connection, rowid: int, call_id: str, queue: str, agent: str,
          now: float, lease_until: float) -> None:
    """Mark a waiting record taken by `agent` until `lease_until`, audited."""
    conn.execute("UPDATE handoffs SET status = 'taken', taken_by = ?, taken_at = ?,"
                 " first_taken_at = COALESCE(first_taken_at, ?), lease_until = ? WHERE id = ?",
                 (agent, now, now, lease_until, rowid))
    write_event(conn, now, call_id, "taken", agent, queue)
