"""Recovery of work the broker dropped: everything that knows kombu's Redis layout is here.

Two ways a task message goes missing, and the sweep every worker runs for each
(`RESTORE_INTERVAL` seconds apart):
- its whole worker vanished while holding it (kill -9, a lost machine): the message stays in
  kombu's `unacked` hash; once older than the visibility timeout it is put back in its queue
  (`redeliver_abandoned`; `translator serve` puts back every one at once whenever its private
  Redis starts, `redeliver_unacked`). kombu's own restore takes a mutex that a worker killed
  while holding it leaves locked for minutes; each restore here is a WATCH transaction on the
  message, so concurrent sweeps cannot restore one twice;
- a worker died between Redis's pop and its record of the message as unacknowledged: the
  message is nowhere and no timeout brings it back. Each job records its pending tasks
  (worker/dispatch.py); `recover_stalled` re-sends those of idle jobs that are in no queue and
  held by no worker.
"""

from __future__ import annotations

import logging
import threading
import time

from .celery_app import RESTORE_INTERVAL, STALL_AFTER
from .dispatch import Dispatcher, TaskSpec
from .store import JobStore

log = logging.getLogger("worker")

# The task ids (kombu's `correlation_id`) among ARGV that are in one of the lists KEYS[1..n-1]
# (queues) or the hash KEYS[n] (kombu's unacknowledged messages): one pass over each.
FIND_MESSAGES = """
local want, found = {}, {}
for i = 1, #ARGV do want[ARGV[i]] = true end
local pattern = '"correlation_id": "([^"]+)"'
local function check(message)
  -- kombu writes the properties last: look in the tail before the whole (large) message
  local id = string.match(string.sub(message, -1024), pattern) or string.match(message, pattern)
  if id and want[id] then
    found[#found + 1] = id
    want[id] = nil
  end
end
for k = 1, #KEYS - 1 do
  local n = redis.call('LLEN', KEYS[k])
  for first = 0, n - 1, 1000 do
    for _, message in ipairs(redis.call('LRANGE', KEYS[k], first, first + 999)) do
      check(message)
    end
  end
end
for _, message in ipairs(redis.call('HVALS', KEYS[#KEYS])) do check(message) end
return found
"""
PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")  # kombu's priority lists


def redeliver_unacked(app, older_than: float | None = None) -> int:
    """Put unacknowledged messages back in their queues: those older than `older_than`
    seconds, or every one (None: what `translator serve` does whenever its private Redis
    starts, since every consumer of that Redis is its own and none is running yet). Returns
    how many."""
    with app.connection_for_read() as conn:
        channel = conn.default_channel
        qos = channel.qos
        with channel.conn_or_acquire() as client:
            ceil = "+inf" if older_than is None else time.time() - older_than
            tags = client.zrangebyscore(channel.unacked_index_key, 0, ceil)
            for tag in tags:
                qos.restore_by_tag(tag.decode() if isinstance(tag, bytes) else tag, client)
    if tags:
        log.warning("redelivered %d task(s) whose worker vanished", len(tags))
    return len(tags)


class Recovery:
    def __init__(self, store: JobStore, dispatcher: Dispatcher):
        self.store, self.dispatcher, self.app = store, dispatcher, dispatcher.app

    def find_messages(self, queues: list[str], task_ids: list[str]) -> set[str]:
        """Which of `task_ids` have a message in one of `queues` or held unacknowledged by a
        worker (one server-side pass over those lists and kombu's unacked hash)."""
        if not task_ids:
            return set()
        with self.app.connection_for_read() as conn:
            channel = conn.default_channel
            lists = [q + suffix for q in queues for suffix in PRIORITY_SUFFIXES]
            with channel.conn_or_acquire() as client:
                found = client.register_script(FIND_MESSAGES)(
                    keys=[*lists, channel.unacked_key], args=task_ids)
        return {f.decode() if isinstance(f, bytes) else f for f in found}

    def recover_stalled(self, stall_after: float = STALL_AFTER, confirm_after: float = 1.0,
                        limit: int = 500) -> dict[str, int]:
        """Re-send the lost tasks of jobs with no activity for `stall_after` seconds.

        Each pending task of an idle job whose message is neither in its queue nor held by a
        worker, at two looks `confirm_after` seconds apart (a live worker's pop-to-record
        window lasts microseconds), and that is still pending at the second look, is re-sent
        under the same task id (tasks are idempotent: a duplicate rewrites the same values).
        Idleness only limits the work: a running task's message is in kombu's unacked hash, a
        waiting one in its queue. One sweeper acts per period (a claim that expires if it
        dies). Returns {job id: tasks re-sent} for the jobs examined."""
        stalled = self.store.idle_jobs(stall_after, limit)
        if not stalled or not self.store.claim_sweep(stall_after):
            return {}
        pending = self.store.pending_of(stalled)
        missing = self._missing(pending)
        if missing and confirm_after > 0:
            time.sleep(confirm_after)
            missing = self._missing(self.store.pending_of(list(missing)))
        for tasks in missing.values():
            for task_id, task in tasks.items():
                self.dispatcher.resend(task_id, TaskSpec(**task))
        self.store.touch_all(list(pending))
        return {job_id: len(missing.get(job_id, {})) for job_id in pending}

    def _missing(self, pending: dict[str, dict[str, dict]]) -> dict[str, dict[str, dict]]:
        """The pending tasks whose message is in no queue and held by no worker (one pass)."""
        queues = sorted({t["queue"] for tasks in pending.values() for t in tasks.values()})
        present = self.find_messages(queues, [t for tasks in pending.values() for t in tasks])
        out = {}
        for job_id, tasks in pending.items():
            lost = {task_id: task for task_id, task in tasks.items() if task_id not in present}
            if lost:
                out[job_id] = lost
        return out

    def redeliver_abandoned(self) -> int:
        """Restore unacknowledged messages older than the visibility timeout; returns how many."""
        return redeliver_unacked(self.app, self.app.settings.visibility_timeout)

    def sweep(self) -> int:
        """One pass of both recoveries; returns how many tasks were re-sent."""
        self.redeliver_abandoned()
        resent = self.recover_stalled()
        for job_id, n in resent.items():
            if n:
                log.warning("job %s: re-sent %d task(s) that the broker lost", job_id, n)
        return sum(resent.values())

    def start_sweeping(self) -> threading.Thread:
        """Sweep every RESTORE_INTERVAL seconds in a daemon thread."""

        def loop():
            while True:
                time.sleep(RESTORE_INTERVAL)
                try:
                    self.sweep()
                except Exception as exc:  # Redis away: try again next time
                    log.warning("recovery sweep skipped: %s", exc)

        thread = threading.Thread(target=loop, name="recovery-sweep", daemon=True)
        thread.start()
        log.info("recovery sweep every %d s (visibility timeout %d s, stalled jobs after %d s)",
                 RESTORE_INTERVAL, self.app.settings.visibility_timeout, STALL_AFTER)
        return thread
