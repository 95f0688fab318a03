"""Scenario 10, `status-storm`: 1,000,000 status updates sent over ZeroMQ by simulated agents,
applied to the state table and persisted. Updates/s.

The scheduler runs in this process as the daemon runs it (uvloop, ``Scheduler.run``, RocksDB with
an fsync per commit, ``--backend local``'s :class:`LocalBackend` on a loopback TCP port). The
agents are another process (``bench.storm_agents``): 100 real DEALER sockets speaking the agent
protocol. 333,334 tasks (jobs of 1,000 instances) are created and launched on them; then every
agent reports STARTING, RUNNING and FINISHED for each of its tasks: 1,000,002 updates. The clock
runs from the first update sent until the last one is acknowledged, and the scheduler
acknowledges an update only after the transaction holding its effect is written. Besides the
rate, the notes give the scheduler process's CPU time per update.

Validated: every task FINISHED in the table, no update resent or dropped, and the scheduler
counted every update once.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aurora.model.jobkey import JobKey
from aurora.model.resources import Resources
from aurora.model.status import ScheduleStatus as S
from aurora.model.task import Identity, TaskConfig
from aurora.scheduler import actions
from aurora.scheduler.local_backend import LocalBackend
from aurora.scheduler.service import Scheduler, Settings, tune_gc
from aurora.scheduler.storage import Storage
from bench.registry import RunContext, Scenario, register
from bench.result import Result

CHECKOUT = Path(__file__).resolve().parents[2]
PER_JOB = 1000


def _shape(ctx: RunContext) -> tuple[int, int]:
    """(agents, tasks): 3 updates per task."""
    if ctx.quick:
        return 10, 3_334
    return 100, 333_334


async def _run(data_dir: str, impl: str, agents: int, tasks: int,
               progress: object) -> dict[str, float | int]:
    storage = Storage(data_dir, sync=True)
    backend = LocalBackend("tcp://127.0.0.1:0", heartbeat_interval=1.0, agent_timeout=600.0)
    tune_gc()
    sched = Scheduler(storage, backend, lambda: time.time_ns() // 1_000_000,
                      Settings(impl=impl, max_tasks_per_job=PER_JOB))
    stop = asyncio.Event()
    runner = asyncio.create_task(sched.run(stop))
    out_file = os.path.join(data_dir, "storm.json")
    proc = None
    try:
        while backend.endpoint is None or not backend.endpoint.endpoint:
            await asyncio.sleep(0.01)
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.storm_agents", "--address", backend.endpoint.endpoint,
             "--agents", str(agents), "--tasks", str(tasks), "--out", out_file],
            cwd=CHECKOUT)
        while len(backend.host_agent) < agents:
            await asyncio.sleep(0.01)
            if proc.poll() is not None:
                raise RuntimeError(f"storm agents exited with {proc.returncode}")
        config = TaskConfig(job=JobKey("storm", "prod", "j0"), owner=Identity("storm"),
                            resources=Resources(0.01, 1, 1), is_service=False)
        made = 0
        j = 0
        while made < tasks:
            n = min(PER_JOB, tasks - made)
            cfg = TaskConfig(job=JobKey("storm", "prod", f"j{j:04d}"), owner=config.owner,
                             resources=config.resources, is_service=False)
            await actions.create_job(sched, cfg, n)
            made += n
            j += 1
        finished = int(S.FINISHED)
        cpu0 = wall0 = None
        apply_batch = sched.status_batch  # what LocalBackend calls

        def first_updates(updates: object, tokens: object) -> None:  # the clock starts
            nonlocal cpu0, wall0                                     # with the first batch
            if cpu0 is None:
                cpu0, wall0 = time.process_time(), time.perf_counter()
            apply_batch(updates, tokens)  # type: ignore[arg-type]

        sched.status_batch = first_updates  # type: ignore[method-assign]
        while proc.poll() is None:
            await asyncio.sleep(0.01)
            if runner.done():
                runner.result()
            progress(sched.table.count_in_state(finished) / tasks, "updates")  # type: ignore[operator]
        cpu = time.process_time() - (cpu0 or 0.0)
        wall = time.perf_counter() - (wall0 or 0.0)
        if proc.returncode != 0:
            raise RuntimeError(f"storm agents exited with {proc.returncode}")
        with open(out_file) as fp:
            result = json.load(fp)
        done = sched.table.count_in_state(finished)
        if done != tasks:
            raise RuntimeError(f"{done:,} of {tasks:,} tasks FINISHED")
        if result["resent"] or result["send_dropped"]:
            raise RuntimeError(f"agents resent {result['resent']} / dropped "
                               f"{result['send_dropped']} updates")
        if sched.stats.status_updates != result["updates"]:
            raise RuntimeError(f"scheduler counted {sched.stats.status_updates:,} updates, "
                               f"agents sent {result['updates']:,}")
        result.update(sched_cpu_s=cpu, sched_wall_s=wall, commits=storage.commits,
                      transactions=storage.transactions)
        return result
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        stop.set()
        try:
            await runner
        finally:
            storage.close()


@register
class StatusStorm(Scenario):
    name = "status-storm"
    description = "1,000,000 status updates over ZeroMQ from simulated agents, applied+persisted"
    anchor = "Aurora batches up to 1,000 status updates per storage write"

    def run(self, ctx: RunContext) -> list[Result]:
        import uvloop

        agents, tasks = _shape(ctx)
        data_dir = tempfile.mkdtemp(prefix="aurora-storm-")
        try:
            r = uvloop.run(_run(data_dir, ctx.impl, agents, tasks, ctx.progress))
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
        updates = int(r["updates"])
        seconds = float(r["seconds"])
        notes = (f"{agents} agents over loopback TCP, {tasks:,} tasks x STARTING/RUNNING/FINISHED;"
                 f" RocksDB fsync per commit, {r['commits']:,} commits; scheduler CPU "
                 f"{1e6 * float(r['sched_cpu_s']) / updates:.2f} us/update "
                 f"({float(r['sched_cpu_s']):.2f} s in {float(r['sched_wall_s']):.2f} s wall); "
                 f"agents' CPU {float(r['agent_cpu_s']):.2f} s")
        return [ctx.result(hosts=agents, tasks=updates, placed=updates, seconds=seconds,
                           rate=updates / seconds, unit="updates/s", notes=notes)]
