"""Scenario 11, `recovery`: a scheduler holding 1,000,000 tasks is stopped; seconds from a new
process's start until it has loaded its state and resumed scheduling.

The state is built once per size: c1m's workload (1,000 jobs x 1,000 instances on 10,000 sim
hosts) run through the whole service until every task is RUNNING, with a fast sim (no start
delays) and ``sync=False`` (the build is not what is measured; the stop is clean, so everything
is flushed), plus one job of 1,000 tasks that fits no host (``zone = nowhere``): those stay
PENDING, so the restarted scheduler has a group to try. Then the scheduler stops cleanly.

The measurement is a NEW PROCESS (``python -c``, started by this module), set up as the daemon's
``serve`` does: ``Storage`` opened (``sync=True``), ``Scheduler`` built, ``restore()`` (configs,
jobs, every task row into the state table), housekeeping duties installed, then
``Scheduler.run``: the sim backend reports its 10,000 hosts (tasks on each take their resources
again) and is asked to reconcile every assigned task (``adopt_unknown``: a fresh sim takes them
on as RUNNING), then the first scheduling cycle runs. The figure is wall time from just before
the parent spawns the child to the end of that first cycle; the child also reports when it
finished importing, opened storage, restored, and started the cycle.

Validated in the child: the restored table has exactly the tasks per state the stopped scheduler
had; every RUNNING task holds its resources again; the first cycle tried the PENDING group.

The state is shared by the runs of one process (both implementations read the same bytes): each
run works on a copy (SST files hard-linked, as a RocksDB checkpoint does), and every copy and the
original are deleted (the original when the process exits).
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.registry import RunContext, Scenario, register
from bench.result import Result
from bench.scenarios import c1m

CHECKOUT = Path(__file__).resolve().parents[2]
FULL = c1m.FULL  # 1,000,000 tasks on 10,000 hosts
QUICK = c1m.Shape(20, 1_000, 1_000)  # 20,000 tasks
UNPLACEABLE = "unplaceable"
CHILD_TIMEOUT_S = 900.0
FAST_SIM = {"starting_delay_ms": 0, "running_delay_ms": 0}


# ---------------------------------------------------------------------------------- counting


def state_counts(table: Any) -> dict[str, int]:
    """Tasks per state (every wire status), by name; states with none are left out."""
    from aurora.model.status import WIRE_STATUSES

    out: dict[str, int] = {}
    for status in WIRE_STATUSES:
        n = table.count_in_state(int(status))
        if n:
            out[status.name] = n
    return out


def unplaceable_config() -> Any:
    """A job no host can take: its tasks stay PENDING (a group the restarted scheduler tries)."""
    from aurora.model.jobkey import JobKey
    from aurora.model.resources import Resources
    from aurora.model.task import Constraint, Identity, TaskConfig

    return TaskConfig(job=JobKey(c1m.ROLE, "prod", UNPLACEABLE), owner=Identity(c1m.ROLE),
                      resources=Resources(0.25, 1024, c1m.TASK_DISK_MB), is_service=True,
                      constraints=(Constraint.parse("zone", "nowhere"),))


# ---------------------------------------------------------------------------------- the state


@dataclass(frozen=True)
class Built:
    path: str  # the stopped scheduler's data dir (never opened again: runs use copies)
    counts: dict[str, int]
    tasks: int
    hosts: int
    seconds: float
    impl: str


_BUILT: dict[c1m.Shape, Built] = {}


def _forget_all() -> None:
    for built in _BUILT.values():
        shutil.rmtree(Path(built.path).parent, ignore_errors=True)
    _BUILT.clear()


atexit.register(_forget_all)


def build_impl() -> str:
    """The implementation that builds the state: compiled unless only the pure one may run
    (the bytes on disk are the same either way)."""
    from aurora._fastpath import NO_EXTENSIONS

    return "pure" if NO_EXTENSIONS else "compiled"


def build(shape: c1m.Shape) -> Built:
    """The state of a stopped scheduler holding SHAPE's tasks (built once per process)."""
    built = _BUILT.get(shape)
    if built is not None and Path(built.path).is_dir():
        return built
    import uvloop

    from aurora.scheduler import actions

    root = tempfile.mkdtemp(prefix="aurora-recovery-")
    path = os.path.join(root, "state")
    counts: dict[str, int] = {}
    impl = build_impl()

    async def add_pending(sched: Any, sim: Any) -> None:
        config = unplaceable_config()
        await actions.create_job(sched, config, shape.instances)
        cid, _ = sched.jobs.config_id(config)
        deadline = time.perf_counter() + 30.0
        while cid not in sched.stats.pending_reasons:  # tried once, and found no host
            if time.perf_counter() > deadline:
                raise RuntimeError("recovery: the unplaceable job was never tried")
            await asyncio.sleep(0.005)
        counts.update(state_counts(sched.table))

    t0 = time.perf_counter()
    try:
        uvloop.run(c1m.run_to_running(path, shape, impl, sync=False, instrumented=False,
                                      sim_overrides=FAST_SIM, before_stop=add_pending))
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    built = Built(path, counts, sum(counts.values()), shape.hosts,
                  time.perf_counter() - t0, impl)
    expected = {"RUNNING": shape.tasks, "PENDING": shape.instances}
    if counts != expected:
        shutil.rmtree(root, ignore_errors=True)
        raise c1m.ValidationError(f"recovery: stopped with {counts}, expected {expected}")
    _BUILT[shape] = built
    return built


