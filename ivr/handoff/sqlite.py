"""The SQLite human queue: one file, safe for several processes at once.

One row per handoff: the whole record as JSON, plus the columns the queue sorts and filters on
(call_id UNIQUE, queue, priority, status, created_at, reason). The file runs in WAL mode, so
agents reading the queue never block the engine filing into it; claiming a record happens in a
`BEGIN IMMEDIATE` transaction, so two agents never take the same one.

The record itself (validation, masking, the JSON in the `record` column, what counts as a
retried filing) is `ivr.handoff.record`, shared by every backend; so are the figures
(`ivr.handoff.stats`). This module is only the storage.

A URL names the file: `sqlite:///abs/path`, `sqlite:relative/path` (or a plain path). The
file's folder must exist — a typo in a path is an error, not a new empty queue somewhere —
except the default folder `var/`, which is created.
"""

from __future__ import annotations

import builtins
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import QueueError
from ..types import Handoff, Priority
from .record import STATUSES, QueuedHandoff, check_refiling, decode_json, encode_json, one_of
from .record import prepare as prepare_record
from .stats import QueueStats, Tally, build_stats

__all__ = ["DEFAULT_FOLDER", "SCHEMA_VERSION", "SqliteQueue", "open_location"]

DEFAULT_FOLDER = Path("var")
"""ivr's own working folder (relative to the working directory): created when missing."""

