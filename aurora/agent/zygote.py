"""The executor fork server: start a task's executor in a few milliseconds.

Starting a new interpreter per task costs tens of milliseconds. Instead the agent forks, before it
creates any thread, event loop or ZeroMQ context, a small *zygote* that has already imported the
executor and run a few trivial tasks (so that what executors import lazily is loaded and their
hot code specialised). The zygote keeps a pool of executor processes forked from it
(:mod:`aurora.agent.workers`): each runs one task at a time, as its own session leader, with the
task's ``executor.log`` as stdout/stderr, and calls :func:`aurora.executor.run_task`, sending each
status update as one datagram to the agent's status socket (the executor's checkpoint keeps it
too). A task's processes are the executor's children, each leading its own process group.

For each request the zygote answers with the executor's pid and a pidfd for it (``SCM_RIGHTS``):
the agent watches the pidfd, which is readable once the executor dies, even when it is not the
agent's child. When the executor is through with the task the zygote sends a "done" notice; the
agent then stops watching it for that task (the executor may run later tasks). The zygote exits
when the agent's end of the socket closes; its idle executors exit with it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sys
import time
from collections import deque
from dataclasses import dataclass, field

import msgspec

from aurora.agent.tasks import KILL_FILE
from aurora.agent.workers import DONE, SPAWNED, PoolOptions, serve

__all__ = [
    "KILL_FILE",
    "Done",
    "PoolOptions",
    "Refused",
    "SpawnRequest",
    "Spawned",
    "StatusSender",
    "Zygote",
    "ZygoteError",
    "run_request",
]


class SpawnRequest(msgspec.Struct, array_like=True, frozen=True):
    task_id: str
    task_dir: str  # holds executor.log and sandbox/
    executor_data: bytes
    instance: int
    hostname: str
    ports: dict[str, int]
    user: str
    status_address: bytes  # the agent's datagram socket (abstract namespace name)
    fsync: str = "never"


class ZygoteError(RuntimeError):
    """The fork server is gone or refused a request."""


@dataclass(frozen=True)
class Spawned:
    """An executor is running the request's task: its pid and a pidfd (now the caller's)."""

    pid: int
    pidfd: int


@dataclass(frozen=True)
class Refused:
    why: str


@dataclass(frozen=True)
class Done:
    """Executor ``pid`` is through with ``task_id`` (its terminal status is checkpointed)."""

    task_id: str
    pid: int


@dataclass
class Zygote:
    """The agent's handle on its fork server (a child process)."""

    pid: int
    sock: socket.socket
    outbox: deque[bytes] = field(default_factory=deque)

    @classmethod
    def start(cls, options: PoolOptions | None = None) -> Zygote:
        """Fork the zygote. Call before starting threads or an event loop."""
        import aurora.executor  # noqa: F401  (preloaded: every executor fork shares it)

        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the zygote
            code = 0
            try:
                parent.close()
                serve(child, options or PoolOptions(), _warm_up)
            except BaseException:
                code = 1
            os._exit(code)
        child.close()
        parent.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
        parent.setblocking(False)
        return cls(pid, parent)

    def submit(self, request: SpawnRequest) -> bool:
        """Ask for an executor; the answer comes back in order (see :meth:`receive`). Returns
        False if the request waits in the outbox (the socket is full): call :meth:`flush` once
        the socket is writable."""
        self.outbox.append(msgspec.msgpack.encode(request))
        return self.flush()

    def flush(self) -> bool:
        """Send what the outbox holds; True once it is empty."""
        out = self.outbox
        while out:
            try:
                self.sock.send(out[0])
            except BlockingIOError:
                return False
            except OSError as e:
                raise ZygoteError(f"executor fork server failed: {e}") from e
            out.popleft()
        return True

    def receive(self) -> Spawned | Refused | Done:
        """The next message: an answer to the oldest open request (:class:`Spawned` or
        :class:`Refused`), or a :class:`Done` notice. Raises BlockingIOError when none is
        waiting (the socket is non-blocking), ZygoteError if the server is gone."""
        try:
            data, fds, _flags, _addr = socket.recv_fds(self.sock, 4096, 1)
        except BlockingIOError:
            raise
        except OSError as e:
            raise ZygoteError(f"executor fork server failed: {e}") from e
        if not data:
            for fd in fds:
                os.close(fd)
            raise ZygoteError("executor fork server exited")
        kind, *rest = msgspec.msgpack.decode(data)
        if kind == DONE:
            return Done(str(rest[0]), int(rest[1]))
        if kind == SPAWNED and fds:
            return Spawned(int(rest[0]), fds[0])
        for fd in fds:
            os.close(fd)
        return Refused(f"could not start the executor: {rest[0] if rest else kind}")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(self.pid, 0)


