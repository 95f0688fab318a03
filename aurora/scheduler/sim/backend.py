"""``SimBackend``: simulated agents that run no processes, for benchmarks and policy tests.

Scale: 100,000 hosts and 1,000,000 tasks, with nothing per task but a small record
(:class:`~aurora.scheduler.sim.records.TaskRecord`, untracked by the GC).

Steps (launch -> STARTING -> RUNNING -> FINISHED or FAILED; kill -> KILLED) fall due at the
loop's time (``loop.time()``) plus a delay drawn from the config, rounded *up* to a slot of
``slot_ms`` (a step is never early). A slot is a list of records; a heap orders the slots, and ONE
loop timer (``loop.call_at``) is armed, for the earliest slot. A million tasks launched together
mean a few dozen slots and timers, never a million. A record remembers its one pending step and
the slot it is due in, so a kill just moves it to another slot (the stale entry is skipped when
its slot fires). One callback carries out at most ``max_events_per_tick`` steps, then yields.
Delivery (batches, ack tokens, resends) is :mod:`aurora.scheduler.sim.delivery`.

What the sim cannot do is answered LOST, with a message saying why: a launch on an unknown host
or agent, a task id already in use, a launch that would over-commit its host (cpu, ram, disk,
gpus or ports; counted as ``refused`` and ``overcommits``: a scheduler bug, in the bench), a kill
of an unknown task, and explicit reconciliation of an unknown id. For the kill: a Mesos master
answers a kill of a task it does not know by reconciling it, and reconciling an unknown task
gives TASK_LOST to a framework that is not partition-aware (Aurora's default); Aurora maps
TASK_LOST to LOST.
"""

from __future__ import annotations

import asyncio
import heapq
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict

from aurora.scheduler.backend import BackendSink, HostInfo, Launch, StatusUpdate
from aurora.scheduler.sim.config import SimConfig, build_hosts, span
from aurora.scheduler.sim.delivery import Delivery
from aurora.scheduler.sim.records import (
    FAILED,
    FINISHED,
    FINISHED_MESSAGE,
    KILLED,
    KILLED_MESSAGE,
    LOST,
    NONE,
    RUNNING,
    STARTING,
    TERMINAL,
    SimStats,
    TaskRecord,
    wall_clock_ms,
)


