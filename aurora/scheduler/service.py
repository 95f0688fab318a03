"""The scheduler service: state, scheduling cycles and the backend, driven by the event loop.

It owns the task-state table, the cluster model, the placement engine and the pending task
groups. Every change goes through the state machine (the table), is written as a transaction
(the committer), and only then acted on: launches, kills and acknowledgements run after the
commit that records them. The compiled core is called in batches: one table call per run of
status updates with the same status, one kernel call per task group.
"""

from __future__ import annotations

import asyncio
import gc
import heapq
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from aurora._fastpath import load
from aurora.model.status import SLAVE_ASSIGNED_STATES, TERMINAL_STATES
from aurora.model.status import ScheduleStatus as S
from aurora.scheduler.backend import Backend, HostInfo, Launch, StatusLike, StatusUpdate
from aurora.scheduler.committer import Committer
from aurora.scheduler.engine import Engine, OrderPolicy, cpu_milli
from aurora.scheduler.jobs import Jobs
from aurora.scheduler.records import DeleteTasks, EncodedTasks, Op, SaveMeta, TaskRecord
from aurora.scheduler.storage import Storage
from aurora.scheduler.task_groups import TaskGroups
from aurora.state.effects import Effects

log = logging.getLogger(__name__)

ASSIGNED_CODES = frozenset(int(s) for s in SLAVE_ASSIGNED_STATES)
TERMINAL_CODES = frozenset(int(s) for s in TERMINAL_STATES)
STATUS_BATCH = 1000  # Aurora's max_status_update_batch_size
# The run loop's scheduling cycle when nothing new arrives. New pending tasks and hosts wake
# it early (at most every MIN_CYCLE_GAP_MS), and an update that ends tasks places what waits
# at once (status_batch), so the cycle only catches the rest: backoffs and throttling that
# expired, maintenance and quota changes. (At 20 ms the cycle's own wake-ups cost one-off-real
# about 7 us of scheduler CPU per task.)
CYCLE_MS = 100
MIN_CYCLE_GAP_MS = 20


@dataclass
class Settings:
    cluster: str = "local"
    scheduler_host: str = "localhost"
    seed: int = 0
    policy: OrderPolicy = OrderPolicy.RANDOM
    impl: str | None = None
    max_tasks_per_job: int = 4000
    unique_attributes: tuple[str, ...] = ("host",)
    flapping_threshold_ms: int = 300_000  # a task that ran less than this is flapping...
    flapping_initial_ms: int = 30_000  # ...and waits this long THROTTLED (doubling)
    flapping_max_ms: int = 300_000
    commit_interval_ms: float = 0.0  # syncing storage writes start at least this far apart


@dataclass
class Held:
    """What an assigned task takes from its host until it ends."""

    host: int
    job: int
    res: tuple[int, int, int, int, int]
    ports: tuple[int, ...] = ()


@dataclass
class Stats:
    launched: int = 0
    status_updates: int = 0
    kills_sent: int = 0
    scheduling_cycles: int = 0
    ended: dict[int, int] = field(default_factory=dict)  # terminal status -> tasks, ever
    pending_reasons: dict[int, str] = field(default_factory=dict)


