"""Scenario 4, `cluster-full`: 10,000 full hosts (10% by tasks of the pending task's role, 90% by
preemptible victims); one production task with `host limit:0`, failing everywhere."""

from __future__ import annotations

from typing import Any

from aurora.scheduler.engine import Engine
from bench import clusters
from bench.registry import RunContext, Scenario, register, timed
from bench.result import Result

FULL_HOSTS, QUICK_HOSTS = 10_000, 2_000
PER_HOST = 4  # running tasks per host, each a quarter of it: every host is full
RUNNING = (2_000, 4 * 1024, 64 * 1024, 0, 0)
ROLE, OTHER_ROLE = 1, 2  # the pending task's role; the victims' role
PENDING_JOB = 1
PENDING = (4_000, 8 * 1024, 128 * 1024, 0, 0)
ATTEMPTS = {("compiled", False): 2_000, ("pure", False): 20,
            ("compiled", True): 200, ("pure", True): 5}


def same_role(host: int) -> bool:
    """Every tenth host runs production tasks of the pending task's role (not evictable by it:
    same priority); the others run preemptible tasks of another role."""
    return host % 10 == 0


def fill_full(cluster: Any, victims: Any = None) -> dict[int, tuple[int, int, int, int]]:
    """Fill every host with PER_HOST running tasks (consumed on the cluster, and added to the
    VictimIndex VICTIMS when given). Returns task -> (host, role, preemptible, priority)."""
    tasks: dict[int, tuple[int, int, int, int]] = {}
    for h in range(cluster.host_count):
        role, preemptible = (ROLE, 0) if same_role(h) else (OTHER_ROLE, 1)
        for _ in range(PER_HOST):
            task = len(tasks)
            cluster.consume(h, *RUNNING)
            if victims is not None:
                victims.add(task, h, *RUNNING, 0, bool(preemptible), False, role)
            tasks[task] = (h, role, preemptible, 0)
    return tasks


def full_tally(nhosts: int) -> dict[int, tuple[int, int, int, int, int]]:
    r = RUNNING
    return {h: (PER_HOST * r[0], PER_HOST * r[1], PER_HOST * r[2], 0, 0) for h in range(nhosts)}


@register
class ClusterFullScenario(Scenario):
    name = "cluster-full"
    description = ("10,000 full hosts (10% same-role tasks, 90% preemptible victims); one "
                   "production task with `host limit:0`; failed attempts/s")
    anchor = "Aurora ClusterFullUtilization benchmark"

    def run(self, ctx: RunContext) -> list[Result]:
        nhosts = QUICK_HOSTS if ctx.quick else FULL_HOSTS
        attempts = ATTEMPTS[(ctx.impl, ctx.quick)]
        cluster = clusters.build(ctx.impl, nhosts)
        fill_full(cluster)
        engine = Engine(cluster, impl=ctx.impl, seed=4)
        engine.begin_cycle()
        req = engine.request("limit0", PENDING_JOB, *PENDING, constraints=[("limit", "host", 0)])
        ctx.progress(0.1, "attempts")
        with timed() as t:
            for _ in range(attempts):
                p = engine.place(req, 1)
        ctx.progress(1.0, "validate")
        if len(p.hosts) or [(v.type, v.hosts) for v in p.vetoes] != [
                ("LIMIT_NOT_SATISFIED", nhosts)]:
            raise RuntimeError(f"expected LIMIT_NOT_SATISFIED on all {nhosts} hosts, got "
                               f"{len(p.hosts)} placed, {p.pending_reason()}")
        clusters.check_free(cluster, full_tally(nhosts))
        return [ctx.result(hosts=nhosts, tasks=1, placed=0, seconds=t.seconds,
                           rate=attempts / t.seconds, unit="attempts/s",
                           notes=f"{attempts:,} attempts, each Engine.place(count=1): a full "
                                 f"scan plus veto reasons; {p.pending_reason()}")]