# ---------------------------------------------------------------- inside the zygote


def _warm_up() -> None:  # pragma: no cover - runs in the zygote
    """Run a few trivial tasks here, so that every executor forked later finds the modules the
    executor imports lazily (http, ssl, email, subprocess...) already loaded and its hot code
    already specialised (CPython quickens a function after a few calls), instead of paying for
    both, and for the pages that doing so writes, in each executor."""
    import tempfile

    from aurora.executor import ExecutorOptions, LaunchInfo, RunnerOptions, run_task

    data = msgspec.json.encode({"role": "warm", "environment": "up", "name": "zygote",
                                "task": {"name": "warm", "finalization_wait": 1, "processes": [
                                    {"name": "warm", "cmdline": "true", "min_duration": 0}]}})
    options = ExecutorOptions(runner=RunnerOptions(fsync="never", direct=True))
    with tempfile.TemporaryDirectory(prefix="aurora-zygote-") as tmp:
        for i in range(_WARM_UP_RUNS):
            try:
                run_task(data, LaunchInfo(task_id=f"zygote-warm-up-{i}", hostname="localhost",
                                          user="nobody"), os.path.join(tmp, str(i)),
                         lambda update: None, options=options)
            except Exception as e:
                print(f"aurora-agent: executor warm-up failed: {e}", file=sys.stderr)
                return


_WARM_UP_RUNS = 10


def run_request(request: SpawnRequest,
                status: StatusSender) -> bool:  # pragma: no cover - in an executor
    """Run one task in this executor process; False if the executor should not be reused."""
    address = request.status_address
    try:
        os.makedirs(request.task_dir, exist_ok=True)
        log_fd = os.open(os.path.join(request.task_dir, "executor.log"),
                         os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
    except OSError as e:
        status.send(address, _Failure(request.task_id, f"Failed to initialize sandbox: {e}"))
        return True
    try:
        from aurora.executor import ExecutorOptions, LaunchInfo, RunnerOptions, run_task

        def on_status(update: object) -> None:
            status.send(address, update)

        launch = LaunchInfo(task_id=request.task_id, instance=request.instance,
                            hostname=request.hostname, ports=dict(request.ports),
                            user=request.user)
        # Direct runs: the task's processes are this executor's children (no coordinator
        # forks); if the executor dies the task is LOST and the agent kills its session.
        options = ExecutorOptions(
            runner=RunnerOptions(fsync=request.fsync, direct=True),  # type: ignore[arg-type]
            install_signal_handlers=True,
            kill_file=os.path.join(request.task_dir, KILL_FILE))
        run_task(request.executor_data, launch, os.path.join(request.task_dir, "sandbox"),
                 on_status, options=options)
        return True
    except BaseException:
        import traceback

        traceback.print_exc()
        return False


@dataclass(frozen=True)
class _Failure:
    task_id: str
    message: str
    state: int = 4  # FAILED
    timestamp: float = field(default_factory=time.time)


class StatusSender:
    """An executor's status datagrams to its agent, on a socket *connected* to the agent's: a
    full queue at the agent (Linux keeps ``net.unix.max_dgram_qlen`` datagrams, 10 by default)
    then blocks the sender until there is room, up to ``timeout`` (an unconnected sender would
    spin on EAGAIN instead). A send that fails is not fatal: the checkpoint keeps every status,
    and the agent reads it when the executor is through with the task or after a restart."""

    def __init__(self, timeout: float = 2.0) -> None:
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._address: bytes | None = None

    def fds(self) -> tuple[int, ...]:
        return (self._sock.fileno(),) if self._sock is not None else ()

    def _reset(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = self._address = None

    def send(self, address: bytes, update: object) -> bool:
        payload = msgspec.msgpack.encode((update.task_id, int(update.state),  # type: ignore[attr-defined]
                                          update.message, update.timestamp))  # type: ignore[attr-defined]
        for _attempt in range(2):
            try:
                if self._sock is None or self._address != address:
                    self._reset()
                    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                    sock.settimeout(self.timeout)
                    self._sock = sock
                    sock.connect(address)
                    self._address = address
                self._sock.send(payload)
                return True
            except (ConnectionRefusedError, FileNotFoundError):
                self._reset()  # the agent restarted (or is gone): connect afresh, once
            except OSError as e:
                if not isinstance(e, TimeoutError) and e.errno not in (errno.EAGAIN,
                                                                       errno.ENOBUFS):
                    print(f"aurora-executor: status to agent failed: {e}", file=sys.stderr)
                return False
        return False
