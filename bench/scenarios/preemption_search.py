"""Scenario 5, `preemption-search`: slot searches for 1, 10, 100 and 1,000 pending production
tasks of one group over 10,000 full hosts (as in `cluster-full`)."""

from __future__ import annotations

from typing import Any

from aurora._fastpath import load
from aurora.scheduler.engine import Engine
from bench import clusters
from bench.registry import RunContext, Scenario, register, timed
from bench.result import Result
from bench.scenarios.cluster_full import (
    PENDING,
    PENDING_JOB,
    ROLE,
    RUNNING,
    full_cluster,
    full_tally,
    same_role,
)

PENDING_COUNTS = (1, 10, 100, 1_000)
# passes per pending count (compiled, pure); quick runs a fifth, at least 2
PASSES = {1: (400, 10), 10: (400, 10), 100: (200, 10), 1_000: (100, 5)}


def check_slots(cluster: Any, tasks: dict[int, tuple[int, int, int, int]],
                slots: list[tuple[int, Any]], expected: int) -> None:
    """Raise unless SLOTS are EXPECTED distinct hosts, each freeing room for PENDING by
    evicting the fewest of its own preemptible tasks."""
    if len(slots) != expected or len({h for h, _ in slots}) != expected:
        raise RuntimeError(f"expected {expected} slots on distinct hosts, got "
                           f"{len(slots)} on {len({h for h, _ in slots})}")
    free = (cluster.cpu_free, cluster.ram_free, cluster.disk_free)
    for h, victims in slots:
        if same_role(h):
            raise RuntimeError(f"slot on host {h}, which runs only same-role production tasks")
        for v in victims:
            vh, _, preemptible, _ = tasks[v]
            if vh != h or not preemptible:
                raise RuntimeError(f"slot on host {h} evicts task {v} (host {vh}, "
                                   f"preemptible {preemptible})")
        fits = [all(free[r][h] + k * RUNNING[r] >= PENDING[r] for r in range(3))
                for k in (len(victims) - 1, len(victims))]
        if fits != [False, True]:
            raise RuntimeError(f"slot on host {h}: {len(victims)} victims, not the fewest "
                               "that make room")


@register
class PreemptionSearchScenario(Scenario):
    name = "preemption-search"
    description = ("10,000 full hosts; one slot-search pass (eligible + find_slots) for 1, 10, "
                   "100 and 1,000 pending production tasks of one group; passes/s")
    anchor = "Aurora PreemptorSlotSearch: 39-46 passes/s"

    def run(self, ctx: RunContext) -> list[Result]:
        victims = load("preempt", ctx.impl).VictimIndex()
        cluster, tasks = full_cluster(ctx, victims)
        nhosts = cluster.host_count
        engine = Engine(cluster, impl=ctx.impl, seed=5)
        order = engine.begin_cycle()
        req = engine.request("pending", PENDING_JOB, *PENDING)
        cpu, ram, disk, gpus, ports = PENDING
        rows = []
        for i, n in enumerate(PENDING_COUNTS):
            passes = PASSES[n][0 if ctx.impl == "compiled" else 1]
            passes = max(2, passes // 5) if ctx.quick else passes
            ctx.progress(i / len(PENDING_COUNTS), f"{n} pending")
            with timed() as t:
                for _ in range(passes):
                    eligible = engine.eligible(req)
                    slots = victims.find_slots(
                        free_cpu=cluster.cpu_free, free_ram=cluster.ram_free,
                        free_disk=cluster.disk_free, free_gpus=cluster.gpu_free,
                        free_ports=cluster.port_free, eligible=eligible, order=order, cpu=cpu,
                        ram=ram, disk=disk, gpus=gpus, ports=ports, priority=0,
                        preemptible=False, role=ROLE, max_slots=n)
            if sum(eligible) != nhosts:
                raise RuntimeError(f"{sum(eligible)} of {nhosts} hosts eligible, expected all")
            check_slots(cluster, tasks, slots, min(n, nhosts * 9 // 10))
            victims_n = sum(len(v) for _, v in slots)
            rows.append(ctx.result(
                hosts=nhosts, tasks=n, placed=len(slots), seconds=t.seconds,
                rate=passes / t.seconds, unit="passes/s",
                notes=f"{passes:,} passes; a pass = matcher.eligible over all hosts + one "
                      f"find_slots(max_slots={n}) in the cycle's random order; {victims_n:,} "
                      "victims chosen"))
        ctx.progress(1.0, "validate")
        clusters.check_free(cluster, full_tally(nhosts))
        return rows