def clone(src: str, dest: str) -> None:
    """A copy of a closed data dir: SST files (immutable in RocksDB) hard-linked, the rest
    copied, as a RocksDB checkpoint does."""
    def link_or_copy(s: str, d: str) -> object:
        if s.endswith(".sst"):
            try:
                os.link(s, d)
                return d
            except OSError:
                pass
        return shutil.copy2(s, d)

    shutil.copytree(src, dest, copy_function=link_or_copy,
                    ignore=shutil.ignore_patterns("LOCK.aurora"))


# ---------------------------------------------------------------------------------- the child


def child_main(t_python: float) -> None:
    """The new scheduler process: argv is DATA_DIR IMPL HOSTS. Prints one JSON line."""
    import uvloop

    from aurora.scheduler.housekeeping import Housekeeping
    from aurora.scheduler.recovery import restore
    from aurora.scheduler.service import Scheduler, Settings, tune_gc
    from aurora.scheduler.sim import SimBackend
    from aurora.scheduler.storage import Storage

    t_imports = time.time()
    data_dir, impl, hosts = sys.argv[1], sys.argv[2], int(sys.argv[3])
    storage = Storage(data_dir)  # sync=True: the daemon's default
    t_open = time.time()
    sim = SimBackend(c1m.sim_config(hosts, adopt_unknown=True))
    tune_gc()  # as the daemon's serve() does
    sched = Scheduler(storage, sim, lambda: time.time_ns() // 1_000_000,
                      Settings(impl=impl, seed=c1m.SEED))
    restored = restore(sched)
    t_restored = time.time()
    counts = state_counts(sched.table)
    sched.duties = Housekeeping(sched).duties()
    marks: dict[str, Any] = {}
    stop = asyncio.Event()
    schedule_once = sched.schedule_once

    def first_cycle() -> int:
        if marks:
            return 0
        marks["cycle_start"] = time.time()  # the backend is up: hosts reported, reconciling
        placed = schedule_once()
        marks["cycle_end"] = time.time()
        marks["placed"] = placed
        marks["cycles"] = sched.stats.scheduling_cycles
        marks["pending_reasons"] = len(sched.stats.pending_reasons)
        marks["held"] = len(sched.held)
        marks["reconciled"] = sim.stats.reconciled
        stop.set()
        return placed

    sched.schedule_once = first_cycle  # type: ignore[method-assign]
    try:
        uvloop.run(sched.run(stop))
    finally:
        storage.close()
    print(json.dumps({"python": t_python, "imports": t_imports, "open": t_open,
                      "restored": t_restored, "restored_tasks": restored, "counts": counts,
                      **marks}))


