"""Preemption: victim index and slot search (both implementations), slot cache and passes."""

from __future__ import annotations

from array import array
from collections.abc import Hashable
from types import ModuleType
from typing import Any

import pytest

from aurora._fastpath import load
from aurora.scheduler.preemptor import (
    DEFAULT_SLOT_HOLD_MS,
    PendingRequest,
    Preemptor,
    SearchSpace,
    Slot,
    SlotCache,
    preemption_sequence,
)

ROLE, OTHER_ROLE = 1, 2
GB = 1024


@pytest.fixture
def preempt(impl: str) -> ModuleType:
    """The preemption module in the implementation under test."""
    return load("preempt", impl)


class World:
    """A victim index over a few hosts with no free resources unless set, all hosts eligible."""

    def __init__(self, mod: ModuleType, hosts: int = 4) -> None:
        self.v = mod.VictimIndex()
        self.free = {k: array("i", [0] * hosts) for k in ("cpu", "ram", "disk", "gpus", "ports")}
        self.eligible = bytearray([1] * hosts)

    def add(self, task: int, host: int, cpu: int = 1000, ram: int = GB, disk: int = GB,
            gpus: int = 0, ports: int = 0, priority: int = 0, preemptible: bool = True,
            revocable: bool = False, role: int = ROLE) -> None:
        self.v.add(task, host, cpu, ram, disk, gpus, ports, priority, preemptible, revocable,
                   role)

    def set_free(self, host: int, cpu: int = 0, ram: int = 0, disk: int = 0, gpus: int = 0,
                 ports: int = 0) -> None:
        for key, value in (("cpu", cpu), ("ram", ram), ("disk", disk), ("gpus", gpus),
                           ("ports", ports)):
            self.free[key][host] = value

    def find(self, cpu: int = 1000, ram: int = GB, disk: int = GB, gpus: int = 0,
             ports: int = 0, priority: int = 0, preemptible: bool = False, role: int = ROLE,
             order: list[int] | None = None, max_slots: int = 100) -> list[tuple[int, list[int]]]:
        slots = self.v.find_slots(
            free_cpu=self.free["cpu"], free_ram=self.free["ram"], free_disk=self.free["disk"],
            free_gpus=self.free["gpus"], free_ports=self.free["ports"], eligible=self.eligible,
            order=None if order is None else array("q", order), cpu=cpu, ram=ram, disk=disk,
            gpus=gpus, ports=ports, priority=priority, preemptible=preemptible, role=role,
            max_slots=max_slots)
        for _, victims in slots:
            assert isinstance(victims, array) and victims.typecode == "q"
        return [(host, list(victims)) for host, victims in slots]


# ------------------------------------------------------------------ the index
def test_add_remove_len_contains_on_host(preempt: ModuleType) -> None:
    w = World(preempt)
    w.add(10, 0)
    w.add(11, 0)
    w.add(12, 2)
    assert len(w.v) == 3
    assert 11 in w.v and 13 not in w.v and "11" not in w.v and True not in w.v
    assert list(w.v.on_host(0)) == [11, 10]  # newest first
    assert list(w.v.on_host(1)) == [] and list(w.v.on_host(1000)) == []
    w.v.remove(11)
    assert 11 not in w.v and len(w.v) == 2 and list(w.v.on_host(0)) == [10]
    w.add(11, 3)  # a row is reused
    assert list(w.v.on_host(3)) == [11] and len(w.v) == 3
    assert w.v.on_host(2).typecode == "q"


def test_add_twice_names_the_task(preempt: ModuleType) -> None:
    w = World(preempt)
    w.add(77, 0)
    with pytest.raises(ValueError, match="task 77 is already"):
        w.add(77, 1)
    assert list(w.v.on_host(1)) == []


