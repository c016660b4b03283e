"""The Redis human queue: one queue fed by many engines on many hosts.

Every key is named by `key(prefix, *parts)` (and by its mirror `key(...)` in the Lua scripts,
`ivr.handoff.redis_lua`); the prefix comes from the URL (`redis://host:6379/0?prefix=ivr`,
default "ivr"), so several queues can share one database:

    {prefix}:schema               the layout version ("3"; "1" and "2" are migrated, others
                                  refused; "3" added the outcome log, and records may carry
                                  the call's overlays)
    {prefix}:seq                  INCR counter: record ids, increasing in filing order
    {prefix}:calls                hash call_id -> id (idempotent filing)
    {prefix}:queues               set of queue names ever filed into
    {prefix}:record:{id}          hash: record (the record codec's JSON as filed, masked),
                                  call_id, status, queue (now), lang, score, member, reason,
                                  created_at, taken_by, taken_at, first_taken_at, lease_until,
                                  disposition, done_at, purged
    {prefix}:waiting[:{queue}]    sorted sets of waiting records (serving order)
    {prefix}:wl:{lang}:{queue}    waiting records of one queue and caller language (for take)
    {prefix}:taken[:{queue}]      records held under a lease
    {prefix}:done[:{queue}]       closed records
    {prefix}:leases               sorted set id -> lease end (the sweeper's list)
    {prefix}:closed               sorted set id -> time closed, until purged (retention)
    {prefix}:audit                sorted set time -> event (member: 20-digit sequence + JSON)
    {prefix}:history:{call_id}    list of one call's events (JSON)
    {prefix}:outcomes             sorted set call_id -> time the call ended (the outcome log,
                                  `ivr.handoff.redis_outcomes`; trimmed by time on writing)
    {prefix}:outcome_records      hash call_id -> the call outcome's JSON
    {prefix}:outcome_seq          INCR counter: outcome records ever written

Serving order is exact: a sorted-set score is minus the priority (a small integer), and the
member is the filing time as 16 hex digits that sort like the float, then the id as 20 digits,
so members of one priority compare byte by byte as (filing time, id); a record put back in
line (released, expired, transferred) keeps its score and member, hence its place. Every
change is one Lua script that also writes its audit events, so it is atomic: two agents never
hold the same record. The scripts build keys from the prefix, so the layout needs one Redis
node (not Redis Cluster).

The client never retries a command on its own: a `take` whose reply was lost must not silently
claim a second caller (its lease runs out and the caller returns to the line). Connection
errors become one-line `QueueError`s naming the URL with its password hidden.
"""

from __future__ import annotations

