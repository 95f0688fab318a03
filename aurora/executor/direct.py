"""Running one process of a task without a coordinator: the runner is the process's parent.

A coordinator (:mod:`aurora.executor.process`) lets a run outlive its runner and still record how
it ended; it costs a fork of the runner per process run. An agent-launched executor does not need
that: when an agent's executor dies, its task is LOST and the agent kills what the executor
started (every process of the executor's session, and the groups its checkpoint names), so the
runs need not outlive it. Such executors run their processes *directly*:

* ``/bin/bash -c <cmdline>`` is started by the runner itself (vfork + exec, no copy of the
  runner), as the leader of its own process group (the runner signals the group as a whole),
  in the runner's session (so the agent finds it from the executor's pid even if the runner died
  before checkpointing it), stdout/stderr straight into the run's log files;
* the runner checkpoints FORKED and RUNNING with the process's pid as the group leader (the
  field a coordinator's pid takes otherwise), and reaps the process itself: its exit status and
  ``command not found`` are recorded exactly as a coordinator records them;
* once the process exits, whatever it left in its group is killed (as a coordinator does).

Only processes whose output goes straight to files can run directly (``Logger`` mode
``standard``, destination ``file``: the default); rotated or console logs need a reader, their
coordinator. A runner recovering a checkpoint re-attaches to direct runs through pidfds like to
coordinators; a run that ended while no runner watched has no recorded exit status and is LOST.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable

from aurora.executor.logs import read_tail
from aurora.executor.process import (
    SHELL,
    CoordinatorRecord,
    Exited,
    LaunchError,
    LaunchSpec,
    Started,
    describe_exit,
    proc_stat,
)

__all__ = ["DirectRun"]

_TAIL = 4096
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC


class DirectRun:
    """The runner's handle on a process it started itself (see the module docstring).

    It answers the runner like a :class:`~aurora.executor.process.Coordinator`: ``read()``
    yields ``Started`` once, then ``Exited`` once the process has been reaped.
    """

    def __init__(self, proc: subprocess.Popen[bytes], ticks: int | None, pidfd: int,
                 stderr_path: str, started: float) -> None:
        self.pid = proc.pid
        self.ticks = ticks
        self.pidfd = pidfd
        self._proc = proc
        self._stderr_path = stderr_path
        self._pending: list[CoordinatorRecord] = [
            Started(pid=proc.pid, start_time=started, ticks=ticks)]
        self._reaped = False

    @classmethod
    def launch(cls, spec: LaunchSpec, before_go: Callable[[int, int | None], None]) -> DirectRun:
        """Start ``spec``'s process; ``before_go(pid, ticks)`` checkpoints it right after."""
        os.makedirs(os.path.dirname(spec.stdout_path), exist_ok=True)
        out = err = -1
        try:
            out = os.open(spec.stdout_path, _FILE_FLAGS, 0o644)
            err = os.open(spec.stderr_path, _FILE_FLAGS, 0o644)
            proc = subprocess.Popen([SHELL, "-c", spec.cmdline], stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=err, cwd=spec.cwd, env=spec.env,
                                    close_fds=True, process_group=0)
        except OSError as e:
            raise LaunchError(e.errno, f"could not start {spec.name}: {e.strerror}") from e
        finally:
            for fd in (out, err):
                if fd >= 0:
                    os.close(fd)
        started = time.time()
        stat = proc_stat(proc.pid)
        ticks = stat.ticks if stat else None
        try:
            pidfd = os.pidfd_open(proc.pid)
            before_go(proc.pid, ticks)
        except BaseException:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        return cls(proc, ticks, pidfd, spec.stderr_path, started)

    # --- observation

    def read(self) -> list[CoordinatorRecord]:
        """What happened since the last read: Started (once), then Exited once reaped."""
        if not self._reaped and self.dead():
            self._reap()
        records, self._pending = self._pending, []
        return records

    def dead(self) -> bool:
        if self._reaped or self.pidfd < 0:
            return True
        ready, _, _ = select.select([self.pidfd], [], [], 0)
        return bool(ready)

    def _reap(self) -> None:
        rc = self._proc.wait()
        self._reaped = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # whatever the process left in its group
        tail = read_tail(self._stderr_path, _TAIL) if rc in (126, 127) else b""
        self._pending.append(Exited(return_code=rc, stop_time=time.time(),
                                    message=describe_exit(rc, tail)))

    def signal_group(self, sig: int) -> None:
        """Signal the run's process group (none is left once the process is reaped)."""
        if self._reaped:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def wait_dead(self, timeout: float) -> bool:
        if self._reaped or self.pidfd < 0:
            return True
        ready, _, _ = select.select([self.pidfd], [], [], max(0.0, timeout))
        return bool(ready)

    def close(self) -> None:
        """Reap the process if it has exited and release the pidfd (a live one keeps running)."""
        if not self._reaped and self.dead():
            self._proc.wait()
            self._reaped = True
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1
