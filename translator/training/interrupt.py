"""Interrupts during training: `Interrupt`, a context manager that turns Ctrl-C and SIGTERM into
a flag the training loop checks between updates, and `Interrupted`, the exception the loop
raises (on every rank, after the same update) once the flag is up."""

from __future__ import annotations

import signal
import sys
import threading

from tqdm import tqdm


class Interrupted(Exception):
    """The flagged interrupt, raised by every rank after the same update."""


class Interrupt:
    """Ctrl-C (or SIGTERM, which torchrun sends its ranks when it is stopped) sets `requested`,
    checked between steps, so `last.pt` is never saved mid-update; under torchrun, every rank
    stops at the same step once any rank has it.

    A second Ctrl-C of a single process aborts at once without saving (the last `last.pt`
    stays). Under torchrun a second signal is ignored: a scheduler's SIGTERM often reaches a
    rank twice (directly and through torchrun), and a rank leaving on its own would leave the
    others in a collective. The handlers are installed on entering (on the main thread only:
    elsewhere signals cannot be caught) and the previous ones put back on leaving.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, distributed: bool, announce: bool):
        self.distributed = distributed
        self.announce = announce  # rank 0 says what happens on the first signal
        self.requested = False
        self._previous: dict = {}

    def __enter__(self) -> Interrupt:
        self.requested = False
        if threading.current_thread() is threading.main_thread():
            self._previous = {signum: signal.signal(signum, self._handle)
                              for signum in self.SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def _handle(self, signum, frame) -> None:
        if self.requested:
            if self.distributed:
                return
            raise KeyboardInterrupt
        self.requested = True
        if self.announce:
            tqdm.write("interrupt: finishing this step, then saving last.pt"
                       + ("" if self.distributed else
                          " (Ctrl-C again to abort at once, without saving)"),
                       file=sys.stderr)
