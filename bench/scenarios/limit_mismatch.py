"""Scenario 3, `limit-mismatch`: a task of job A with `host limit:0` tried on 1,000 hosts, where
250 tasks each of jobs A and B run and 500 hosts are free."""

from __future__ import annotations

from bench import clusters
from bench.attempts import failed_attempts
from bench.registry import RunContext, Scenario, register
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

        def check_counted() -> None:
            a_hosts = sum(1 for h in range(HOSTS) if cluster.limit_count(
                JOB_A, host_attr, cluster.attr_cols[host_attr][h]))
            if a_hosts != RUNNING:
                raise RuntimeError(f"job A counted on {a_hosts} hosts, expected {RUNNING}")

        return failed_attempts(ctx, cluster, seed=3, name="a-limit0", job=JOB_A, task=TASK,
                               constraints=CONSTRAINTS, attempts=ATTEMPTS,
                               veto="LIMIT_NOT_SATISFIED", used=used, check=check_counted)
