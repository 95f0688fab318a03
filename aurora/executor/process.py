"""Running one process of a task: a forked coordinator that execs it and records how it ended.

As in Thermos, each run of a process has a *coordinator*: a fork of the runner (no new
interpreter) that starts ``/bin/bash -c <cmdline>`` and waits for it. The coordinator

* becomes a session and process-group leader (``setsid``), so the process and anything it starts
  share a process group the runner can signal as a whole, and so the run outlives the runner;
* waits for the runner's go-ahead on a pipe, sent only after the runner has checkpointed FORKED
  with the coordinator's pid: if the runner dies first, the coordinator exits without running;
* appends ``Started(pid)`` and ``Exited(return code, message)`` records to its own status stream
  (same framing as the checkpoint) and pokes the runner through a shared notify pipe;
* detects ``command not found`` (bash's exit status 127/126 and its stderr line) and puts it in
  the exit message;
* swallows SIGTERM/SIGINT/SIGHUP (a handler, not SIG_IGN, so the exec'd process gets the default
  disposition back) so that a SIGTERM to the group reaches the process while the coordinator
  lives to record the result; the signals are blocked from before the fork until the handler
  is in place, and one that arrives before the process exists stops it from starting (or is
  passed on once it does); SIGKILL to the group ends both;
* on exit kills whatever the process left behind in its group (Thermos kills a finished process's
  group too).

A runner recovering from a checkpoint re-attaches to coordinators that are still alive
(:meth:`Coordinator.attach`, identity checked by the kernel start time of the pid) through
pidfds, which work for processes that are not its children, and reads what they recorded.
"""

from __future__ import annotations

import contextlib
import gc
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NoReturn

import msgspec

from aurora.executor.checkpoint import CheckpointCorrupt, decode_frames, encode_frame
from aurora.executor.logs import LogSettings, RotatingFile, read_tail

__all__ = [
    "Coordinator",
    "Exited",
    "LaunchError",
    "LaunchSpec",
    "ProcStat",
    "Started",
    "close_fds_except",
    "describe_exit",
    "kill_orphan_group",
    "proc_stat",
]

SHELL = "/bin/bash"
_TAIL = 4096
_NOT_FOUND_MARKERS = ("command not found", "No such file or directory", "Permission denied",
                      "cannot execute")


class Started(msgspec.Struct, array_like=True, tag_field="k", tag="s"):
    pid: int
    start_time: float
    ticks: int | None = None


class Exited(msgspec.Struct, array_like=True, tag_field="k", tag="e"):
    return_code: int | None  # None: the process never started
    stop_time: float
    message: str | None = None


CoordinatorRecord = Started | Exited
_record_decoder = msgspec.msgpack.Decoder(CoordinatorRecord)


class LaunchError(OSError):
    """The coordinator could not be forked."""


@dataclass(frozen=True, slots=True)
class LaunchSpec:
    name: str
    run: int
    cmdline: str
    cwd: str
    env: dict[str, str]
    status_path: str
    stdout_path: str
    stderr_path: str
    logs: LogSettings


@dataclass(frozen=True, slots=True)
class ProcStat:
    state: str
    pgrp: int
    ticks: int
    session: int = 0


def proc_stat(pid: int) -> ProcStat | None:
    """State, process group, start time (clock ticks since boot) and session of ``pid``, or
    None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fp:
            data = fp.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2:].split()
    try:
        return ProcStat(state=fields[0].decode(), pgrp=int(fields[2]), ticks=int(fields[19]),
                        session=int(fields[3]))
    except (IndexError, ValueError):
        return None


def describe_exit(return_code: int | None, stderr_tail: bytes = b"") -> str | None:
    """Why a process ended, for status messages; None for a clean exit."""
    if return_code == 0:
        return None
    if return_code is None:
        return "process did not start"
    if return_code < 0:
        try:
            name = signal.Signals(-return_code).name
        except ValueError:
            name = str(-return_code)
        return f"killed by signal {name}"
    if return_code in (126, 127):
        lines = stderr_tail.decode(errors="replace").splitlines()
        for line in reversed(lines):
            if any(marker in line for marker in _NOT_FOUND_MARKERS):
                kind = "command not found" if return_code == 127 else "command not executable"
                return f"{kind} (exit status {return_code}): {line.strip()}"
    return f"exit status {return_code}"


def kill_orphan_group(pgid: int, pid: int | None, ticks: int | None) -> bool:
    """SIGKILL the group of a run whose coordinator is gone, if ``pid`` is still that run's."""
    if pid is None:
        return False
    stat = proc_stat(pid)
    if stat is None or stat.state == "Z" or stat.pgrp != pgid:
        return False
    if ticks is not None and stat.ticks != ticks:
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
        return True
    return False


