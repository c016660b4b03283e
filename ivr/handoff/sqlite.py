"""The SQLite human queue: one file, safe for several processes at once.

One row per handoff: the whole record as JSON, plus the columns the queue sorts and filters on
(call_id UNIQUE, queue, priority, status, created_at, reason). The file runs in WAL mode, so
agents reading the queue never block the engine filing into it; claiming a record happens in a
`BEGIN IMMEDIATE` transaction, so two agents never take the same one.

Every text that came from the caller (transcripts, slots) is masked again on the way in: a
full card number cannot reach the file even if the code that built the `Handoff` forgot.
"""

from __future__ import annotations

import builtins
import json
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from ..errors import QueueError
from ..privacy import mask_sensitive, mask_slot
from ..types import LANGS, Candidate, Handoff, Priority, Slot
from . import STATUSES, QueueCounts, QueuedHandoff, QueueStats

__all__ = ["SCHEMA_VERSION", "SqliteQueue"]

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
_T = TypeVar("_T")
_ORDER = "ORDER BY priority DESC, created_at, id"
_COLUMNS = "id, status, taken_by, taken_at, record"


class SqliteQueue:
    """A `HandoffQueue` in a SQLite file. One instance may be shared between threads.

    Args:
        path: The database file (created with its parent directory if missing), or
            ":memory:" for a private in-memory queue (no WAL there).
        busy_timeout: Seconds to wait for another process holding the write lock.
        clock: Source of Unix time for filing, taking and ages (tests pass a fixed one).

    Raises:
        QueueError: The file cannot be opened, is not a queue, or has another schema version.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self._memory = str(path) == ":memory:"
        self._clock = clock
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        with self._errors("cannot open"):
            if not self._memory:
                self.path.parent.mkdir(parents=True, exist_ok=True)
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
        """File a handoff; filing the same call id again keeps the first record.

        Transcripts and slots are masked before storing; a `created_at` of 0.0 (unset) is
        stamped with the current time.

        Returns:
            True if the record is new, False if the call id was already filed.

        Raises:
            QueueError: The record is invalid or the file cannot be written.
        """
        h = self._prepare(h)
        record = json.dumps(_encode(h), ensure_ascii=False, sort_keys=True, allow_nan=False)
        with self._transaction("cannot file a handoff") as conn:
            cur = conn.execute(
                "INSERT INTO handoffs (call_id, queue, priority, reason, status, created_at,"
                " record) VALUES (?, ?, ?, ?, 'waiting', ?, ?) ON CONFLICT (call_id) DO NOTHING",
                (h.call_id, h.queue, int(h.priority), h.reason, h.created_at, record),
            )
            return cur.rowcount == 1

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
        with self._transaction("cannot read stats", mode="DEFERRED") as conn:
            counts = conn.execute(
                "SELECT queue, status, COUNT(*), MIN(created_at) FROM handoffs"
                " GROUP BY queue, status"
            ).fetchall()
            reasons = conn.execute(
                "SELECT queue, reason, COUNT(*) FROM handoffs WHERE status = 'waiting'"
                " GROUP BY queue, reason"
            ).fetchall()
            priorities = conn.execute(
                "SELECT queue, priority, COUNT(*) FROM handoffs WHERE status = 'waiting'"
                " GROUP BY queue, priority"
            ).fetchall()
        return _build_stats(self.path, now, counts, reasons, priorities)

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

    def _prepare(self, h: Handoff) -> Handoff:
        """Validate a handoff, mask caller text, stamp the filing time if unset."""
        if not isinstance(h, Handoff):
            raise QueueError(f"queue DB {self.path}: not a Handoff: {type(h).__name__}")
        problem = _problem(h)
        if problem:
            raise QueueError(f"queue DB {self.path}: invalid handoff {h.call_id!r}: {problem}")
        return replace(
            h,
            priority=Priority(h.priority),
            heard=tuple(mask_sensitive(t) for t in h.heard),
            slots=tuple(mask_slot(s) for s in h.slots),
            created_at=self._clock() if h.created_at == 0.0 else float(h.created_at),
        )

    def _row(self, row: tuple[Any, ...]) -> QueuedHandoff:
        """A stored row as a `QueuedHandoff`."""
        rowid, status, taken_by, taken_at, record = row
        try:
            handoff = _decode(json.loads(record))
            state = _one_of(status, STATUSES)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise QueueError(f"queue DB {self.path}: record {rowid} is unreadable: {exc}") from exc
        return QueuedHandoff(
            id=int(rowid),
            handoff=handoff,
            status=state,
            taken_by=taken_by,
            taken_at=None if taken_at is None else float(taken_at),
        )


def _problem(h: Handoff) -> str:
    """What is wrong with a handoff's fields, or "" when nothing is."""
    if not isinstance(h.call_id, str) or not h.call_id:
        return "call_id must be a non-empty string"
    if not isinstance(h.queue, str) or not h.queue:
        return "queue must be a non-empty string"
    if h.priority not in set(Priority):
        return f"unknown priority {h.priority!r}"
    if h.lang not in LANGS:
        return f"unknown language {h.lang!r}"
    if not all(isinstance(t, str) for t in (*h.heard, *h.path, h.reason)):
        return "heard, path and reason must be strings"
    if h.intent is not None and not isinstance(h.intent, str):
        return "intent must be a string or None"
    if not all(
        isinstance(c, Candidate) and isinstance(c.intent, str) and _finite(c.score)
        for c in h.candidates
    ):
        return "candidates must be Candidate values with finite scores"
    if not all(
        isinstance(s, Slot) and all(isinstance(v, str) for v in (s.name, s.value, s.masked))
        for s in h.slots
    ):
        return "slots must be Slot values of strings"
    if not _finite(h.created_at):
        return f"created_at must be a finite number, not {h.created_at!r}"
    return ""


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _encode(h: Handoff) -> dict[str, Any]:
    """The JSON shape of a stored handoff (every field, priority as its number)."""
    return {
        "call_id": h.call_id,
        "queue": h.queue,
        "priority": int(h.priority),
        "reason": h.reason,
        "lang": h.lang,
        "heard": list(h.heard),
        "candidates": [{"intent": c.intent, "score": c.score} for c in h.candidates],
        "path": list(h.path),
        "slots": [{"name": s.name, "value": s.value, "masked": s.masked} for s in h.slots],
        "intent": h.intent,
        "created_at": h.created_at,
    }


