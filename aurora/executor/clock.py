"""The executor's clock: wall time plus "wait until one of these fds is readable, or a timeout".

Every timing decision of the runner, the health checker and the kill sequence reads ``time()``
and blocks only in ``wait()``, so a test can swap in :class:`FakeClock` and drive minutes of
timeouts in milliseconds. Wall time (not monotonic) is used because deadlines and termination
times are checkpointed and must mean the same thing to a runner recovering after a restart, as
in Thermos.
"""

from __future__ import annotations

import select
import time
from collections.abc import Sequence
from typing import Protocol

__all__ = ["Clock", "FakeClock", "SystemClock"]


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch."""
        ...

    def wait(self, fds: Sequence[int], timeout: float) -> list[int]:
        """Block until one of ``fds`` is readable or ``timeout`` seconds pass; the ready fds."""
        ...


def _poll(fds: Sequence[int], timeout: float) -> list[int]:
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN | select.POLLPRI)
    millis = max(0, int(timeout * 1000 + 0.999)) if timeout != float("inf") else -1
    return [fd for fd, _ in poller.poll(millis)]


class SystemClock:
    """The real clock: ``time.time()`` and ``poll(2)``."""

    def time(self) -> float:
        return time.time()

    def wait(self, fds: Sequence[int], timeout: float) -> list[int]:
        if not fds:
            if timeout > 0:
                time.sleep(min(timeout, 3600.0))
            return []
        return _poll(fds, timeout)


class FakeClock:
    """A clock that only moves when told to, or by the whole timeout of a ``wait``.

    ``wait`` still polls the fds (without blocking) so real child processes are noticed, then
    jumps time forward by the full timeout when nothing was ready (or by ``ready_step`` when
    something was): time advances deterministically whatever the real machine speed.
    """

    def __init__(self, start: float = 1_000_000.0, ready_step: float = 0.0) -> None:
        self._now = start
        self._ready_step = ready_step
        self.waits: list[float] = []

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += max(0.0, seconds)

    def wait(self, fds: Sequence[int], timeout: float) -> list[int]:
        self.waits.append(timeout)
        ready = _poll(fds, 0) if fds else []
        if ready:
            self.advance(min(timeout, self._ready_step))
        elif timeout != float("inf"):
            self.advance(timeout)
            if not fds:
                return []
            # Give real processes a moment so a busy loop cannot starve them.
            return _poll(fds, 0.001)
        return ready
