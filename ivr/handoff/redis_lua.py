"""The Lua scripts of the Redis queue: every change of state is one script, so it is atomic.

Each script starts with `PRELUDE`: `key(...)` builds key names from the prefix (ARGV[1]) the way
`ivr.handoff.redis_url.key` does in Python, and the helpers move a record between the status sets,
write audit events, return expired leases to the line and check who holds a lease. Every script
that changes a lease first returns leases past their time (ARGV[2] is "now"), so a record whose
lease ran out is never held by its old agent and never taken twice.

Records (`record:{id}` hashes) keep `member` (filing time and id, sortable) and `score` (minus
the priority), so putting a record back in line puts it at its original place.
"""

from __future__ import annotations

__all__ = [
    "DONE", "EXPIRE", "GET", "GIVE_BACK", "LIST", "MIGRATE_V1", "MIGRATE_V2", "NOTE", "PURGE",
    "PURGEABLE", "PUT", "RENEW", "STATS", "TAKE",
]

PRELUDE = """
local P = ARGV[1]
local NOW = ARGV[2]
local function key(...) return table.concat({P, ...}, ':') end
local function audit(at, call_id, event, actor, queue, detail)
  local n = redis.call('INCR', key('auditseq'))
  local e = cjson.encode({at = at, call_id = call_id, event = event, actor = actor,
                          queue = queue, detail = detail})
  redis.call('ZADD', key('audit'), tonumber(at), string.format('%020d', n) .. e)
  redis.call('RPUSH', key('history', call_id), e)
end
local function sets(id, status, op)
  local r = redis.call('HMGET', key('record', id), 'queue', 'member', 'lang', 'score')
  local targets = {key(status), key(status, r[1])}
  if status == 'waiting' then table.insert(targets, key('wl', r[3], r[1])) end
  for _, k in ipairs(targets) do
    if op == 'add' then redis.call('ZADD', k, r[4], r[2]) else redis.call('ZREM', k, r[2]) end
  end
end
local function move(id, from, to)
  sets(id, from, 'rem')
  sets(id, to, 'add')
  redis.call('HSET', key('record', id), 'status', to)
end
local function unlease(id)
  redis.call('HDEL', key('record', id), 'lease_until')
  redis.call('ZREM', key('leases'), id)
end
local function expire()
  local ids = redis.call('ZRANGEBYSCORE', key('leases'), '-inf', NOW)
  for _, id in ipairs(ids) do
    local r = redis.call('HMGET', key('record', id), 'taken_by', 'queue', 'call_id')
    move(id, 'taken', 'waiting')
    unlease(id)
    redis.call('HDEL', key('record', id), 'taken_by', 'taken_at')
    audit(NOW, r[3], 'expired', r[1] or '', r[2], 'lease')
  end
  return #ids
end
local function held(call_id, agent)
  expire()
  local id = redis.call('HGET', key('calls'), call_id)
  if not id then return nil end
  local r = redis.call('HMGET', key('record', id), 'status', 'taken_by', 'queue')
  if r[1] == 'taken' and r[2] == agent then return id, r[3] end
  return nil
end
local function row(id)
  local r = redis.call('HMGET', key('record', id), 'status', 'taken_by', 'taken_at',
                      'lease_until', 'disposition', 'done_at', 'queue', 'record')
  table.insert(r, 1, id)
  return r
end
"""

PUT = PRELUDE + """
local call_id, rec, score, stime, queue, reason, created, lang =
  ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local old = redis.call('HGET', key('calls'), call_id)
if old then
  local r = redis.call('HMGET', key('record', old), 'record', 'purged')
  return {0, r[1], r[2]}
end
local id = redis.call('INCR', key('seq'))
redis.call('HSET', key('record', id), 'record', rec, 'status', 'waiting', 'call_id', call_id,
           'queue', queue, 'score', score, 'member', stime .. string.format('%020d', id),
           'reason', reason, 'created_at', created, 'lang', lang)
redis.call('HSET', key('calls'), call_id, id)
redis.call('SADD', key('queues'), queue)
sets(id, 'waiting', 'add')
audit(created, call_id, 'filed', 'engine', queue, '')
return {1, tostring(id)}
"""
"""ARGV: prefix, now, call_id, record JSON, score, sortable filing time, queue, reason, filing
time, language. Returns {1, id} for a new record, {0, stored JSON, purged} for a used id."""

