"""The agent's executor fork server (zygote) and its pool of reused executors, real processes."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import pytest

from aurora.agent.tasks import TaskDir, kill_session
from aurora.agent.zygote import (
    Done,
    PoolOptions,
    Refused,
    Spawned,
    SpawnRequest,
    StatusSender,
    Zygote,
)
from aurora.executor.checkpoint import ProcessRun, TaskState, replay
from aurora.executor.status import TERMINAL, StatusUpdate
from aurora.model.status import ScheduleStatus as S

WAIT = 15.0  # generous: the machine may be loaded


def job(cmdline: str) -> bytes:
    return msgspec.json.encode({"role": "r", "environment": "prod", "name": "j", "task": {
        "name": "t", "finalization_wait": 5,
        "processes": [{"name": "p", "cmdline": cmdline, "min_duration": 0}]}})


def address() -> bytes:
    return b"\0test-agent-pool-" + os.urandom(8).hex().encode()


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fp:
            data = fp.read()
    except OSError:
        return False
    return data[data.rfind(b")") + 2:].split()[0] not in (b"Z", b"X")


def process_run(task_dir: Path) -> ProcessRun | None:
    """The latest run of process "p", as the task's checkpoint tells it."""
    runs = replay(TaskDir(str(task_dir)).checkpoint).processes.get("p")
    return runs[-1] if runs else None


def until(cond: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.02)