import builtins
import json
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import redis as redis_client
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..errors import QueueError
from ..types import LANGS, Handoff
from . import redis_lua as lua
from .audit import (
    AuditEvent,
    agent_step,
    check_age,
    event_from_json,
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
from .redis_outcomes import RedisOutcomeLog
from .redis_url import DEFAULT_PREFIX, key, number, parse_url, sortable_time, timeouts
from .stats import DEFAULT_SLA_TARGET_S, QueueStats, build_stats, parse_figures

__all__ = ["DEFAULT_PREFIX", "SCHEMA_VERSION", "RedisQueue", "open_location"]

SCHEMA_VERSION = "3"
"""The key layout this code reads and writes; "1" and "2" are migrated, others are refused."""

_SCRIPTS = ("PUT", "TAKE", "RENEW", "GIVE_BACK", "DONE", "EXPIRE", "NOTE", "GET", "LIST",
            "PURGEABLE", "PURGE", "STATS", "MIGRATE_V1", "MIGRATE_V2")

Row = list[Any]


class RedisQueue:
    """A `HandoffQueue` in a Redis database. One instance may be shared between threads.

    Args:
        url: A `redis://` or `rediss://` URL; `?prefix=NAME` names the keys (default "ivr");
            other query options are redis-py's (socket_timeout, ...).
        clock: Source of Unix time for filing, taking and ages (tests pass a fixed one).

    Raises:
        QueueError: The URL is malformed, the server cannot be reached, or the prefix holds
            another layout version.
    """

    def __init__(self, url: str, *, clock: Callable[[], float] = time.time) -> None:
        self.url, self.prefix, options, self._password = parse_url(url)
        self._where = f"queue {self.url}"
        self._clock = clock
        self._lock = threading.Lock()
        self._client: redis_client.Redis | None = None
        with self._errors("cannot connect"):
            client = redis_client.Redis.from_url(
                options, decode_responses=True, retry=Retry(NoBackoff(), 0), **timeouts(options)
            )
            try:
                self._scripts = {n: client.register_script(getattr(lua, n)) for n in _SCRIPTS}
                client.setnx(self._k("schema"), SCHEMA_VERSION)
                for step in ("MIGRATE_V1", "MIGRATE_V2"):  # 1 -> 2 -> 3, each atomic
                    self._scripts[step](args=[self.prefix, repr(clock())], client=client)
                version = client.get(self._k("schema"))
            except BaseException:
                client.close()
                raise
        if version != SCHEMA_VERSION:
            client.close()
            raise QueueError(
                f"{self._where}: key layout version {version!r} under prefix "
                f"{self.prefix!r}, this ivr reads {SCHEMA_VERSION} (and migrates 1 and 2)"
            )
        self._client = client

    # -- filing and reading ----------------------------------------------------------------------

    def put(self, h: Handoff) -> bool:
        """File a handoff; filing the same record again (a retry) changes nothing.

        Returns:
            True if the record is new, False if this same record was already filed.

        Raises:
            DuplicateCallId: A different record is already filed under `h.call_id`.
            QueueError: The record is invalid or the server cannot be written.
        """
        h = prepare_record(h, now=self._clock(), where=self._where)
        new, stored, *purged = self._run(
            "PUT", "cannot file a handoff", h.call_id, encode_json(h), -int(h.priority),
            sortable_time(h.created_at), h.queue, h.reason, repr(h.created_at), h.lang)
        if int(new):
            return True
        incoming = strip_caller_text(h) if purged and purged[0] else h
        check_refiling(self._decode("stored", stored), incoming, where=self._where)
        return False

    def list(
        self, queue: str | None = None, status: str = "waiting"
    ) -> builtins.list[QueuedHandoff]:
        """Records with `status` (in `queue`, or every queue), in serving order."""
        if status not in STATUSES:
            raise QueueError(f"{self._where}: unknown status {status!r} (use {STATUSES})")
        key = self._k(status) if queue is None else self._k(status, queue)
        rows = self._run("LIST", "cannot list", keys=[key])
        return [self._item(row) for row in rows]

    def get(self, call_id: str) -> QueuedHandoff | None:
        """The record filed under `call_id` (in any state), or None."""
        row = self._run("GET", "cannot read a handoff", call_id)
        return None if row is None else self._item(row)

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
        now = self._clock()
        row = self._run("TAKE", "cannot take a handoff", agent, repr(now + lease_s),
                        json.dumps(list(names or ())), json.dumps(list(languages or LANGS)),
                        "all" if names is None else "some", now=now)
        return None if row is None else self._item(row)

    def renew(self, call_id: str, agent: str, lease_s: float = DEFAULT_LEASE_S) -> bool:
        """Extend `agent`'s lease on `call_id` to now + `lease_s`; False when they do not hold
        it (it expired, was released, transferred or closed). Not audited."""
        step = agent_step(self._where, agent, lease_s=lease_s)
        agent, lease_s = step.agent, step.lease_s
        now = self._clock()
        return bool(self._run("RENEW", "cannot renew a lease", call_id, agent,
                              repr(now + lease_s), now=now))

    def release(self, call_id: str, agent: str) -> bool:
        """Put a record `agent` holds back in line, at its original place; False if not held."""
        agent = agent_step(self._where, agent).agent
        return bool(self._run("GIVE_BACK", "cannot release a handoff", call_id, agent, "",
                              "released"))

    def transfer(self, call_id: str, agent: str, queue: str) -> bool:
        """Move a record `agent` holds to `queue`, waiting (at its place by priority and filing
        time); False if `agent` does not hold it."""
        step = agent_step(self._where, agent, target=("queue", queue))
        agent, queue = step.agent, step.target
        return bool(self._run("GIVE_BACK", "cannot transfer", call_id, agent, queue,
                              "transferred"))

    def done(self, call_id: str, agent: str, disposition: str) -> bool:
        """Close a record `agent` holds with `disposition`; False if `agent` does not hold it."""
        step = agent_step(self._where, agent, target=("disposition", disposition))
        agent, disposition = step.agent, step.target
        return bool(self._run("DONE", "cannot close a handoff", call_id, agent, disposition))

    def expire(self) -> int:
        """Return every lease past its time to the line; how many were returned."""
        return int(self._run("EXPIRE", "cannot expire leases"))

    # -- the audit trail and retention -----------------------------------------------------------

    def note(self, call_id: str, event: str, actor: str, detail: str = "") -> None:
        """Add an event from outside the queue (e.g. "transfer_failed", detail a SIP status)."""
        event = event_name(event, where=self._where)
        actor = label(actor, "actor", where=self._where)
        detail = label(detail, "detail", where=self._where)
        self._run("NOTE", "cannot note an event", call_id, event, actor, detail)

    def history(self, call_id: str) -> builtins.list[AuditEvent]:
        """The events of one call, oldest first."""
        with self._errors("cannot read the audit trail"):
            texts = self._connection().lrange(self._k("history", call_id), 0, -1)
        return [self._event(t) for t in texts]

    def audit(self, since: float = 0.0, limit: int = 1000) -> builtins.list[AuditEvent]:
        """Events of the whole floor from `since` (Unix time), oldest first, at most `limit`."""
        if limit <= 0:
            return []
        with self._errors("cannot read the audit trail"):
            members = self._connection().zrangebyscore(
                self._k("audit"), repr(float(since)), "+inf", start=0, num=limit)
        return [self._event(str(m)[20:]) for m in members]

    def purge(self, older_than_s: float) -> int:
        """Drop the transcripts, slots and candidates of records closed more than
        `older_than_s` seconds ago (the audit trail stays); how many were purged."""
        now = self._clock()
        cutoff = now - check_age(older_than_s, where=self._where)
        rows = self._run("PURGEABLE", "cannot purge", repr(cutoff), now=now)
        purged = 0
        for rowid, record in rows:  # a closed record never changes again but by purging
            kept = encode_json(strip_caller_text(self._decode(rowid, record)))
            purged += int(self._run("PURGE", "cannot purge", rowid, kept, now=now))
        return purged

    def stats(self, sla_target_s: float = DEFAULT_SLA_TARGET_S) -> QueueStats:
        """Per-queue counts (reasons and priorities of waiting records), oldest age, and the
        service level against `sla_target_s`."""
        now = self._clock()
        rows, spans = self._run("STATS", "cannot read stats", now=now)
        try:
            tallies, waits = parse_figures(rows, spans, sign=-1)
        except (ValueError, TypeError) as exc:
            raise QueueError(f"{self._where}: unreadable counts: {exc}") from None
        return build_stats(tallies, now, waits, sla_target_s)

    @property
    def outcomes(self) -> RedisOutcomeLog:
        """The call-outcome log under this queue's prefix."""
        return RedisOutcomeLog(self.prefix, self.using, self._clock, self._where)

    def close(self) -> None:
        """Close the connections; later calls raise `QueueError`. Closing twice is harmless."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # -- plumbing ------------------------------------------------------------------------------

    def __enter__(self) -> RedisQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RedisQueue({self.url!r})"

    def _k(self, *parts: str) -> str:
        return key(self.prefix, *parts)

    def _connection(self) -> redis_client.Redis:
        with self._lock:
            if self._client is None:
                raise QueueError(f"{self._where}: closed")
            return self._client

    def _run(self, script: str, what: str, *args: object, keys: builtins.list[str] | None = None,
             now: float | None = None) -> Any:
        """Run one of the Lua scripts with the prefix and the time first in its ARGV."""
        stamp = repr(self._clock() if now is None else now)
        with self._errors(what):
            client = self._connection()
            argv: builtins.list[Any] = [self.prefix, stamp, *args]
            return self._scripts[script](keys=keys or [], args=argv, client=client)

    @contextmanager
    def using(self, what: str) -> Iterator[redis_client.Redis]:
        """The client, with errors as one-line `QueueError`s (for the outcome log)."""
        with self._errors(what):
            yield self._connection()

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Turn client errors into one-line `QueueError`s naming the URL (password hidden)."""
        try:
            yield
        except (redis_client.RedisError, OSError, UnicodeError, ValueError) as exc:
            text = " ".join(str(exc).split()) or type(exc).__name__
            if self._password:
                text = text.replace(self._password, "***")
            raise QueueError(f"{self._where}: {what}: {text}") from None

    def _decode(self, rowid: object, record: object) -> Handoff:
        try:
            if not isinstance(record, str):
                raise TypeError("the record is missing")
            return decode_json(record)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise QueueError(f"{self._where}: record {rowid} is unreadable: {exc}") from None

    def _event(self, text: object) -> AuditEvent:
        try:
            if not isinstance(text, str):
                raise TypeError("an event is text")
            return event_from_json(text)
        except (ValueError, TypeError, KeyError) as exc:
            raise QueueError(f"{self._where}: an audit event is unreadable: {exc}") from None

    def _item(self, row: Row) -> QueuedHandoff:
        """A stored record as a `QueuedHandoff` (the record's queue is where it is now)."""
        rowid, status, taken_by, taken_at, lease_until, disposition, done_at, queue, rec = row
        handoff = self._decode(rowid, rec)
        try:
            return QueuedHandoff(
                id=int(rowid),
                handoff=handoff if queue in (None, handoff.queue)
                else replace(handoff, queue=str(queue)),
                status=one_of(status, STATUSES),
                taken_by=taken_by,
                taken_at=number(taken_at),
                lease_until=number(lease_until),
                disposition=disposition,
                done_at=number(done_at),
            )
        except (ValueError, TypeError) as exc:
            raise QueueError(f"{self._where}: record {rowid} is unreadable: {exc}") from None


def open_location(location: str, clock: Callable[[], float] = time.time) -> RedisQueue:
    """The queue a `redis:` URL names (the text after "redis:")."""
    return RedisQueue(f"redis:{location}", clock=clock)


def open_tls_location(location: str, clock: Callable[[], float] = time.time) -> RedisQueue:
    """The queue a `rediss:` URL (Redis over TLS) names (the text after "rediss:")."""
    return RedisQueue(f"rediss:{location}", clock=clock)
