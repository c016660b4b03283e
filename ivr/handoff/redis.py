"""The Redis human queue: one queue fed by many engines on many hosts.

Every key is named by `_key(prefix, *parts)`; the prefix comes from the URL
(`redis://host:6379/0?prefix=ivr`, default "ivr"), so several queues can share one database:

    {prefix}:schema           the layout version ("1"); another version is refused
    {prefix}:seq              INCR counter: record ids, increasing in filing order
    {prefix}:calls            hash call_id -> id (idempotent filing)
    {prefix}:queues           set of queue names ever filed into
    {prefix}:record:{id}      hash: record (the record codec's JSON, masked), status,
                              taken_by, taken_at, and for sorting and counting: queue,
                              score, member, reason, created_at
    {prefix}:waiting          sorted set of every waiting record   (serving order)
    {prefix}:waiting:{queue}  sorted set of one queue's waiting records
    {prefix}:taken[:{queue}]  the same for taken records

Serving order is exact: a sorted-set score is minus the priority (a small integer), and the
member is the filing time as 16 hex digits that sort like the float, then the id as 20 digits,
so members of one priority compare byte by byte as (filing time, id). Filing, taking and
listing are each one Lua script, so each is atomic: two agents never take the same record and a
listing is one consistent snapshot; the figures are counted on the server by a fourth script
(only grouped counts cross the network). The scripts build record and per-queue keys from prefixes
`_key` gives them, so the layout needs one Redis node (not Redis Cluster).

The client never retries a command on its own: a `take` whose reply was lost must not silently
claim a second caller. Connection errors become one-line `QueueError`s naming the URL with its
password hidden.
"""

from __future__ import annotations

import builtins
import re
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis as redis_client
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..errors import QueueError
from ..types import Handoff, Priority
from .record import STATUSES, QueuedHandoff, check_refiling, decode_json, encode_json, one_of
from .record import prepare as prepare_record
from .stats import QueueStats, Tally, build_stats

__all__ = ["DEFAULT_PREFIX", "SCHEMA_VERSION", "RedisQueue", "open_location"]

DEFAULT_PREFIX = "ivr"
"""The key prefix when the URL names none."""

SCHEMA_VERSION = "1"
"""The key layout this code reads and writes; a prefix holding another version is refused."""

_TIMEOUT = 5.0
"""Seconds to wait for a connection or a reply, unless the URL sets socket_*timeout."""

_ID_DIGITS = 20

_PUT = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
  return {0, redis.call('HGET', ARGV[5] .. old, 'record')}
end
local id = redis.call('INCR', KEYS[2])
local member = ARGV[4] .. string.format('%020d', id)
redis.call('HSET', ARGV[5] .. id, 'record', ARGV[2], 'status', 'waiting',
           'queue', ARGV[6], 'score', ARGV[3], 'member', member,
           'reason', ARGV[7], 'created_at', ARGV[8])
redis.call('HSET', KEYS[1], ARGV[1], id)
redis.call('ZADD', KEYS[3], ARGV[3], member)
redis.call('ZADD', KEYS[4], ARGV[3], member)
redis.call('SADD', KEYS[5], ARGV[6])
return {1, tostring(id)}
"""
"""KEYS: calls, seq, waiting, waiting:{queue}, queues.
ARGV: call_id, record JSON, score, sortable filing time, record key prefix, queue, reason,
filing time (repr: stats read it).
Returns {1, id} for a new record, {0, stored JSON} when the call id is already filed."""

_TAKE = """
local head = redis.call('ZRANGE', KEYS[1], 0, 0)
if #head == 0 then return false end
local member = head[1]
local id = string.match(string.sub(member, -20), '^0*(%d+)$')
local rkey = ARGV[3] .. id
local rec = redis.call('HMGET', rkey, 'queue', 'score', 'record')
if not (rec[3] and pcall(cjson.decode, rec[3])) then
  return redis.error_reply('record ' .. id .. ' is unreadable (left waiting)')
