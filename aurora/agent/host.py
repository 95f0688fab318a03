"""One agent process hosting one or more agents (each with its own host name, resources,
attributes and ZeroMQ connection to the scheduler), launching their tasks' executors.

Executors are forked by the :class:`~aurora.agent.zygote.Zygote`, report each status as a
datagram on the process's status socket, and checkpoint it too. The host numbers every status
per agent and sends it over that agent's :class:`~aurora.agent.channel.AgentEndpoint`; once the
scheduler acknowledged a task's terminal status the task directory is marked ``done``.

The host watches each executor through a pidfd. An executor that exits without a terminal
status in its checkpoint (SIGKILLed, crashed) makes its task LOST, after the process groups it
left are killed. At start-up the host re-reads every unfinished task directory: a live executor is
re-attached (not started again), a finished one's terminal status is reported again, and one that
died meanwhile is LOST. See :mod:`aurora.agent.tasks` for the files.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import signal
import socket
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec

from aurora.agent.channel import AgentEndpoint
from aurora.agent.outbox import Outbox
from aurora.agent.protocol import Register, Update
from aurora.agent.sandbox_gc import SandboxCollector
from aurora.agent.tasks import (
    TERMINAL,
    LocalTask,
    TaskDir,
    kill_session,
    live_pidfd,
    orphan_cleanup,
    recorded_executor_pid,
    runner_pid,
)
from aurora.agent.zygote import (
    Done,
    PoolOptions,
    Refused,
    Spawned,
    SpawnRequest,
    Zygote,
    ZygoteError,
)
from aurora.model.status import ScheduleStatus as S
from aurora.scheduler.backend import Launch

log = logging.getLogger(__name__)

_DONE_CACHE = 100_000  # finished tasks remembered for reconciliation
_SWEEP_S = 0.5
_RUNNING = int(S.RUNNING)
_status_decoder = msgspec.msgpack.Decoder(tuple[str, int, str | None, float])


@dataclass(frozen=True)
class AgentSpec:
    agent_id: str
    hostname: str
    cpu_milli: int
    ram_mb: int
    disk_mb: int
    port_ranges: tuple[tuple[int, int], ...] = ()
    attributes: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def register(self) -> Register:
        return Register(self.agent_id, self.hostname, self.cpu_milli, self.ram_mb, self.disk_mb,
                        0, self.port_ranges, dict(self.attributes))


@dataclass
class HostOptions:
    heartbeat_interval: float = 5.0
    resend_timeout: float = 10.0
    fsync: str = "never"  # the executors' checkpoint fsync policy (see aurora-agent --help)
    user: str = field(default_factory=lambda: os.environ.get("USER") or "root")
    curve: object | None = None  # aurora.agent.security.CurveClient
    max_starting: int = field(default_factory=lambda: 4 * (os.cpu_count() or 1))
    pool: PoolOptions = field(default_factory=PoolOptions)  # executors kept for later tasks
    # Statuses wait this long to go out together (a short task's STARTING, RUNNING and
    # FINISHED in one message, acknowledged once) instead of a message each.
    report_delay: float = 0.2
    # A finished task's directory is removed this long after the scheduler acknowledged its
    # end (Mesos' --gc_delay: one week); 0 keeps them.
    sandbox_gc_s: float = 7 * 24 * 3600.0


class _Agent:
    def __init__(self, spec: AgentSpec, root: str) -> None:
        self.spec = spec
        self.tasks_dir = os.path.join(root, "agents", spec.agent_id, "tasks")
        self.endpoint: AgentEndpoint | None = None


class AgentHost:
    def __init__(self, work_dir: str, scheduler: str, specs: Sequence[AgentSpec],
                 options: HostOptions | None = None) -> None:
        if not specs:
            raise ValueError("an agent process needs at least one agent")
        ids = [s.agent_id for s in specs]
        if len(set(ids)) != len(ids):
            raise ValueError("agent ids must be distinct")
        self.work_dir = os.path.abspath(work_dir)
        self.scheduler = scheduler
        self.options = options or HostOptions()
        self.agents = [_Agent(s, self.work_dir) for s in specs]
        self.tasks: dict[str, LocalTask] = {}
        self.agent_of: dict[str, _Agent] = {}
        self.finished: OrderedDict[str, tuple[int, str | None]] = OrderedDict()
        self.status_address = b"\0aurora-agent-status:" + hashlib.sha1(
            self.work_dir.encode()).hexdigest()[:20].encode()
        self.zygote: Zygote | None = None
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.outbox: Outbox[_Agent, tuple[LocalTask | None, Update]] = Outbox(
            self.options.report_delay, self._deliver)
        self._spawning: deque[LocalTask] = deque()  # asked of the zygote, in order
        self._starting: set[str] = set()  # executors not yet RUNNING or ended
        self._queued: OrderedDict[str, tuple[_Agent, LocalTask]] = OrderedDict()
        self._writing = False
        self._changes = 0  # bumped by what agent-state.json shows (see _sweep)
        self._changes_written = -1
        self._state_written = 0.0
        self.counters: dict[str, int] = {"launched": 0, "lost": 0, "reattached": 0,
                                         "spawn_failed": 0, "bad_status": 0,
                                         "sandboxes_removed": 0}
        self.gc = SandboxCollector(self.options.sandbox_gc_s, self._sandbox_removed)

    # ---------------------------------------------------------------- lifecycle
    def prepare(self) -> None:
        """Before the event loop exists: fork the zygote, bind the status socket."""
        os.makedirs(self.work_dir, exist_ok=True)
        for a in self.agents:
            os.makedirs(a.tasks_dir, exist_ok=True)
        self.zygote = Zygote.start(self.options.pool)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            sock.bind(self.status_address)
        except OSError as e:
            sock.close()
            raise RuntimeError(f"another agent process serves {self.work_dir}: {e}") from e
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        sock.setblocking(False)
        self._sock = sock

    async def run(self, stop: asyncio.Event) -> None:
        if self.zygote is None:
            self.prepare()
        loop = self._loop = asyncio.get_running_loop()
        self.outbox.start(loop)
        assert self._sock is not None
        loop.add_reader(self._sock.fileno(), self._drain_status)
        assert self.zygote is not None
        loop.add_reader(self.zygote.sock.fileno(), self._spawned)
        opts = self.options
        for a in self.agents:
            a.endpoint = AgentEndpoint(
                self.scheduler, a.spec.register(),
                on_launch=lambda ls, a=a: self._launch(a, ls),
                on_kill=lambda ids, a=a: self._kill(a, ids),
                on_reconcile=lambda ids, a=a: self._reconcile(a, ids),
                heartbeat_interval=opts.heartbeat_interval, resend_timeout=opts.resend_timeout,
                **({"curve": opts.curve} if opts.curve is not None else {}))
            await a.endpoint.start()
        for a in self.agents:
            self._recover(a)
        self.outbox.flush_all()
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), _SWEEP_S)
                self._sweep()
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop talking; executors keep running (a restarted agent re-attaches to them)."""
        loop = self._loop
        self.outbox.close()  # what it holds is in the checkpoints, reported again on restart
        for task in self.tasks.values():
            if task.pidfd >= 0:
                if loop is not None:
                    loop.remove_reader(task.pidfd)
                os.close(task.pidfd)
                task.pidfd = -1
        for a in self.agents:
            if a.endpoint is not None:
                await a.endpoint.close()
                a.endpoint = None
        if self._sock is not None:
            if loop is not None:
                loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        if self.zygote is not None:
            if loop is not None:
                loop.remove_reader(self.zygote.sock.fileno())
                if self._writing:
                    loop.remove_writer(self.zygote.sock.fileno())
            self.zygote.close()
            self.zygote = None
        self.write_state()

    # ---------------------------------------------------------------- scheduler -> agent
    def _launch(self, agent: _Agent, launches: Sequence[Launch]) -> None:
        for launch in launches:
            tid = launch.task_id
            known = self.tasks.get(tid)
            if known is not None:  # a resent launch: never start a task twice
                self._report(known, known.status, known.message, force=True)
                continue
            if tid in self.finished:
                self._report_unknown(agent, tid, *self.finished[tid])
                continue
            tdir = TaskDir(os.path.join(agent.tasks_dir, _safe(tid)))
            task = LocalTask(launch, tdir)
            self.tasks[tid] = task
            self.agent_of[tid] = agent
            try:
                tdir.create(launch)
            except OSError as e:
                self._spawn_failed(task, str(e))
                continue
            if len(self._starting) >= self.options.max_starting:
                self._queued[tid] = (agent, task)  # started as others get going
            else:
                self._start(agent, task)

    def _start(self, agent: _Agent, task: LocalTask) -> None:
        self._starting.add(task.task_id)
        try:
            self._spawn(agent, task)
        except (OSError, ZygoteError) as e:
            self._spawn_failed(task, str(e))

    def _started(self, task: LocalTask) -> None:
        """TASK is past starting (RUNNING, ended, or its executor is gone): start queued ones.
        Executors that are starting are few at a time, so that a burst of launches does not
        turn into hundreds of processes fighting for the CPU (the fork, the Python start and
        the first process are most of a short task's cost)."""
        self._starting.discard(task.task_id)
        while self._queued and len(self._starting) < self.options.max_starting:
            _, (agent, queued) = self._queued.popitem(last=False)
            self._start(agent, queued)

    def _spawn(self, agent: _Agent, task: LocalTask) -> None:
        """Ask the zygote for the executor; its pid comes back in :meth:`_spawned` (the loop
        never waits for a fork)."""
        zygote = self.zygote
        assert zygote is not None and self._loop is not None
        launch = task.launch
        req = SpawnRequest(task.task_id, task.dir.path, launch.executor_data.encode(),
                           launch.instance, agent.spec.hostname, dict(launch.ports),
                           self.options.user, self.status_address, self.options.fsync)
        self._spawning.append(task)
        if not zygote.submit(req) and not self._writing:
            self._writing = True
            self._loop.add_writer(zygote.sock.fileno(), self._zygote_writable)

    def _zygote_writable(self) -> None:
        zygote, loop = self.zygote, self._loop
        assert zygote is not None and loop is not None
        try:
            done = zygote.flush()
        except ZygoteError as e:
            done = True
            self._zygote_gone(str(e))
        if done:
            self._writing = False
            loop.remove_writer(zygote.sock.fileno())

    def _spawned(self) -> None:
        zygote = self.zygote
        assert zygote is not None
        for _ in range(10_000):
            try:
                reply = zygote.receive()
            except BlockingIOError:
                return
            except ZygoteError as e:
                self._zygote_gone(str(e))
                return
            if isinstance(reply, Done):
                done = self.tasks.get(reply.task_id)
                if done is not None and done.pid == reply.pid and done.pidfd >= 0:
                    self._exited(done, died=False)
                continue
            if not self._spawning:
                log.error("the executor fork server answered a request never made: %r", reply)
                if isinstance(reply, Spawned):
                    os.close(reply.pidfd)
                continue
            task = self._spawning.popleft()
            if isinstance(reply, Refused):
                self._spawn_failed(task, reply.why)
                continue
            pid, pidfd = reply.pid, reply.pidfd
            try:
                with open(os.path.join(task.dir.path, "executor.pid"), "w") as fp:
                    fp.write(str(pid))
            except OSError as e:
                log.error("task %s: cannot record the executor pid: %s", task.task_id, e)
            self._watch(task, pid, pidfd)
            self.counters["launched"] += 1
            if task.kill_requested:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGUSR1)

    def _zygote_gone(self, why: str) -> None:
        log.critical("the executor fork server is gone (%s): launches fail until the agent "
                     "restarts", why)
        while self._spawning:
            self._spawn_failed(self._spawning.popleft(), why)

    def _spawn_failed(self, task: LocalTask, why: str) -> None:
        self.counters["spawn_failed"] += 1
        self._report(task, int(S.FAILED), f"Failed to start the executor: {why}")

    def _watch(self, task: LocalTask, pid: int, pidfd: int) -> None:
        task.pid, task.pidfd = pid, pidfd
        assert self._loop is not None
        self._loop.add_reader(pidfd, self._exited, task)

    def _kill(self, agent: _Agent, task_ids: Sequence[str]) -> None:
        for tid in task_ids:
            task = self.tasks.get(tid)
            if task is None:
                status, msg = self.finished.get(tid, (int(S.LOST), "Task unknown to the agent."))
                self._report_unknown(agent, tid, status, msg)
            elif task.terminal:
                self._report(task, task.status, task.message, force=True)
            elif tid in self._queued:
                del self._queued[tid]
                self._report(task, int(S.KILLED), "Killed before its executor started.")
            elif not task.kill_requested:
                task.kill_requested = True
                task.dir.request_kill()  # the executor acts on SIGUSR1 only for this file
                if task.pidfd >= 0:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(task.pid, signal.SIGUSR1)  # the executor's kill sequence
                # else: still being forked; _spawned passes the kill on

    def _reconcile(self, agent: _Agent, task_ids: Sequence[str] | None) -> None:
        if task_ids is None:
            for tid, task in self.tasks.items():
                if self.agent_of.get(tid) is agent and task.status:
                    self._report(task, task.status, task.message, force=True)
            return
        for tid in task_ids:
            task = self.tasks.get(tid)
            if task is not None and self.agent_of.get(tid) is agent:
                if task.status:
                    self._report(task, task.status, task.message, force=True)
            elif tid in self.finished:
                self._report_unknown(agent, tid, *self.finished[tid])
            else:
                self._report_unknown(agent, tid, int(S.LOST), "Task unknown to the agent.")

    # ---------------------------------------------------------------- executor -> agent
    def _drain_status(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for _ in range(10_000):
            try:
                data = sock.recv(1 << 20)
            except (BlockingIOError, InterruptedError):
                break
            try:
                tid, state, message, ts = _status_decoder.decode(data)
            except msgspec.DecodeError:
                self.counters["bad_status"] += 1
                continue
            task = self.tasks.get(tid)
            if task is None:
                self.counters["bad_status"] += 1
                continue
            self._report(task, state, message, int(ts * 1000))

    def _exited(self, task: LocalTask, died: bool = True) -> None:
        """TASK's executor is through with it: it ``died``, or told the zygote it is done."""
        assert self._loop is not None
        self._loop.remove_reader(task.pidfd)
        os.close(task.pidfd)
        task.pidfd = -1
        self._drain_status()  # the last datagrams were sent before the exit
        self._started(task)
        if not died and task.terminal:
            return  # the usual end: its terminal status came in its datagram
        if died:
            kill_session(task.pid)  # what a dead executor started and left running
        state = task.dir.state()
        reported = state.reported if state is not None else None
        if reported is not None and reported.state in TERMINAL:
            self._report(task, reported.state, reported.message, int(reported.timestamp * 1000))
        elif not task.terminal:
            orphan_cleanup(state)
            self.counters["lost"] += 1
            self._report(task, int(S.LOST), "The executor exited before the task ended."
                         if died else "The executor gave the task up before it ended.")

    def _recover(self, agent: _Agent) -> None:
        """Re-attach to what an earlier agent process left in this agent's directory."""
        try:
            names = sorted(os.listdir(agent.tasks_dir))
        except OSError:
            return
        for name in names:
            tdir = TaskDir(os.path.join(agent.tasks_dir, name))
            if tdir.is_done():
                continue
            launch = tdir.read_launch()
            if launch is None:
                log.warning("skipping %s: no readable launch.msgpack", tdir.path)
                continue
            task = LocalTask(launch, tdir)
            self.tasks[launch.task_id] = task
            self.agent_of[launch.task_id] = agent
            state = tdir.state()
            reported = state.reported if state is not None else None
            if reported is not None:
                task.status, task.message = reported.state, reported.message
            # A runner holding the checkpoint is the task's executor. Without a checkpoint the
            # executor may not have got to write one yet: executor.pid names it. A checkpoint
            # no runner holds means the task is over for its executor (which may now run
            # another task: it is not this task's any more).
            if tdir.runner_alive():
                pid = runner_pid(state)
            else:
                pid = recorded_executor_pid(tdir) if state is None else 0
            pidfd = live_pidfd(pid)
            if pidfd >= 0:
                self._watch(task, pid, pidfd)
                self.counters["reattached"] += 1
                if task.status:
                    self._report(task, task.status, task.message, force=True)
            elif reported is not None and reported.state in TERMINAL:
                self._report(task, reported.state, reported.message, force=True)
            else:
                if pid > 0:
                    kill_session(pid)
                orphan_cleanup(state)
                self.counters["lost"] += 1
                self._report(task, int(S.LOST), "The executor died while the agent was down.")

    # ---------------------------------------------------------------- reporting
    def _report(self, task: LocalTask, status: int, message: str | None,
                ts_ms: int | None = None, *, force: bool = False) -> None:
        if not force and (task.terminal or status == task.status):
            return
        if task.terminal and status != task.status:
            return  # a terminal status is final
        task.status, task.message = status, message
        self._changes += 1
        if status == _RUNNING or status in TERMINAL:
            self._started(task)
        agent = self.agent_of[task.task_id]
        task.timestamp_ms = ts_ms or int(time.time() * 1000)
        self.outbox.put(agent, (task, Update(task.task_id, status, task.timestamp_ms, message)),
                        urgent=status in TERMINAL)  # its end frees the agent: no long hold

    def _report_unknown(self, agent: _Agent, task_id: str, status: int,
                        message: str | None) -> None:
        self.outbox.put(agent, (None, Update(task_id, status, int(time.time() * 1000), message)),
                        urgent=True)

    def _deliver(self, agent: _Agent, out: list[tuple[LocalTask | None, Update]]) -> bool:
        if agent.endpoint is None:
            return False
        last = agent.endpoint.report(u for _, u in out)
        first = last - len(out) + 1
        for i, (task, _) in enumerate(out):
            if task is not None:
                task.seq = first + i
        return True

    def _sandbox_removed(self, _path: str) -> None:
        self.counters["sandboxes_removed"] += 1
        self._changes += 1

    def _sweep(self) -> None:
        """Tasks whose terminal status the scheduler acknowledged are done: mark and forget."""
        done: list[str] = []
        for tid, task in self.tasks.items():
            if not task.terminal or task.pidfd >= 0 or not task.seq:
                continue
            endpoint = self.agent_of[tid].endpoint
            if endpoint is not None and task.seq not in endpoint.unacked:
                done.append(tid)
        for tid in done:
            task = self.tasks.pop(tid)
            self.agent_of.pop(tid, None)
            task.dir.mark_done()
            self.finished[tid] = (task.status, task.message)
            if len(self.finished) > _DONE_CACHE:
                self.finished.popitem(last=False)
        if self._loop is not None:
            self.gc.collect(self._loop, (a.tasks_dir for a in self.agents))
        # The state file follows changes, at most once a second (its JSON names every task).
        now = time.monotonic()
        if now - self._state_written >= 1.0 and self._fingerprint() != self._changes_written:
            self.write_state()

    def _fingerprint(self) -> int:
        """Changes when anything agent-state.json shows does (statuses, tasks, seqs, acks)."""
        out = self._changes * 1_000_003 + len(self.tasks) + len(self._queued)
        for a in self.agents:
            ep = a.endpoint
            if ep is not None:
                out = out * 31 + ep.next_seq * 7 + len(ep.unacked)
        return out

    def write_state(self) -> None:
        """``<work>/agent-state.json``: per agent its epoch, seqs and tasks (for operators and
        tests: every seq below ``next_seq`` and not in ``unacked`` was acknowledged)."""
        self._changes_written, self._state_written = self._fingerprint(), time.monotonic()
        out: dict[str, object] = {"pid": os.getpid(), "counters": self.counters, "agents": {},
                                  "queued": len(self._queued)}
        agents: dict[str, object] = out["agents"]  # type: ignore[assignment]
        by_agent: dict[str, list[str]] = {a.spec.agent_id: [] for a in self.agents}
        for tid, ag in self.agent_of.items():
            by_agent[ag.spec.agent_id].append(tid)
        for a in self.agents:
            ep = a.endpoint
            agents[a.spec.agent_id] = {
                "hostname": a.spec.hostname,
                "epoch": ep.epoch if ep else None,
                "next_seq": ep.next_seq if ep else None,
                "unacked": len(ep.unacked) if ep else None,
                "tasks": sorted(by_agent[a.spec.agent_id]),
            }
        path = os.path.join(self.work_dir, "agent-state.json")
        with contextlib.suppress(OSError):
            with open(path + ".tmp", "w") as fp:
                json.dump(out, fp)
            os.replace(path + ".tmp", path)


def _safe(task_id: str) -> str:
    if not task_id or "/" in task_id or task_id in (".", ".."):
        return hashlib.sha1(task_id.encode()).hexdigest()
    return task_id
