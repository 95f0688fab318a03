"""The executor fork server: start a task's executor in a few milliseconds.

Starting a new interpreter per task costs tens of milliseconds. Instead the agent forks, before it
creates any thread, event loop or ZeroMQ context, a small *zygote* that has already imported the
executor. The zygote is single-threaded; for each spawn request it forks a child which

* becomes a session and process-group leader (``setsid``): the task is isolated from the agent
  and the zygote, and survives both (an agent restart re-attaches to it);
* closes every inherited descriptor, points stdin at /dev/null and stdout/stderr at the task's
  ``executor.log``, restores default signal dispositions;
* runs :func:`aurora.executor.run_task` in-process, sending each status update as one datagram
  to the agent's status socket (and the executor's checkpoint keeps it too), then ``_exit``\\ s.

The zygote answers each request with the child's pid and a pidfd for it (``SCM_RIGHTS``): the
agent watches the pidfd, which is readable once the executor exits, even when it is not the
agent's child. The zygote reaps its children and exits when the agent's end of the pipe closes.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import select
import signal
import socket
import sys
from collections import deque
from dataclasses import dataclass, field

import msgspec

__all__ = ["SpawnRequest", "Zygote", "ZygoteError", "send_status"]


class SpawnRequest(msgspec.Struct, array_like=True, frozen=True):
    task_id: str
    task_dir: str  # holds executor.log and sandbox/
    executor_data: bytes
    instance: int
    hostname: str
    ports: dict[str, int]
    user: str
    status_address: bytes  # the agent's datagram socket (abstract namespace name)
    fsync: str = "task"


class ZygoteError(RuntimeError):
    """The fork server is gone or refused a request."""


_MAX_MSG = 1 << 24


@dataclass
class Zygote:
    """The agent's handle on its fork server (a child process)."""

    pid: int
    sock: socket.socket
    outbox: deque[bytes] = field(default_factory=deque)

    @classmethod
    def start(cls) -> Zygote:
        """Fork the zygote. Call before starting threads or an event loop."""
        import aurora.executor  # noqa: F401  (preloaded: every executor fork shares it)

        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the zygote
            code = 0
            try:
                parent.close()
                _serve(child)
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

    def receive(self) -> tuple[int, int] | str:
        """The next answer: (pid, pidfd), or why there is no executor. Raises BlockingIOError
        when none is waiting (the socket is non-blocking), ZygoteError if the server is gone."""
        try:
            data, fds, _flags, _addr = socket.recv_fds(self.sock, 1024, 1)
        except BlockingIOError:
            raise
        except OSError as e:
            raise ZygoteError(f"executor fork server failed: {e}") from e
        if not data:
            for fd in fds:
                os.close(fd)
            raise ZygoteError("executor fork server exited")
        reply = msgspec.msgpack.decode(data)
        if not fds:
            return f"could not start the executor: {reply}"
        return int(reply), fds[0]

    def spawn(self, request: SpawnRequest) -> tuple[int, int]:
        """Start an executor and wait for it: (pid, pidfd). Raises ZygoteError."""
        self.sock.setblocking(True)
        try:
            self.submit(request)
            reply = self.receive()
        finally:
            self.sock.setblocking(False)
        if isinstance(reply, str):
            raise ZygoteError(reply)
        return reply

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(self.pid, 0)


# ---------------------------------------------------------------- inside the zygote


def _warm_up() -> None:  # pragma: no cover - runs in the zygote
    """Run one trivial task here, so that every executor forked later finds the modules the
    executor imports lazily (http, ssl, email, subprocess...) already loaded and its hot code
    already specialised, instead of paying for both on each task (about two thirds of a forked
    executor's CPU when this was measured)."""
    import tempfile

    from aurora.executor import ExecutorOptions, LaunchInfo, RunnerOptions, run_task

    data = msgspec.json.encode({"role": "warm", "environment": "up", "name": "zygote",
                                "task": {"name": "warm", "finalization_wait": 1, "processes": [
                                    {"name": "warm", "cmdline": "true", "min_duration": 0}]}})
    with tempfile.TemporaryDirectory(prefix="aurora-zygote-") as tmp:
        try:
            run_task(data, LaunchInfo(task_id="zygote-warm-up", hostname="localhost",
                                      user="nobody"), tmp, lambda update: None,
                     options=ExecutorOptions(runner=RunnerOptions(fsync="never")))
        except Exception as e:
            print(f"aurora-agent: executor warm-up failed: {e}", file=sys.stderr)


