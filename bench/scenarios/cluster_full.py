"""Scenario 4, `cluster-full`: 10,000 full hosts (10% by tasks of the pending task's role, 90% by
preemptible victims); one production task with `host limit:0`, failing everywhere."""

from __future__ import annotations

from typing import Any

from bench import clusters
from bench.attempts import failed_attempts
from bench.registry import RunContext, Scenario, register
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


def full_cluster(ctx: RunContext, victims: Any = None) -> tuple[Any, dict]:
    """The run's cluster, QUICK_HOSTS or FULL_HOSTS standard hosts, and the tasks `fill_full`
    (with VICTIMS) filled it with."""
    cluster = clusters.build(ctx.impl, QUICK_HOSTS if ctx.quick else FULL_HOSTS)
    return cluster, fill_full(cluster, victims)


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
        cluster, _ = full_cluster(ctx)
        return failed_attempts(ctx, cluster, seed=4, name="limit0", job=PENDING_JOB, task=PENDING,
                               constraints=[("limit", "host", 0)], attempts=ATTEMPTS,
                               veto="LIMIT_NOT_SATISFIED", used=full_tally(cluster.host_count))