class Coordinator:
    """The runner's handle on one run's coordinator (its pid, pidfd and status stream)."""

    def __init__(self, pid: int, ticks: int | None, status_path: str, pidfd: int,
                 is_child: bool) -> None:
        self.pid = pid
        self.ticks = ticks
        self.status_path = status_path
        self.pidfd = pidfd
        self.is_child = is_child
        self._offset = 0
        self._reaped = False

    # --- creation

    @classmethod
    def launch(cls, spec: LaunchSpec, notify_fd: int,
               before_go: Callable[[int, int | None], None]) -> Coordinator:
        """Fork a coordinator for ``spec``; ``before_go(pid, ticks)`` runs before it may start."""
        for path in (spec.status_path, spec.stdout_path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        go_r, go_w = os.pipe()
        # Termination signals stay blocked until the coordinator has its handlers, so a
        # SIGTERM to the new group can never kill it before it can record anything.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _SWALLOWED)
        try:
            pid = os.fork()
        except OSError as e:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            os.close(go_r)
            os.close(go_w)
            raise LaunchError(e.errno, f"could not fork a coordinator: {e.strerror}") from e
        if pid == 0:  # pragma: no cover - runs in the coordinator
            _coordinator_main(spec, go_r, go_w, notify_fd, mask)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.close(go_r)
        stat = proc_stat(pid)
        ticks = stat.ticks if stat else None
        try:
            pidfd = os.pidfd_open(pid)
            before_go(pid, ticks)
        except BaseException:
            os.close(go_w)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            raise
        # From here the run is checkpointed: if the go-ahead cannot be delivered the
        # coordinator exits without a record and the runner accounts for it as LOST.
        with contextlib.suppress(OSError):
            os.write(go_w, b"g")
        os.close(go_w)
        return cls(pid, ticks, spec.status_path, pidfd, is_child=True)

    @classmethod
    def attach(cls, pid: int, ticks: int | None, status_path: str) -> Coordinator | None:
        """Re-attach to a live coordinator of an earlier runner; None if it is gone."""
        try:
            pidfd = os.pidfd_open(pid)
        except (ProcessLookupError, OSError):
            return None
        stat = proc_stat(pid)
        if stat is None or stat.state == "Z" or (ticks is not None and stat.ticks != ticks):
            os.close(pidfd)
            return None
        return cls(pid, ticks, status_path, pidfd, is_child=False)

    # --- observation

    def read(self) -> list[CoordinatorRecord]:
        """Records appended to the status stream since the last read."""
        try:
            with open(self.status_path, "rb") as fp:
                fp.seek(self._offset)
                data = fp.read()
        except FileNotFoundError:
            return []
        try:
            records, valid = decode_frames(data, _record_decoder)
        except CheckpointCorrupt:
            return []
        self._offset += valid
        return records

    def dead(self) -> bool:
        """True once the coordinator has exited."""
        if self.pidfd < 0:
            return True
        ready, _, _ = select.select([self.pidfd], [], [], 0)
        return bool(ready)

    def signal_group(self, sig: int) -> None:
        """Signal the run's process group (only while the group is surely ours)."""
        if self.pidfd < 0 or self._reaped:
            return
        if self.dead() and not self.is_child:
            return  # its pid may already be reused; the coordinator cleaned its group up
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def wait_dead(self, timeout: float) -> bool:
        if self.pidfd < 0:
            return True
        ready, _, _ = select.select([self.pidfd], [], [], max(0.0, timeout))
        return bool(ready)

    def close(self) -> None:
        """Reap (if it is our child and has exited) and release the pidfd."""
        if self.is_child and not self._reaped and self.dead():
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self._reaped = True
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1


# --- the coordinator itself (runs in the forked child)


_SWALLOWED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_terminated: list[int] = []  # signals the coordinator received (it forwards them)


def _remember(signum: int, frame: object) -> None:
    _terminated.append(signum)


def close_fds_except(keep: set[int]) -> None:
    """Close every descriptor from 3 up but those in KEEP."""
    low = 3
    for fd in sorted(keep):
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    os.closerange(low, 1 << 20)


def _coordinator_main(spec: LaunchSpec, go_r: int, go_w: int, notify_fd: int,
                      mask: Iterable[int]) -> NoReturn:
    code = 0
    leader = False
    try:
        gc.disable()  # objects inherited from the runner must never be finalised here
        os.close(go_w)
        os.setsid()
        leader = True
        signal.set_wakeup_fd(-1)
        for sig in _SWALLOWED:
            signal.signal(sig, _remember)
        for sig in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        close_fds_except({go_r, notify_fd})
        if os.read(go_r, 1) != b"g":
            os._exit(3)  # the runner died before checkpointing this run
        os.close(go_r)
        status = os.open(spec.status_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

        def emit(record: CoordinatorRecord) -> None:
            os.write(status, encode_frame(record))
            with contextlib.suppress(OSError):
                os.write(notify_fd, b"n")

        _supervise(spec, emit)
    except BaseException:
        code = 2
    finally:
        if leader:
            with contextlib.suppress(OSError):
                os.killpg(0, signal.SIGKILL)  # leftovers of this run, and ourselves
        os._exit(code)


def _supervise(spec: LaunchSpec, emit: Callable[[CoordinatorRecord], None]) -> None:
    logs = spec.logs
    args = [SHELL, "-c", spec.cmdline]
    if _terminated:  # told to stop before the process even started
        emit(Exited(return_code=-_terminated[0], stop_time=time.time(),
                    message=f"killed by signal {signal.Signals(_terminated[0]).name} "
                            "before it started"))
        return
    try:
        if logs.direct:
            out = os.open(spec.stdout_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            err = os.open(spec.stderr_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                        cwd=spec.cwd, env=spec.env, close_fds=True)
            finally:
                os.close(out)
                os.close(err)
        else:
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, cwd=spec.cwd, env=spec.env,
                                    close_fds=True)
    except OSError as e:
        emit(Exited(return_code=None, stop_time=time.time(),
                    message=f"could not start {spec.name}: {e}"))
        return
    stat = proc_stat(proc.pid)
    emit(Started(pid=proc.pid, start_time=time.time(), ticks=stat.ticks if stat else None))
    if _terminated:  # a signal for the group arrived while the process was being started
        with contextlib.suppress(OSError):
            os.killpg(0, _terminated[0])
    if logs.direct:
        rc = proc.wait()
        tail = read_tail(spec.stderr_path, _TAIL) if rc in (126, 127) else b""
    else:
        rc, tail = _pump(proc, spec)
    emit(Exited(return_code=rc, stop_time=time.time(), message=describe_exit(rc, tail)))


class _Sink:
    def __init__(self, spec: LaunchSpec, stream: str, console_fd: int) -> None:
        logs = spec.logs
        path = spec.stdout_path if stream == "stdout" else spec.stderr_path
        self.file: RotatingFile | None = None
        if logs.to_file:
            limit = logs.max_bytes if logs.mode == "rotate" else 0
            self.file = RotatingFile(path, limit, logs.backups)
        self.console = console_fd if logs.to_console else -1
        self.tail = b""

    def write(self, data: bytes) -> None:
        if self.file is not None:
            self.file.write(data)
        if self.console >= 0:
            with contextlib.suppress(OSError):
                os.write(self.console, data)
        self.tail = (self.tail + data)[-_TAIL:]


def _pump(proc: subprocess.Popen[bytes], spec: LaunchSpec) -> tuple[int, bytes]:
    assert proc.stdout is not None and proc.stderr is not None
    sinks = {proc.stdout.fileno(): _Sink(spec, "stdout", 1),
             proc.stderr.fileno(): _Sink(spec, "stderr", 2)}
    pidfd = os.pidfd_open(proc.pid)
    open_fds = set(sinks)
    exited = False
    while open_fds:
        ready, _, _ = select.select([*open_fds, pidfd] if not exited else list(open_fds), [], [],
                                    0 if exited else None)
        if pidfd in ready:
            exited = True
            for fd in open_fds:
                os.set_blocking(fd, False)  # drain, but never wait for leftover writers
            continue
        if exited and not ready:
            break
        for fd in ready:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                data = None
            if data:
                sinks[fd].write(data)
            elif data == b"":
                open_fds.discard(fd)
    rc = proc.wait()
    stderr_sink = sinks[proc.stderr.fileno()]
    return rc, stderr_sink.tail
