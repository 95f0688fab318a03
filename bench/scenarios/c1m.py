"""Scenario 9, `c1m`: 1,000 jobs x 1,000 instances onto 10,000 simulated hosts, through the
scheduler's whole path, until every task is RUNNING.

One process, one uvloop event loop, as the daemon runs: jobs are created with
``actions.create_job`` (what the Thrift API's createJob does), by a few concurrent clients; the
service's own loop (``Scheduler.run`` with the daemon's cycle: 100 ms, sooner when tasks
arrive, at most every 20 ms) matches pending groups, every
change is one transaction group-committed to RocksDB (``Storage(sync=True)``: the WAL is fsynced
for every group, on the committer's thread, the daemon's default), launches go to the ``sim``
backend only after the commit, and the sim's STARTING and RUNNING updates come back in batches of
1,000, are applied to the state table, persisted, then acknowledged. The clock runs from the
first createJob to the last task RUNNING.

Where the time goes is measured by timing the service's batch-level entry points (never a
per-task call) with exclusive accounting: create (table insert, group add), export rows (table
slots to storage rows), schedule (the cycle minus the kernel), match (the kernel), apply (the
service's effects bookkeeping), status apply, commit encode (msgpack + WriteBatch), RocksDB write
(to the WAL; its fsync runs on the committer's thread while the loop goes on), commit follow-ups
(the committer's after-commit work but the sim's), the sim's own work (the agents: not the
scheduler's cost, but in its process), garbage collection, and idle (the loop waiting on timers
or on a fsync, plus loop overhead).

Validated: every task RUNNING in the table and in the sim, no launch refused (the sim refuses and
counts any launch that would over-commit a host), every host's free resources >= 0 in the sim and
in the scheduler's cluster model, and for a sample of constrained jobs, per-host / per-rack counts
and zones read back from the sim's own records and host attributes.
"""

from __future__ import annotations

import asyncio
import gc
import math
import random
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aurora.model.jobkey import JobKey
from aurora.model.resources import Resources
from aurora.model.status import ScheduleStatus
from aurora.model.task import Constraint, Identity, TaskConfig
from aurora.scheduler import actions
from aurora.scheduler.housekeeping import Housekeeping
from aurora.scheduler.recovery import restore
from aurora.scheduler.service import Scheduler, Settings, tune_gc
from aurora.scheduler.sim import SimBackend, SimConfig
from aurora.scheduler.storage import Storage
from bench.registry import RunContext, Scenario, register
from bench.result import Result

RUNNING = int(ScheduleStatus.RUNNING)
HOST_CPU_MILLI = 32_000
HOST_RAM_MB = 128 * 1024
HOST_DISK_MB = 256 * 1024
TASK_DISK_MB = 512
#: (cpu, ram MB, share of jobs): 0.256 CPU and 1,050 MB per task on average, so 1,000,000 tasks
#: fill 10,000 hosts of 32 CPU / 128 GB to 80% of CPU and 80% of RAM.
SIZES: tuple[tuple[float, int, float], ...] = ((0.125, 512, 0.35), (0.25, 1024, 0.45),
                                              (0.5, 2048, 0.20))
LIMIT_SHARE = 0.30  # half `host limit:N`, half `rack limit:N`
ZONE_SHARE = 0.20  # `zone = zone-K`
ZONES = 3
HOSTS_PER_RACK = 2
SEED = 1
CLIENTS = 4  # concurrent API clients creating jobs
SAMPLE_JOBS = 20  # constrained jobs checked independently, per kind
ROLE = "c1m"


@dataclass(frozen=True)
class Shape:
    jobs: int
    instances: int
    hosts: int

    @property
    def tasks(self) -> int:
        return self.jobs * self.instances


FULL = Shape(1_000, 1_000, 10_000)
QUICK = Shape(20, 500, 1_000)
#: the pure twins' full-size run: a fifth of the jobs on a fifth of the hosts (80% full too)
PURE_SCALED = Shape(200, 1_000, 2_000)


