"""Scenario 1, `fill-cluster`: fill half of 100,000 hosts with 6 CPU tasks, 1,000 per group."""

from __future__ import annotations

import random

from aurora.scheduler.engine import Engine
from bench import clusters
from bench.registry import RunContext, Scenario, register, timed
from bench.result import Result

FULL_HOSTS, FULL_TASKS = 100_000, 50_000
QUICK_HOSTS, QUICK_TASKS = 10_000, 5_000
GROUP = 1_000
TASK = (6_000, 8 * 1024, 128 * 1024, 0, 0)  # 6 CPU, 8 GB, 128 GB
OTHER = (4_000, 8 * 1024, 128 * 1024, 0, 0)  # what other jobs hold on 1% of the hosts
SEED = 1


@register
class FillClusterScenario(Scenario):
    name = "fill-cluster"
    description = (
        "100,000 hosts, 1% taken by other jobs; place 6 CPU / 8 GB / 128 GB tasks in groups "
        "of 1,000 until 50,000 are placed; tasks/s"
    )
    anchor = "Aurora FillClusterBenchmark: about 876 tasks/s"

    def run(self, ctx: RunContext) -> list[Result]:
        nhosts, ntasks = (QUICK_HOSTS, QUICK_TASKS) if ctx.quick else (FULL_HOSTS, FULL_TASKS)
        ctx.progress(0.0, "build cluster")
        cluster = clusters.build(ctx.impl, nhosts)
        used: dict[int, tuple[int, int, int, int, int]] = {}
        taken = random.Random(SEED).sample(range(nhosts), nhosts // 100)
        for h in taken:
            cluster.consume(h, *OTHER)
        clusters.tally(used, taken, OTHER)
        engine = Engine(cluster, impl=ctx.impl, seed=SEED)
        placed: list = []
        ctx.progress(0.2, "place")
        with timed() as t:
            for g in range(ntasks // GROUP):
                engine.begin_cycle()
                req = engine.request(("fill", g), 100 + g, *TASK)
                p = engine.place(req, GROUP)
                if len(p.hosts) != GROUP:
                    raise RuntimeError(f"group {g}: placed {len(p.hosts)} of {GROUP}: "
                                       f"{p.pending_reason()}")
                placed.append(p.hosts)
                ctx.progress(0.2 + 0.7 * (g + 1) * GROUP / ntasks, "place")
        ctx.progress(0.9, "validate")
        total = 0
        for hosts in placed:
            total += len(hosts)
            clusters.tally(used, hosts, TASK)
        if total != ntasks:
            raise RuntimeError(f"placed {total} tasks, expected {ntasks}")
        clusters.check_free(cluster, used)  # no host over-committed (8 CPU: one task each)
        return [ctx.result(hosts=nhosts, tasks=ntasks, placed=total, seconds=t.seconds,
                           rate=total / t.seconds, unit="tasks/s",
                           notes=f"Engine, random order (new per group), groups of {GROUP:,} "
                                 "instances, one job each")]
