"""Pending tasks grouped by identical config, each group retried with its own backoff.

Aurora's TaskGroups: a group that found no host waits before its next attempt, 1 s at first and
doubling up to 1 min; a group that placed anything is retried at once (its backoff resets). There
is no global attempts-per-second throttle unless one is configured (Aurora's default of 40
attempts/s is what capped it near 200 tasks/s). When resources are freed (a task ended, an agent
came), the service wakes the waiting groups so that queued work does not sit out a backoff that
no longer applies. Time comes from an injected clock.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field

Clock = Callable[[], int]  # milliseconds


@dataclass
class TaskGroup:
    key: Hashable
    tasks: dict[int, None] = field(default_factory=dict)  # pending slots, in arrival order
    backoff_ms: int = 0
    ready_at_ms: int = 0
    attempts: int = 0
    queued: int = 0  # sequence number of the group's live entry in the ready heap

    def __len__(self) -> int:
        return len(self.tasks)


class TaskGroups:
    """The pending groups and when each may be tried next."""

    def __init__(self, clock: Clock, *, initial_backoff_ms: int = 1_000,
                 max_backoff_ms: int = 60_000, max_attempts_per_sec: float | None = None) -> None:
        if initial_backoff_ms <= 0 or max_backoff_ms < initial_backoff_ms:
            raise ValueError("backoff must satisfy 0 < initial <= max, got "
                             f"initial={initial_backoff_ms} max={max_backoff_ms}")
        if max_attempts_per_sec is not None and max_attempts_per_sec <= 0:
            raise ValueError(f"max_attempts_per_sec must be > 0, got {max_attempts_per_sec}")
        self.clock = clock
        self.initial_backoff_ms = initial_backoff_ms
        self.max_backoff_ms = max_backoff_ms
        self.max_attempts_per_sec = max_attempts_per_sec
        self._groups: dict[Hashable, TaskGroup] = {}
        self._key_of: dict[int, Hashable] = {}  # slot -> its group: groups hold PENDING slots only
        self._heap: list[tuple[int, int, Hashable]] = []
        self._seq = 0
        self._tokens = max_attempts_per_sec or 0.0
        self._tokens_at = clock()

    def __len__(self) -> int:
        return len(self._groups)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._groups

    def group(self, key: Hashable) -> TaskGroup | None:
        return self._groups.get(key)

    def pending_count(self) -> int:
        return sum(len(g) for g in self._groups.values())

    def add(self, key: Hashable, slots: Iterable[int]) -> TaskGroup:
        """Tasks became PENDING; a new group is ready at once."""
        g = self._groups.get(key)
        if g is None:
            g = TaskGroup(key, ready_at_ms=self.clock())
            self._groups[key] = g
            self._push(g)
        for s in slots:
            g.tasks[s] = None
            self._key_of[s] = key
        return g

    def remove(self, key: Hashable, slots: Iterable[int]) -> None:
        """Tasks left PENDING (placed, killed, deleted); an empty group is dropped."""
        g = self._groups.get(key)
        if g is None:
            return
        key_of = self._key_of
        for s in slots:
            if g.tasks.pop(s, 0) is None:
                del key_of[s]
        if not g.tasks:
            del self._groups[key]

    def discard(self, slots: Iterable[int]) -> None:
        """These tasks are gone (deleted while PENDING): out of whatever group held them."""
        for s in slots:
            key = self._key_of.get(s)
            if key is not None:
                self.remove(key, [s])

    def ready(self, limit: int | None = None) -> list[TaskGroup]:
        """Groups whose time has come, earliest first, within the optional attempt budget."""
        now = self.clock()
        budget = self._budget(now)
        out: list[TaskGroup] = []
        while self._heap and self._heap[0][0] <= now and (limit is None or len(out) < limit):
            if budget is not None and budget < 1:
                break
            _, seq, key = heapq.heappop(self._heap)
            g = self._groups.get(key)
            if g is None or g.queued != seq:
                continue  # a stale heap entry: the group was rescheduled or removed
            out.append(g)
            if budget is not None:
                budget -= 1
                self._tokens -= 1
        return out

    def attempted(self, group: TaskGroup, placed: int) -> None:
        """Record an attempt: success resets the backoff, nothing placed doubles it."""
        group.attempts += 1
        if group.key not in self._groups:
            return
        if placed > 0:
            group.backoff_ms = 0
        elif group.backoff_ms == 0:
            group.backoff_ms = self.initial_backoff_ms
        else:
            group.backoff_ms = min(self.max_backoff_ms, group.backoff_ms * 2)
        group.ready_at_ms = self.clock() + group.backoff_ms
        self._push(group)

    def wake(self) -> int:
        """Capacity was freed: every group waiting out a backoff may try again now (its backoff
        is kept, so another miss still doubles it). Returns how many were woken."""
        now = self.clock()
        woken = 0
        for g in self._groups.values():
            if g.ready_at_ms > now:
                g.ready_at_ms = now
                self._push(g)
                woken += 1
        return woken

    def _push(self, g: TaskGroup) -> None:
        self._seq += 1
        g.queued = self._seq
        heapq.heappush(self._heap, (g.ready_at_ms, self._seq, g.key))

    def _budget(self, now: int) -> float | None:
        if self.max_attempts_per_sec is None:
            return None
        rate = self.max_attempts_per_sec
        self._tokens = min(rate, self._tokens + (now - self._tokens_at) * rate / 1000.0)
        self._tokens_at = now
        return self._tokens