TAKE = PRELUDE + """
local agent, lease_until = ARGV[3], ARGV[4]
local queues = cjson.decode(ARGV[5])
local langs = cjson.decode(ARGV[6])
expire()
if #queues == 0 and ARGV[7] == 'all' then queues = redis.call('SMEMBERS', key('queues')) end
local best, best_score
for _, q in ipairs(queues) do
  for _, l in ipairs(langs) do
    local head = redis.call('ZRANGE', key('wl', l, q), 0, 0, 'WITHSCORES')
    if #head > 0 then
      local s = tonumber(head[2])
      if not best or s < best_score or (s == best_score and head[1] < best) then
        best, best_score = head[1], s
      end
    end
  end
end
if not best then return false end
local id = string.match(string.sub(best, -20), '^0*(%d+)$')
local rkey = key('record', id)
local rec = redis.call('HMGET', rkey, 'record', 'call_id', 'queue')
if not (rec[1] and pcall(cjson.decode, rec[1])) then
  return redis.error_reply('record ' .. id .. ' is unreadable (left waiting)')
end
move(id, 'waiting', 'taken')
redis.call('HSET', rkey, 'taken_by', agent, 'taken_at', NOW, 'lease_until', lease_until)
redis.call('HSETNX', rkey, 'first_taken_at', NOW)
redis.call('ZADD', key('leases'), lease_until, id)
audit(NOW, rec[2], 'taken', agent, rec[3], '')
return row(id)
"""
"""ARGV: prefix, now, agent, lease end, queues (JSON list), languages (JSON list), "all" when
every queue may serve. Returns the claimed record's row, or nil when nothing waits."""

RENEW = PRELUDE + """
local id = held(ARGV[3], ARGV[4])
if not id then return 0 end
redis.call('HSET', key('record', id), 'lease_until', ARGV[5])
redis.call('ZADD', key('leases'), ARGV[5], id)
return 1
"""
"""ARGV: prefix, now, call_id, agent, new lease end. Returns 1, or 0 when not held."""

GIVE_BACK = PRELUDE + """
local id, queue = held(ARGV[3], ARGV[4])
if not id then return 0 end
local target = queue
if ARGV[5] ~= '' then target = ARGV[5] end
sets(id, 'taken', 'rem')
redis.call('HSET', key('record', id), 'queue', target, 'status', 'waiting')
redis.call('HDEL', key('record', id), 'taken_by', 'taken_at')
redis.call('SADD', key('queues'), target)
sets(id, 'waiting', 'add')
unlease(id)
local detail = ''
if ARGV[5] ~= '' then detail = queue end
audit(NOW, ARGV[3], ARGV[6], ARGV[4], target, detail)
return 1
"""
"""ARGV: prefix, now, call_id, agent, new queue ("" to release), event. Returns 1, or 0."""

DONE = PRELUDE + """
local id, queue = held(ARGV[3], ARGV[4])
if not id then return 0 end
move(id, 'taken', 'done')
unlease(id)
redis.call('HSET', key('record', id), 'disposition', ARGV[5], 'done_at', NOW)
redis.call('ZADD', key('closed'), NOW, id)
audit(NOW, ARGV[3], 'done', ARGV[4], queue, ARGV[5])
return 1
"""
"""ARGV: prefix, now, call_id, agent, disposition. Returns 1, or 0 when not held."""

EXPIRE = PRELUDE + "return expire()\n"
"""ARGV: prefix, now. Returns how many leases went back in line."""

NOTE = PRELUDE + """
local id = redis.call('HGET', key('calls'), ARGV[3])
local queue = ''
if id then queue = redis.call('HGET', key('record', id), 'queue') end
audit(NOW, ARGV[3], ARGV[4], ARGV[5], queue, ARGV[6])
return 1
"""
"""ARGV: prefix, now, call_id, event, actor, detail."""

