"""Status updates on their way out of an agent process, held briefly per agent.

An agent's pending updates go as one message once the first of them has waited half of
``delay``, at the next tick of a timer that ticks every half ``delay`` while anything waits: so
each update waits between half and all of ``delay``.

* A short task's STARTING, RUNNING and FINISHED travel together instead of as three messages
  (each message costs the scheduler a receive, a share of a storage write and an
  acknowledgement), unless they are more than half ``delay`` apart. A plain timer for the whole
  process, sending everything at each tick, cut a task's updates in two whenever it ticked
  between them: one task in ten on one-off-real.
* The agents of one process send at the ticks, not each at its own moment: the scheduler
  takes in what arrives together as one batch (one write, one scheduling pass), where agents
  sending each at their own deadline spread the same messages over many small batches (on
  one-off-real: 490 storage writes per 10,000 tasks instead of 340).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Agents falling due within this of the first are sent in the same pass: one timer wake-up
# rather than one per agent when many fill at nearly the same moment.
_SLACK_S = 0.002


class Outbox(Generic[K, V]):
    """``put(key, item)`` holds ITEM for KEY; ``deliver(key, items)`` is called with KEY's
    items in order at the first tick after the first of them has waited ``delay / 2`` seconds;
    it returns False when it cannot take them now (they are offered again a tick later)."""

    def __init__(self, delay: float, deliver: Callable[[K, list[V]], bool]) -> None:
        if delay < 0:
            raise ValueError(f"delay {delay}: must be 0 or more")
        self.delay = delay
        self._deliver = deliver
        self._pending: dict[K, list[V]] = {}
        self._tick = delay / 2
        self._due: deque[tuple[float, K]] = deque()  # in put order, hence in due order
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.Handle | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        if self._due:
            self._arm()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._loop = None

    def __len__(self) -> int:
        return sum(len(items) for items in self._pending.values())

    def put(self, key: K, item: V) -> None:
        items = self._pending.get(key)
        if items is not None:
            items.append(item)
            return
        self._pending[key] = [item]
        now = self._loop.time() if self._loop is not None else 0.0
        self._due.append((now + self._tick, key))
        if self._timer is None and self._loop is not None:
            self._arm()

    def flush_all(self) -> None:
        """Offer everything now, whatever its wait so far."""
        self._send(float("inf"))

    def _arm(self) -> None:
        assert self._loop is not None
        self._timer = (self._loop.call_later(self._tick, self._fire) if self._tick > 0
                       else self._loop.call_soon(self._fire))

    def _fire(self) -> None:
        self._timer = None
        assert self._loop is not None
        self._send(self._loop.time() + _SLACK_S)

    def _send(self, until: float) -> None:
        retry: list[K] = []
        due, pending = self._due, self._pending
        while due and due[0][0] <= until:
            key = due.popleft()[1]
            items = pending.pop(key)
            if not self._deliver(key, items):
                pending[key] = items
                retry.append(key)
        if retry:
            again = (self._loop.time() if self._loop is not None else 0.0) + self._tick
            due.extend((again, key) for key in retry)
        if due and self._timer is None and self._loop is not None:
            self._arm()
