"""Scenario 3, `limit-mismatch`: a task of job A with `host limit:0` tried on 1,000 hosts, where
250 tasks each of jobs A and B run and 500 hosts are free."""

from __future__ import annotations

from aurora.scheduler.engine import Engine
from bench import clusters
from bench.registry import RunContext, Scenario, register, timed
from bench.result import Result

HOSTS = 1_000
RUNNING = 250  # tasks of each job
JOB_A, JOB_B = 1, 2
ATTEMPTS = {("compiled", False): 30_000, ("pure", False): 1_000,
            ("compiled", True): 2_000, ("pure", True): 30}
TASK = (4_000, 8 * 1024, 128 * 1024, 0, 0)
CONSTRAINTS = [("limit", "host", 0)]


@register
class LimitMismatchScenario(Scenario):
    name = "limit-mismatch"
    description = ("1,000 hosts, 250 tasks each of jobs A and B running, 500 free; one task of A "
                   "with `host limit:0`; failed attempts/s")
    anchor = "Aurora LimitConstraintMismatch: 242-432 attempts/s (2.3-4 ms each)"

    def run(self, ctx: RunContext) -> list[Result]:
        attempts = ATTEMPTS[(ctx.impl, ctx.quick)]
        cluster = clusters.build(ctx.impl, HOSTS)
        host_attr = cluster.attr_id("host")
        used: dict[int, tuple[int, int, int, int, int]] = {}
        for job, first in ((JOB_A, 0), (JOB_B, RUNNING)):
            cluster.track(job, host_attr, ())
            hosts = range(first, first + RUNNING)
            for h in hosts:
                cluster.consume(h, *TASK)
                cluster.task_started(job, h)
            clusters.tally(used, hosts, TASK)
        engine = Engine(cluster, impl=ctx.impl, seed=3)
        engine.begin_cycle()
        req = engine.request("a-limit0", JOB_A, *TASK, constraints=CONSTRAINTS)
        ctx.progress(0.1, "attempts")
        with timed() as t:
            for _ in range(attempts):
                p = engine.place(req, 1)
        ctx.progress(1.0, "validate")
        if len(p.hosts) or [(v.type, v.hosts) for v in p.vetoes] != [
                ("LIMIT_NOT_SATISFIED", HOSTS)]:
            raise RuntimeError(f"expected LIMIT_NOT_SATISFIED on all {HOSTS} hosts, got "
                               f"{len(p.hosts)} placed, {p.pending_reason()}")
        a_hosts = sum(1 for h in range(HOSTS)
                      if cluster.limit_count(JOB_A, host_attr, cluster.attr_cols[host_attr][h]))
        if a_hosts != RUNNING:
            raise RuntimeError(f"job A counted on {a_hosts} hosts, expected {RUNNING}")
        clusters.check_free(cluster, used)
        return [ctx.result(hosts=HOSTS, tasks=1, placed=0, seconds=t.seconds,
                           rate=attempts / t.seconds, unit="attempts/s",
                           notes=f"{attempts:,} attempts, each Engine.place(count=1): a full "
                                 f"scan plus veto reasons; {p.pending_reason()}")]