@pytest.mark.parametrize("field, value", [
    ("host", -1), ("cpu", -5), ("ram", -1), ("disk", 2**31), ("gpus", -1), ("ports", -1),
    ("priority", 2**31), ("role", -1), ("preemptible", 2), ("revocable", None), ("cpu", 1.5),
    ("cpu", True),
])
def test_add_invalid_field_names_the_task(preempt: ModuleType, field: str, value: Any) -> None:
    w = World(preempt)
    with pytest.raises(ValueError, match=r"task 42\b"):
        w.add(42, **{"host": 0, field: value})
    assert 42 not in w.v and len(w.v) == 0


@pytest.mark.parametrize("task", [-1, 2**63, "7", None, 1.0])
def test_add_invalid_task(preempt: ModuleType, task: Any) -> None:
    with pytest.raises(ValueError, match="not a task handle"):
        World(preempt).add(task, 0)


def test_remove_absent_names_the_task(preempt: ModuleType) -> None:
    w = World(preempt)
    w.add(5, 0)
    w.v.remove(5)
    with pytest.raises(KeyError, match="task 5 is not"):
        w.v.remove(5)
    with pytest.raises(KeyError, match="task -3 is not"):
        w.v.remove(-3)


def test_many_tasks_grow_every_structure(preempt: ModuleType) -> None:
    w = World(preempt, hosts=50)
    for t in range(2000):
        w.add(t * 7919, t % 50, cpu=t)
    for t in range(0, 2000, 2):
        w.v.remove(t * 7919)
    assert len(w.v) == 1000
    assert sorted(w.v.on_host(3)) == sorted(t * 7919 for t in range(3, 2000, 50) if t % 2)
    assert all(t * 7919 in w.v for t in range(1, 2000, 2))


# ------------------------------------------------------------------ victim rules
def test_production_evicts_preemptible(preempt: ModuleType) -> None:
    w = World(preempt)
    # Another role and a higher priority do not protect a preemptible victim.
    w.add(1, 0, preemptible=True, role=OTHER_ROLE, priority=100)
    assert w.find(preemptible=False, priority=0) == [(0, [1])]


def test_preemptible_never_evicts_production(preempt: ModuleType) -> None:
    w = World(preempt)
    w.add(1, 0, preemptible=False, priority=0)
    assert w.find(preemptible=True, priority=100) == []


@pytest.mark.parametrize("tier_preemptible", [False, True])
def test_same_class_needs_same_role_and_strictly_lower_priority(
        preempt: ModuleType, tier_preemptible: bool) -> None:
    w = World(preempt)
    w.add(1, 0, priority=5, preemptible=tier_preemptible)  # equal priority: safe
    w.add(2, 1, priority=6, preemptible=tier_preemptible)  # higher: safe
    w.add(3, 2, priority=4, preemptible=tier_preemptible)  # lower: victim
    assert w.find(priority=5, preemptible=tier_preemptible) == [(2, [3])]


def test_different_role_never_within_a_class(preempt: ModuleType) -> None:
    w = World(preempt)
    w.add(1, 0, priority=0, preemptible=False, role=OTHER_ROLE)
    w.add(2, 1, priority=0, preemptible=True, role=OTHER_ROLE)
    assert w.find(priority=9, preemptible=False) == [(1, [2])]
    assert w.find(priority=9, preemptible=True) == []


def test_revocable_cpu_does_not_count(preempt: ModuleType) -> None:
    w = World(preempt)
    w.add(1, 0, cpu=8000, revocable=True)
    assert w.find(cpu=1000) == []  # its RAM frees up, its CPU does not
    w.set_free(0, cpu=1000)
    assert w.find(cpu=1000) == [(0, [1])]  # RAM and disk were what was missing


def test_revocable_victim_sorts_by_what_it_frees(preempt: ModuleType) -> None:
    w = World(preempt)
    w.add(1, 0, cpu=8000, ram=4 * GB, revocable=True)  # frees (0, 4 GB)
    w.add(2, 0, cpu=500, ram=GB)  # frees (500, 1 GB): larger, as CPU comes first
    assert w.find(cpu=500, ram=5 * GB, disk=0) == [(0, [2, 1])]