@dataclass
class Pool:
    """A zygote, the status socket its executors report to, and what both have said."""

    zygote: Zygote
    root: Path
    status: socket.socket
    addr: bytes
    replies: list[Spawned | Refused] = field(default_factory=list)
    dones: list[Done] = field(default_factory=list)
    statuses: dict[str, list[int]] = field(default_factory=dict)
    pids: set[int] = field(default_factory=set)

    def submit(self, task_id: str, cmdline: str) -> None:
        request = SpawnRequest(task_id, str(self.root / task_id), job(cmdline), 0, "localhost",
                               {}, "nobody", self.addr)
        assert self.zygote.submit(request), "the request is stuck in the outbox"

    def pump(self, timeout: float) -> None:
        """Wait up to ``timeout`` for anything, then take all the zygote and executors sent."""
        select.select([self.zygote.sock, self.status], [], [], timeout)
        while True:
            try:
                reply = self.zygote.receive()  # raises ZygoteError if the zygote died
            except BlockingIOError:
                break
            if isinstance(reply, Done):
                self.dones.append(reply)
            else:
                self.replies.append(reply)
                if isinstance(reply, Spawned):
                    self.pids.add(reply.pid)
        while True:
            try:
                tid, state, _msg, _ts = msgspec.msgpack.decode(self.status.recv(1 << 16))
            except BlockingIOError:
                break
            self.statuses.setdefault(tid, []).append(state)

    def wait(self, cond: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            left = deadline - time.monotonic()
            assert left > 0, (f"timed out after {timeout}s waiting for {what}; replies="
                              f"{self.replies} dones={self.dones} statuses={self.statuses}")
            self.pump(min(left, 0.2))

    def reply(self, n: int) -> Spawned | Refused:
        """The answer to the ``n``-th request (0-based)."""
        self.wait(lambda: len(self.replies) > n, f"the answer to request #{n}")
        return self.replies[n]

    def spawned(self, n: int) -> Spawned:
        reply = self.reply(n)
        assert isinstance(reply, Spawned), f"request #{n} was refused: {reply}"
        return reply

    def done(self, task_id: str) -> Done:
        self.wait(lambda: any(d.task_id == task_id for d in self.dones), f"Done({task_id})")
        return next(d for d in self.dones if d.task_id == task_id)

    def final(self, task_id: str, timeout: float = WAIT) -> int:
        self.wait(lambda: bool(TERMINAL & set(self.statuses.get(task_id, ()))),
                  f"a terminal status for {task_id}", timeout)
        return self.statuses[task_id][-1]

    def running(self, task_id: str) -> None:
        self.wait(lambda: int(S.RUNNING) in self.statuses.get(task_id, ()), f"{task_id} RUNNING")

    def run(self, task_id: str, cmdline: str = "true") -> tuple[Spawned, Done]:
        """Run one task to its end: (its Spawned answer, its Done notice)."""
        n = len(self.replies)
        self.submit(task_id, cmdline)
        spawned = self.spawned(n)
        return spawned, self.done(task_id)


@pytest.fixture
def pool(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pool]:
    """A started zygote (``PoolOptions`` from indirect parametrization); nothing outlives it."""
    zygote = Zygote.start(getattr(request, "param", PoolOptions()))
    status = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    addr = address()
    status.bind(addr)
    status.setblocking(False)
    pool = Pool(zygote, tmp_path, status, addr)
    try:
        yield pool
    finally:
        zygote.sock.close()  # the zygote exits, and its idle executors with it
        deadline = time.monotonic() + 10
        while os.waitpid(zygote.pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(zygote.pid, signal.SIGKILL)
            time.sleep(0.02)
        zygote.close()
        for pid in pool.pids:  # busy executors, and whatever their tasks started
            kill_session(pid)
        for tdir in tmp_path.iterdir():  # task processes that escaped their executor's session
            run = process_run(tdir)
            with contextlib.suppress(OSError):
                if run and run.pid and os.readlink(f"/proc/{run.pid}/cwd").startswith(
                        str(tmp_path)):
                    os.killpg(run.pid, signal.SIGKILL)
        for reply in pool.replies:
            if isinstance(reply, Spawned):
                os.close(reply.pidfd)
        status.close()


def test_sequential_tasks_reuse_one_executor(pool: Pool, tmp_path: Path) -> None:
    """Tasks one after another run on one executor, each with its statuses, Done, log, ckpt."""
    for tid in ("t1", "t2", "t3"):
        spawned, done = pool.run(tid)
        assert done == Done(tid, spawned.pid)
        pool.pump(0.0)  # the terminal datagram was sent before the executor said it was free
        assert pool.statuses[tid] == [int(S.STARTING), int(S.RUNNING), int(S.FINISHED)]
        tdir = TaskDir(str(tmp_path / tid))
        assert os.path.exists(os.path.join(tdir.path, "executor.log"))
        state = replay(tdir.checkpoint)
        assert state.header is not None and state.header.task_id == tid
        assert state.task_state == TaskState.SUCCESS
        assert {s.runner_pid for s in state.statuses} == {spawned.pid}
        held = [os.readlink(f"/proc/{spawned.pid}/fd/{fd}")
                for fd in os.listdir(f"/proc/{spawned.pid}/fd")]
        assert not [f for f in held if str(tmp_path) in f], f"files kept open: {held}"
    assert len(pool.pids) == 1, f"executors were not reused: {pool.pids}"


def test_late_kill_for_an_earlier_task_is_a_no_op(pool: Pool, tmp_path: Path) -> None:
    """SIGUSR1 kills only the task whose kill file exists; between tasks it is ignored."""
    a, _ = pool.run("a")
    TaskDir(str(tmp_path / "a")).request_kill()
    os.kill(a.pid, signal.SIGUSR1)  # an idle executor ignores both
    os.kill(a.pid, signal.SIGUSR2)
    pool.submit("b", "sleep 1")
    assert pool.spawned(1).pid == a.pid
    pool.running("b")
    os.kill(a.pid, signal.SIGUSR1)
    assert pool.final("b") == S.FINISHED
    assert pool.done("b").pid == a.pid
    pool.submit("c", "sleep 30")
    assert pool.spawned(2).pid == a.pid
    pool.running("c")
    TaskDir(str(tmp_path / "c")).request_kill()
    start = time.monotonic()
    os.kill(a.pid, signal.SIGUSR1)
    assert pool.final("c") == S.KILLED
    assert time.monotonic() - start < 4.5, "the kill was not prompt"
    assert pool.done("c").pid == a.pid


def test_kill_requested_before_the_run_begins(pool: Pool, tmp_path: Path) -> None:
    """A kill file present before the task starts kills it at once (no signal needed)."""
    (tmp_path / "k").mkdir()  # as the agent's TaskDir.create does before the spawn
    TaskDir(str(tmp_path / "k")).request_kill()
    assert (tmp_path / "k" / "kill").exists()
    start = time.monotonic()
    pool.submit("k", "sleep 30")
    pool.spawned(0)
    assert pool.final("k") == S.KILLED
    assert time.monotonic() - start < 10, "the task ran instead of being killed"
    pool.done("k")


@pytest.mark.parametrize("pool", [PoolOptions(max_tasks=2)], indirect=True)
def test_executor_retires_after_max_tasks(pool: Pool) -> None:
    """With max_tasks=2, three tasks run on two executors and the first one exits."""
    pids = [pool.run(tid)[0].pid for tid in ("t1", "t2", "t3")]
    assert pids[0] == pids[1] != pids[2], pids
    until(lambda: not alive(pids[0]), f"retired executor {pids[0]} to exit")


@pytest.mark.parametrize("pool", [PoolOptions(max_idle=0)], indirect=True)
def test_max_idle_zero_means_one_executor_per_task(pool: Pool) -> None:
    """With max_idle=0 each task gets a fresh executor and the previous one exits."""
    for n, tid in enumerate(("t1", "t2", "t3")):
        spawned, _ = pool.run(tid)
        assert len(pool.pids) == n + 1, f"an executor was reused: {pool.replies}"
        ready, _, _ = select.select([spawned.pidfd], [], [], WAIT)
        assert ready, f"executor {spawned.pid} still runs after its task"
        until(lambda pid=spawned.pid: not os.path.exists(f"/proc/{pid}"),
              f"executor {spawned.pid} to be reaped")


@pytest.mark.parametrize("pool", [PoolOptions(idle_timeout=0.3)], indirect=True)
def test_idle_executor_expires(pool: Pool) -> None:
    """An executor idle past idle_timeout exits."""
    spawned, _ = pool.run("t1")
    until(lambda: not os.path.exists(f"/proc/{spawned.pid}"),
          f"idle executor {spawned.pid} to exit", timeout=3.0)


def test_executor_killed_mid_task(pool: Pool, tmp_path: Path) -> None:
    """A dead executor's pidfd fires, no Done comes, kill_session kills its task, pool goes on."""
    pool.submit("t1", "sleep 30")
    spawned = pool.spawned(0)
    until(lambda: getattr(process_run(tmp_path / "t1"), "pid", None) is not None,
          "the checkpoint to name the sleep's pid")
    run = process_run(tmp_path / "t1")
    assert run is not None and run.pid is not None and alive(run.pid), f"no sleep: {run}"
    os.kill(spawned.pid, signal.SIGKILL)
    ready, _, _ = select.select([spawned.pidfd], [], [], WAIT)
    assert ready, "the pidfd did not report the executor's death"
    end = time.monotonic() + 1.5  # time for a (wrong) Done notice to arrive
    while time.monotonic() < end:
        pool.pump(0.1)
    assert not pool.dones, f"a Done notice for a task its executor never finished: {pool.dones}"
    assert alive(run.pid), "the task's sleep died with its executor"
    assert kill_session(spawned.pid) >= 1
    until(lambda: not alive(run.pid), f"the task's sleep {run.pid} to die", timeout=5.0)
    spawned2, _ = pool.run("t2")  # the zygote carries on with a fresh executor
    assert spawned2.pid != spawned.pid and pool.final("t2") == S.FINISHED


def test_concurrent_tasks_run_in_parallel(pool: Pool, tmp_path: Path) -> None:
    """Eight tasks submitted at once run in parallel on eight executors, each with its Done."""
    tids = [f"t{i}" for i in range(8)]
    start = time.monotonic()
    for tid in tids:
        pool.submit(tid, "sleep 0.3")
    pool.wait(lambda: len(pool.dones) == 8, "eight Done notices", timeout=30)
    elapsed = time.monotonic() - start
    spawned = [pool.spawned(i) for i in range(8)]
    assert len({s.pid for s in spawned}) == 8
    assert {(d.task_id, d.pid) for d in pool.dones} == {
        (tid, s.pid) for tid, s in zip(tids, spawned, strict=True)}
    assert all(pool.final(tid) == S.FINISHED for tid in tids)
    runs = [process_run(tmp_path / tid) for tid in tids]
    starts = [r.start_time or 0.0 for r in runs if r is not None]
    stops = [r.stop_time or 0.0 for r in runs if r is not None]
    assert len(stops) == 8 and max(starts) < min(stops), f"the sleeps did not overlap: {runs}"
    assert elapsed < 8 * 0.3, f"eight 0.3 s tasks took {elapsed:.2f} s"


def test_status_sender_reconnects_after_agent_restart() -> None:
    """StatusSender reaches a receiver re-bound at the same address, and fails softly."""
    addr, sender = address(), StatusSender(timeout=1.0)
    update = StatusUpdate(task_id="t1", state=S.RUNNING, message="m", timestamp=1.5)
    expected = ["t1", int(S.RUNNING), "m", 1.5]
    for _restart in range(2):
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
            receiver.bind(addr)
            receiver.settimeout(5.0)
            assert sender.send(addr, update)
            assert msgspec.msgpack.decode(receiver.recv(1 << 16)) == expected
    start = time.monotonic()
    assert sender.send(addr, update) is False  # nobody listens
    assert StatusSender().send(address(), update) is False
    assert time.monotonic() - start < 0.5, "a send with no receiver blocked"


def test_bad_request_is_refused_and_zygote_keeps_serving(pool: Pool) -> None:
    """Garbage on the zygote's socket is refused; the next good request still runs."""
    pool.zygote.sock.send(b"\xc1 not msgpack")
    pool.zygote.sock.send(msgspec.msgpack.encode(["only", "two"]))
    for n in (0, 1):
        reply = pool.reply(n)
        assert isinstance(reply, Refused) and "bad request" in reply.why, reply
    spawned, done = pool.run("t1")
    assert done.pid == spawned.pid
    assert pool.final("t1") == S.FINISHED