end
redis.call('ZREM', KEYS[2], member)
redis.call('ZREM', ARGV[4] .. rec[1], member)
redis.call('ZADD', KEYS[3], rec[2], member)
redis.call('ZADD', ARGV[5] .. rec[1], rec[2], member)
redis.call('HSET', rkey, 'status', 'taken', 'taken_by', ARGV[1], 'taken_at', ARGV[2])
return {id, rec[3]}
"""
"""KEYS: the sorted set to serve from (every queue's or one), waiting, taken.
ARGV: agent, now, record key prefix, waiting key prefix, taken key prefix.
Returns {id, record JSON} of the claimed record, or nil when nothing waits; a record that is
not JSON is an error and stays waiting (as in SQLite, where the claim is rolled back)."""

_LIST = """
local out = {}
for i, key in ipairs(KEYS) do
  local part = {}
  for _, member in ipairs(redis.call('ZRANGE', key, 0, -1)) do
    local id = string.match(string.sub(member, -20), '^0*(%d+)$')
    local r = redis.call('HMGET', ARGV[1] .. id, 'status', 'taken_by', 'taken_at', 'record')
    table.insert(part, {id, r[1], r[2], r[3], r[4]})
  end
  out[i] = part
end
return out
"""
"""KEYS: sorted sets. ARGV: record key prefix. Returns, per set, its records in order as
{id, status, taken_by, taken_at, record JSON}."""

_STATS = """
local tallies, rows = {}, {}
for i, key in ipairs(KEYS) do
  local status = ARGV[i + 1]
  for _, member in ipairs(redis.call('ZRANGE', key, 0, -1)) do
    local id = string.match(string.sub(member, -20), '^0*(%d+)$')
    local r = redis.call('HMGET', ARGV[1] .. id, 'queue', 'score', 'reason', 'created_at')
    local k = table.concat({#r[1], r[1], status, r[2], #r[3], r[3]}, '|')
    local t = tallies[k]
    local at = tonumber(r[4])
    if t then
      t[5] = t[5] + 1
      if at < t[6] then t[6] = at end
    else
      t = {r[1], status, r[2], r[3], 1, at}
      tallies[k] = t
      table.insert(rows, t)
    end
  end
end
for _, t in ipairs(rows) do t[6] = string.format('%.17g', t[6]) end
return rows
"""
"""KEYS: sorted sets. ARGV: record key prefix, then each set's status. Returns the records
grouped by queue, status, score and reason: {queue, status, score, reason, count, oldest}."""

Row = list[Any]


def _key(prefix: str, *parts: str) -> str:
    """The one place a key name is built: the prefix and the parts, joined by ":"."""
    return ":".join((prefix, *parts))


def sortable_time(t: float) -> str:
    """A float as 16 hex digits that sort byte by byte exactly as the numbers do."""
    (bits,) = struct.unpack(">Q", struct.pack(">d", t + 0.0))  # + 0.0: -0.0 sorts as 0.0
    bits = bits ^ 0xFFFF_FFFF_FFFF_FFFF if bits >> 63 else bits | 1 << 63
    return f"{bits:016x}"


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
        self.url, self.prefix, options, self._password = _parse(url)
        self._clock = clock
        self._lock = threading.Lock()
        self._client: redis_client.Redis | None = None
        with self._errors("cannot connect"):
            client = redis_client.Redis.from_url(
                options,
                decode_responses=True,
                retry=Retry(NoBackoff(), 0),
                **_timeouts(options),
            )
            try:
                client.setnx(self._k("schema"), SCHEMA_VERSION)
                version = client.get(self._k("schema"))
            except BaseException:
                client.close()
                raise
        if version != SCHEMA_VERSION:
            client.close()
            raise QueueError(
                f"queue {self.url}: key layout version {version!r} under prefix "
                f"{self.prefix!r}, this ivr reads {SCHEMA_VERSION}"
            )
        self._client = client
        self._put = client.register_script(_PUT)
        self._take = client.register_script(_TAKE)
        self._list = client.register_script(_LIST)
        self._stats = client.register_script(_STATS)

    # -- the HandoffQueue protocol -------------------------------------------------------------

    def put(self, h: Handoff) -> bool:
        """File a handoff; filing the same record again (a retry) changes nothing.

        Returns:
            True if the record is new, False if this same record was already filed.

        Raises:
            DuplicateCallId: A different record is already filed under `h.call_id`.
            QueueError: The record is invalid or the server cannot be written.
        """
        where = f"queue {self.url}"
        h = prepare_record(h, now=self._clock(), where=where)
        keys = [
            self._k("calls"), self._k("seq"), self._k("waiting"),
            self._k("waiting", h.queue), self._k("queues"),
        ]
        args: builtins.list[str | int] = [
            h.call_id, encode_json(h), -int(h.priority), sortable_time(h.created_at),
            self._k("record", ""), h.queue, h.reason, repr(h.created_at),
        ]
        with self._errors("cannot file a handoff"):
            self._connection()
            new, stored = self._put(keys=keys, args=args)
        if int(new):
            return True
        check_refiling(self._decode("stored", stored), h, where=where)
        return False

    def list(
        self, queue: str | None = None, status: str = "waiting"
    ) -> builtins.list[QueuedHandoff]:
        """Records with `status` (in `queue`, or every queue), in serving order."""
        if status not in STATUSES:
            raise QueueError(f"queue {self.url}: unknown status {status!r} (use {STATUSES})")
        key = self._k(status) if queue is None else self._k(status, queue)
        [rows] = self._rows("cannot list", key)
        return [self._item(row) for row in rows]

    def take(self, queue: str | None = None, agent: str = "") -> QueuedHandoff | None:
        """Claim the next waiting record (in `queue`, or any) for `agent`; None if none waits."""
        source = self._k("waiting") if queue is None else self._k("waiting", queue)
        now = self._clock()
        keys = [source, self._k("waiting"), self._k("taken")]
        args = [agent, repr(now), self._k("record", ""), self._k("waiting", ""),
                self._k("taken", "")]
        with self._errors("cannot take a handoff"):
            self._connection()
            got = self._take(keys=keys, args=args)
        if got is None:
            return None
        rowid, record = got
        return self._item([rowid, "taken", agent, repr(now), record])

    def stats(self) -> QueueStats:
        """Per-queue counts (reasons and priorities of waiting records) and oldest age."""
        now = self._clock()
        with self._errors("cannot read stats"):
            self._connection()
            rows = self._stats(keys=[self._k("waiting"), self._k("taken")],
                               args=[self._k("record", ""), "waiting", "taken"])
        try:
            tallies = [
                Tally(str(q), one_of(s, STATUSES), Priority(-int(p)), str(r), int(n), float(t))
                for q, s, p, r, n, t in rows
            ]
        except (ValueError, TypeError) as exc:
            raise QueueError(f"queue {self.url}: unreadable counts: {exc}") from None
        return build_stats(tallies, now)

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
        return _key(self.prefix, *parts)

    def _connection(self) -> redis_client.Redis:
        with self._lock:
            if self._client is None:
                raise QueueError(f"queue {self.url}: closed")
            return self._client

    def _rows(self, what: str, *keys: str) -> builtins.list[builtins.list[Row]]:
        with self._errors(what):
            self._connection()
            result: builtins.list[builtins.list[Row]] = self._list(
                keys=list(keys), args=[self._k("record", "")]
            )
        return result

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Turn client errors into one-line `QueueError`s naming the URL (password hidden)."""
        try:
            yield
        except (redis_client.RedisError, OSError, UnicodeError, ValueError) as exc:
            text = " ".join(str(exc).split()) or type(exc).__name__
            if self._password:
                text = text.replace(self._password, "***")
            raise QueueError(f"queue {self.url}: {what}: {text}") from None

    def _decode(self, rowid: object, record: object) -> Handoff:
        try:
            if not isinstance(record, str):
                raise TypeError("the record is missing")
            return decode_json(record)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise QueueError(f"queue {self.url}: record {rowid} is unreadable: {exc}") from None

    def _item(self, row: Row) -> QueuedHandoff:
        """A stored record as a `QueuedHandoff`."""
        rowid, status, taken_by, taken_at, record = row
        handoff = self._decode(rowid, record)
        try:
            return QueuedHandoff(
                id=int(rowid),
                handoff=handoff,
                status=one_of(status, STATUSES),
                taken_by=taken_by,
                taken_at=None if taken_at is None else float(taken_at),
            )
        except (ValueError, TypeError) as exc:
            raise QueueError(f"queue {self.url}: record {rowid} is unreadable: {exc}") from None


def _parse(url: str) -> tuple[str, str, str, str]:
    """(URL to show, key prefix, URL for the client, password) from a redis URL."""
    parts = urlsplit(url)
    shown = parts._replace(netloc=re.sub(r":[^:@/]*@", ":***@", parts.netloc))
    try:
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False)
        parts.port  # noqa: B018 -- raises ValueError on a bad port
    except ValueError as exc:
        raise QueueError(f"queue {urlunsplit(shown)}: bad URL: {exc}") from None
    prefixes = [v for k, v in query if k == "prefix"]
    prefix = prefixes[-1] if prefixes else DEFAULT_PREFIX
    if not prefix:
        raise QueueError(f"queue {urlunsplit(shown)}: prefix= names no key prefix")
    rest = urlencode([(k, v) for k, v in query if k != "prefix"])
    return urlunsplit(shown), prefix, urlunsplit(parts._replace(query=rest)), parts.password or ""


def _timeouts(url: str) -> dict[str, float]:
    query = dict(parse_qsl(urlsplit(url).query))
    return {k: _TIMEOUT for k in ("socket_timeout", "socket_connect_timeout") if k not in query}


def open_location(location: str, clock: Callable[[], float] = time.time) -> RedisQueue:
    """The queue a `redis:` URL names (the text after "redis:")."""
    return RedisQueue(f"redis:{location}", clock=clock)


def open_tls_location(location: str, clock: Callable[[], float] = time.time) -> RedisQueue:
    """The queue a `rediss:` URL (Redis over TLS) names (the text after "rediss:")."""
    return RedisQueue(f"rediss:{location}", clock=clock)