def test_largest_victims_first_and_only_as_many_as_needed(preempt: ModuleType) -> None:
    w = World(preempt)
    for task, cpu in ((1, 500), (2, 2000), (3, 1000), (4, 250)):
        w.add(task, 0, cpu=cpu, ram=GB, disk=GB)
    assert w.find(cpu=2500, ram=GB, disk=GB) == [(0, [2, 3])]
    assert w.find(cpu=3750, ram=GB, disk=GB) == [(0, [2, 3, 1, 4])]
    assert w.find(cpu=3751, ram=GB, disk=GB) == []


def test_order_is_lexicographic_over_cpu_ram_disk_ports_gpus_then_task(
        preempt: ModuleType) -> None:
    w = World(preempt)
    w.add(9, 0, cpu=1000, ram=GB, disk=GB, ports=1, gpus=0)
    w.add(8, 0, cpu=1000, ram=GB, disk=GB, ports=0, gpus=4)
    w.add(7, 0, cpu=1000, ram=GB, disk=2 * GB)
    w.add(6, 0, cpu=1000, ram=2 * GB, disk=0)
    w.add(5, 0, cpu=1000, ram=GB, disk=GB, ports=1, gpus=0)  # ties with 9: lower id first
    assert w.find(cpu=5000, ram=0, disk=0) == [(0, [6, 7, 5, 9, 8])]


def test_every_resource_must_fit(preempt: ModuleType) -> None:
    w = World(preempt)
    w.add(1, 0, cpu=4000, ram=8 * GB, disk=8 * GB, gpus=0, ports=2)
    w.add(2, 0, cpu=100, ram=100, disk=100, gpus=1, ports=0)
    assert w.find(cpu=100, ram=100, disk=100, gpus=1, ports=0) == [(0, [1, 2])]
    assert w.find(cpu=100, ram=100, disk=100, gpus=0, ports=3) == []
    w.set_free(0, ports=1)
    assert w.find(cpu=100, ram=100, disk=100, gpus=0, ports=3) == [(0, [1])]


def test_ineligible_host_skipped(preempt: ModuleType) -> None:
    w = World(preempt)
    w.add(1, 0)
    w.add(2, 1)
    w.eligible[0] = 0
    assert w.find() == [(1, [2])]


def test_host_that_already_fits_skipped(preempt: ModuleType) -> None:
    w = World(preempt)
    w.add(1, 0)
    w.add(2, 1)
    w.set_free(0, cpu=1000, ram=GB, disk=GB)
    assert w.find() == [(1, [2])]
    w.v.remove(2)
    w.add(3, 1, cpu=400, ram=0, disk=0)
    assert w.find() == []
    w.set_free(1, cpu=600, ram=GB, disk=GB)  # slack counts toward the slot
    assert w.find() == [(1, [3])]


def test_host_without_eligible_victims_or_slot_yields_nothing(preempt: ModuleType) -> None:
    w = World(preempt)
    w.add(1, 0, cpu=100)
    w.add(2, 1, preemptible=False)
    assert w.find(cpu=1000) == []


def test_one_slot_per_host(preempt: ModuleType) -> None:
    w = World(preempt)
    for task in range(6):
        w.add(task, 0)
    assert w.find(max_slots=10) == [(0, [0])]
    assert w.find(order=[0, 0, 0], max_slots=10) == [(0, [0])]


def test_max_slots_honoured(preempt: ModuleType) -> None:
    w = World(preempt)
    for host in range(4):
        w.add(100 + host, host)
    assert [h for h, _ in w.find(max_slots=2)] == [0, 1]
    assert len(w.find(max_slots=4)) == 4
    assert w.find(max_slots=0) == []
    with pytest.raises(ValueError, match="max_slots"):
        w.find(max_slots=-1)


