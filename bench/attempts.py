"""Failed scheduling attempts per second, the measure of `value-mismatch`, `limit-mismatch` and
`cluster-full`: one task that fits no host of a prepared cluster, placed again and again."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aurora.scheduler.engine import Engine
from bench import clusters
from bench.registry import RunContext, timed
from bench.result import Result


def failed_attempts(ctx: RunContext, cluster: Any, *, seed: int, name: str, job: int,
                    task: tuple[int, int, int, int, int], constraints: Sequence[Any],
                    attempts: Mapping[tuple[str, bool], int], veto: str,
                    used: Mapping[int, tuple[int, int, int, int, int]],
                    check: Callable[[], None] | None = None) -> list[Result]:
    """Time Engine.place(count=1) of one TASK of JOB with CONSTRAINTS, ATTEMPTS[(impl, quick)]
    times, in one cycle of an Engine seeded SEED over CLUSTER; the row of attempts/s.

    Raises unless the last attempt placed nothing and vetoed every host with VETO; then runs
    CHECK (the scenario's own validation), then `clusters.check_free(cluster, USED)`.
    """
    count = attempts[(ctx.impl, ctx.quick)]
    nhosts = cluster.host_count
    engine = Engine(cluster, impl=ctx.impl, seed=seed)
    engine.begin_cycle()
    req = engine.request(name, job, *task, constraints=constraints)
    ctx.progress(0.1, "attempts")
    with timed() as t:
        for _ in range(count):
            p = engine.place(req, 1)
    ctx.progress(1.0, "validate")
    if len(p.hosts) or [(v.type, v.hosts) for v in p.vetoes] != [(veto, nhosts)]:
        raise RuntimeError(f"expected {veto} on all {nhosts} hosts, got "
                           f"{len(p.hosts)} placed, {p.pending_reason()}")
    if check is not None:
        check()
    clusters.check_free(cluster, used)
    return [ctx.result(hosts=nhosts, tasks=1, placed=0, seconds=t.seconds,
                       rate=count / t.seconds, unit="attempts/s",
                       notes=f"{count:,} attempts, each Engine.place(count=1): a full "
                             f"scan plus veto reasons; {p.pending_reason()}")]
