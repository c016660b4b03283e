"""The call-outcome log in the queue's SQLite file: the `call_outcomes` table (schema 3).

One row per finished call, written in one transaction that also drops rows older than the
retention; `call_id` is UNIQUE, so a retried write keeps one row. Reads use the `(at, id)`
index. What a record is and how it is masked is `ivr.handoff.outcomes`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import QueueError
from .outcomes import (
    DEFAULT_RETENTION_S,
    CallOutcome,
    decode_outcome,
    encode_outcome,
    prepare_outcome,
)

if TYPE_CHECKING:
    from .sqlite_store import SqliteStore

__all__ = ["SqliteOutcomeLog"]


class SqliteOutcomeLog:
    """An `OutcomeLog` in a queue file.

    Args:
        store: The open queue file (its connection, lock and transactions).
        retention_s: Rows older than this are dropped on writing.
    """

    def __init__(self, store: SqliteStore, *, retention_s: float = DEFAULT_RETENTION_S) -> None:
        self._store = store
        self.retention_s = retention_s

    def record(self, outcome: CallOutcome) -> bool:
        """Store one outcome (masked); False when this call id already has one."""
        o = prepare_outcome(outcome, where=self._store.where)
        cutoff = self._store.clock() - self.retention_s
        with self._store.writing("cannot record a call outcome") as conn:
            conn.execute("DELETE FROM call_outcomes WHERE at < ?", (cutoff,))
            cur = conn.execute(
                "INSERT OR IGNORE INTO call_outcomes (call_id, at, kind, node, expected_node,"
                " record) VALUES (?, ?, ?, ?, ?, ?)",
                (o.call_id, o.at, o.kind, o.node, o.expected_node, encode_outcome(o)))
            return cur.rowcount == 1

    def version(self) -> int:
        """The id of the newest record (AUTOINCREMENT: never reused; retention drops only
        records older than the one each write adds, so it only grows)."""
        with self._store.reading("cannot read call outcomes") as conn:
            row = conn.execute("SELECT MAX(id) FROM call_outcomes").fetchone()
        return 0 if row is None or row[0] is None else int(row[0])

    def since(self, start: float, limit: int = 100_000) -> list[CallOutcome]:
        """Outcomes of calls that ended at or after `start`, oldest first, at most `limit`."""
        with self._store.reading("cannot read call outcomes") as conn:
            rows = conn.execute("SELECT id, record FROM call_outcomes WHERE at >= ?"
                                " ORDER BY at, id LIMIT ?", (start, max(0, limit))).fetchall()
        out = []
        for rowid, text in rows:
            try:
                out.append(decode_outcome(text))
            except (ValueError, TypeError, KeyError) as exc:
                raise QueueError(f"{self._store.where}: call outcome {rowid} is unreadable: "
                                 f"{exc}") from exc
        return out
