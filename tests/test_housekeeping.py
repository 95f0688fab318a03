"""Timeouts, kill retries and pruning on an injected clock, through the state machine."""

from __future__ import annotations

import asyncio
from pathlib import Path

from test_service import KEY, Clock, boot, config

from aurora.model.status import ScheduleStatus as S
from aurora.scheduler import actions
from aurora.scheduler.backend import StatusUpdate
from aurora.scheduler.housekeeping import MIN, Housekeeping, Settings


def test_timeouts_retries_and_pruning(tmp_path: Path, impl: str) -> None:
    async def scenario() -> None:
        clock = Clock()
        sched, backend = await boot(tmp_path, impl, clock)
        hk = Housekeeping(sched, Settings(keep_terminal_per_job=1))
        ids = await actions.create_job(sched, config(), 3)
        sched.schedule_once()
        await sched.committer.commit([])
        a, b, c = sched.table.lookup(ids)
        sched.status_updates([StatusUpdate(ids[0], int(S.RUNNING), clock())])
        await sched.committer.commit([])
        # b and c stay ASSIGNED past 5 minutes: LOST (and replaced, ASSIGNED -> LOST kills).
        clock.now += 5 * MIN
        hk.timeouts()
        await sched.committer.commit([])
        assert sched.table.state(b) == int(S.LOST) and sched.table.state(c) == int(S.LOST)
        assert sched.table.active_task(sched.jobs.job_id(KEY), 1) not in (-1, b)
        assert sched.table.events(b)[-1][2] == "Task timed out in state ASSIGNED"
        # a is killed; no answer from its agent: the kill is sent again, backing off.
        await actions.kill_tasks(sched, KEY, [0])
        await sched.committer.commit([])
        sent = backend.killed.count(ids[0])
        clock.now += 15_000
        hk.kill_retries()
        clock.now += 15_000
        hk.kill_retries()  # backed off to 30 s: not yet
        clock.now += 15_000
        hk.kill_retries()
        assert backend.killed.count(ids[0]) == sent + 2
        # Terminal tasks beyond one per job, then all of them after two days, are pruned.
        sched.status_updates([StatusUpdate(ids[0], int(S.KILLED), clock())])
        await sched.committer.commit([])
        terminal = [s for s in (a, b, c) if sched.table.state(s) != 31]
        assert len(terminal) == 3
        hk.prune()
        await sched.committer.commit([])
        assert sum(sched.table.state(s) != 31 for s in (a, b, c)) == 1
        clock.now += 2 * 24 * 60 * MIN
        hk.prune()
        await sched.committer.commit([])
        assert all(sched.table.state(s) == 31 for s in (a, b, c))
        assert list(sched.table.lookup(ids)) == [-1, -1, -1]
        sched.storage.close()

    asyncio.run(scenario())
