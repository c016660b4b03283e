"""The SQLite human queue: one file, safe for several processes at once.

One row per handoff: the whole record as JSON, plus the columns the queue sorts and filters on
(call_id UNIQUE, queue, priority, status, created_at, reason). The file runs in WAL mode, so
agents reading the queue never block the engine filing into it; claiming a record happens in a
`BEGIN IMMEDIATE` transaction, so two agents never take the same one. Every change (filing,
taking, releasing, expiring leases, transfers, closing, purging) is one such transaction that
also writes its audit rows. The layout and its migration are `ivr.handoff.sqlite_schema`.

The record itself (validation, masking, the JSON in the `record` column, what counts as a
retried filing) is `ivr.handoff.record`, shared by every backend; so are the figures
(`ivr.handoff.stats`). This module is only the storage; the file, its connection and its
transactions are `ivr.handoff.sqlite_store`, the outcome log in the same file is
`ivr.handoff.sqlite_outcomes`.

A URL names the file: `sqlite:///abs/path`, `sqlite:relative/path` (or a plain path). The
file's folder must exist — a typo in a path is an error, not a new empty queue somewhere —
except the default folder `var/`, which is created.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import QueueError
from ..types import Handoff
from .audit import (
    ENGINE,
    AuditEvent,
    agent_step,
    check_age,
    event_name,
    label,
)
from .record import (
    DEFAULT_LEASE_S,
    STATUSES,
    QueuedHandoff,
    check_refiling,
    decode_json,
    encode_json,
    one_of,
    strip_caller_text,
)
from .record import prepare as prepare_record
from .sqlite_outcomes import SqliteOutcomeLog
from .sqlite_schema import (
    SCHEMA_VERSION,
    claim,
    expire_leases,
    held,
    number,
    read_figures,
    serving_filter,
    write_event,
)
from .sqlite_store import SqliteStore
from .stats import DEFAULT_SLA_TARGET_S, QueueStats, build_stats, parse_figures

__all__ = ["DEFAULT_FOLDER", "SCHEMA_VERSION", "SqliteQueue", "open_location"]

DEFAULT_FOLDER = Path("var")
"""ivr's own working folder (relative to the working directory): created when missing."""

_ORDER = "ORDER BY priority DESC, created_at, id"
_COLUMNS = "id, status, taken_by, taken_at, lease_until, disposition, done_at, queue, record"