def _decode(data: dict[str, Any]) -> Handoff:
    """A handoff from its stored JSON shape; raises ValueError/KeyError/TypeError if malformed."""
    intent = data["intent"]
    return Handoff(
        call_id=_str(data["call_id"]),
        queue=_str(data["queue"]),
        priority=Priority(data["priority"]),
        reason=_str(data["reason"]),
        lang=_one_of(data["lang"], LANGS),
        heard=tuple(_str(t) for t in data["heard"]),
        candidates=tuple(
            Candidate(intent=_str(c["intent"]), score=float(c["score"]))
            for c in data["candidates"]
        ),
        path=tuple(_str(p) for p in data["path"]),
        slots=tuple(
            Slot(name=_str(s["name"]), value=_str(s["value"]), masked=_str(s["masked"]))
            for s in data["slots"]
        ),
        intent=None if intent is None else _str(intent),
        created_at=float(data["created_at"]),
    )


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _one_of(value: object, options: tuple[_T, ...]) -> _T:
    """`value` as one of `options` (typed as they are), or ValueError."""
    for option in options:
        if value == option:
            return option
    raise ValueError(f"{value!r} is not one of {options}")


def _build_stats(
    path: Path,
    now: float,
    counts: builtins.list[tuple[Any, ...]],
    reasons: builtins.list[tuple[Any, ...]],
    priorities: builtins.list[tuple[Any, ...]],
) -> QueueStats:
    """Assemble grouped query rows into a `QueueStats`."""
    names = sorted({str(r[0]) for r in counts})
    waiting = {str(q): int(n) for q, s, n, _ in counts if s == "waiting"}
    taken = {str(q): int(n) for q, s, n, _ in counts if s == "taken"}
    oldest = {str(q): float(t) for q, s, _, t in counts if s == "waiting"}
    try:
        by_priority = {(str(q), Priority(p)): int(n) for q, p, n in priorities}
    except ValueError as exc:
        raise QueueError(f"queue DB {path}: unreadable priority: {exc}") from exc
    queues = []
    for name in names:
        by_reason = sorted(
            ((str(r), int(n)) for q, r, n in reasons if q == name),
            key=lambda item: (-item[1], item[0]),
        )
        queues.append(
            QueueCounts(
                queue=name,
                waiting=waiting.get(name, 0),
                taken=taken.get(name, 0),
                by_reason=tuple(by_reason),
                by_priority=tuple(
                    (p, by_priority.get((name, p), 0)) for p in sorted(Priority, reverse=True)
                ),
                oldest_waiting_seconds=max(0.0, now - oldest[name]) if name in oldest else None,
            )
        )
    return QueueStats(queues=tuple(queues), at=now)
