"""One SQLite file opened for the queue and the outcome log: the connection, its lock, its
pragmas and schema check, and the transactions every write runs in.

The file runs in WAL mode, so readers never block the engine writing; every write is one
`BEGIN IMMEDIATE` transaction, retried while another process holds the lock, committed on
success and rolled back on any error. Storage errors become one-line `QueueError`s naming the
file. `SqliteQueue` (`ivr.handoff.sqlite`) and `SqliteOutcomeLog`
(`ivr.handoff.sqlite_outcomes`) share one `SqliteStore`.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import QueueError
from .sqlite_schema import ensure_schema, retry_locked

__all__ = ["SqliteStore"]


class SqliteStore:
    """An open queue file. One instance may be shared between threads.

    Args:
        path: The database file (created if missing; its folder must exist), or ":memory:"
            for a private in-memory queue (no WAL there).
        busy_timeout: Seconds to wait for another process holding the write lock.
        clock: Source of Unix time (tests pass a fixed one).
        create_folder: Create the file's folder when missing (for ivr's own var/ only).

    Raises:
        QueueError: The folder is missing, or the file cannot be opened, is not a queue, or has
            another schema version.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
        create_folder: bool = False,
    ) -> None:
        self.path = Path(path)
        self._where = f"queue DB {self.path}"
        self._memory = str(path) == ":memory:"
        self._clock = clock
        self._patience = busy_timeout
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        with self._errors("cannot open"):
            if not self._memory and create_folder:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self._memory and not self.path.parent.is_dir():
                raise QueueError(f"{self._where}: folder {self.path.parent} does not exist")
            conn = sqlite3.connect(
                str(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            try:
                self._setup(conn, busy_timeout)
            except BaseException:
                conn.close()
                raise
        self._conn = conn

    @property
    def where(self) -> str:
        """The file, for error messages ("queue DB var/handoff.sqlite3")."""
        return self._where

    @property
    def clock(self) -> Callable[[], float]:
        """The source of Unix time."""
        return self._clock

    def close(self) -> None:
        """Close the database; later calls raise `QueueError`. Closing twice is harmless."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @property
    def journal_mode(self) -> str:
        """The journal mode in force ("wal" for a file, "memory" for ":memory:")."""
        with self._lock, self._errors("cannot read the journal mode"):
            return str(self._connection().execute("PRAGMA journal_mode").fetchone()[0]).lower()

    def _setup(self, conn: sqlite3.Connection, busy_timeout: float) -> None:
        """Set pragmas, check the file is (or becomes) a queue of our schema version."""
        conn.execute(f"PRAGMA busy_timeout = {max(0, int(busy_timeout * 1000))}")
        if not self._memory:
            mode = str(retry_locked(lambda: conn.execute("PRAGMA journal_mode = WAL")
                                    .fetchone()[0], busy_timeout)).lower()
            if mode != "wal":
                raise QueueError(f"{self._where}: WAL mode refused (journal is {mode})")
        retry_locked(lambda: conn.execute("BEGIN IMMEDIATE"), busy_timeout)
        try:
            ensure_schema(conn, self._where, self._clock())
            conn.execute("COMMIT")
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise QueueError(f"{self._where}: closed")
        return self._conn

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Turn storage errors into one-line `QueueError`s naming the file."""
        try:
            yield
        except (sqlite3.Error, OSError, UnicodeError) as exc:
            raise QueueError(f"{self._where}: {what}: {exc}") from exc

    @contextmanager
    def reading(self, what: str) -> Iterator[sqlite3.Connection]:
        """The connection, for reads, under the lock; errors as `QueueError`."""
        with self._lock, self._errors(what):
            yield self._connection()

    @contextmanager
    def _transaction(self, what: str) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE, retried while another process holds the lock),
        committed on success and rolled back on any error."""
        with self._lock, self._errors(what):
            conn = self._connection()
            retry_locked(lambda: conn.execute("BEGIN IMMEDIATE"), self._patience)
            try:
                yield conn
                retry_locked(lambda: conn.execute("COMMIT"), self._patience)
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")

    writing = _transaction
    """A write transaction (for the outcome log sharing this file)."""