class SqliteQueue(SqliteStore):
    """A `HandoffQueue` in a SQLite file (`SqliteStore`: the file, its lock, its transactions).
    One instance may be shared between threads; its outcome log (`outcomes`) shares the file.

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

    @property
    def outcomes(self) -> SqliteOutcomeLog:
        """The call-outcome log in this file (`call_outcomes`)."""
        return SqliteOutcomeLog(self)

    # -- filing and reading ----------------------------------------------------------------------

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
        h = prepare_record(h, now=self._clock(), where=self._where)
        with self._transaction("cannot file a handoff") as conn:
            row = conn.execute("SELECT id, record, purged_at FROM handoffs WHERE call_id = ?",
                               (h.call_id,)).fetchone()
            if row is not None:
                stored = self._decode(row[0], row[1])
                check_refiling(stored, strip_caller_text(h) if row[2] else h, where=self._where)
                return False
            conn.execute(
                "INSERT INTO handoffs (call_id, queue, priority, reason, lang, status,"
                " created_at, record) VALUES (?, ?, ?, ?, ?, 'waiting', ?, ?)",
                (h.call_id, h.queue, int(h.priority), h.reason, h.lang, h.created_at,
                 encode_json(h)),
            )
            write_event(conn, h.created_at, h.call_id, "filed", ENGINE, h.queue)
            return True

    def list(
        self, queue: str | None = None, status: str = "waiting"
    ) -> builtins.list[QueuedHandoff]:
        """Records with `status` (in `queue`, or every queue), in serving order."""
        if status not in STATUSES:
            raise QueueError(f"{self._where}: unknown status {status!r} (use {STATUSES})")
        sql = f"SELECT {_COLUMNS} FROM handoffs WHERE status = ?"
        args: tuple[str, ...] = (status,)
        if queue is not None:
            sql, args = sql + " AND queue = ?", (*args, queue)
        with self._lock, self._errors("cannot list"):
            rows = self._connection().execute(f"{sql} {_ORDER}", args).fetchall()
        return [self._row(row) for row in rows]

    def get(self, call_id: str) -> QueuedHandoff | None:
        """The record filed under `call_id` (in any state), or None."""
        with self._lock, self._errors("cannot read a handoff"):
            row = self._connection().execute(
                f"SELECT {_COLUMNS} FROM handoffs WHERE call_id = ?", (call_id,)).fetchone()
        return None if row is None else self._row(row)

    # -- agents: take, renew, release, transfer, done -------------------------------------------

    def take(
        self,
        queue: str | Sequence[str] | None = None,
        agent: str = "",
        *,
        langs: Collection[str] | None = None,
        lease_s: float = DEFAULT_LEASE_S,
    ) -> QueuedHandoff | None:
        """Claim the next waiting record among `queue` (one, several, or all) whose language is
        in `langs` (None: any) for `agent`, under a lease of `lease_s`; None if none waits.
        Leases past their time go back in line first."""
        step = agent_step(self._where, agent, lease_s=lease_s, queue=queue, langs=langs)
        names, languages, agent, lease_s = step.queues, step.langs, step.agent, step.lease_s
        if names == () or languages == ():
            return None
        where, args = serving_filter(names, languages)
        now = self._clock()
        with self._transaction("cannot take a handoff") as conn:
            expire_leases(conn, now)
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM handoffs WHERE {where} {_ORDER} LIMIT 1", args
            ).fetchone()
            if row is None:
                return None
            call_id = self._row(row).handoff.call_id  # unreadable: stays waiting (rolled back)
            claim(conn, row[0], call_id, row[7], agent, now, now + lease_s)
            taken = conn.execute(f"SELECT {_COLUMNS} FROM handoffs WHERE id = ?",
                                 (row[0],)).fetchone()
        return self._row(taken)

    def renew(self, call_id: str, agent: str, lease_s: float = DEFAULT_LEASE_S) -> bool:
        """Extend `agent`'s lease on `call_id` to now + `lease_s`; False when they do not hold
        it (it expired, was released, transferred or closed). Not audited."""
        step = agent_step(self._where, agent, lease_s=lease_s)
        agent, lease_s = step.agent, step.lease_s
        now = self._clock()
        with self._transaction("cannot renew a lease") as conn:
            if held(conn, call_id, agent, now) is None:
                return False
            conn.execute("UPDATE handoffs SET lease_until = ? WHERE call_id = ?",
                         (now + lease_s, call_id))
            return True

    def release(self, call_id: str, agent: str) -> bool:
        """Put a record `agent` holds back in line, at its original place; False if not held."""
        return self._give_back(call_id, agent, None, "released", "cannot release a handoff")

    def transfer(self, call_id: str, agent: str, queue: str) -> bool:
        """Move a record `agent` holds to `queue`, waiting (at its place by priority and filing
        time); False if `agent` does not hold it."""
        queue = agent_step(self._where, agent, target=("queue", queue)).target
        return self._give_back(call_id, agent, queue, "transferred", "cannot transfer")

    def done(self, call_id: str, agent: str, disposition: str) -> bool:
        """Close a record `agent` holds with `disposition`; False if `agent` does not hold it."""
        step = agent_step(self._where, agent, target=("disposition", disposition))
        agent, disposition = step.agent, step.target
        now = self._clock()
        with self._transaction("cannot close a handoff") as conn:
            mine = held(conn, call_id, agent, now)
            if mine is None:
                return False
            conn.execute(
                "UPDATE handoffs SET status = 'done', lease_until = NULL, disposition = ?,"
                " done_at = ? WHERE id = ?", (disposition, now, mine[0]))
            write_event(conn, now, call_id, "done", agent, mine[1], disposition)
            return True

    def expire(self) -> int:
        """Return every lease past its time to the line; how many were returned."""
        with self._transaction("cannot expire leases") as conn:
            return expire_leases(conn, self._clock())

    # -- the audit trail and retention -----------------------------------------------------------

    def note(self, call_id: str, event: str, actor: str, detail: str = "") -> None:
        """Add an event from outside the queue (e.g. "transfer_failed", detail a SIP status)."""
        event = event_name(event, where=self._where)
        actor = label(actor, "actor", where=self._where)
        detail = label(detail, "detail", where=self._where)
        with self._transaction("cannot note an event") as conn:
            row = conn.execute("SELECT queue FROM handoffs WHERE call_id = ?",
                               (call_id,)).fetchone()
            write_event(conn, self._clock(), call_id, event, actor, "" if row is None else row[0],
                   detail)

    def history(self, call_id: str) -> builtins.list[AuditEvent]:
        """The events of one call, oldest first."""
        return self._events("WHERE call_id = ? ORDER BY id", (call_id,))

    def audit(self, since: float = 0.0, limit: int = 1000) -> builtins.list[AuditEvent]:
        """Events of the whole floor from `since` (Unix time), oldest first, at most `limit`."""
        return self._events("WHERE at >= ? ORDER BY at, id LIMIT ?", (since, max(0, limit)))

    def purge(self, older_than_s: float) -> int:
        """Drop the transcripts, slots and candidates of records closed more than
        `older_than_s` seconds ago (the audit trail stays); how many were purged."""
        now = self._clock()
        cutoff = now - check_age(older_than_s, where=self._where)
        with self._transaction("cannot purge") as conn:
            rows = conn.execute(
                "SELECT id, call_id, queue, record FROM handoffs WHERE status = 'done'"
                " AND done_at <= ? AND purged_at IS NULL ORDER BY id", (cutoff,)).fetchall()
            for rowid, call_id, queue, record in rows:
                kept = encode_json(strip_caller_text(self._decode(rowid, record)))
                conn.execute("UPDATE handoffs SET record = ?, purged_at = ? WHERE id = ?",
                             (kept, now, rowid))
                write_event(conn, now, call_id, "purged", "retention", queue)
        return len(rows)

    def stats(self, sla_target_s: float = DEFAULT_SLA_TARGET_S) -> QueueStats:
        """Per-queue counts (reasons and priorities of waiting records), oldest age, and the
        service level against `sla_target_s`."""
        now = self._clock()
        with self._lock, self._errors("cannot read stats"):
            rows, spans = read_figures(self._connection())
        try:
            tallies, waits = parse_figures(rows, spans, sign=1)
        except (ValueError, TypeError) as exc:
            raise QueueError(f"{self._where}: unreadable counts: {exc}") from exc
        return build_stats(tallies, now, waits, sla_target_s)

    # -- plumbing ------------------------------------------------------------------------------

    def __enter__(self) -> SqliteQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqliteQueue({str(self.path)!r})"

    def _give_back(self, call_id: str, agent: str, queue: str | None, event: str,
                   what: str) -> bool:
        """Release (queue None) or transfer a held record: waiting again, audited."""
        agent = agent_step(self._where, agent).agent
        now = self._clock()
        with self._transaction(what) as conn:
            mine = held(conn, call_id, agent, now)
            if mine is None:
                return False
            target = mine[1] if queue is None else queue
            conn.execute("UPDATE handoffs SET status = 'waiting', queue = ?, taken_by = NULL,"
                         " taken_at = NULL, lease_until = NULL WHERE id = ?", (target, mine[0]))
            write_event(conn, now, call_id, event, agent, target, "" if queue is None else mine[1])
            return True

    def _events(self, sql: str, args: tuple[Any, ...]) -> builtins.list[AuditEvent]:
        with self._lock, self._errors("cannot read the audit trail"):
            rows = self._connection().execute(
                f"SELECT at, call_id, event, actor, queue, detail FROM audit {sql}", args
            ).fetchall()
        return [AuditEvent(float(a), str(c), str(e), str(w), str(q), str(d))
                for a, c, e, w, q, d in rows]

    def _decode(self, rowid: object, record: str) -> Handoff:
        try:
            return decode_json(record)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise QueueError(f"{self._where}: record {rowid} is unreadable: {exc}") from exc

    def _row(self, row: tuple[Any, ...]) -> QueuedHandoff:
        """A stored row as a `QueuedHandoff` (the record's queue is where it is now)."""
        rowid, status, taken_by, taken_at, lease_until, disposition, done_at, queue, rec = row
        handoff = self._decode(rowid, rec)
        try:
            state = one_of(status, STATUSES)
        except ValueError as exc:
            raise QueueError(f"{self._where}: record {rowid} is unreadable: {exc}") from exc
        return QueuedHandoff(
            id=int(rowid),
            handoff=handoff if handoff.queue == queue else replace(handoff, queue=str(queue)),
            status=state,
            taken_by=taken_by,
            taken_at=number(taken_at),
            lease_until=number(lease_until),
            disposition=disposition,
            done_at=number(done_at),
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
