"""Timing helpers for scenario authors: `timed()` and `rate()`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class Timer:
    """Wall time from `start` (time.perf_counter) until `stop()`, or until now while running."""

    def __init__(self) -> None:
        self.start: float = time.perf_counter()
        self.end: float | None = None

    def stop(self) -> float:
        if self.end is None:
            self.end = time.perf_counter()
        return self.seconds

    @property
    def seconds(self) -> float:
        end = self.end if self.end is not None else time.perf_counter()
        return end - self.start


@contextmanager
def timed() -> Iterator[Timer]:
    """Time the body of a `with` block::

        with timed() as t:
            work()
        print(t.seconds)

    The timer stops when the block exits (also on an exception).
    """
    timer = Timer()
    try:
        yield timer
    finally:
        timer.stop()


def rate(count: float, seconds: float) -> float:
    """COUNT per second; 0.0 when nothing was timed (seconds <= 0) rather than inf."""
    return count / seconds if seconds > 0 else 0.0
