"""What users ask of jobs: create, add instances, restart, kill. Each is one transaction.

Validation happens before anything changes; a refused request changes nothing and says why
(``ActionError``, which the API turns into INVALID_REQUEST with the message).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from aurora.model.jobkey import JobKey
from aurora.model.status import ACTIVE_STATES
from aurora.model.status import ScheduleStatus as S
from aurora.model.task import TaskConfig
from aurora.scheduler.jobs import Job
from aurora.scheduler.quota import quota_problem
from aurora.scheduler.records import Op
from aurora.scheduler.service import Scheduler

ACTIVE_CODES = frozenset(int(s) for s in ACTIVE_STATES)


class ActionError(ValueError):
    """A request that cannot be carried out, with the reason."""


async def create_job(sched: Scheduler, config: TaskConfig, instances: int,
                     cron_schedule: str | None = None) -> list[str]:
    """Create JOB with INSTANCES pending tasks; returns their task ids once durable."""
    key = config.job
    existing = sched.jobs.get(key)
    if existing is not None and (existing.cron_schedule or _active(sched, key, None)):
        raise ActionError(f"job {key} already exists")  # a job ends when its tasks have
    _check_count(sched, instances)
    _check_quota(sched, config, instances)
    if cron_schedule:
        raise ActionError("cron jobs are not supported yet: createJob takes no cron_schedule")
    cid, save_config = sched.jobs.config_id(config)
    ops: list[Op] = sched.start_ops()
    if save_config is not None:
        ops.append(save_config)
    ops.append(sched.jobs.put(Job(key, cid, instances)))
    eff = sched.table.insert(cid, range(instances), sched.clock_ms())
    sched.groups.add(cid, eff.created)
    sched.wake_cycle()
    ops += sched.ops_for(eff)
    await sched.committer.commit(ops)
    return [sched.table.task_id(s) for s in eff.created]


async def add_instances(sched: Scheduler, key: JobKey, instances: Iterable[int]) -> list[str]:
    job = _job(sched, key)
    wanted = sorted(set(instances))
    if not wanted or wanted[0] < 0:
        raise ActionError(f"instances to add must be non-negative, got {wanted}")
    jid = sched.jobs.job_id(key)
    busy = [i for i in wanted if sched.table.active_task(jid, i) >= 0]
    if busy:
        raise ActionError(f"instances {busy} of {key} are already active")
    new_count = max(job.instances, wanted[-1] + 1)
    _check_count(sched, new_count)
    _check_quota(sched, sched.jobs.configs[job.config], len(wanted))
    eff = sched.table.insert(job.config, wanted, sched.clock_ms())
    sched.groups.add(job.config, eff.created)
    sched.wake_cycle()
    job.instances = new_count
    await sched.committer.commit([sched.jobs.put(job), *sched.ops_for(eff)])
    return [sched.table.task_id(s) for s in eff.created]


async def kill_tasks(sched: Scheduler, key: JobKey,
                     instances: Sequence[int] | None = None, message: str | None = None) -> int:
    """Kill the job's active tasks (all, or the given instances); returns how many changed
    (a task already KILLING does not count; a PENDING one is deleted outright)."""
    _job(sched, key)
    slots = _active(sched, key, instances)
    eff = sched.table.transition(slots, int(S.KILLING), sched.clock_ms(),
                                 message or "Killed by user")
    sched.apply(eff)
    await sched.committer.commit([])
    return len(eff.saved) + len(eff.deleted)


async def restart_shards(sched: Scheduler, key: JobKey, instances: Sequence[int]) -> int:
    _job(sched, key)
    slots = _active(sched, key, instances)
    running = [s for s in slots if sched.table.state(s) not in (int(S.PENDING),
                                                                int(S.THROTTLED))]
    eff = sched.table.transition(running, int(S.RESTARTING), sched.clock_ms(),
                                 "Restarting by user request")
    sched.apply(eff)
    await sched.committer.commit([])
    return len(running)


def _job(sched: Scheduler, key: JobKey) -> Job:
    job = sched.jobs.get(key)
    if job is None:
        raise ActionError(f"job {key} does not exist")
    return job


def _active(sched: Scheduler, key: JobKey, instances: Sequence[int] | None) -> list[int]:
    if sched.jobs.get(key) is None:
        return []
    jid = sched.jobs.job_id(key)
    if instances is None:
        return [s for s in sched.table.tasks_of_job(jid) if sched.table.state(s) in ACTIVE_CODES]
    out = []
    for i in instances:
        s = sched.table.active_task(jid, i)
        if s >= 0:
            out.append(s)
    return out


def _check_count(sched: Scheduler, instances: int) -> None:
    top = sched.settings.max_tasks_per_job
    if not 0 < instances <= top:
        raise ActionError(f"instance count must be between 1 and {top}, got {instances}")


def _check_quota(sched: Scheduler, config: TaskConfig, instances: int) -> None:
    problem = quota_problem(sched, config, instances)
    if problem is not None:
        raise ActionError(problem)
