"""Scenario 13, `state-table`: a million tasks through the state machine in bulk."""

from __future__ import annotations

from array import array

from aurora._fastpath import load
from aurora.model.status import ScheduleStatus as S
from bench.registry import RunContext, Scenario, register, timed
from bench.result import Result

FULL_TASKS = 1_000_000
QUICK_TASKS = 50_000
HOSTS = 10_000
STEPS = (S.STARTING, S.RUNNING, S.FINISHED)


@register
class StateTableScenario(Scenario):
    name = "state-table"
    description = (
        "insert 1,000,000 tasks, then PENDING -> ASSIGNED -> STARTING -> RUNNING -> FINISHED "
        "in bulk; transitions/s and bytes held per task"
    )
    anchor = "Aurora StateManager: about 6,200-7,300 inserts/s, 12,700-14,500 deletes/s"

    def run(self, ctx: RunContext) -> list[Result]:
        n = QUICK_TASKS if ctx.quick else FULL_TASKS
        table = load("statetable", ctx.impl).StateTable(namespace=1, scheduler_host="bench")
        job = table.add_job("bench", "prod", "state-table")
        config = table.add_config(job, False, 1)
        hosts = [table.intern_host(f"host-{i:05d}") for i in range(HOSTS)]
        placement = array("q", (hosts[i % HOSTS] for i in range(n)))
        instances = range(n)

        ctx.progress(0.0, "insert")
        with timed() as t_insert:
            slots = table.insert(config, instances, 1_000).created
        ctx.progress(0.2, "assign")
        with timed() as t_moves:
            eff = table.assign(slots, placement, 2_000)
            saved = len(eff.saved)
            for i, status in enumerate(STEPS):
                ctx.progress(0.4 + 0.2 * i, status.name.lower())
                saved += len(table.transition(slots, int(status), 3_000 + i).saved)
        ctx.progress(1.0, "done")
        transitions = n * (1 + len(STEPS))
        if saved != transitions or table.count_in_state(S.FINISHED) != n:
            raise RuntimeError(f"expected {transitions} saved transitions, got {saved}")
        per_task = table.memory_bytes() / len(table)
        return [
            ctx.result(hosts=HOSTS, tasks=n, placed=n, seconds=t_insert.seconds,
                       rate=n / t_insert.seconds, unit="tasks/s",
                       notes="bulk insert into PENDING (one event each)"),
            ctx.result(hosts=HOSTS, tasks=n, placed=n, seconds=t_moves.seconds,
                       rate=transitions / t_moves.seconds, unit="transitions/s",
                       notes="4 bulk transitions of every task, each saved with an event"),
            ctx.result(hosts=HOSTS, tasks=n, placed=n, seconds=0.0, rate=per_task,
                       unit="bytes/task",
                       notes="held by the table after the run: columns, 5 events, indexes"),
        ]