SCHEMA_VERSION = 1
"""The layout this code reads and writes; a file with another version is refused."""

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS handoffs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        call_id TEXT NOT NULL UNIQUE,
        queue TEXT NOT NULL,
        priority INTEGER NOT NULL,
        reason TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('waiting', 'taken')),
        created_at REAL NOT NULL,
        taken_by TEXT,
        taken_at REAL,
        record TEXT NOT NULL
    )""",
    """CREATE INDEX IF NOT EXISTS handoffs_serving
        ON handoffs (status, queue, priority DESC, created_at, id)""",
)
_ORDER = "ORDER BY priority DESC, created_at, id"
_COLUMNS = "id, status, taken_by, taken_at, record"


class SqliteQueue:
    """A `HandoffQueue` in a SQLite file. One instance may be shared between threads.

    Args:
        path: The database file (created if missing; its folder must exist), or ":memory:"
            for a private in-memory queue (no WAL there).
        busy_timeout: Seconds to wait for another process holding the write lock.
        clock: Source of Unix time for filing, taking and ages (tests pass a fixed one).
        create_folder: Create the file's folder when missing (for ivr's own var/ only).

    Raises:
        QueueError: The folder is missing, or the file cannot be opened, is not a queue, or has
            another schema version.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
        create_folder: bool = False,
    ) -> None:
        self.path = Path(path)
        self._memory = str(path) == ":memory:"
        self._clock = clock
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        with self._errors("cannot open"):
            if not self._memory and create_folder:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self._memory and not self.path.parent.is_dir():
                raise QueueError(
                    f"queue DB {self.path}: folder {self.path.parent} does not exist"
                )
            conn = sqlite3.connect(
                str(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            try:
                self._setup(conn, busy_timeout)
            except BaseException:
                conn.close()
                raise
        self._conn = conn

    # -- the HandoffQueue protocol -------------------------------------------------------------

    def put(self, h: Handoff) -> bool:
        """File a handoff; filing the same record again (a retry) changes nothing.

        Transcripts and slots are masked before storing; a `created_at` of 0.0 (unset) is
        stamped with the current time.

        Returns:
            True if the record is new, False if this same record was already filed.

        Raises:
            DuplicateCallId: A different record is already filed under `h.call_id`.
            QueueError: The record is invalid or the file cannot be written.
        """
        where = f"queue DB {self.path}"
        h = prepare_record(h, now=self._clock(), where=where)
        with self._transaction("cannot file a handoff") as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM handoffs WHERE call_id = ?", (h.call_id,)
            ).fetchone()
            if row is not None:
                check_refiling(self._row(row).handoff, h, where=where)
                return False
            conn.execute(
                "INSERT INTO handoffs (call_id, queue, priority, reason, status, created_at,"
                " record) VALUES (?, ?, ?, ?, 'waiting', ?, ?)",
                (h.call_id, h.queue, int(h.priority), h.reason, h.created_at, encode_json(h)),
            )
            return True

    def list(
        self, queue: str | None = None, status: str = "waiting"
    ) -> builtins.list[QueuedHandoff]:
        """Records with `status` (in `queue`, or every queue), in serving order."""
        if status not in STATUSES:
            raise QueueError(f"queue DB {self.path}: unknown status {status!r} (use {STATUSES})")
        sql = f"SELECT {_COLUMNS} FROM handoffs WHERE status = ?"
        args: tuple[str, ...] = (status,)
        if queue is not None:
            sql, args = sql + " AND queue = ?", (*args, queue)
        with self._lock, self._errors("cannot list"):
            rows = self._connection().execute(f"{sql} {_ORDER}", args).fetchall()
        return [self._row(row) for row in rows]

    def take(self, queue: str | None = None, agent: str = "") -> QueuedHandoff | None:
        """Claim the next waiting record (in `queue`, or any) for `agent`; None if none waits."""
        where = "status = 'waiting'" + (" AND queue = ?" if queue is not None else "")
        args: tuple[str, ...] = (queue,) if queue is not None else ()
        now = self._clock()
        with self._transaction("cannot take a handoff") as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM handoffs WHERE {where} {_ORDER} LIMIT 1", args
            ).fetchone()
            if row is None:
                return None
            item = self._row(row)  # an unreadable record stays waiting (rolled back)
            conn.execute(
                "UPDATE handoffs SET status = 'taken', taken_by = ?, taken_at = ? WHERE id = ?",
                (agent, now, row[0]),
            )
        return replace(item, status="taken", taken_by=agent, taken_at=now)

    def stats(self) -> QueueStats:
        """Per-queue counts (reasons and priorities of waiting records) and oldest age."""
        now = self._clock()
        with self._lock, self._errors("cannot read stats"):
            rows = self._connection().execute(
                "SELECT queue, status, priority, reason, COUNT(*), MIN(created_at)"
                " FROM handoffs GROUP BY queue, status, priority, reason"
            ).fetchall()
        try:
            tallies = [
                Tally(str(q), one_of(s, STATUSES), Priority(p), str(r), int(n), float(t))
                for q, s, p, r, n, t in rows
            ]
        except (ValueError, TypeError) as exc:
            raise QueueError(f"queue DB {self.path}: unreadable counts: {exc}") from exc
        return build_stats(tallies, now)

    def close(self) -> None:
        """Close the database; later calls raise `QueueError`. Closing twice is harmless."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # -- plumbing ------------------------------------------------------------------------------

    def __enter__(self) -> SqliteQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqliteQueue({str(self.path)!r})"

    @property
    def journal_mode(self) -> str:
        """The journal mode in force ("wal" for a file, "memory" for ":memory:")."""
        with self._lock, self._errors("cannot read the journal mode"):
            return str(self._connection().execute("PRAGMA journal_mode").fetchone()[0]).lower()

    def _setup(self, conn: sqlite3.Connection, busy_timeout: float) -> None:
        """Set pragmas, check the file is (or becomes) a queue of our schema version."""
        conn.execute(f"PRAGMA busy_timeout = {max(0, int(busy_timeout * 1000))}")
        if not self._memory:
            mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
            if mode != "wal":
                raise QueueError(f"queue DB {self.path}: WAL mode refused (journal is {mode})")
        conn.execute("BEGIN IMMEDIATE")
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if tables and "schema_version" not in tables:
                raise QueueError(f"queue DB {self.path}: not a handoff queue (other tables)")
            for statement in _SCHEMA:
                conn.execute(statement)
            versions = [r[0] for r in conn.execute("SELECT version FROM schema_version")]
            if not versions:
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif versions != [SCHEMA_VERSION]:
                raise QueueError(
                    f"queue DB {self.path}: schema version {versions}, this ivr reads "
                    f"{SCHEMA_VERSION}"
                )
            conn.execute("COMMIT")
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise QueueError(f"queue DB {self.path}: closed")
        return self._conn

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Turn storage errors into one-line `QueueError`s naming the file."""
        try:
            yield
        except (sqlite3.Error, OSError, UnicodeError) as exc:
            raise QueueError(f"queue DB {self.path}: {what}: {exc}") from exc

    @contextmanager
    def _transaction(self, what: str, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
        """A transaction, committed on success and rolled back on any error."""
        with self._lock, self._errors(what):
            conn = self._connection()
            conn.execute(f"BEGIN {mode}")
            try:
                yield conn
                conn.execute("COMMIT")
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")

    def _row(self, row: tuple[Any, ...]) -> QueuedHandoff:
        """A stored row as a `QueuedHandoff`."""
        rowid, status, taken_by, taken_at, record = row
        try:
            handoff = decode_json(record)
            state = one_of(status, STATUSES)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise QueueError(f"queue DB {self.path}: record {rowid} is unreadable: {exc}") from exc
        return QueuedHandoff(
            id=int(rowid),
            handoff=handoff,
            status=state,
            taken_by=taken_by,
            taken_at=None if taken_at is None else float(taken_at),
        )


def open_location(location: str, clock: Callable[[], float] = time.time) -> SqliteQueue:
    """The queue a `sqlite:` URL names (the text after "sqlite:"), or a plain file path.

    `///abs/path` and `/abs/path` are absolute, `relative/path` is relative to the working
    directory, `:memory:` is a private in-memory queue; `//host/...` is refused (a SQLite file
    has no host). The folder must exist unless it is `var/`.

    Raises:
        QueueError: The location names a host or nothing, or the queue cannot be opened.
    """
    if location.startswith("//"):
        if not location.startswith("///"):
            raise QueueError(
                f"queue sqlite:{location}: a SQLite queue is a file, not a host; "
                "write sqlite:///abs/path or sqlite:relative/path"
            )
        location = location[2:]
    if not location:
        raise QueueError("queue sqlite: names no file; write sqlite:///abs/path or "
                         "sqlite:relative/path")
    path = Path(location)
    return SqliteQueue(location, clock=clock, create_folder=path.parent == DEFAULT_FOLDER)
