"""Scenario 2, `value-mismatch`: one task with `host = denied` on 1,000 hosts, fitting none."""

from __future__ import annotations

from bench import clusters
from bench.attempts import failed_attempts
from bench.registry import RunContext, Scenario, register
from bench.result import Result

HOSTS = 1_000
ATTEMPTS = {("compiled", False): 30_000, ("pure", False): 1_000,
            ("compiled", True): 2_000, ("pure", True): 30}
TASK = (1_000, 1_024, 1_024, 0, 0)
CONSTRAINTS = [("value", "host", ("denied",), False)]


@register
class ValueMismatchScenario(Scenario):
    name = "value-mismatch"
    description = "1,000 hosts; one production task with `host = denied`; failed attempts/s"
    anchor = "Aurora ValueConstraintMismatch benchmark"

    def run(self, ctx: RunContext) -> list[Result]:
        cluster = clusters.build(ctx.impl, HOSTS)
        return failed_attempts(ctx, cluster, seed=2, name="denied", job=1, task=TASK,
                               constraints=CONSTRAINTS, attempts=ATTEMPTS,
                               veto="CONSTRAINT_MISMATCH", used={})
