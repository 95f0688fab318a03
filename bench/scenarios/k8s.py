"""Scenarios 6-8, kube-scheduler's scheduler_perf shapes on 5,000 hosts: `k8s-basic` (resource
requests only), `k8s-zone-affinity` (a value constraint on `zone`), `k8s-anti-affinity`
(`host limit:1`). Each reports two rows: `grouped` (tasks of one config placed by one call) and
`ungrouped` (one place(count=1) call per task, as kube-scheduler schedules pod by pod)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from aurora.scheduler.engine import Engine
from bench import clusters
from bench.registry import RunContext, Scenario, register, timed
from bench.result import Result

HOSTS = 5_000
SEED = 6
GROUPED_REPS, QUICK_GROUPED_REPS = 5, 2
INIT = (1_000, (1_000, 2 * 1024, 10 * 1024, 0, 0))  # tasks already placed, and their size
Res = tuple[int, int, int, int, int]


@dataclass(frozen=True)
class Config:
    """One task config: its group key, job, resources and constraints."""

    key: str
    job: int
    res: Res
    constraints: tuple[tuple, ...] = ()


@dataclass(frozen=True)
class Workload:
    configs: tuple[Config, ...]
    tasks: int  # task i has config i % len(configs)
    init: bool  # place INIT first (untimed)


def place_all(ctx: RunContext, load: Workload, grouped: bool) -> tuple[Any, float, list]:
    """Build the cluster, place the workload; returns (cluster, seconds, [(config, hosts)])."""
    cluster = clusters.build(ctx.impl, HOSTS)
    engine = Engine(cluster, impl=ctx.impl, seed=SEED)
    engine.begin_cycle()
    out: list[tuple[Config, Any]] = []
    if load.init:
        init = Config("init", 1, INIT[1])
        out.append((init, engine.place(engine.request(init.key, init.job, *init.res),
                                       INIT[0]).hosts))
    ncfg = len(load.configs)
    reqs = [engine.request(c.key, c.job, *c.res, constraints=list(c.constraints))
            for c in load.configs]
    with timed() as t:
        if grouped:
            for i, c in enumerate(load.configs):
                out.append((c, engine.place(reqs[i], len(range(i, load.tasks, ncfg))).hosts))
        else:
            step = max(1, load.tasks // 20)
            for i in range(load.tasks):
                out.append((load.configs[i % ncfg], engine.place(reqs[i % ncfg], 1).hosts))
                if i % step == 0:
                    ctx.progress(0.5 + 0.5 * i / load.tasks, "ungrouped")
    return cluster, t.seconds, out


def check(cluster: Any, load: Workload, placed: list) -> int:
    """Raise unless every task was placed, within its constraints, without over-commit."""
    used: dict[int, Res] = {}
    per_job: dict[int, Counter[int]] = {}
    total = 0
    for c, hosts in placed:
        clusters.tally(used, hosts, c.res)
        per_job.setdefault(c.job, Counter()).update(hosts)
        if c.key == "init" and len(hosts) != INIT[0]:
            raise RuntimeError(f"placed {len(hosts)} of the {INIT[0]} initial tasks")
        if c.key != "init":
            total += len(hosts)
        for kind, name, *rest in c.constraints:
            if kind == "value":
                values, negated = rest
                bad = [h for h in hosts
                       if (clusters.attributes_of(h)[name] in values) == negated]
                if bad:
                    raise RuntimeError(f"{c.key}: host {bad[0]} breaks {name} = {rest[0]}")
            else:
                if name != "host":
                    raise RuntimeError(f"{c.key}: no independent check for {name} limits")
                worst = per_job[c.job].most_common(1)
                if worst and worst[0][1] > rest[0]:
                    raise RuntimeError(f"{c.key}: host {worst[0][0]} got {worst[0][1]} tasks "
                                       f"of job {c.job}, limit {rest[0]}")
    if total != load.tasks:
        raise RuntimeError(f"placed {total} of {load.tasks} tasks")
    clusters.check_free(cluster, used)
    return total


class K8sScenario(Scenario):
    def workload(self, quick: bool) -> Workload:
        raise NotImplementedError

    def run(self, ctx: RunContext) -> list[Result]:
        load = self.workload(ctx.quick)
        rows = []
        for grouped in (True, False):
            mode = "grouped" if grouped else "ungrouped"
            ctx.progress(0.0 if grouped else 0.5, mode)
            reps = (QUICK_GROUPED_REPS if ctx.quick else GROUPED_REPS) if grouped else 1
            seconds, placed_all = 0.0, 0
            for _ in range(reps):  # a grouped run takes well under a millisecond: repeat it
                cluster, took, placed = place_all(ctx, load, grouped)
                seconds += took
                placed_all += check(cluster, load, placed)
            total = placed_all // reps
            how = (f"{len(load.configs)} place call(s), one per config; mean of {reps} runs, "
                   "each on a fresh cluster" if grouped else
                   f"{load.tasks:,} place(count=1) calls, the request of each of the "
                   f"{len(load.configs)} configs reused (cached per config, as Aurora does)")
            init = f"; {INIT[0]:,} tasks placed first, untimed" if load.init else ""
            rows.append(ctx.result(
                hosts=HOSTS, tasks=load.tasks, placed=total, seconds=seconds / reps,
                rate=placed_all / seconds, unit="tasks/s",
                notes=f"{mode}: {how}; one random host order (first fit){init}"))
        ctx.progress(1.0, "done")
        return rows


def _tasks(quick: bool, full: int) -> int:
    return full // 10 if quick else full


@register
class K8sBasic(K8sScenario):
    name = "k8s-basic"
    description = ("5,000 hosts, 1,000 tasks placed, then 10,000 tasks of 0.5-1 CPU / 1-2 GB; "
                   "tasks/s grouped and pod by pod")
    anchor = "kube-scheduler SchedulingBasic/5000Nodes_10000Pods: ~1,150 pods/s (threshold 680)"

    def workload(self, quick: bool) -> Workload:
        configs = tuple(Config(f"basic-{cpu}-{ram}", 10 + i, (cpu, ram, 1_024, 0, 0))
                        for i, (cpu, ram) in enumerate(
                            (c, r) for c in (500, 750, 1_000) for r in (1_024, 2_048)))
        return Workload(configs, _tasks(quick, 10_000), init=True)


@register
class K8sZoneAffinity(K8sScenario):
    name = "k8s-zone-affinity"
    description = "5,000 hosts, 10,000 tasks each with a `zone` value constraint; tasks/s"
    anchor = "kube-scheduler NodeAffinity at 5,000 nodes: threshold 220 pods/s"

    def workload(self, quick: bool) -> Workload:
        configs = tuple(Config(f"zone-{z}", 20 + z, (1_000, 2_048, 1_024, 0, 0),
                               (("value", "zone", (clusters.zone_name(z),), False),))
                        for z in range(clusters.STANDARD.zones))
        return Workload(configs, _tasks(quick, 10_000), init=False)


@register
class K8sAntiAffinity(K8sScenario):
    name = "k8s-anti-affinity"
    description = "5,000 hosts, 2,000 tasks of one job with `host limit:1`; tasks/s"
    anchor = "kube-scheduler PodAntiAffinity at 5,000 nodes: threshold 60 pods/s"

    def workload(self, quick: bool) -> Workload:
        configs = (Config("anti", 30, (1_000, 2_048, 1_024, 0, 0), (("limit", "host", 1),)),)
        return Workload(configs, _tasks(quick, 2_000), init=False)
