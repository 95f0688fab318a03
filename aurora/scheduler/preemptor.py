"""Preemption: find slots for pending task groups and hold them, as Aurora's preemptor does.

Aurora's ``PendingTaskProcessor`` runs periodically over the task groups that have been PENDING
long enough (``-preemption_delay``, the caller's filter) and hold no slot yet. Groups take turns in
batches of ``-preemption_reservation_max_batch_size`` tasks (default 5): {G1 x3, G2 x2} with batch
size 2 is G1 G1 G2 G2 G1. Each task of a batch searches the hosts for a *slot*: a host and the
victims whose preemption makes the task fit (``VictimIndex.find_slots`` applies
``PreemptionVictimFilter``'s rules). A host gives at most one slot per pass, and a group that
finds nothing is dropped for the rest of the pass. Found slots go to the ``SlotCache`` (Aurora's
``BiCache``), held for ``-preemption_slot_hold_time`` (default 5 minutes) until the scheduler,
about to place a task of that group, ``take``s one, re-validates it and moves the victims to
PREEMPTING (the service layer's part, not here).

One deliberate difference: the cache holds at most one slot per host, so a pass also skips hosts
already holding a slot for some group rather than overwriting that reservation. (Aurora's cache is
keyed by the proposal, so two groups could hold slots on one host across passes.)
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Any, NamedTuple, Protocol

DEFAULT_SLOT_HOLD_MS = 5 * 60_000  # Aurora's -preemption_slot_hold_time
DEFAULT_RESERVATION_BATCH_SIZE = 5  # Aurora's -preemption_reservation_max_batch_size


class Clock(Protocol):
    """Where the scheduler reads the time: milliseconds, never going backwards."""

    def now_ms(self) -> int: ...


class SystemClock:
    """The real clock (monotonic milliseconds)."""

    def now_ms(self) -> int:
        return time.monotonic_ns() // 1_000_000


class Slot(NamedTuple):
    """A preemption slot: preempting VICTIMS on HOST makes room for a task of GROUP."""

    group: Hashable
    host: int
    victims: tuple[int, ...]


class SlotCache:
    """Found slots, held per task group for a fixed time; at most one slot per host.

    Reads (``take``, ``slots_for``, ``len``, ``held_hosts``) drop expired slots first, so an
    expired slot is never seen, as with Aurora's expire-after-write cache. A slot expires once
    ``hold_ms`` have passed since it was put.
    """

    def __init__(self, clock: Clock, hold_ms: int = DEFAULT_SLOT_HOLD_MS) -> None:
        if hold_ms <= 0:
            raise ValueError(f"hold_ms must be positive, got {hold_ms}")
        self._clock = clock
        self.hold_ms = hold_ms
        # host -> (slot, expiry time). Insertion order is expiry order: the hold time is fixed
        # and the clock never goes back, and a replaced slot is reinserted at the end.
        self._by_host: dict[int, tuple[Slot, int]] = {}
        self._by_group: dict[Hashable, dict[int, None]] = {}  # group -> its hosts, oldest first

    def put(self, group: Hashable, host: int, victims: Any) -> Slot:
        """Hold a slot on HOST for GROUP, replacing any slot already held on that host."""
        self._drop(host)
        slot = Slot(group, host, tuple(int(v) for v in victims))
        self._by_host[host] = (slot, self._clock.now_ms() + self.hold_ms)
        self._by_group.setdefault(group, {})[host] = None
        return slot

    def take(self, group: Hashable) -> Slot | None:
        """Remove and return GROUP's oldest slot, or None when it holds none."""
        self.expire()
        hosts = self._by_group.get(group)
        if not hosts:
            return None
        host = next(iter(hosts))
        return self._drop(host)

    def slots_for(self, group: Hashable) -> list[Slot]:
        """GROUP's slots, oldest first (they stay held)."""
        self.expire()
        return [self._by_host[h][0] for h in self._by_group.get(group, ())]

    def held_hosts(self) -> set[int]:
        """The hosts that hold a slot."""
        self.expire()
        return set(self._by_host)

    def expire(self) -> list[Slot]:
        """Drop the slots whose hold time has passed; returns them, oldest first."""
        now = self._clock.now_ms()
        dropped: list[Slot] = []
        while self._by_host:
            host, (slot, deadline) = next(iter(self._by_host.items()))
            if deadline > now:
                break
            self._drop(host)
            dropped.append(slot)
        return dropped

    def __len__(self) -> int:
        self.expire()
        return len(self._by_host)

    def __iter__(self) -> Iterator[Slot]:
        self.expire()
        return iter([slot for slot, _ in self._by_host.values()])

    def _drop(self, host: int) -> Slot | None:
        entry = self._by_host.pop(host, None)
        if entry is None:
            return None
        slot = entry[0]
        hosts = self._by_group[slot.group]
        del hosts[host]
        if not hosts:
            del self._by_group[slot.group]
        return slot


