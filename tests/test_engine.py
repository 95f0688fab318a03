"""The engine's wiring (orders, reasons) and task groups with backoff on an injected clock."""

from __future__ import annotations

from types import ModuleType

import pytest

from aurora.model.jobkey import JobKey
from aurora.model.resources import Resources
from aurora.model.task import Constraint, Identity, TaskConfig
from aurora.scheduler.engine import Engine, OrderPolicy, constraint_tuples, cpu_milli
from aurora.scheduler.task_groups import TaskGroups

GB = 1024


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


def cluster_of(cluster_mod: ModuleType, n: int) -> object:
    cl = cluster_mod.Cluster()
    for i in range(n):
        cl.add_host(f"h{i}", 8000, 16 * GB, 256 * GB, 0, 100,
                    {"host": f"h{i}", "rack": f"r{i // 2}", "zone": "abc"[i % 3]})
    return cl


def config(cpu: float, ram_mb: int, **constraints: str) -> TaskConfig:
    return TaskConfig(
        job=JobKey("www-data", "prod", "hello"), owner=Identity("www-data"),
        resources=Resources(cpu, ram_mb, 1024),
        constraints=tuple(Constraint.parse(k, v) for k, v in constraints.items()),
    )


def test_pending_reason_counts_hosts_per_veto(impl: str, cluster_mod: ModuleType) -> None:
    cl = cluster_of(cluster_mod, 9)
    engine = Engine(cl, impl=impl, seed=3)
    req = engine.request_for("g1", 0, config(9.0, 1024, zone="a"))
    placement = engine.place(req, 2)
    assert placement.unplaced == 2
    assert placement.pending_reason() == (
        "Constraint not satisfied: zone (6 hosts); Insufficient: CPU (3 hosts)")
    assert {v.group for v in placement.vetoes} == {"static"}
    assert engine.request_for("g1", 0, config(1.0, 1)) is req  # cached per group key


def test_limit_veto_is_dynamic(impl: str, cluster_mod: ModuleType) -> None:
    cl = cluster_of(cluster_mod, 2)
    cl.track(0, cl.attr_id("host"), [0, 1])
    engine = Engine(cl, impl=impl)
    placement = engine.place(engine.request_for("g", 0, config(1.0, 64, host="limit:1")), 1)
    assert [(v.type, v.group, v.hosts) for v in placement.vetoes] == [
        ("LIMIT_NOT_SATISFIED", "dynamic", 2)]


@pytest.mark.parametrize("policy", list(OrderPolicy))
def test_policies_are_deterministic_for_a_seed(impl: str, cluster_mod: ModuleType,
                                               policy: OrderPolicy) -> None:
    runs = []
    for _ in range(2):
        cl = cluster_of(cluster_mod, 12)
        engine = Engine(cl, impl=impl, policy=policy, seed=42)
        engine.begin_cycle()
        runs.append(list(engine.place(engine.request("g", 0, 3000, GB, GB), 10).hosts))
    assert runs[0] == runs[1] and len(runs[0]) == 10


def test_binpack_fills_the_fullest_host_first(impl: str, cluster_mod: ModuleType) -> None:
    cl = cluster_of(cluster_mod, 4)
    cl.consume(2, 5000, GB, GB)
    engine = Engine(cl, impl=impl, policy=OrderPolicy.BINPACK_CPU)
    assert list(engine.place(engine.request("g", 0, 1000, GB, GB), 1).hosts) == [2]
    spread = Engine(cl, impl=impl, policy=OrderPolicy.SPREAD)
    assert list(spread.place(spread.request("g", 0, 1000, GB, GB), 1).hosts) == [0]


def test_model_conversions() -> None:
    assert cpu_milli(0.25) == 250 and cpu_milli(1.0005) == 1000
    cons = (Constraint.parse("zone", "!a,b"), Constraint.parse("host", "limit:1"))
    assert constraint_tuples(cons) == [("value", "zone", ("a", "b"), True),
                                       ("limit", "host", 1)]


def test_backoff_doubles_to_a_minute_and_resets_on_success() -> None:
    clock = FakeClock()
    groups = TaskGroups(clock)
    g = groups.add("cfg", [1, 2, 3])
    waits = []
    for _ in range(9):
        (ready,) = groups.ready()
        assert ready is g
        groups.attempted(g, placed=0)
        waits.append(g.ready_at_ms - clock.now)
        assert groups.ready() == []
        clock.now = g.ready_at_ms
    assert waits == [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]
    groups.attempted(g, placed=1)
    assert g.backoff_ms == 0 and groups.ready() == [g]


def test_groups_empty_out_and_are_dropped() -> None:
    groups = TaskGroups(FakeClock())
    groups.add("a", [1, 2])
    groups.add("b", [3])
    assert groups.pending_count() == 3
    groups.remove("a", [1, 2])
    assert "a" not in groups and [g.key for g in groups.ready()] == ["b"]


def test_no_global_throttle_unless_configured() -> None:
    clock = FakeClock()
    free = TaskGroups(clock)
    for i in range(500):
        free.add(i, [i])
    assert len(free.ready()) == 500
    capped = TaskGroups(clock, max_attempts_per_sec=40)
    for i in range(500):
        capped.add(i, [i])
    assert len(capped.ready()) == 40
    clock.now += 500
    assert len(capped.ready()) == 20


def test_bad_backoff_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="backoff"):
        TaskGroups(FakeClock(), initial_backoff_ms=0)
    with pytest.raises(ValueError, match="max_attempts_per_sec"):
        TaskGroups(FakeClock(), max_attempts_per_sec=0)


def test_placed_instances_get_distinct_port_numbers(impl: str, cluster_mod: ModuleType) -> None:
    cl = cluster_mod.Cluster()
    cl.add_host("a", 8000, 16 * GB, 16 * GB, port_ranges=[(31000, 31003)])
    engine = Engine(cl, impl=impl)
    placement = engine.place(engine.request("g", 0, 1000, GB, GB, 0, 2), 3)
    assert list(placement.hosts) == [0, 0]
    assert placement.ports == ((31000, 31001), (31002, 31003))
    assert placement.pending_reason() == "Insufficient: ports (1 host)"


def test_discard_finds_a_slots_group_and_drops_empty_groups() -> None:
    groups = TaskGroups(lambda: 0)
    groups.add("a", [1, 2])
    groups.add("b", [3])
    groups.discard([2, 3, 99])  # 99: in no group
    assert list(groups.group("a").tasks) == [1]  # type: ignore[union-attr]
    assert "b" not in groups
    groups.remove("a", [1])
    groups.discard([1])  # already gone
    assert len(groups) == 0
