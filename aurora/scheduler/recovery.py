"""Start-up: load the stored state straight into the task-state table and resume.

Configs come back in id order (so every task finds the config it had), then jobs, then all tasks
in one bulk restore. Hosts named by tasks are known at once; their resources come back when
their agents report, and the tasks on them take their share again then. PENDING tasks rejoin
their groups; THROTTLED ones wait for their penalty.
"""

from __future__ import annotations

import gc

from aurora.model.jobkey import JobKey
from aurora.model.status import ScheduleStatus as S
from aurora.scheduler.service import ASSIGNED_CODES, Scheduler


def restore(sched: Scheduler) -> int:
    """Load everything storage holds; returns the number of tasks restored.

    The collector is off while millions of records are decoded and on again after, with what
    was loaded moved out of its way (gc.freeze): none of it is garbage."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _restore(sched)
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _restore(sched: Scheduler) -> int:
    st = sched.storage
    for key, data in sorted(st.items("configs")):
        sched.jobs.restore_config(int.from_bytes(key, "big"), data)
    for _, data in st.items("jobs"):
        sched.jobs.restore_job(data)
    records = list(st.tasks())
    hosts: dict[str, int] = {}
    jobs: dict[str, int] = {}
    for r in records:
        if r.host is not None and r.host not in hosts:
            hosts[r.host] = sched.known_host(r.host)
        if r.job not in jobs:
            jobs[r.job] = sched.jobs.job_id(JobKey.parse(r.job))
    configs = {i: i for i in range(len(sched.jobs.configs))}
    slots = sched._taskrows.restore(sched.table, records, jobs, hosts, configs)
    for slot, record in zip(slots, records, strict=True):
        if record.ports:
            names = sorted(sched.jobs.configs[record.config].resources.ports)
            numbers = tuple(record.ports[n] for n in names if n in record.ports)
            sched.restored_ports[slot] = numbers  # claimed again when the agent is back
            sched.task_ports[slot] = numbers
    now = sched.clock_ms()
    table = sched.table
    for name, h in hosts.items():  # no agent is back yet: lost unless one comes in time
        if any(table.state(s) in ASSIGNED_CODES for s in table.tasks_on_host(h)):
            sched.down_since[name] = now
    sched.track_pending(sched.table.tasks_in_state(int(S.PENDING)))
    sched.track_pending(sched.table.tasks_in_state(int(S.THROTTLED)))
    return len(records)
