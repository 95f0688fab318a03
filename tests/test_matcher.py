"""Feasibility, vetoes, placement and orders, against the compiled matcher and its twin."""

from __future__ import annotations

from array import array
from types import ModuleType
from typing import Any

import pytest

NONE, SCHEDULED, DRAINING, DRAINED = 1, 2, 3, 4
CPU, GB = 1000, 1024


def build(cluster_mod: ModuleType, n: int = 6, **shape: Any) -> Any:
    """N hosts of 8 CPU / 16 GB / 256 GB, two per rack, racks over zones a/b/c."""
    cl = cluster_mod.Cluster(unique_attributes=("host",))
    for i in range(n):
        attrs = {"host": f"h{i}", "rack": f"r{i // 2}", "zone": "abc"[(i // 2) % 3]}
        cl.add_host(f"h{i}", shape.get("cpu", 8 * CPU), shape.get("ram", 16 * GB),
                    shape.get("disk", 256 * GB), shape.get("gpus", 0), shape.get("ports", 10),
                    attrs)
    return cl


def natural(cl: Any) -> array:
    return array("q", range(cl.host_count))


def veto_map(req: Any, counts: array) -> dict[str, int]:
    return {label[2]: n for label, n in zip(req.labels(), counts, strict=True) if n}


def test_places_first_fit_and_fills_hosts(cluster_mod: ModuleType, matcher: ModuleType) -> None:
    cl = build(cluster_mod, 3)
    req = matcher.Request(cl, 0, 3 * CPU, 4 * GB, 10 * GB)
    placed, _ = matcher.place(cl, req, natural(cl), 5)
    assert list(placed) == [0, 0, 1, 1, 2]  # two 3-CPU tasks per 8-CPU host
    assert cl.free(0)[:3] == (2 * CPU, 8 * GB, 236 * GB)
    assert cl.free(2)[0] == 5 * CPU


def test_unplaced_group_reports_every_insufficient_resource(cluster_mod: ModuleType,
                                                            matcher: ModuleType) -> None:
    cl = build(cluster_mod, 4)
    req = matcher.Request(cl, 0, 9 * CPU, 17 * GB, GB, 1, 11)
    placed, counts = matcher.place(cl, req, natural(cl), 1)
    assert len(placed) == 0
    assert veto_map(req, counts) == {"Insufficient: CPU": 4, "Insufficient: RAM": 4,
                                     "Insufficient: GPU": 4, "Insufficient: ports": 4}


def test_value_constraint_and_negation(cluster_mod: ModuleType, matcher: ModuleType) -> None:
    cl = build(cluster_mod, 6)
    req = matcher.Request(cl, 0, CPU, GB, GB, constraints=[("value", "zone", ("b",), False)])
    placed, _ = matcher.place(cl, req, natural(cl), 100)
    assert set(placed) == {2, 3}
    neg = matcher.Request(cl, 1, CPU, GB, GB, constraints=[("value", "zone", ("a", "b"), True)])
    placed, counts = matcher.place(cl, neg, natural(cl), 100)
    assert set(placed) == {4, 5}
    assert veto_map(neg, counts) == {"Constraint not satisfied: zone": 4,
                                     "Insufficient: CPU": 2}


def test_constraint_on_unique_attribute_is_checked_per_host(cluster_mod: ModuleType,
                                                            matcher: ModuleType) -> None:
    cl = build(cluster_mod, 4)
    req = matcher.Request(cl, 0, CPU, GB, GB, constraints=[("value", "host", ("h2",), False)])
    placed, counts = matcher.place(cl, req, natural(cl), 9)
    assert set(placed) == {2} and len(placed) == 8
    assert veto_map(req, counts) == {"Constraint not satisfied: host": 3, "Insufficient: CPU": 1}
    denied = matcher.Request(cl, 1, CPU, GB, GB,
                             constraints=[("value", "host", ("denied",), False)])
    placed, counts = matcher.place(cl, denied, natural(cl), 1)
    assert len(placed) == 0 and veto_map(denied, counts) == {"Constraint not satisfied: host": 4}


def test_dedicated_hosts_take_only_tasks_asking_for_them(cluster_mod: ModuleType,
                                                         matcher: ModuleType) -> None:
    cl = build(cluster_mod, 2)
    cl.set_attributes(1, {"host": "h1", "dedicated": "www-data/hello"})
    plain = matcher.Request(cl, 0, CPU, GB, GB)
    placed, counts = matcher.place(cl, plain, natural(cl), 20)
    assert set(placed) == {0}
    assert veto_map(plain, counts)["Host is dedicated"] == 1
    mine = matcher.Request(cl, 1, CPU, GB, GB,
                           constraints=[("value", "dedicated", ("www-data/hello",), False)])
    placed, counts = matcher.place(cl, mine, natural(cl), 1)
    assert list(placed) == [1]


def test_maintenance_vetoes_draining_and_drained_and_orders_scheduled_last(
        cluster_mod: ModuleType, matcher: ModuleType) -> None:
    cl = build(cluster_mod, 4)
    cl.set_maintenance(0, DRAINING)
    cl.set_maintenance(1, DRAINED)
    cl.set_maintenance(2, SCHEDULED)
    req = matcher.Request(cl, 0, 5 * CPU, GB, GB)
    order = matcher.order_random(cl, 7)
    assert list(order)[-3:] != [] and order[3] in (0, 1, 2) and order[0] == 3
    placed, counts = matcher.place(cl, req, order, 5)
    assert sorted(placed) == [2, 3]
    v = veto_map(req, counts)
    assert v["Host draining for maintenance"] == 1 and v["Host drained for maintenance"] == 1
    cl.set_maintenance(0, NONE)
    placed, _ = matcher.place(cl, req, natural(cl), 1)
    assert list(placed) == [0]  # the class changed, so its cached veto does not apply


def test_limit_constraint_holds_inside_one_batch(cluster_mod: ModuleType,
                                                 matcher: ModuleType) -> None:
    cl = build(cluster_mod, 6)
    rack = cl.attr_id("rack")
    cl.track(0, rack, [])
    req = matcher.Request(cl, 0, CPU, GB, GB, constraints=[("limit", "rack", 2)])
    placed, counts = matcher.place(cl, req, natural(cl), 10)
    racks = [p // 2 for p in placed]
    assert len(placed) == 6 and all(racks.count(r) == 2 for r in range(3))
    assert veto_map(req, counts)["Limit not satisfied: rack"] == 6


def test_host_limit_one_spreads_and_counts_existing_tasks(cluster_mod: ModuleType,
                                                          matcher: ModuleType) -> None:
    cl = build(cluster_mod, 4)
    cl.track(5, cl.attr_id("host"), [1])  # one task of job 5 already on h1
    req = matcher.Request(cl, 5, CPU, GB, GB, constraints=[("limit", "host", 1)])
    placed, counts = matcher.place(cl, req, natural(cl), 4)
    assert sorted(placed) == [0, 2, 3]
    assert veto_map(req, counts) == {"Limit not satisfied: host": 4}
    cl.task_stopped(5, 1)
    placed, _ = matcher.place(cl, req, natural(cl), 1)
    assert list(placed) == [1]


def test_limit_zero_and_missing_attribute(cluster_mod: ModuleType, matcher: ModuleType) -> None:
    cl = build(cluster_mod, 3)
    zero = matcher.Request(cl, 0, CPU, GB, GB, constraints=[("limit", "host", 0)])
    placed, counts = matcher.place(cl, zero, natural(cl), 1)
    assert len(placed) == 0 and veto_map(zero, counts) == {"Limit not satisfied: host": 3}
    missing = matcher.Request(cl, 0, CPU, GB, GB, constraints=[("limit", "pod", 1)])
    placed, counts = matcher.place(cl, missing, natural(cl), 1)
    assert veto_map(missing, counts) == {"Constraint not satisfied: pod": 3}


def test_multi_valued_attributes(cluster_mod: ModuleType, matcher: ModuleType) -> None:
    cl = build(cluster_mod, 2)
    cl.set_attributes(0, {"host": "h0", "zone": ["a", "b"]})
    req = matcher.Request(cl, 0, CPU, GB, GB, constraints=[("value", "zone", ("b",), False)])
    placed, _ = matcher.place(cl, req, natural(cl), 20)
    assert set(placed) == {0}
    cl.track(1, cl.attr_id("zone"), [])
    lim = matcher.Request(cl, 1, CPU, GB, GB, constraints=[("limit", "zone", 1)])
    cl2 = build(cluster_mod, 2)
    cl2.set_attributes(0, {"host": "h0", "zone": ["a", "b"]})
    cl2.set_attributes(1, {"host": "h1", "zone": "b"})
    cl2.track(1, cl2.attr_id("zone"), [])
    lim = matcher.Request(cl2, 1, CPU, GB, GB, constraints=[("limit", "zone", 1)])
    placed, _ = matcher.place(cl2, lim, natural(cl2), 2)
    assert list(placed) == [0]  # h0 takes a and b; h1 (b) is then over the limit
    assert cl2.limit_count(1, cl2.attr_id("zone"), cl2.value_id(cl2.attr_id("zone"), "a")) == 1


def test_hosts_without_offer_are_skipped_silently(cluster_mod: ModuleType,
                                                  matcher: ModuleType) -> None:
    cl = build(cluster_mod, 2)
    cl.set_offer(0, False)
    req = matcher.Request(cl, 0, 9 * CPU, GB, GB)
    _placed, counts = matcher.place(cl, req, natural(cl), 1)
    assert veto_map(req, counts) == {"Insufficient: CPU": 1}


def test_max_per_host_is_aurora_one_task_per_offer(cluster_mod: ModuleType,
                                                   matcher: ModuleType) -> None:
    cl = build(cluster_mod, 3)
    req = matcher.Request(cl, 0, CPU, GB, GB)
    placed, _ = matcher.place(cl, req, natural(cl), 5, 1)
    assert list(placed) == [0, 1, 2]


def test_orders(cluster_mod: ModuleType, matcher: ModuleType) -> None:
    cl = build(cluster_mod, 5)
    cl.consume(3, 6 * CPU, GB, GB)
    cl.consume(1, 2 * CPU, GB, GB)
    assert list(matcher.order_binpack(cl, "cpu")) == [3, 1, 0, 2, 4]
    assert list(matcher.order_spread(cl)) == [0, 2, 4, 1, 3]
    a, b = matcher.order_random(cl, 11), matcher.order_random(cl, 11)
    assert list(a) == list(b) and sorted(a) == list(range(5))
    assert any(list(matcher.order_random(cl, s)) != list(a) for s in range(12, 20))
    with pytest.raises(ValueError, match="unknown bin-packing resource 'gpu'"):
        matcher.order_binpack(cl, "gpu")


def test_random_order_is_the_same_in_both_implementations(cluster_mod: ModuleType) -> None:
    from aurora._fastpath import NO_EXTENSIONS, load

    if NO_EXTENSIONS:
        pytest.skip("no compiled module in this run")
    orders = []
    for impl in ("compiled", "pure"):
        cl = build(load("cluster", impl), 50)
        orders.append(list(load("matcher", impl).order_random(cl, 123456789)))
    assert orders[0] == orders[1]


def test_eligible_mask_ignores_resources(cluster_mod: ModuleType, matcher: ModuleType) -> None:
    cl = build(cluster_mod, 6)
    cl.set_maintenance(5, DRAINING)
    req = matcher.Request(cl, 0, 99 * CPU, GB, GB, constraints=[("value", "zone", ("c",), False)])
    assert list(matcher.eligible(cl, req)) == [0, 0, 0, 0, 1, 0]


def test_bad_input_is_rejected_with_the_field_named(cluster_mod: ModuleType,
                                                    matcher: ModuleType) -> None:
    cl = build(cluster_mod, 1)
    with pytest.raises(ValueError, match="cpu_milli must be an integer"):
        matcher.Request(cl, 0, -1, GB, GB)
    with pytest.raises(ValueError, match="limit of constraint 'host' must be an integer >= 0"):
        matcher.Request(cl, 0, CPU, GB, GB, constraints=[("limit", "host", -1)])
    with pytest.raises(ValueError, match="unknown constraint kind"):
        matcher.Request(cl, 0, CPU, GB, GB, constraints=[("range", "host", 1)])
    with pytest.raises(ValueError, match="already registered"):
        cl.add_host("h0", CPU, GB, GB)
    with pytest.raises(ValueError, match="ram_mb must be an integer"):
        cl.add_host("x", CPU, -5, GB)
    with pytest.raises(ValueError, match="unknown maintenance mode 9"):
        cl.set_maintenance(0, 9)
    with pytest.raises(ValueError, match="cpu would become"):
        cl.consume(0, 9 * CPU, 0, 0)
    assert cl.free(0)[0] == 8 * CPU  # all or nothing
    with pytest.raises(IndexError, match="unknown host id 4"):
        cl.set_offer(4, True)


def test_limit_holds_in_the_first_call_of_an_untracked_job(cluster_mod: ModuleType,
                                                           matcher: ModuleType) -> None:
    cl = build(cluster_mod, 2)
    req = matcher.Request(cl, 7, CPU, GB, GB, constraints=[("limit", "host", 1)])
    placed, _ = matcher.place(cl, req, matcher.order_random(cl, 0), 2)
    assert sorted(placed) == [0, 1]


def test_no_order_means_every_host_in_id_order(cluster_mod: ModuleType,
                                               matcher: ModuleType) -> None:
    cl = build(cluster_mod, 4)
    cl.set_offer(1, False)
    cl.set_attributes(2, {"host": "h2", "zone": ["a", "b"]})  # a multi-valued host
    req = matcher.Request(cl, 0, 5 * CPU, GB, GB)
    placed, counts = matcher.place(cl, req, None, 10)
    assert list(placed) == [0, 2, 3]
    assert veto_map(req, counts) == {"Insufficient: CPU": 3}


def test_ports_come_from_the_host_ranges(cluster_mod: ModuleType) -> None:
    cl = cluster_mod.Cluster()
    h = cl.add_host("a", CPU, GB, GB, port_ranges=[(31005, 31006), (31000, 31001)])
    assert cl.total(h)[4] == 4 and cl.port_ranges(h) == ((31000, 31001), (31005, 31006))
    assert cl.pick_ports(h, 3) == (31000, 31001, 31005)
    cl.return_ports(h, [31001])
    assert cl.pick_ports(h, 2) == (31001, 31006)
    with pytest.raises(ValueError, match="has 0 free ports, 1 asked"):
        cl.pick_ports(h, 1)
    with pytest.raises(ValueError, match="was not handed out"):
        cl.return_ports(h, [40000])
    with pytest.raises(ValueError, match="overlap"):
        cl.add_host("b", CPU, GB, GB, port_ranges=[(10, 20), (20, 30)])
    with pytest.raises(ValueError, match="within 1-65535"):
        cl.add_host("c", CPU, GB, GB, port_ranges=[(0, 5)])
    with pytest.raises(ValueError, match="3 ports given but the ranges hold 2"):
        cl.add_host("d", CPU, GB, GB, 0, 3, port_ranges=[(1, 2)])
    assert cl.port_ranges(cl.add_host("e", CPU, GB, GB, 0, 3)) == ((1, 3),)


def test_resize_keeps_what_tasks_use(cluster_mod: ModuleType) -> None:
    cl = cluster_mod.Cluster()
    h = cl.add_host("a", 0, 0, 0)
    cl.resize(h, 4 * CPU, 8 * GB, GB, port_ranges=[(31000, 31009)])
    assert cl.free(h) == (4 * CPU, 8 * GB, GB, 0, 10)
    cl.consume(h, CPU, GB, 0, 0, 2)
    cl.resize(h, 2 * CPU, 8 * GB, GB)
    assert cl.free(h) == (CPU, 7 * GB, GB, 0, 8) and cl.total(h)[0] == 2 * CPU
    with pytest.raises(ValueError, match="its tasks use 1000 cpu, more than the new total 500"):
        cl.resize(h, 500, 8 * GB, GB)
    assert cl.total(h)[0] == 2 * CPU