def test_order_honoured(preempt: ModuleType) -> None:
    w = World(preempt)
    for host in range(4):
        w.add(100 + host, host)
    assert [h for h, _ in w.find(order=[3, 1, 2, 0])] == [3, 1, 2, 0]
    assert [h for h, _ in w.find(order=[2, 0], max_slots=5)] == [2, 0]
    assert w.find(order=[]) == []


def test_buffers_from_memoryviews_and_bytes(preempt: ModuleType) -> None:
    w = World(preempt)
    w.add(1, 1)
    free = memoryview(array("i", [0, 0]))
    slots = w.v.find_slots(free_cpu=free, free_ram=free, free_disk=free, free_gpus=free,
                           free_ports=free, eligible=bytes([1, 1]), order=None, cpu=1, ram=1,
                           disk=1, gpus=0, ports=0, priority=0, preemptible=False, role=ROLE,
                           max_slots=3)
    assert [(h, list(v)) for h, v in slots] == [(1, [1])]


def test_bad_buffers_and_requests_rejected(preempt: ModuleType) -> None:
    w = World(preempt)
    w.add(1, 0)
    with pytest.raises(TypeError, match="free_cpu"):
        w.free["cpu"] = array("q", [0] * 4)  # type: ignore[assignment]
        w.find()
    w.free["cpu"] = array("i", [0] * 3)
    with pytest.raises(ValueError, match="same length"):
        w.find()
    w.free["cpu"] = array("i", [0] * 4)
    with pytest.raises(ValueError, match="order names host 4"):
        w.find(order=[0, 4])
    with pytest.raises(ValueError, match="cpu"):
        w.find(cpu=-1)
    with pytest.raises(ValueError, match="preemptible"):
        w.find(preemptible=3)  # type: ignore[arg-type]
    w.eligible = [1, 1, 1, 1]  # type: ignore[assignment]
    with pytest.raises(TypeError, match="eligible"):
        w.find()


def test_many_victims_on_one_host_use_the_large_sort(preempt: ModuleType) -> None:
    w = World(preempt, hosts=1)
    for task in range(200):
        w.add(task, 0, cpu=(task * 37) % 101, ram=0, disk=0)
    (host, victims), = w.find(cpu=600, ram=0, disk=0)
    expected = sorted(range(200), key=lambda t: (-((t * 37) % 101), t))
    need, total = [], 0
    for t in expected:
        need.append(t)
        total += (t * 37) % 101
        if total >= 600:
            break
    assert host == 0 and victims == need


# ------------------------------------------------------------------ cache and passes
class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: int = 1_000_000) -> None:
        self.now = now

    def now_ms(self) -> int:
        return self.now


def test_slot_cache_put_take_and_slots_for() -> None:
    cache = SlotCache(FakeClock())
    assert cache.put("g", 3, array("q", [7, 8])) == Slot("g", 3, (7, 8))
    cache.put("g", 1, [9])
    cache.put("h", 2, [10])
    assert len(cache) == 3
    assert cache.slots_for("g") == [Slot("g", 3, (7, 8)), Slot("g", 1, (9,))]
    assert cache.take("g") == Slot("g", 3, (7, 8))  # oldest first, and removed
    assert cache.take("g") == Slot("g", 1, (9,))
    assert cache.take("g") is None and cache.slots_for("g") == []
    assert cache.held_hosts() == {2} and len(cache) == 1


def test_slot_cache_expires_after_hold_time() -> None:
    clock = FakeClock()
    cache = SlotCache(clock)
    assert cache.hold_ms == DEFAULT_SLOT_HOLD_MS == 5 * 60_000
    cache.put("g", 1, [1])
    clock.now += 60_000
    cache.put("g", 2, [2])
    clock.now += DEFAULT_SLOT_HOLD_MS - 60_000 - 1
    assert cache.expire() == [] and len(cache) == 2
    clock.now += 1
    assert cache.expire() == [Slot("g", 1, (1,))]
    assert cache.slots_for("g") == [Slot("g", 2, (2,))]
    clock.now += 60_000
    assert cache.take("g") is None and len(cache) == 0