def measure(data_dir: str, impl: str, hosts: int) -> dict[str, Any]:
    """Run the new scheduler process on DATA_DIR; its report, with `spawn` (the wall time just
    before it was started) added."""
    code = ("import time; t = time.time(); from bench.scenarios.recovery import child_main; "
            "child_main(t)")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CHECKOUT), env.get("PYTHONPATH")]))
    spawn = time.time()
    proc = subprocess.run([sys.executable, "-c", code, data_dir, impl, str(hosts)],
                          cwd=CHECKOUT, env=env, capture_output=True, text=True,
                          timeout=CHILD_TIMEOUT_S, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"recovery child failed (exit {proc.returncode}):\n"
                           f"{proc.stderr[-4000:]}")
    report: dict[str, Any] = json.loads(lines[-1])
    report["spawn"] = spawn
    return report


def check(report: dict[str, Any], built: Built) -> None:
    if report["counts"] != built.counts:
        raise c1m.ValidationError(f"restored {report['counts']}, the stopped scheduler had "
                                  f"{built.counts}")
    if report["restored_tasks"] != built.tasks:
        raise c1m.ValidationError(f"restore() returned {report['restored_tasks']:,}, "
                                  f"expected {built.tasks:,}")
    if "cycle_end" not in report:
        raise c1m.ValidationError("the new scheduler never ran a scheduling cycle")
    if report["cycles"] != 1 or report["pending_reasons"] < 1 or report["placed"] != 0:
        raise c1m.ValidationError(f"first cycle: {report['cycles']} cycles, placed "
                                  f"{report['placed']}, {report['pending_reasons']} reasons; "
                                  "expected the pending group tried and left pending")
    running = built.counts.get("RUNNING", 0)
    if report["held"] != running:
        raise c1m.ValidationError(f"{report['held']:,} tasks hold resources again, expected "
                                  f"{running:,}")


def phases(report: dict[str, Any]) -> dict[str, float]:
    """Seconds of each phase, in order."""
    points = [("interpreter", "python"), ("imports", "imports"), ("storage open", "open"),
              ("restore", "restored"), ("backend start", "cycle_start"),
              ("first cycle", "cycle_end")]
    out: dict[str, float] = {}
    before = report["spawn"]
    for label, key in points:
        out[label] = report[key] - before
        before = report[key]
    return out


def run_recovery(shape: c1m.Shape, impl: str) -> tuple[float, dict[str, Any], Built]:
    """Build (or reuse) the state, measure a new process on a copy; returns (seconds, the
    child's report, the build)."""
    built = build(shape)
    work = tempfile.mkdtemp(prefix="aurora-recovery-run-")
    try:
        data_dir = os.path.join(work, "state")
        clone(built.path, data_dir)
        report = measure(data_dir, impl, shape.hosts)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    check(report, built)
    return report["cycle_end"] - report["spawn"], report, built


@register
class RecoveryScenario(Scenario):
    name = "recovery"
    description = (
        "a scheduler holding 1,000,000 tasks (c1m's end state plus 1,000 PENDING) is stopped; "
        "seconds from a new process's start to state loaded and first scheduling cycle run"
    )
    anchor = "Aurora snapshots took up to 40 s in large clusters; Borg's failover about 10 s"

    def run(self, ctx: RunContext) -> list[Result]:
        shape = QUICK if ctx.quick else FULL
        ctx.progress(0.0, "build state")
        built = build(shape)
        ctx.progress(0.8, "new process")
        seconds, report, built = run_recovery(shape, ctx.impl)
        ph = ", ".join(f"{k} {v:.2f}s" for k, v in phases(report).items())
        held = ", ".join(f"{v:,} {k}" for k, v in built.counts.items())
        notes = (f"{built.tasks:,} tasks ({held}) on {shape.hosts:,} sim hosts; state built "
                 f"by the {built.impl} service in {built.seconds:.0f} s (fast sim, sync=False, "
                 "clean stop); new process: Storage(sync=True), restore(), housekeeping, "
                 f"Scheduler.run with the sim (hosts up, {report['reconciled']:,} tasks "
                 f"reconciled, adopt_unknown) to the end of the first cycle; {ph}")
        return [ctx.result(hosts=shape.hosts, tasks=built.tasks, placed=report["restored_tasks"],
                           seconds=seconds, rate=seconds, unit="s", notes=notes)]


__all__ = ["RecoveryScenario", "build", "child_main", "measure", "run_recovery"]
