"""Inside the zygote: a pool of executor processes, each running one task at a time.

Forking a Python process costs about a millisecond here, and the forked executor pays as much
again copying the pages it writes (every object it touches is shared with the zygote until then).
So an executor that has finished its task is not thrown away: it goes back to the zygote's pool
and runs a later task, with its pages already its own. Per task an executor still

* runs exactly one task at a time, in the task's sandbox, with the task's ``executor.log`` as
  its stdout/stderr; the task's processes are its children, each leading its own process group;
* is a session leader (``setsid`` when it was forked), apart from the agent and the zygote, so a
  task survives an agent restart (the agent re-attaches to its executor);
* reports its statuses by datagram to the agent and keeps its checkpoint;
* takes a kill request (SIGUSR1) only for the task it is running: the agent writes the task's
  ``kill`` file first, and the executor checks it (so a late kill for an earlier task is a
  no-op), also when the run begins.

Between tasks the executor points stdout/stderr back at /dev/null, closes every descriptor the
task opened and ignores SIGUSR1/SIGUSR2. It tells the zygote it is free (``d``), or that it
retires (``r``: after ``max_tasks`` tasks, or if the run raised); the zygote passes "task done"
on to the agent, which then stops watching the executor for that task. An executor that dies
sends nothing: the agent sees its pidfd and the task is LOST. Idle executors past ``max_idle``
or idle for ``idle_timeout`` are told to exit (their socket closes), and so are all of them
when the zygote exits: an executor still running a task finishes it and then exits.
"""

from __future__ import annotations

import contextlib
import gc
import os
import selectors
import signal
import socket
import sys
import time
from dataclasses import dataclass, field

import msgspec

__all__ = ["PoolOptions", "serve"]

MAX_MSG = 1 << 24
FREE, RETIRE = b"d", b"r"
# zygote -> agent replies (msgpack arrays), in the order of the requests, with "done" notices
# between them: [SPAWNED, pid] (+ the pidfd), [REFUSED, why], [DONE, task_id, pid].
SPAWNED, REFUSED, DONE = 0, 1, 2


@dataclass(frozen=True)
class PoolOptions:
    max_idle: int = 64  # idle executors kept for later tasks (0: one executor per task)
    max_tasks: int = 500  # tasks an executor runs before it retires
    idle_timeout: float = 30.0  # an executor idle this long exits


@dataclass(eq=False)
class _Worker:
    pid: int
    sock: socket.socket
    task_id: str | None = None
    idle_since: float = 0.0


@dataclass
class _Pool:
    options: PoolOptions
    agent: socket.socket
    selector: selectors.BaseSelector
    idle: list[_Worker] = field(default_factory=list)  # most recently freed last

    def take(self) -> _Worker | None:
        return self.idle.pop() if self.idle else None

    def fork(self) -> _Worker:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the executor
            code = 1
            try:
                parent.close()
                code = _worker_main(child, self.options.max_tasks)
            finally:
                os._exit(code)
        child.close()
        worker = _Worker(pid, parent)
        self.selector.register(parent, selectors.EVENT_READ, worker)
        return worker

    def drop(self, worker: _Worker) -> None:
        """Forget ``worker``; closing its socket tells an idle one to exit."""
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(worker.sock)
        with contextlib.suppress(ValueError):
            self.idle.remove(worker)
        worker.sock.close()

    def on_message(self, worker: _Worker) -> None:
        try:
            msg = worker.sock.recv(16)
        except OSError:
            msg = b""
        if worker.task_id is not None and msg in (FREE, RETIRE):
            self.agent.send(msgspec.msgpack.encode((DONE, worker.task_id, worker.pid)))
            worker.task_id = None
        if msg == FREE and len(self.idle) < self.options.max_idle:
            worker.idle_since = time.monotonic()
            self.idle.append(worker)
        else:
            self.drop(worker)  # retiring, dead, or not needed

    def expire(self, now: float) -> None:
        timeout = self.options.idle_timeout
        while self.idle and now - self.idle[0].idle_since > timeout:
            self.drop(self.idle[0])

    def assign(self, task_id: str, request: bytes) -> _Worker:
        """An executor running ``request`` (a fresh one if no idle one takes it)."""
        while True:
            worker = self.take()
            fresh = worker is None
            if worker is None:
                worker = self.fork()
            try:
                worker.sock.send(request)
            except OSError:
                self.drop(worker)  # it died while idle
                if fresh:
                    raise
                continue
            worker.task_id = task_id
            return worker