class SimBackend(Delivery):
    """The ``sim`` backend (the Backend protocol): see the module docstring.

    ``clock_ms`` stamps updates (default: wall time); steps run on the loop's own clock. The
    loop is the running one at the first call unless given. ``vars()`` gives the counters.
    """

    name = "sim"

    def __init__(self, config: SimConfig | None = None, *,
                 clock_ms: Callable[[], int] = wall_clock_ms,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        cfg = config if config is not None else SimConfig()
        self.hosts: list[HostInfo] = build_hosts(cfg)
        super().__init__(cfg, SimStats(hosts=len(self.hosts)), clock_ms, loop)
        self._rng = random.Random(cfg.seed)
        self._hostnames = [h.hostname for h in self.hosts]
        self._agent_ids = [h.agent_id for h in self.hosts]
        self._host_index = {h: i for i, h in enumerate(self._hostnames)}
        n = len(self.hosts)
        self._free_cpu = [cfg.cpu_milli] * n
        self._free_ram = [cfg.ram_mb] * n
        self._free_disk = [cfg.disk_mb] * n
        self._free_gpus = [cfg.gpus] * n
        self._used_ports: dict[int, set[int]] = {}
        self._starting = span(cfg.starting_delay_ms)
        self._running = span(cfg.running_delay_ms)
        self._run_time = None if cfg.run_time_ms is None else span(cfg.run_time_ms)
        fail = cfg.fail_after_ms if cfg.fail_after_ms is not None else cfg.run_time_ms
        self._fail_after = span(fail) if fail is not None else (1000.0, 1000.0)
        self._kill_delay = span(cfg.kill_delay_ms)
        self._slot_ms = float(cfg.slot_ms)
        # steps: slot -> records due in it; a heap of the slots (each once); one timer
        self._buckets: dict[int, list[TaskRecord]] = {}
        self._heap: list[int] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_slot = 0
        self._generation = 0  # bumped by stop(), so a start() in progress knows

    # ------------------------------------------------------------------ lifecycle

    async def start(self, sink: BackendSink) -> None:
        """Report every host (in batches of ``host_batch_size``), then ``connected``. Nothing
        is delivered before ``connected``; after a stop, every update not yet acknowledged is
        sent again, and the tasks' steps resume (overdue ones at once)."""
        if self._sink is not None:
            raise RuntimeError("SimBackend.start: already started")
        self._get_loop()
        generation = self._generation
        step = self.config.host_batch_size
        for i in range(0, len(self.hosts), step):
            sink.hosts_up(self.hosts[i:i + step])
            await asyncio.sleep(0)
            if self._generation != generation:
                return  # stopped meanwhile
        self._sink = sink
        sink.connected()
        self._requeue_unacked()
        self._flush_soon()
        self._arm()

    async def stop(self) -> None:
        """Stop reporting: cancel every timer. Tasks keep their state (nothing is killed) and
        a later ``start`` carries on from there."""
        self._sink = None
        self._generation += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._cancel_delivery()

    # ------------------------------------------------------------------ commands

    def launch(self, launches: Sequence[Launch]) -> None:
        """Accept a batch: each task goes STARTING, then RUNNING, then (``run_time_ms``)
        FINISHED or (``failure_rate``) FAILED. Refusals are answered LOST at once."""
        if not launches:
            return
        loop = self._get_loop()
        host_index = self._host_index
        tasks = self._tasks
        free_cpu, free_ram = self._free_cpu, self._free_ram
        free_disk, free_gpus = self._free_disk, self._free_gpus
        check = self.config.check_resources
        lo, hi = self._starting
        scale = (hi - lo) / 65536.0
        bits = self._rng.getrandbits
        now_ms = loop.time() * 1000.0
        schedule = self._schedule
        launched = 0
        for launch in launches:
            task_id = launch.task_id
            # Everything random about the task is drawn first, in launch order, refused or
            # not: a seed gives the same delays and failures for the same launches, whatever
            # the timing.
            r = bits(64)
            h = host_index.get(launch.hostname)
            if h is None:
                self._refuse(launch, f"Unknown host {launch.hostname!r}: no agent runs there")
                continue
            if launch.agent_id and launch.agent_id != self._agent_ids[h]:
                self._refuse(launch, f"Agent {launch.agent_id!r} is not the agent on "
                                     f"{launch.hostname} ({self._agent_ids[h]})")
                continue
            if task_id in tasks:
                self._refuse(launch, f"Task id {task_id} is already in use on this cluster")
                continue
            cpu, ram, disk, gpus = launch.cpu_milli, launch.ram_mb, launch.disk_mb, launch.gpus
            if check and (cpu > free_cpu[h] or ram > free_ram[h] or disk > free_disk[h]
                          or gpus > free_gpus[h]):
                self.stats.overcommits += 1
                self._refuse(launch, self._overcommit_message(launch, h))
                continue
            ports: tuple[int, ...] | None = None
            if launch.ports:
                ports = tuple(launch.ports.values())
                bad = self._bad_ports(h, ports) if check else None
                if bad:
                    self.stats.overcommits += 1
                    self._refuse(launch, f"Insufficient resources on host {launch.hostname}: "
                                         f"{bad}")
                    continue
                self._used_ports.setdefault(h, set()).update(ports)
            free_cpu[h] -= cpu
            free_ram[h] -= ram
            free_disk[h] -= disk
            free_gpus[h] -= gpus
            rec = TaskRecord(task_id, h, cpu, ram, disk, gpus, ports, r >> 16)
            tasks[task_id] = rec
            rec.pending = STARTING
            schedule(rec, now_ms + lo + scale * (r & 0xFFFF))
            launched += 1
        self.stats.launched += launched
        self._arm()

    def kill(self, task_ids: Sequence[str]) -> None:
        """KILLED after ``kill_delay_ms`` for a task that is not yet terminal; nothing new for
        one already terminal (its terminal update is on its way, resent until acknowledged);
        LOST for an unknown one (what Mesos answers, see the module docstring)."""
        if not task_ids:
            return
        now_ms = self._get_loop().time() * 1000.0
        lo, hi = self._kill_delay
        rand = self._rng.random
        for task_id in task_ids:
            rec = self._tasks.get(task_id)
            if rec is None:
                self._emit_free(task_id, LOST, "Task is unknown to the agents: a kill of an "
                                "unknown task is answered by reconciliation (TASK_LOST)")
                continue
            if rec.status in TERMINAL or rec.pending == KILLED:
                continue  # terminal, or being killed already
            due_ms = now_ms + lo + (hi - lo) * rand()
            if rec.pending in TERMINAL and rec.slot <= int(due_ms // self._slot_ms) + 1:
                continue  # it ends by itself no later than the kill would end it
            rec.pending = KILLED
            self._schedule(rec, due_ms)
        self._arm()
        self._flush_soon()

    def reconcile(self, task_ids: Sequence[str] | None) -> None:
        """Explicit (ids): each task's last status (STARTING for one launched but not yet
        started -- Mesos' TASK_STAGING, which Aurora reads as STARTING), LOST for unknown ids
        (or, with ``adopt_unknown``, RUNNING: the sim takes them on). Implicit (None): the last
        status of every task the sim holds."""
        ts = self._clock_ms()
        n = 0
        if task_ids is None:
            for rec in self._tasks.values():
                self._emit_rec(rec, rec.status if rec.status != NONE else STARTING, None, ts)
                n += 1
        else:
            for task_id in task_ids:
                rec = self._tasks.get(task_id)
                if rec is not None:
                    self._emit_rec(rec, rec.status if rec.status != NONE else STARTING,
                                   None, ts)
                elif self.config.adopt_unknown:
                    self._adopt(task_id, ts)
                else:
                    self._emit_free(task_id, LOST, "Reconciliation: task is unknown to the "
                                    "agents")
                n += 1
        self.stats.reconciled += n
        self._arm()
        self._flush_soon()

    # ------------------------------------------------------------------ introspection

    def vars(self, prefix: str = "sim_") -> dict[str, int]:
        """Counters and gauges, named for /vars."""
        out = {prefix + k: v for k, v in asdict(self.stats).items()}
        out[prefix + "tasks"] = len(self._tasks)
        out[prefix + "unacked"] = len(self._unacked)
        out[prefix + "outbox"] = len(self._outbox) - self._out_pos
        out[prefix + "pending_slots"] = len(self._buckets)
        return out

    def task_status(self, task_id: str) -> int | None:
        """The last status emitted for a task the sim holds (-1: launched, none yet)."""
        rec = self._tasks.get(task_id)
        return None if rec is None else rec.status

    def free_resources(self, hostname: str) -> tuple[int, int, int, int]:
        """(cpu_milli, ram_mb, disk_mb, gpus) not used by the sim's tasks on a host."""
        h = self._host_index[hostname]
        return self._free_cpu[h], self._free_ram[h], self._free_disk[h], self._free_gpus[h]

    # ------------------------------------------------------------------ steps

    def _schedule(self, rec: TaskRecord, due_ms: float) -> None:
        """Queue REC's pending step at DUE_MS (loop clock), in the first slot ending after it."""
        slot = int(due_ms // self._slot_ms) + 1
        rec.slot = slot
        bucket = self._buckets.get(slot)
        if bucket is None:
            self._buckets[slot] = [rec]
            heapq.heappush(self._heap, slot)
        else:
            bucket.append(rec)

    def _arm(self) -> None:
        """Keep one timer armed for the earliest slot."""
        if not self._heap or self._sink is None:
            return
        first = self._heap[0]
        if self._timer is not None:
            if self._timer_slot <= first:
                return
            self._timer.cancel()
        self._timer_slot = first
        self.stats.timers += 1
        self._timer = self._get_loop().call_at(first * self._slot_ms / 1000.0, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        now_ms = self._get_loop().time() * 1000.0
        heap, buckets = self._heap, self._buckets
        budget = self.config.max_events_per_tick
        ts = self._clock_ms()
        while heap and heap[0] * self._slot_ms <= now_ms and budget > 0 and self._sink:
            slot = heapq.heappop(heap)
            recs = buckets.pop(slot)
            if len(recs) > budget:  # the rest waits for the next callback
                buckets[slot] = recs[budget:]
                heapq.heappush(heap, slot)
                recs = recs[:budget]
            budget -= len(recs)
            self._run_steps(recs, slot, now_ms, ts)
        self._arm()
        self._flush_soon()

    def _run_steps(self, recs: list[TaskRecord], slot: int, now_ms: float, ts: int) -> None:
        """Carry out the steps due in SLOT: emit each task's update and queue its next step.
        (The hot loop of a big run: emitting and queueing are inlined.)"""
        run_lo, run_hi = self._running
        run_w = (run_hi - run_lo) / 65536.0
        fail_below = int(self.config.failure_rate * 65536.0)  # 1.0: all; 0.0: none
        fail_msg = self.config.failure_message
        fail_lo, fail_hi = self._fail_after
        fail_w = (fail_hi - fail_lo) / 65536.0
        end_lo, end_hi = self._run_time if self._run_time is not None else (-1.0, -1.0)
        end_w = (end_hi - end_lo) / 65536.0
        hostnames = self._hostnames
        unacked = self._unacked
        outbox_append = self._outbox.append
        buckets, heap, slot_ms = self._buckets, self._heap, self._slot_ms
        token = self._next_token
        running = finished = failed = killed = 0
        for rec in recs:
            if rec.slot != slot:
                continue  # moved (killed) since it was queued here
            step = rec.pending
            message: str | None = None
            if step == STARTING:
                nxt = RUNNING
                due = now_ms + run_lo + run_w * (rec.draw & 0xFFFF)
            elif step == RUNNING:
                running += 1
                d = rec.draw
                if (d >> 32) < fail_below:
                    nxt = FAILED
                    due = now_ms + fail_lo + fail_w * ((d >> 16) & 0xFFFF)
                elif end_lo >= 0.0:
                    nxt = FINISHED
                    due = now_ms + end_lo + end_w * ((d >> 16) & 0xFFFF)
                else:
                    nxt = NONE  # a service: runs until killed
            else:
                nxt = NONE
                if rec.status == RUNNING:
                    running -= 1
                if step == FINISHED:
                    finished += 1
                    message = FINISHED_MESSAGE
                elif step == FAILED:
                    failed += 1
                    message = fail_msg
                else:
                    killed += 1
                    message = KILLED_MESSAGE
                self._release(rec)
            h = rec.host
            update = StatusUpdate(rec.task_id, step, ts, message,
                                  hostnames[h] if h >= 0 else None, token)
            rec.status = step
            rec.token = token
            rec.update = update
            unacked[token] = rec
            outbox_append(update)
            token += 1
            if nxt == NONE:
                rec.pending = rec.slot = NONE
            else:
                rec.pending = nxt
                rec.slot = s = int(due // slot_ms) + 1
                bucket = buckets.get(s)
                if bucket is None:
                    buckets[s] = [rec]
                    heapq.heappush(heap, s)
                else:
                    bucket.append(rec)
        self._next_token = token
        stats = self.stats
        stats.running += running
        stats.finished += finished
        stats.failed += failed
        stats.killed += killed

    def _plan_end(self, rec: TaskRecord, now_ms: float) -> None:
        """Queue the end of a task that just became RUNNING outside the step loop."""
        d = rec.draw
        if (d >> 32) < int(self.config.failure_rate * 65536.0):
            lo, hi = self._fail_after
            rec.pending = FAILED
        elif self._run_time is not None:
            lo, hi = self._run_time
            rec.pending = FINISHED
        else:
            return  # a service: runs until killed
        self._schedule(rec, now_ms + lo + (hi - lo) / 65536.0 * ((d >> 16) & 0xFFFF))

    def _release(self, rec: TaskRecord) -> None:
        h = rec.host
        if h < 0:
            return
        self._free_cpu[h] += rec.cpu
        self._free_ram[h] += rec.ram
        self._free_disk[h] += rec.disk
        self._free_gpus[h] += rec.gpus
        if rec.ports:
            self._used_ports[h].difference_update(rec.ports)

    def _adopt(self, task_id: str, ts: int) -> None:
        rec = TaskRecord(task_id, NONE, 0, 0, 0, 0, None, self._rng.getrandbits(48))
        self._tasks[task_id] = rec
        self._emit_rec(rec, RUNNING, "Adopted on reconciliation (simulated)", ts)
        self.stats.adopted += 1
        self.stats.running += 1
        self._plan_end(rec, self._get_loop().time() * 1000.0)

    # ------------------------------------------------------------------ refusals

    def _refuse(self, launch: Launch, message: str) -> None:
        self.stats.refused += 1
        self._emit_free(launch.task_id, LOST, message, launch.hostname)
        self._flush_soon()

    def _overcommit_message(self, launch: Launch, h: int) -> str:
        asked = (("cpu_milli", launch.cpu_milli, self._free_cpu[h]),
                 ("ram_mb", launch.ram_mb, self._free_ram[h]),
                 ("disk_mb", launch.disk_mb, self._free_disk[h]),
                 ("gpus", launch.gpus, self._free_gpus[h]))
        short = ", ".join(f"{name} {want} > {free} free" for name, want, free in asked
                          if want > free)
        return f"Insufficient resources on host {launch.hostname}: {short}"

    def _bad_ports(self, h: int, ports: tuple[int, ...]) -> str | None:
        used = self._used_ports.get(h, ())
        ranges = self.hosts[h].port_ranges
        for p in ports:
            if not any(lo <= p <= hi for lo, hi in ranges):
                return f"port {p} is outside the host's port ranges"
            if p in used:
                return f"port {p} is in use"
        if len(set(ports)) != len(ports):
            return "a port is asked for twice"
        return None