class Scheduler:
    def __init__(self, storage: Storage, backend: Backend, clock_ms: Callable[[], int],
                 settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.storage = storage
        self.backend = backend
        self.clock_ms = clock_ms
        impl = self.settings.impl
        namespace = storage.get("meta", b"namespace")
        self.table = load("statetable", impl).StateTable(
            namespace=int.from_bytes(namespace, "big") if namespace else None,
            scheduler_host=self.settings.scheduler_host,
            flap_threshold_ms=self.settings.flapping_threshold_ms,
            flap_initial_ms=self.settings.flapping_initial_ms,
            flap_max_ms=max(self.settings.flapping_max_ms, self.settings.flapping_initial_ms))
        self._taskrows = load("taskrows", impl)
        self.cluster = load("cluster", impl).Cluster(self.settings.unique_attributes)
        self.engine = Engine(self.cluster, impl=impl, policy=self.settings.policy,
                             seed=self.settings.seed)
        self.groups = TaskGroups(clock_ms)
        self.jobs = Jobs(self.table)
        self.committer = Committer(storage, min_interval=self.settings.commit_interval_ms / 1000)
        self.hosts: dict[str, HostInfo] = {}
        self.host_names: list[str] = []  # table/cluster host number -> name
        self.held: dict[int, Held] = {}
        # slot -> the port numbers its task was given, from assignment until the task is deleted
        # (Aurora's assignedPorts: an ended task still shows them).
        self.task_ports: dict[int, tuple[int, ...]] = {}
        self.stats = Stats()
        self._first_start = namespace is None
        self._throttled: list[tuple[int, int]] = []  # (time it may be PENDING, slot), a heap
        self.restored_ports: dict[int, tuple[int, ...]] = {}  # slot -> ports it had
        self._res_cache: dict[int, tuple[int, int, int, int, int]] = {}  # config -> resources
        self.duties: list[Any] = []  # periodic work: objects with every_ms, next_ms, run()
        self.down_since: dict[str, int] = {}  # host -> when it went (or was found) agent-less
        self._capacity_freed = False  # since the last cycle: wake groups in backoff
        self._cycle_wait: asyncio.Future[None] | None = None  # run()'s wait for the next cycle
        self._last_cycle = 0.0  # loop time of run()'s last cycle
        self._min_gap = MIN_CYCLE_GAP_MS / 1000

    # ------------------------------------------------------------------ persistence helpers
    def rows(self, slots: Iterable[int]) -> list[TaskRecord]:
        """TaskRecord-shaped rows of live slots, with the port numbers assigned tasks hold."""
        live, ports = self._live_with_ports(slots)
        return self._taskrows.export(self.table, live, self.jobs.job_names, self.host_names,
                                     range(len(self.jobs.configs)), ports)

    def encoded_rows(self, slots: Iterable[int]) -> EncodedTasks:
        """The same rows, encoded by the table (what storage writes)."""
        live, ports = self._live_with_ports(slots)
        keys, values = self._taskrows.export_encoded(
            self.table, live, self.jobs.job_names, self.host_names,
            range(len(self.jobs.configs)), ports)
        return EncodedTasks(keys, values)

    def _live_with_ports(self, slots: Iterable[int]
                         ) -> tuple[list[int], dict[int, dict[str, int]]]:
        """The live slots among SLOTS (once each), and the ports of those that hold some:
        every row carries its ports (maybe none), so it encodes exactly as the TaskRecord a
        replay of the log decodes and writes again."""
        state = self.table.state
        live = [s for s in dict.fromkeys(slots) if state(s) != 31]
        ports: dict[int, dict[str, int]] = {}
        task_ports = self.task_ports
        if not task_ports:
            return live, ports
        for s in live:
            numbers = task_ports.get(s)
            if numbers:
                ports[s] = self.port_map(s, numbers)
        return live, ports

    def port_map(self, slot: int, numbers: tuple[int, ...]) -> dict[str, int]:
        """{port name: number} of a task given NUMBERS (in the order of its sorted names)."""
        names = sorted(self.jobs.configs[self.table.row(slot)[3]].resources.ports)
        return dict(zip(names, numbers, strict=False))

    def ops_for(self, eff: Effects) -> list[Op | EncodedTasks]:
        ops: list[Op | EncodedTasks] = []
        changed = list(eff.saved) + list(eff.created)
        if changed:
            ops.append(self.encoded_rows(changed))
        if eff.deleted:
            ops.append(DeleteTasks(tuple(eff.deleted)))
        return ops

    def start_ops(self) -> list[Op | EncodedTasks]:
        if not self._first_start:
            return []
        self._first_start = False
        return [SaveMeta("namespace", self.table.namespace.to_bytes(8, "big"))]

    # ------------------------------------------------------------------ hosts
    def host_id(self, hostname: str) -> int:
        h = self.table.intern_host(hostname)
        while len(self.host_names) <= h:
            self.host_names.append("")
        self.host_names[h] = hostname
        return h

    def known_host(self, hostname: str) -> int:
        """The host's number in both the table and the cluster (they are kept equal); a host
        known only from stored tasks waits, without resources or offer, for its agent."""
        h = self.host_id(hostname)
        while self.cluster.host_count <= h:
            name = self.host_names[self.cluster.host_count]
            self.cluster.add_host(name, 0, 0, 0, offer=False, attributes={"host": name})
        return h

    def hosts_up(self, hosts: Sequence[HostInfo]) -> None:
        for info in hosts:
            self.hosts[info.hostname] = info
            self.down_since.pop(info.hostname, None)
            h = self.known_host(info.hostname)
            attrs = {k: tuple(v) for k, v in info.attributes.items()}
            attrs.setdefault("host", (info.hostname,))
            try:
                self.cluster.resize(h, info.cpu_milli, info.ram_mb, info.disk_mb, info.gpus,
                                    info.port_ranges)
            except ValueError as exc:
                log.error("agent %s: %s; keeping its old size", info.hostname, exc)
            self.cluster.set_attributes(h, attrs)
            self.cluster.set_offer(h, True)
            self._hold_restored(h)
            self._capacity_freed = True
            self.wake_cycle()

    def hosts_down(self, hostnames: Sequence[str]) -> None:
        now = self.clock_ms()
        for name in hostnames:
            h = self.cluster.host_id(name)
            if h >= 0:
                self.cluster.set_offer(h, False)
                self.down_since.setdefault(name, now)

    def hosts_lost(self, hostnames: Sequence[str], message: str) -> int:
        """Every task on these hosts that is not yet terminal becomes LOST (and is replaced when
        the state machine says so); returns how many."""
        slots: list[int] = []
        for name in hostnames:
            self.down_since.pop(name, None)
            h = self.cluster.host_id(name)
            if h >= 0:
                slots += [s for s in self.table.tasks_on_host(h)
                          if self.table.state(s) in ASSIGNED_CODES]
        if slots:
            self.apply(self.table.transition(slots, int(S.LOST), self.clock_ms(), message))
        return len(slots)

    def task_hosts(self, task_ids: Sequence[str]) -> list[str | None]:
        out: list[str | None] = []
        for s in self.table.lookup(list(task_ids)):
            if s < 0 or self.table.state(s) not in ASSIGNED_CODES:
                out.append(None)
            else:
                out.append(self.host_names[self.table.row(s)[4]])
        return out

    def tasks_on_host(self, hostname: str) -> list[str]:
        h = self.cluster.host_id(hostname)
        if h < 0:
            return []
        return [self.table.task_id(s) for s in self.table.tasks_on_host(h)
                if self.table.state(s) in ASSIGNED_CODES]

    def tasks_waiting(self) -> bool:
        return len(self.groups) > 0

    def _hold_restored(self, host: int) -> None:
        """Tasks restored on a host that just appeared take their resources again: one
        consume for the host and one count per job, not one call per task."""
        held: list[tuple[int, int, tuple[int, int, int, int, int], tuple[int, ...]]] = []
        total = [0, 0, 0, 0, 0]
        per_job: dict[int, int] = {}
        for s in self.table.tasks_on_host(host):
            if s in self.held or self.table.state(s) not in ASSIGNED_CODES:
                continue
            row = self.table.row(s)
            res = self._resources(row[3])
            ports = self.restored_ports.pop(s, ())
            try:
                self.cluster.claim_ports(host, ports)
            except ValueError as exc:
                log.error("task %s: %s", self.table.task_id(s), exc)
                ports = ()
            held.append((s, row[1], res, ports))
            for i in range(5):
                total[i] += res[i]
            per_job[row[1]] = per_job.get(row[1], 0) + 1
        if not held:
            return
        try:
            self.cluster.consume(host, *total)
        except ValueError as exc:  # the agent came back smaller: hold what fits, one by one
            log.error("host %s: %s", self.host_names[host], exc)
            for s, _, _, ports in held:
                self._hold(s, host, ports=ports)
            return
        for job, n in per_job.items():
            self.cluster.task_started(job, host, n)
        for s, job, res, ports in held:
            self.held[s] = Held(host, job, res, ports)

    def _resources(self, config_id: int) -> tuple[int, int, int, int, int]:
        res = self._res_cache.get(config_id)
        if res is None:
            r = self.jobs.configs[config_id].resources
            res = self._res_cache[config_id] = (cpu_milli(r.cpu), r.ram_mb, r.disk_mb, r.gpus,
                                                len(r.ports))
        return res

    def _hold(self, slot: int, host: int, ports: tuple[int, ...] = ()) -> None:
        """A restored task takes its resources on HOST again (if they still fit)."""
        row = self.table.row(slot)
        res = self._resources(row[3])
        try:
            self.cluster.consume(host, *res)
        except ValueError as exc:  # the agent came back smaller: count what fits
            log.error("task %s on %s: %s", self.table.task_id(slot), host, exc)
            return
        self.cluster.task_started(row[1], host)
        self.held[slot] = Held(host, row[1], res, ports)
        if ports:
            self.task_ports[slot] = ports

    def _release(self, slots: Iterable[int]) -> None:
        """Tasks that ended give their resources back: one release per host and one count per
        (job, host), not one call per task."""
        held_map, state = self.held, self.table.state
        per_host: dict[int, list[int]] = {}  # host -> [cpu, ram, disk, gpus, ports]
        per_job: dict[tuple[int, int], int] = {}
        for s in slots:
            held = held_map.get(s)
            if held is None or state(s) in ASSIGNED_CODES:
                continue
            del held_map[s]
            total = per_host.get(held.host)
            if total is None:
                total = per_host[held.host] = [0, 0, 0, 0, 0]
            res = held.res
            total[0] += res[0]
            total[1] += res[1]
            total[2] += res[2]
            total[3] += res[3]
            total[4] += res[4]
            key = (held.job, held.host)
            per_job[key] = per_job.get(key, 0) + 1
            if held.ports:
                self.cluster.return_ports(held.host, held.ports)
        if not per_host:
            return
        self._capacity_freed = True
        for host, total in per_host.items():
            self.cluster.release(host, *total)
        for (job, host), n in per_job.items():
            self.cluster.task_stopped(job, host, n)

    # ------------------------------------------------------------------ effects
    def apply(self, eff: Effects, *, kill_ids: Sequence[str] = (),
              after: Callable[[], None] | None = None) -> None:
        """Persist EFFECTS, then kill what they say to kill and run AFTER."""
        self.groups.discard(eff.deleted_slots)
        if self.task_ports:
            for s in eff.deleted_slots:
                self.task_ports.pop(s, None)
        ended = self.stats.ended
        for s in eff.ended:
            code = self.table.state(s)
            ended[code] = ended.get(code, 0) + 1
        self._release(list(eff.ended) + list(eff.deleted_slots))
        self.track_pending(eff.created)
        kills = [self.table.task_id(s) for s in eff.killed if self.table.state(s) != 31]
        kills += list(kill_ids)
        ops = self.start_ops() + self.ops_for(eff)

        def act() -> None:
            if kills:
                self.backend.kill(kills)
                self.stats.kills_sent += len(kills)
            if after is not None:
                after()

        self.committer.submit(ops, act)

    def track_pending(self, slots: Iterable[int]) -> None:
        """New PENDING tasks join their group; THROTTLED ones wait for their penalty."""
        for s in slots:
            state = self.table.state(s)
            if state == int(S.PENDING):
                self.groups.add(self.table.row(s)[3], [s])
                self.wake_cycle()
            elif state == int(S.THROTTLED):
                heapq.heappush(self._throttled, (self.table.throttled_until(s), s))

    def release_throttled(self) -> None:
        """THROTTLED tasks whose flapping penalty has passed become PENDING."""
        now = self.clock_ms()
        due: list[int] = []
        while self._throttled and self._throttled[0][0] <= now:
            due.append(heapq.heappop(self._throttled)[1])
        if due:
            eff = self.table.transition(due, int(S.PENDING), now, expect=int(S.THROTTLED))
            self.track_pending(eff.saved)
            self.apply(eff)

    # ------------------------------------------------------------------ status updates
    def status_updates(self, updates: Sequence[StatusUpdate]) -> None:
        """Updates each carrying its own acknowledgement token (or None)."""
        self.status_batch(updates, [u.ack for u in updates if u.ack is not None])

    def status_batch(self, updates: Sequence[StatusLike], tokens: Sequence[object]) -> None:
        """UPDATES in order; TOKENS go to ``backend.ack`` once all their effects are written
        (they ride with the last chunk: commits are in order)."""
        n = len(updates)
        for i in range(0, n, STATUS_BATCH):
            self._status_batch(updates[i:i + STATUS_BATCH],
                               tokens if i + STATUS_BATCH >= n else ())
        if self._capacity_freed:
            # Tasks ended: place what waits now, so that the placements share the write of
            # the updates that freed the room (one commit to wait for between a task's end
            # and its successor's launch, not two).
            self.schedule_once()

    def _status_batch(self, batch: Sequence[StatusLike], tokens: Sequence[object]) -> None:
        self.stats.status_updates += len(batch)
        ids = [u.task_id for u in batch]
        slots = self.table.lookup(ids)
        statuses = [u.status for u in batch]
        messages = [u.message for u in batch]
        now = self.clock_ms()
        try:  # every update through the state machine, in order, in one call
            eff = self.table.transition_each(slots, statuses, now, messages)
            unknown_kills = [ids[p] for p in eff.kill_unknown]
        except ValueError:  # an unknown status number: drop those updates, keep serving
            eff, unknown_kills = Effects(), []
            for i, slot in enumerate(slots):
                try:
                    one = self.table.transition_each([slot], [statuses[i]], now, [messages[i]])
                except ValueError as exc:
                    log.warning("dropped the update of task %s: %s", ids[i], exc)
                    continue
                unknown_kills += [ids[i]] * len(one.kill_unknown)
                eff.merge(one)
        self.apply(eff, kill_ids=unknown_kills,
                   after=(lambda: self.backend.ack(tokens)) if tokens else None)

    # ------------------------------------------------------------------ scheduling
    def schedule_once(self) -> int:
        """One cycle: try every ready group once; returns tasks placed."""
        self.release_throttled()
        if self._capacity_freed:
            self._capacity_freed = False
            self.groups.wake()
        ready = self.groups.ready()
        if not ready:
            return 0
        self.stats.scheduling_cycles += 1
        self.engine.begin_cycle()
        placed_total = 0
        launches: list[Launch] = []
        total = Effects()
        now = self.clock_ms()
        for group in ready:
            cid = group.key
            config = self.jobs.configs[cid]
            # A group holds exactly its PENDING tasks (assigned ones leave it below, deleted ones
            # in apply), so a cycle costs O(groups + placed), not O(pending).
            count = len(group.tasks)
            if not count:
                continue
            job = self.table.config_job(cid)
            req = self.engine.request_for(cid, job, config)
            placement = self.engine.place(req, count)
            n = len(placement.hosts)
            if n:
                chosen = list(islice(group.tasks, n))
                eff = self.table.assign(chosen, placement.hosts, now)
                self._placed(chosen, placement.hosts, placement.ports, cid, job, config,
                             launches)
                self.groups.remove(cid, chosen)
                total.merge(eff)
                placed_total += n
            if n < count:
                self.stats.pending_reasons[cid] = placement.pending_reason()
            else:
                self.stats.pending_reasons.pop(cid, None)
            self.groups.attempted(group, n)
        if launches:
            self.stats.launched += len(launches)
            self.apply(total, after=lambda: self.backend.launch(launches))
        return placed_total

    def _placed(self, slots: Sequence[int], hosts: Sequence[int],
                ports: Sequence[tuple[int, ...]] | None, cid: int, job: int, config: Any,
                launches: list[Launch]) -> None:
        """Tasks of one group just assigned (the matcher took their resources): hold what they
        take until they end, and add their launches. What they share (resources, executor
        data, port names, job) is looked up once for the group."""
        res = self._resources(cid)
        cpu, ram, disk, gpus, _ = res
        executor = getattr(config, "executor_config", None)
        data = executor.data if executor else ""
        names = sorted(config.resources.ports)
        job_name = self.jobs.job_names[job]
        table, host_names, infos = self.table, self.host_names, self.hosts
        held_map, task_ports = self.held, self.task_ports
        for i, s in enumerate(slots):
            h = hosts[i]
            given = ports[i] if ports else ()
            held_map[s] = Held(h, job, res, given)
            if given:
                task_ports[s] = given
            name = host_names[h]
            info = infos.get(name)
            launches.append(Launch(
                task_id=table.task_id(s), hostname=name,
                agent_id=info.agent_id if info else name, instance=table.row(s)[2],
                cpu_milli=cpu, ram_mb=ram, disk_mb=disk, gpus=gpus,
                ports=dict(zip(names, given, strict=True)) if names else {},
                executor_data=data, job=job_name))

    # ------------------------------------------------------------------ loop
    async def run(self, stop: asyncio.Event, *, cycle_ms: int = CYCLE_MS,
                  min_gap_ms: int = MIN_CYCLE_GAP_MS) -> None:
        """Schedule until STOP is set (seen within a cycle); the backend reports through this
        object. A cycle runs every CYCLE_MS, or sooner when tasks or hosts arrive, but never
        within MIN_GAP_MS of the last one."""
        await self.backend.start(self)
        loop = asyncio.get_running_loop()
        self._min_gap = min_gap_ms / 1000
        try:
            while not stop.is_set():
                self.schedule_once()
                self._run_duties()
                self._last_cycle = loop.time()
                self._cycle_wait = wait = loop.create_future()
                timer = loop.call_later(cycle_ms / 1000, _resolve, wait)
                try:
                    await wait
                finally:
                    timer.cancel()
                    self._cycle_wait = None
        finally:
            self.committer.close()
            await self.backend.stop()

    def wake_cycle(self) -> None:
        """Tasks or hosts arrived: run()'s next cycle comes now, or once MIN_GAP_MS has passed
        since the last one (one wake-up however many arrive)."""
        wait = self._cycle_wait
        if wait is None or wait.done():
            return
        loop = wait.get_loop()
        delay = self._last_cycle + self._min_gap - loop.time()
        self._cycle_wait = None  # woken: later arrivals in this wait change nothing
        if delay <= 0:
            wait.set_result(None)
        else:
            loop.call_later(delay, _resolve, wait)

    def _run_duties(self) -> None:
        now = self.clock_ms()
        for duty in self.duties:
            if duty.next_ms == 0:  # first sight: run one period from now, not at start-up
                duty.next_ms = now + duty.every_ms
            elif now >= duty.next_ms:
                duty.next_ms = now + duty.every_ms
                try:
                    duty.run()
                except Exception:  # a failing duty must not stop scheduling
                    log.exception("periodic duty %s failed", getattr(duty.run, "__name__", duty))

    def connected(self) -> None:
        """Reconcile every task we believe is on an agent, explicitly, in batches -- right after
        the current loop turn, so a restarted scheduler resumes scheduling first."""
        asyncio.get_running_loop().call_soon(self._reconcile_all)

    def _reconcile_all(self) -> None:
        ids = [self.table.task_id(s) for code in ASSIGNED_CODES
               for s in self.table.tasks_in_state(code)]
        for i in range(0, len(ids), STATUS_BATCH):
            self.backend.reconcile(ids[i:i + STATUS_BATCH])


def _resolve(wait: asyncio.Future[None]) -> None:
    if not wait.done():
        wait.set_result(None)


def tune_gc() -> None:
    """Collect young objects less often. The scheduler makes and drops a few small containers
    per task; with the default threshold (700) a million-task run spends a third of its time
    in the garbage collector. Call once at start-up, as the daemon does."""
    gc.set_threshold(100_000, 50, 100)


__all__ = ["Scheduler", "Settings", "tune_gc"]
