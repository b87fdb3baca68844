"""The Lua scripts the job store (worker/store/jobs.py) runs on Redis, so that a check and the
writes it guards happen atomically. Statuses are compared as they read in a record's hash:
JSON strings with their quotes."""

from __future__ import annotations

# Update a job's fields unless its status is final (or the caller may overwrite it: ARGV[1]=1);
# ARGV[2] is the job id, ARGV[3] a result to store in KEYS[4] for as long as the record is kept
# (ARGV[4] seconds where the record has no expiry; '' for none: a finishing job's result is
# written with its status, in one round trip), ARGV[5] a
# task id to remove from the job's pending hash KEYS[5] ('' for none: the task that finishes
# the job is no longer pending, in the same round trip), then field/value pairs (JSON values).
# A job given a final status leaves the activity index KEYS[2], and the status is pushed on
# its finished list KEYS[3] (expiring after FINISHED_TTL), which wakes the requests waiting
# on it. Returns -1 (no job), 0 (final, not applied) or 1.
FINISHED_TTL = 300
UPDATE = """
local function final(s) return s == '"done"' or s == '"failed"' or s == '"cancelled"' end
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return -1 end
if ARGV[1] == '0' and final(status) then return 0 end
if ARGV[3] ~= '' then
  local ttl = redis.call('TTL', KEYS[1])
  if ttl <= 0 then ttl = ARGV[4] end
  redis.call('SET', KEYS[4], ARGV[3], 'EX', ttl)
end
if ARGV[5] ~= '' then redis.call('HDEL', KEYS[5], ARGV[5]) end
for i = 6, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  if ARGV[i] == 'status' and final(ARGV[i + 1]) then
    redis.call('ZREM', KEYS[2], ARGV[2])
    redis.call('DEL', KEYS[3])
    redis.call('RPUSH', KEYS[3], ARGV[i + 1])
    redis.call('EXPIRE', KEYS[3], """ + str(FINISHED_TTL) + """)
  end
end
return 1
"""

# Mark a queued job running and record its activity in KEYS[2] (ARGV: now, job id); returns
# the record's hash (field, value, ...) and the values of its progress hash KEYS[3] after that,
# or nil if there is no such job: the task has its record without another round trip.
START = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return nil end
if status == '"queued"' then
  redis.call('HSET', KEYS[1], 'status', '"running"', 'started', ARGV[1])
  status = '"running"'
end
if status == '"running"' then redis.call('ZADD', KEYS[2], 'XX', ARGV[1], ARGV[2]) end
return {redis.call('HGETALL', KEYS[1]), redis.call('HVALS', KEYS[3])}
"""