def serve(sock: socket.socket, options: PoolOptions,
          warm_up: object = None) -> None:  # pragma: no cover - runs in the zygote
    """The zygote's loop: answer spawn requests from the agent on ``sock`` until it closes."""
    if callable(warm_up):
        warm_up()
    # What the zygote holds is shared with every executor it forks: keep the collector from
    # writing to those objects' headers (which would copy their pages into each executor).
    gc.collect()
    gc.freeze()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the agent's ^C is the agent's business
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from aurora.agent.zygote import SpawnRequest

    decoder = msgspec.msgpack.Decoder(SpawnRequest)
    selector = selectors.DefaultSelector()
    pool = _Pool(options, sock, selector)
    selector.register(sock, selectors.EVENT_READ, None)
    try:
        while True:
            events = selector.select(0.5)
            _reap()
            pool.expire(time.monotonic())
            for key, _ in events:
                if key.data is not None:
                    pool.on_message(key.data)
                    continue
                data = sock.recv(MAX_MSG)
                if not data:
                    return  # the agent is gone
                _answer(pool, decoder, data)
    finally:
        for worker in [*pool.idle]:
            pool.drop(worker)


def _answer(pool: _Pool, decoder: msgspec.msgpack.Decoder,
            data: bytes) -> None:  # pragma: no cover - runs in the zygote
    sock = pool.agent
    try:
        request = decoder.decode(data)
    except msgspec.DecodeError as e:
        sock.send(msgspec.msgpack.encode((REFUSED, f"bad request: {e}")))
        return
    try:
        worker = pool.assign(request.task_id, data)
    except OSError as e:
        sock.send(msgspec.msgpack.encode((REFUSED, f"fork failed: {e}")))
        return
    try:
        pidfd = os.pidfd_open(worker.pid)
    except OSError as e:
        sock.send(msgspec.msgpack.encode((REFUSED, f"pidfd_open failed: {e}")))
        return
    try:
        socket.send_fds(sock, [msgspec.msgpack.encode((SPAWNED, worker.pid))], [pidfd])
    finally:
        os.close(pidfd)


def _reap() -> None:  # pragma: no cover - runs in the zygote
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


# ---------------------------------------------------------------- inside an executor


def _worker_main(ctl: socket.socket, max_tasks: int) -> int:  # pragma: no cover - executor
    from aurora.agent.zygote import SpawnRequest, StatusSender, run_request
    from aurora.executor.process import close_fds_except

    os.setsid()
    # SIGPIPE stays ignored, as in any Python process (the task's processes get the default).
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    for sig in (signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_IGN)  # kills between tasks are for tasks already over
    null_fd = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null_fd, fd)
    os.close(null_fd)
    keep = ctl.fileno()
    close_fds_except({keep})
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    status = StatusSender()
    decoder = msgspec.msgpack.Decoder(SpawnRequest)
    served = 0
    while True:
        data = ctl.recv(MAX_MSG)
        if not data:
            return 0  # the zygote is gone or does not need us
        ok = run_request(decoder.decode(data), status)
        served += 1
        # Back to a blank slate: no task's files or output stay open in here.
        sys.stdout.flush()
        sys.stderr.flush()
        null_fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null_fd, 1)
        os.dup2(null_fd, 2)
        os.close(null_fd)
        close_fds_except({keep, *status.fds()})
        retire = not ok or served >= max_tasks
        try:
            ctl.send(RETIRE if retire else FREE)
        except OSError:
            return 0
        if retire:
            return 0