class PendingRequest(NamedTuple):
    """What a task of a pending group asks for, and what decides whom it may preempt."""

    cpu_milli: int
    ram_mb: int
    disk_mb: int
    gpus: int
    ports: int
    priority: int
    preemptible: bool
    role: int


class SearchSpace(NamedTuple):
    """One group's view of the cluster for a search: its request, the hosts' free resources
    (int32 buffers by host id), which hosts pass its non-resource checks (uint8 by host id) and
    the order to visit them (array('q') of host ids, or None for ascending id)."""

    request: PendingRequest
    free_cpu: Any
    free_ram: Any
    free_disk: Any
    free_gpus: Any
    free_ports: Any
    eligible: Any
    order: array | None = None


class SlotFinder(Protocol):
    """The search ``Preemptor`` runs: ``VictimIndex.find_slots`` of either implementation."""

    def find_slots(self, *, free_cpu: Any, free_ram: Any, free_disk: Any, free_gpus: Any,
                   free_ports: Any, eligible: Any, order: Any, cpu: int, ram: int, disk: int,
                   gpus: int, ports: int, priority: int, preemptible: bool, role: int,
                   max_slots: int) -> list[tuple[int, array]]: ...


def preemption_sequence(counts: Mapping[Hashable, int], batch_size: int) -> list[Hashable]:
    """Interleave batches of each group's tasks: {G1: 3, G2: 2}, batch 2 -> G1 G1 G2 G2 G1.

    Groups take turns in COUNTS' order (Aurora's getPreemptionSequence).
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    left = {group: n for group, n in counts.items() if n > 0}
    sequence: list[Hashable] = []
    while left:
        for group in list(left):
            take = min(left[group], batch_size)
            sequence.extend([group] * take)
            left[group] -= take
            if not left[group]:
                del left[group]
    return sequence


class Preemptor:
    """Runs preemption passes: searches slots for pending groups and holds them in the cache."""

    def __init__(self, victims: SlotFinder, search: Callable[[Hashable], SearchSpace | None],
                 cache: SlotCache,
                 reservation_batch_size: int = DEFAULT_RESERVATION_BATCH_SIZE) -> None:
        """SEARCH gives a group's ``SearchSpace`` (None: the group cannot be searched now)."""
        if reservation_batch_size <= 0:
            raise ValueError(
                f"reservation_batch_size must be positive, got {reservation_batch_size}")
        self.victims = victims
        self.search = search
        self.cache = cache
        self.reservation_batch_size = reservation_batch_size

    def run(self, pending: Mapping[Hashable, int]) -> list[Slot]:
        """One pass over PENDING (group -> how many of its tasks wait, long enough to preempt).

        Groups already holding a slot are left out, as in Aurora. Each batch of a group's tasks
        searches once for that many slots, over hosts no other slot holds; a group that finds
        fewer than it asked for is done for this pass. Returns the slots found, in order; they
        are also in the cache.
        """
        todo = {g: n for g, n in pending.items() if n > 0 and not self.cache.slots_for(g)}
        sequence = preemption_sequence(todo, self.reservation_batch_size)
        taken: list[int] = sorted(self.cache.held_hosts())
        spaces: dict[Hashable, tuple[SearchSpace, bytearray, int] | None] = {}
        dead: set[Hashable] = set()
        found: list[Slot] = []
        i = 0
        while i < len(sequence):
            group = sequence[i]
            run = 1
            while i + run < len(sequence) and sequence[i + run] == group:
                run += 1
            i += run
            if group in dead:
                continue
            if group not in spaces:
                space = self.search(group)
                spaces[group] = None if space is None else (space, bytearray(space.eligible), 0)
            entry = spaces[group]
            if entry is None:
                dead.add(group)
                continue
            space, mask, seen = entry
            for host in taken[seen:]:  # hosts taken since this group last searched
                if host < len(mask):
                    mask[host] = 0
            seen = len(taken)
            req = space.request
            slots = self.victims.find_slots(
                free_cpu=space.free_cpu, free_ram=space.free_ram, free_disk=space.free_disk,
                free_gpus=space.free_gpus, free_ports=space.free_ports, eligible=mask,
                order=space.order, cpu=req.cpu_milli, ram=req.ram_mb, disk=req.disk_mb,
                gpus=req.gpus, ports=req.ports, priority=req.priority,
                preemptible=req.preemptible, role=req.role, max_slots=run)
            for host, victims in slots:
                found.append(self.cache.put(group, host, victims))
                taken.append(host)
            spaces[group] = (space, mask, seen)  # its own new hosts are masked next time
            if len(slots) < run:
                dead.add(group)
        return found