# ---------------------------------------------------------------------------------- workload


@dataclass(frozen=True)
class JobSpec:
    config: TaskConfig
    kind: str  # "none", "host", "rack" or "zone"
    limit: int = 0  # for host/rack
    zone: str = ""  # for zone


def limit_for(instances: int, units: int) -> int:
    """The smallest limit that leaves a job plenty of hosts/racks (at most a quarter of them)."""
    return max(1, math.ceil(4 * instances / units))


def workload(shape: Shape, seed: int = SEED) -> list[JobSpec]:
    """The jobs: sizes and constraints assigned by exact shares, shuffled with a fixed seed."""
    rng = random.Random(seed)
    n = shape.jobs
    sizes: list[tuple[float, int]] = []
    for cpu, ram, share in SIZES:
        sizes += [(cpu, ram)] * round(share * n)
    sizes = (sizes + [(SIZES[1][0], SIZES[1][1])] * n)[:n]
    n_limit = round(LIMIT_SHARE * n)
    n_zone = round(ZONE_SHARE * n)
    kinds = (["host"] * (n_limit // 2) + ["rack"] * (n_limit - n_limit // 2)
             + ["zone"] * n_zone)
    kinds += ["none"] * (n - len(kinds))
    rng.shuffle(sizes)
    rng.shuffle(kinds)
    host_limit = limit_for(shape.instances, shape.hosts)
    rack_limit = limit_for(shape.instances, shape.hosts // HOSTS_PER_RACK)
    specs: list[JobSpec] = []
    for j in range(n):
        cpu, ram = sizes[j]
        kind = kinds[j]
        constraints: tuple[Constraint, ...] = ()
        limit, zone = 0, ""
        if kind == "host":
            limit = host_limit * (1 + j % 2)
            constraints = (Constraint.parse("host", f"limit:{limit}"),)
        elif kind == "rack":
            limit = rack_limit * (1 + j % 2)
            constraints = (Constraint.parse("rack", f"limit:{limit}"),)
        elif kind == "zone":
            zone = f"zone-{j % ZONES}"
            constraints = (Constraint.parse("zone", zone),)
        config = TaskConfig(job=JobKey(ROLE, "prod", f"job{j:05d}"), owner=Identity(ROLE),
                            resources=Resources(cpu, ram, TASK_DISK_MB), is_service=True,
                            constraints=constraints)
        specs.append(JobSpec(config, kind, limit, zone))
    return specs


def sim_config(hosts: int, seed: int = SEED, **overrides: Any) -> SimConfig:
    data: dict[str, Any] = {"hosts": hosts, "seed": seed, "cpu_milli": HOST_CPU_MILLI,
                            "ram_mb": HOST_RAM_MB, "disk_mb": HOST_DISK_MB,
                            "hosts_per_rack": HOSTS_PER_RACK, "zones": ZONES}
    data.update(overrides)
    return SimConfig.from_dict(data)


# ---------------------------------------------------------------------------------- breakdown


class Sections:
    """Exclusive wall time per named section: a section's time excludes that of the sections
    called inside it, so the figures add up to the busy time of the loop."""

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self._stack: list[list[float]] = []  # [start, time spent in nested sections]

    def enter(self) -> None:
        self._stack.append([time.perf_counter(), 0.0])

    def leave(self, name: str) -> None:
        start, nested = self._stack.pop()
        elapsed = time.perf_counter() - start
        self.seconds[name] += elapsed - nested
        self.calls[name] += 1
        if self._stack:
            self._stack[-1][1] += elapsed

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed_call(*args: Any, **kwargs: Any) -> Any:
            self.enter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.leave(name)
        return timed_call

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        self.enter()
        try:
            yield
        finally:
            self.leave(name)

    def gc_callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.enter()
        elif self._stack:
            self.leave("gc")

    def table(self, wall: float) -> dict[str, float]:
        """Seconds per section, plus `idle` (the wall time no section accounts for)."""
        out = {k: round(v, 3) for k, v in sorted(self.seconds.items(), key=lambda kv: -kv[1])}
        out["idle"] = round(max(0.0, wall - sum(self.seconds.values())), 3)
        return out


class _TimedDB:
    """The storage's RocksDB handle with `write` timed (the WriteBatch write to the WAL)."""

    def __init__(self, db: Any, sections: Sections) -> None:
        self._db = db
        self.write = sections.wrap("rocksdb write", db.write)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def instrument(sched: Scheduler, sim: SimBackend, sections: Sections) -> None:
    """Time the service's batch-level calls (instance attributes shadow the methods)."""
    w = sections.wrap
    s: Any = sched
    s.rows = w("export rows", sched.rows)
    s.encoded_rows = w("export rows", sched.encoded_rows)
    s.schedule_once = w("schedule", sched.schedule_once)
    s.apply = w("apply effects", sched.apply)
    s.status_updates = w("status apply", sched.status_updates)
    e: Any = sched.engine
    e.place = w("match", sched.engine.place)
    st: Any = sched.storage
    st.commit = w("commit encode", sched.storage.commit)
    st.db = _TimedDB(sched.storage.db, sections)
    c: Any = sched.committer
    c.flush = w("commit follow-ups", sched.committer.flush)
    c._synced = w("commit follow-ups", sched.committer._synced)  # after the group's fsync
    b: Any = sim
    b.launch = w("sim", sim.launch)
    b.ack = w("sim", sim.ack)
    b._on_timer = w("sim", sim._on_timer)
    b._flush = w("sim", sim._flush)
    commit = sched.committer.commit

    def commit_after_create(ops: Any) -> Any:  # createJob's synchronous part ends here
        sections.leave("create")
        return commit(ops)

    c.commit = commit_after_create


# ---------------------------------------------------------------------------------- the run


@dataclass
class Outcome:
    shape: Shape
    seconds: float
    running: int
    sections: dict[str, float] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    checked: dict[str, int] = field(default_factory=dict)


BeforeStop = Callable[[Scheduler, SimBackend], Awaitable[None]]


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


async def _create_all(sched: Scheduler, specs: list[JobSpec], instances: int,
                      sections: Sections | None) -> None:
    queue = list(reversed(specs))

    async def client() -> None:
        while queue:
            spec = queue.pop()
            if sections is not None:
                sections.enter()  # left when create_job reaches its commit
            await actions.create_job(sched, spec.config, instances)

    await asyncio.gather(*(client() for _ in range(CLIENTS)))


async def run_to_running(data_dir: str, shape: Shape, impl: str, *, sync: bool = True,
                         instrumented: bool = True, timeout_s: float = 900.0,
                         sim_overrides: dict[str, Any] | None = None,
                         progress: Callable[[float, str], None] | None = None,
                         before_stop: BeforeStop | None = None) -> Outcome:
    """Create SHAPE's jobs in a scheduler on DATA_DIR (set up as the daemon's `serve` does) and
    run until every task is RUNNING; validate; then BEFORE_STOP, if given; stop cleanly
    (storage closed)."""
    specs = workload(shape)
    storage = Storage(data_dir, sync=sync)
    sim = SimBackend(sim_config(shape.hosts, **(sim_overrides or {})))
    tune_gc()  # as the daemon's serve() does
    sched = Scheduler(storage, sim, _wall_ms, Settings(impl=impl, seed=SEED))
    restore(sched)
    sched.duties = Housekeeping(sched).duties()
    sections = Sections()
    if instrumented:
        instrument(sched, sim, sections)
    stop = asyncio.Event()
    runner = asyncio.create_task(sched.run(stop))  # the daemon's cycle
    try:
        while sched.cluster.host_count < shape.hosts or sim._sink is None:
            await asyncio.sleep(0.01)
            if runner.done():
                runner.result()
        total = shape.tasks
        if instrumented:
            gc.callbacks.append(sections.gc_callback)
        t0 = time.perf_counter()
        creating = asyncio.create_task(_create_all(sched, specs, shape.instances,
                                                   sections if instrumented else None))
        count = sched.table.count_in_state
        while count(RUNNING) < total:
            await asyncio.sleep(0.005)
            if runner.done():
                runner.result()
            if creating.done() and creating.exception() is not None:
                creating.result()
            elapsed = time.perf_counter() - t0
            if elapsed > timeout_s:
                raise RuntimeError(f"c1m: {count(RUNNING):,} of {total:,} RUNNING after "
                                   f"{elapsed:.0f} s")
            if progress is not None:
                progress(count(RUNNING) / total, "to RUNNING")
        seconds = time.perf_counter() - t0
        if instrumented:
            gc.callbacks.remove(sections.gc_callback)
        await creating
        outcome = Outcome(shape, seconds, count(RUNNING), sections.table(seconds))
        outcome.counters = {
            "commits": storage.commits, "transactions": storage.transactions,
            "cycles": sched.stats.scheduling_cycles, "launched": sched.stats.launched,
            "status_updates": sched.stats.status_updates,
            **{k: v for k, v in sim.vars().items()
               if k in ("sim_launched", "sim_refused", "sim_overcommits", "sim_running",
                        "sim_lost", "sim_resent")}}
        outcome.checked = validate(sched, sim, specs, shape)
        if before_stop is not None:
            await before_stop(sched, sim)
    finally:
        if instrumented and sections.gc_callback in gc.callbacks:
            gc.callbacks.remove(sections.gc_callback)
        stop.set()
        try:
            await runner
        finally:
            storage.close()
    return outcome


# ---------------------------------------------------------------------------------- checks


class ValidationError(AssertionError):
    """The run ended in a state the scenario does not accept."""


def validate(sched: Scheduler, sim: SimBackend, specs: list[JobSpec],
             shape: Shape) -> dict[str, int]:
    """Everything RUNNING, nothing over-committed, a sample of constrained jobs independently
    checked against the sim's own records. Returns what was checked."""
    total = shape.tasks
    running = sched.table.count_in_state(RUNNING)
    if running != total or len(sched.table) != total:
        raise ValidationError(f"{running:,} RUNNING of {len(sched.table):,} tasks, "
                              f"expected {total:,}")
    st = sim.stats
    if st.refused or st.overcommits or st.lost:
        raise ValidationError(f"the sim refused {st.refused} launches ({st.overcommits} "
                              f"over-commits), {st.lost} LOST")
    if st.running != total:
        raise ValidationError(f"the sim runs {st.running:,} tasks, expected {total:,}")
    for info in sim.hosts:
        free = sim.free_resources(info.hostname)
        if min(free) < 0:
            raise ValidationError(f"sim host {info.hostname} over-committed: free {free}")
        model = sched.cluster.free(sched.cluster.host_id(info.hostname))
        if min(model) < 0:
            raise ValidationError(f"cluster model host {info.hostname} over-committed: {model}")
    # the sim's own view: its record of each task gives the host; the host's attributes come
    # from the sim's HostInfo (the scheduler's tables are not consulted)
    records: dict[str, Any] = sim._tasks
    by_kind: dict[str, list[JobSpec]] = {}
    for spec in specs:
        by_kind.setdefault(spec.kind, []).append(spec)
    checked = {"jobs": 0, "tasks": 0}
    for kind in ("host", "rack", "zone"):
        for spec in random.Random(SEED).sample(by_kind.get(kind, []),
                                               min(SAMPLE_JOBS, len(by_kind.get(kind, [])))):
            jid = sched.jobs.job_id(spec.config.job)
            ids = [sched.table.task_id(s) for s in sched.table.tasks_of_job(jid)]
            if len(ids) != shape.instances:
                raise ValidationError(f"{spec.config.job}: {len(ids)} tasks")
            values: Counter[str] = Counter()
            for tid in ids:
                rec = records.get(tid)
                if rec is None or rec.status != RUNNING:
                    raise ValidationError(f"task {tid} is not RUNNING in the sim")
                attrs = sim.hosts[rec.host].attributes
                values[attrs["zone" if kind == "zone" else kind][0]] += 1
            if kind == "zone":
                if set(values) != {spec.zone}:
                    raise ValidationError(f"{spec.config.job} (zone = {spec.zone}) ran in "
                                          f"{sorted(values)}")
            elif max(values.values()) > spec.limit:
                raise ValidationError(f"{spec.config.job} ({kind} limit:{spec.limit}): "
                                      f"{max(values.values())} tasks on one {kind}")
            checked["jobs"] += 1
            checked["tasks"] += len(ids)
    return checked


# ---------------------------------------------------------------------------------- scenario


def shape_for(impl: str, quick: bool) -> Shape:
    if quick:
        return QUICK
    return PURE_SCALED if impl == "pure" else FULL


#: the breakdown's order: the service's path, then the sim (the agents), gc and idle
ORDER = ("create", "schedule", "match", "apply effects", "export rows", "commit encode",
         "rocksdb write", "commit follow-ups", "status apply", "sim", "gc", "idle")


def breakdown_text(sections: dict[str, float]) -> str:
    """Every section, in path order, in seconds (exclusive; they add up to the wall time)."""
    names = [n for n in ORDER if n in sections] + sorted(set(sections) - set(ORDER))
    return ", ".join(f"{n} {sections[n]:.2f}s" for n in names)


def run_once(shape: Shape, impl: str, *, sync: bool = True, instrumented: bool = True,
             progress: Callable[[float, str], None] | None = None) -> Outcome:
    import uvloop

    data_dir = tempfile.mkdtemp(prefix="aurora-c1m-")
    try:
        return uvloop.run(run_to_running(data_dir, shape, impl, sync=sync,
                                         instrumented=instrumented, progress=progress))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@register
class C1MScenario(Scenario):
    name = "c1m"
    description = (
        "1,000 jobs x 1,000 instances onto 10,000 sim hosts of 32 CPU / 128 GB (80% full, 30% "
        "limit and 20% zone constraints) through createJob, matching, RocksDB commits and the "
        "sim's RUNNING updates; tasks/s"
    )
    anchor = ("Nomad C1M: 1,000,000 containers on 5,000 hosts in under 5 minutes (3,750/s); "
              "Armada: 32,000 jobs onto 1,000 nodes in 0.6 s (placement only)")

    def run(self, ctx: RunContext) -> list[Result]:
        shape = shape_for(ctx.impl, ctx.quick)
        ctx.progress(0.0, "start")
        out = run_once(shape, ctx.impl, progress=ctx.progress)
        scaled = shape != FULL and not ctx.quick
        size = (f"scaled to {shape.jobs:,} jobs x {shape.instances:,} on {shape.hosts:,} hosts, "
                "80% full too (the full size would take the pure twins minutes)" if scaled
                else f"{shape.jobs:,} jobs x {shape.instances:,}")
        c = out.counters
        notes = (f"{size}; uvloop, one process; "
                 f"RocksDB sync=True (fsync per commit); {CLIENTS} createJob clients; "
                 f"{c['commits']:,} commits of {c['transactions']:,} txns, "
                 f"{c['cycles']:,} cycles; checked {out.checked['jobs']} constrained jobs; "
                 f"time: {breakdown_text(out.sections)}")
        return [ctx.result(hosts=shape.hosts, tasks=shape.tasks, placed=out.running,
                           seconds=out.seconds, rate=out.running / out.seconds,
                           unit="tasks/s", notes=notes)]
