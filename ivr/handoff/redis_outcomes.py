"""The call-outcome log under a Redis queue's prefix (layout "3").

    {prefix}:outcomes          sorted set: call_id -> Unix time the call ended
    {prefix}:outcome_records   hash: call_id -> the outcome's JSON (`ivr.handoff.outcomes`)
    {prefix}:outcome_seq       records ever written (`version`: live pages poll it)

Writing is one Lua script: it first drops records older than the retention (by time, at most
`_TRIM_BATCH` per write, so a write never stalls the server) and the oldest beyond `max_records`,
then stores the new record unless its call id has one (HSETNX: a retried write keeps one).
Reading is one script too, so a read never sees a record half trimmed. A sorted set rather than
a stream: the time is the engine's (the clock tests fix), not the server's arrival time, and a
retried write must not add a second entry.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from ..errors import QueueError
from .outcomes import (
    DEFAULT_RETENTION_S,
    CallOutcome,
    decode_outcome,
    encode_outcome,
    prepare_outcome,
)
from .redis_lua import PRELUDE
from .redis_url import key

__all__ = ["DEFAULT_MAX_RECORDS", "RedisOutcomeLog", "outcome_keys"]

DEFAULT_MAX_RECORDS = 1_000_000
"""The most outcome records kept, whatever their age (a bound on memory)."""

_TRIM_BATCH = 1000

_RECORD = PRELUDE + """
local z, h = key('outcomes'), key('outcome_records')
local old = redis.call('ZRANGEBYSCORE', z, '-inf', '(' .. ARGV[6], 'LIMIT', 0, ARGV[8])
for _, id in ipairs(old) do redis.call('HDEL', h, id) end
if #old > 0 then redis.call('ZREM', z, unpack(old)) end
local over = redis.call('ZCARD', z) - tonumber(ARGV[7]) + 1
if over > 0 then
  for i, v in ipairs(redis.call('ZPOPMIN', z, math.min(over, tonumber(ARGV[8])))) do
    if i % 2 == 1 then redis.call('HDEL', h, v) end
  end
end
if redis.call('HSETNX', h, ARGV[3], ARGV[5]) == 0 then return 0 end
redis.call('ZADD', z, ARGV[4], ARGV[3])
redis.call('INCR', key('outcome_seq'))
return 1
"""

_SINCE = PRELUDE + """
local ids = redis.call('ZRANGEBYSCORE', key('outcomes'), ARGV[3], '+inf', 'LIMIT', 0, ARGV[4])
if #ids == 0 then return {} end
return redis.call('HMGET', key('outcome_records'), unpack(ids))
"""

Using = Callable[[str], AbstractContextManager[Any]]


class RedisOutcomeLog:
    """An `OutcomeLog` under a Redis queue's key prefix.

    Args:
        prefix: The queue's key prefix.
        using: The queue's client, as a context manager turning errors into `QueueError`.
        clock: Source of Unix time.
        where: The queue, for error messages (password hidden).
        retention_s: Records older than this are dropped on writing.
        max_records: The most records kept.
    """

    def __init__(self, prefix: str, using: Using, clock: Callable[[], float], where: str, *,
                 retention_s: float = DEFAULT_RETENTION_S,
                 max_records: int = DEFAULT_MAX_RECORDS) -> None:
        self.prefix = prefix
        self.retention_s = retention_s
        self.max_records = max_records
        self._using, self._clock, self._where = using, clock, where

    def record(self, outcome: CallOutcome) -> bool:
        """Store one outcome (masked); False when this call id already has one."""
        o = prepare_outcome(outcome, where=self._where)
        cutoff = self._clock() - self.retention_s
        with self._using("cannot record a call outcome") as client:
            new = client.eval(_RECORD, 0, self.prefix, repr(self._clock()), o.call_id,
                              repr(o.at), encode_outcome(o), repr(cutoff), self.max_records,
                              _TRIM_BATCH)
        return bool(int(new))

    def version(self) -> int:
        """How many records were ever written under this prefix (only grows)."""
        with self._using("cannot read call outcomes") as client:
            return int(client.get(key(self.prefix, "outcome_seq")) or 0)

    def since(self, start: float, limit: int = 100_000) -> list[CallOutcome]:
        """Outcomes of calls that ended at or after `start`, oldest first, at most `limit`."""
        if limit <= 0:
            return []
        with self._using("cannot read call outcomes") as client:
            rows = client.eval(_SINCE, 0, self.prefix, repr(self._clock()), repr(start), limit)
        out = []
        for text in rows:
            if text is None:  # trimmed between the two reads of the script: cannot happen
                continue
            try:
                out.append(decode_outcome(text))
            except (ValueError, TypeError, KeyError) as exc:
                raise QueueError(f"{self._where}: a call outcome is unreadable: {exc}") from None
        return out


def outcome_keys(prefix: str) -> tuple[str, str]:
    """The two keys of the log under `prefix` (for tests and tools)."""
    return key(prefix, "outcomes"), key(prefix, "outcome_records")
