"""How `translator serve` starts its children: each ends with serve (even when serve is
killed with -9) and may run at a lower CPU priority."""

from __future__ import annotations

import os
import signal

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _prctl():
    """libc's prctl, looked up in the parent (a child between fork and exec must not load
    libraries); None where there is none."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def child_setup(nice: int = 0):
    """The preexec function of serve's children: ask Linux to send the child SIGTERM when
    serve ends, even by `kill -9` (prctl PR_SET_PDEATHSIG), so that no worker, web server or
    Redis outlives it (SIGTERM: a Celery worker's warm shutdown still finishes or re-queues
    its task, redis-server flushes its AOF); then lower the priority. Without prctl (not
    Linux) only the priority."""
    parent, prctl = os.getpid(), _prctl()

    def setup() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
            if os.getppid() != parent:  # serve died before the call: no signal will come
                os._exit(1)
        if nice:
            lower_priority(nice)

    return setup


def lower_priority(nice: int) -> None:
    """Run at a lower CPU priority. A process in its own session is also in its own
    scheduler autogroup (Linux with sched_autogroup), where a plain nice value only ranks it
    against its own group; the group's nice value is what ranks it against the other
    processes, so it is set too."""
    os.nice(nice)
    try:
        with open("/proc/self/autogroup", "w") as f:
            f.write(str(nice))
    except OSError:  # no autogroups on this system: the plain nice value is what counts
        pass
