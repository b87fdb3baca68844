"""How `translator serve` starts its children: each ends with serve (even when serve is
killed with -9) and may run at a lower CPU priority."""

from __future__ import annotations

import os
import signal

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int, signum: int = signal.SIGTERM) -> None:
    """In a child before it runs its program: ask Linux to send it `signum` when its parent
    ends, even by `kill -9` (prctl PR_SET_PDEATHSIG), so that no worker, web server or Redis
    outlives a killed `translator serve`. SIGTERM: a Celery worker's warm shutdown still
    finishes or re-queues its task, redis-server flushes its AOF. Elsewhere than Linux this
    does nothing."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the call: no signal will come
        os._exit(1)


def child_setup(nice: int = 0):
    """The preexec function of serve's children: die with serve, then lower the priority."""
    parent = os.getpid()

    def setup() -> None:
        die_with_parent(parent)
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