GET = PRELUDE + """
local id = redis.call('HGET', key('calls'), ARGV[3])
if not id then return false end
return row(id)
"""
"""ARGV: prefix, now, call_id. Returns the record's row, or nil."""

LIST = PRELUDE + """
local out = {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  table.insert(out, row(string.match(string.sub(member, -20), '^0*(%d+)$')))
end
return out
"""
"""KEYS: a status set. ARGV: prefix, now. Returns its records' rows in serving order."""

PURGEABLE = PRELUDE + """
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', key('closed'), '-inf', ARGV[3])) do
  table.insert(out, {id, redis.call('HGET', key('record', id), 'record')})
end
return out
"""
"""ARGV: prefix, now, cutoff. Returns {id, record JSON} of records closed by the cutoff and
not yet purged."""

PURGE = PRELUDE + """
if redis.call('ZREM', key('closed'), ARGV[3]) == 0 then return 0 end
local r = redis.call('HMGET', key('record', ARGV[3]), 'call_id', 'queue')
redis.call('HSET', key('record', ARGV[3]), 'record', ARGV[4], 'purged', NOW)
audit(NOW, r[1], 'purged', 'retention', r[2], '')
return 1
"""
"""ARGV: prefix, now, id, the record without caller text. Returns 1, or 0 if already purged."""

STATS = PRELUDE + """
local tallies, rows, waits = {}, {}, {}
for _, status in ipairs({'waiting', 'taken', 'done'}) do
  for _, member in ipairs(redis.call('ZRANGE', key(status), 0, -1)) do
    local id = string.match(string.sub(member, -20), '^0*(%d+)$')
    local r = redis.call('HMGET', key('record', id), 'queue', 'score', 'reason', 'created_at',
                         'first_taken_at')
    table.insert(waits, {r[1], r[4], r[5]})
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
return {rows, waits}
"""
"""ARGV: prefix, now. Returns {tallies, waits}: records grouped by queue, status, score and
reason as {queue, status, score, reason, count, oldest}, and {queue, filed, first taken} each."""

MIGRATE_V1 = PRELUDE + """
if redis.call('GET', key('schema')) ~= '1' then return 0 end
for _, status in ipairs({'waiting', 'taken'}) do
  for _, member in ipairs(redis.call('ZRANGE', key(status), 0, -1)) do
    local id = string.match(string.sub(member, -20), '^0*(%d+)$')
    local rkey = key('record', id)
    local r = redis.call('HMGET', rkey, 'record', 'queue', 'created_at', 'taken_by', 'taken_at')
    local ok, h = pcall(cjson.decode, r[1])
    local lang, call_id = '', ''
    if ok then lang, call_id = h['lang'], h['call_id'] end
    redis.call('HSET', rkey, 'lang', lang, 'call_id', call_id)
    audit(r[3], call_id, 'filed', 'engine', r[2], 'before_v2')
    if status == 'waiting' then
      redis.call('ZADD', key('wl', lang, r[2]), redis.call('HGET', rkey, 'score'), member)
    else
      move(id, 'taken', 'done')
      redis.call('HSET', rkey, 'first_taken_at', r[5], 'disposition', 'taken_before_v2',
                 'done_at', NOW)
      redis.call('ZADD', key('closed'), NOW, id)
      audit(NOW, call_id, 'done', r[4] or '', r[2], 'taken_before_v2')
    end
  end
end
redis.call('SET', key('schema'), '2')
return 1
"""
"""ARGV: prefix, now. Migrates layout 1 (no languages, leases or audit; a take was final) to 2
in one step: records taken under version 1 are closed ("taken_before_v2")."""

MIGRATE_V2 = PRELUDE + """
if redis.call('GET', key('schema')) ~= '2' then return 0 end
redis.call('SET', key('schema'), '3')
return 1
"""
"""Layout 2 -> 3: nothing to move (the outcome keys start empty; records without overlays
read as having none), only the version."""
