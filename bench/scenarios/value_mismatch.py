"""Scenario 2, `value-mismatch`: one task with `host = denied` on 1,000 hosts, fitting none."""

from __future__ import annotations

from aurora.scheduler.engine import Engine
from bench import clusters
from bench.registry import RunContext, Scenario, register, timed
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
        attempts = ATTEMPTS[(ctx.impl, ctx.quick)]
        cluster = clusters.build(ctx.impl, HOSTS)
        engine = Engine(cluster, impl=ctx.impl, seed=2)
        engine.begin_cycle()
        req = engine.request("denied", 1, *TASK, constraints=CONSTRAINTS)
        ctx.progress(0.1, "attempts")
        with timed() as t:
            for _ in range(attempts):
                p = engine.place(req, 1)
        ctx.progress(1.0, "validate")
        if len(p.hosts) or [(v.type, v.hosts) for v in p.vetoes] != [
                ("CONSTRAINT_MISMATCH", HOSTS)]:
            raise RuntimeError(f"expected CONSTRAINT_MISMATCH on all {HOSTS} hosts, got "
                               f"{len(p.hosts)} placed, {p.pending_reason()}")
        clusters.check_free(cluster, {})
        return [ctx.result(hosts=HOSTS, tasks=1, placed=0, seconds=t.seconds,
                           rate=attempts / t.seconds, unit="attempts/s",
                           notes=f"{attempts:,} attempts, each Engine.place(count=1): a full "
                                 f"scan plus veto reasons; {p.pending_reason()}")]