def test_slot_cache_holds_one_slot_per_host() -> None:
    clock = FakeClock()
    cache = SlotCache(clock, hold_ms=1000)
    cache.put("g", 1, [1])
    clock.now += 500
    cache.put("h", 1, [2])  # replaces g's slot, and its hold time starts again
    assert cache.slots_for("g") == [] and cache.slots_for("h") == [Slot("h", 1, (2,))]
    clock.now += 700
    assert len(cache) == 1
    with pytest.raises(ValueError):
        SlotCache(clock, hold_ms=0)


def test_preemption_sequence_interleaves_batches() -> None:
    assert preemption_sequence({"G1": 3, "G2": 2}, 2) == ["G1", "G1", "G2", "G2", "G1"]
    assert preemption_sequence({"a": 1, "b": 0, "c": 7}, 5) == ["a"] + ["c"] * 5 + ["c"] * 2
    with pytest.raises(ValueError):
        preemption_sequence({"a": 1}, 0)


def _space(hosts: int, cpu: int, *, priority: int = 0, preemptible: bool = False,
           eligible: list[int] | None = None) -> SearchSpace:
    zero = array("i", [0] * hosts)
    return SearchSpace(
        PendingRequest(cpu, 0, 0, 0, 0, priority, preemptible, ROLE),
        zero, zero, zero, zero, zero,
        bytes(eligible if eligible is not None else [1] * hosts), None)


def test_preemptor_pass_batches_groups_and_uses_each_host_once(preempt: ModuleType) -> None:
    w = World(preempt, hosts=6)
    for host in range(6):
        w.add(host, host, cpu=1000)
    spaces = {"big": _space(6, 1000), "small": _space(6, 500)}
    calls: list[Hashable] = []

    def search(group: Hashable) -> SearchSpace | None:
        calls.append(group)
        return spaces.get(group)  # type: ignore[arg-type]

    cache = SlotCache(FakeClock())
    p = Preemptor(w.v, search, cache, reservation_batch_size=2)
    found = p.run({"big": 3, "small": 2, "gone": 1})
    # big, big, small, small, gone, big: hosts in ascending order, never twice.
    assert [(s.group, s.host) for s in found] == [
        ("big", 0), ("big", 1), ("small", 2), ("small", 3), ("big", 4)]
    assert calls == ["big", "small", "gone"]  # one search space per group per pass
    assert len(cache) == 5
    # Groups holding a slot are not searched again; hosts holding one are not offered.
    assert p.run({"big": 1, "small": 1, "new": 2}) == []
    spaces["new"] = _space(6, 1000)
    assert [(s.group, s.host) for s in p.run({"new": 2})] == [("new", 5)]


def test_preemptor_drops_a_group_that_found_nothing(preempt: ModuleType) -> None:
    w = World(preempt, hosts=2)
    w.add(1, 0, cpu=1000)
    w.add(2, 1, cpu=1000)
    spaces = {"a": _space(2, 1000), "b": _space(2, 1000), "huge": _space(2, 9000)}
    p = Preemptor(w.v, spaces.get, SlotCache(FakeClock()), reservation_batch_size=1)
    # huge finds nothing and leaves the pass; a stops at its second task (one slot left for b).
    found = p.run({"huge": 3, "a": 3, "b": 1})
    assert [(s.group, s.host, s.victims) for s in found] == [("a", 0, (1,)), ("b", 1, (2,))]


def test_preemptor_respects_the_group_mask_and_order(preempt: ModuleType) -> None:
    w = World(preempt, hosts=3)
    for host in range(3):
        w.add(10 + host, host, cpu=1000)
    space = _space(3, 1000, eligible=[1, 0, 1])._replace(order=array("q", [2, 1, 0]))
    p = Preemptor(w.v, {"g": space}.get, SlotCache(FakeClock()))
    assert [s.host for s in p.run({"g": 5})] == [2, 0]
    assert bytes(space.eligible) == bytes([1, 0, 1])  # the caller's mask is not written