def _serve(sock: socket.socket) -> None:  # pragma: no cover - runs in the zygote
    _warm_up()
    # What the zygote holds is shared with every executor it forks: keep the collector from
    # writing to those objects' headers (which would copy their pages into each executor).
    gc.collect()
    gc.freeze()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the agent's ^C is the agent's business
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    decoder = msgspec.msgpack.Decoder(SpawnRequest)
    while True:
        ready, _, _ = select.select([sock], [], [], 0.5)
        _reap()
        if not ready:
            continue
        try:
            data = sock.recv(_MAX_MSG)
        except InterruptedError:
            continue
        if not data:
            return  # the agent is gone
        try:
            request = decoder.decode(data)
        except msgspec.DecodeError as e:
            sock.send(msgspec.msgpack.encode(f"bad request: {e}"))
            continue
        try:
            pid = os.fork()
        except OSError as e:
            sock.send(msgspec.msgpack.encode(f"fork failed: {e}"))
            continue
        if pid == 0:
            code = 1
            try:
                sock.close()
                code = _executor(request)
            finally:
                os._exit(code)
        try:
            pidfd = os.pidfd_open(pid)
        except OSError as e:
            sock.send(msgspec.msgpack.encode(f"pidfd_open failed: {e}"))
            continue
        try:
            socket.send_fds(sock, [msgspec.msgpack.encode(pid)], [pidfd])
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


def _executor(request: SpawnRequest) -> int:  # pragma: no cover - runs in the executor child
    os.setsid()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    os.makedirs(request.task_dir, exist_ok=True)
    log_fd = os.open(os.path.join(request.task_dir, "executor.log"),
                     os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null_fd, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.closerange(3, _max_fd())
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)

    from aurora.executor import ExecutorOptions, LaunchInfo, RunnerOptions, run_task

    status_sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    status_sock.settimeout(2.0)
    address = request.status_address

    def on_status(update: object) -> None:
        send_status(status_sock, address, update)

    launch = LaunchInfo(task_id=request.task_id, instance=request.instance,
                        hostname=request.hostname, ports=dict(request.ports), user=request.user)
    options = ExecutorOptions(runner=RunnerOptions(fsync=request.fsync),  # type: ignore[arg-type]
                              install_signal_handlers=True)
    update = run_task(request.executor_data, launch, os.path.join(request.task_dir, "sandbox"),
                      on_status, options=options)
    sys.stdout.flush()
    return 0 if update.state.name == "FINISHED" else 1


def send_status(sock: socket.socket, address: bytes, update: object) -> bool:
    """Send one executor status update to the agent; False if the agent is not there (the
    checkpoint has it: a restarted agent reads it from there)."""
    payload = msgspec.msgpack.encode((update.task_id, int(update.state),  # type: ignore[attr-defined]
                                      update.message, update.timestamp))  # type: ignore[attr-defined]
    try:
        sock.sendto(payload, address)
        return True
    except OSError as e:
        if e.errno not in (errno.ECONNREFUSED, errno.ENOENT, errno.EAGAIN, errno.ETIMEDOUT,
                           errno.ENOBUFS) and not isinstance(e, TimeoutError):
            print(f"aurora-executor: status to agent failed: {e}", file=sys.stderr)
        return False


def _max_fd() -> int:
    try:
        return os.sysconf("SC_OPEN_MAX")
    except (ValueError, OSError):
        return 1024
