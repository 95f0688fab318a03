"""What an agent knows of its tasks, on disk and in memory.

Each task has a directory ``<work>/agents/<agent id>/tasks/<task id>/`` holding

* ``launch.msgpack``: the :class:`~aurora.scheduler.backend.Launch` as received (written before
  the executor starts, so a restarted agent knows the task even if the executor never ran);
* ``executor.log``: the executor's own stdout/stderr;
* ``sandbox/``: the task's sandbox, with the executor's checkpoint in ``sandbox/.thermos`` and
  the processes' logs in ``sandbox/.logs``;
* ``kill``: present once the scheduler asked to kill the task (the executor, which may run
  other tasks after this one, acts on a kill signal only while this file exists);
* ``done``: present once the scheduler acknowledged the task's terminal status; a restarted
  agent skips such tasks, and the whole directory is removed ``--sandbox-gc-hours`` after it
  appeared (:mod:`aurora.agent.sandbox_gc`, as a Mesos agent's ``--gc_delay``).

The agent's truth about a task's status is the executor's checkpoint (it records every status
the executor reported); the status datagrams only make it prompt. So an agent that restarts
re-derives every unfinished task's status from its checkpoint and reports it again: nothing an
agent crash interrupted is lost, and duplicates change nothing upstream.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass, field

import msgspec

from aurora.executor.checkpoint import CheckpointError, RunnerState, is_locked, replay
from aurora.executor.process import kill_orphan_group, proc_stat
from aurora.model.status import TERMINAL_STATES
from aurora.scheduler.backend import Launch

__all__ = ["LocalTask", "TaskDir", "kill_session", "live_pidfd", "orphan_cleanup",
           "recorded_executor_pid", "runner_pid"]

TERMINAL = frozenset(int(s) for s in TERMINAL_STATES)
KILL_FILE = "kill"
_launch_decoder = msgspec.msgpack.Decoder(Launch)


@dataclass
class LocalTask:
    """One task on one agent."""

    launch: Launch
    dir: TaskDir
    pid: int = 0
    pidfd: int = -1
    status: int = 0  # last status reported upward (0: none yet)
    message: str | None = None
    timestamp_ms: int = 0
    seq: int = 0  # the agent-channel seq of the last status reported
    kill_requested: bool = False
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def task_id(self) -> str:
        return self.launch.task_id

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True)
class TaskDir:
    path: str

    @property
    def sandbox(self) -> str:
        return os.path.join(self.path, "sandbox")

    @property
    def checkpoint(self) -> str:
        return os.path.join(self.sandbox, ".thermos", "runner.ckpt")

    @property
    def launch_file(self) -> str:
        return os.path.join(self.path, "launch.msgpack")

    @property
    def done_file(self) -> str:
        return os.path.join(self.path, "done")

    def create(self, launch: Launch) -> None:
        os.makedirs(self.path, exist_ok=True)
        tmp = self.launch_file + ".tmp"
        with open(tmp, "wb") as fp:
            fp.write(msgspec.msgpack.encode(launch))
        os.replace(tmp, self.launch_file)

    def read_launch(self) -> Launch | None:
        try:
            with open(self.launch_file, "rb") as fp:
                return _launch_decoder.decode(fp.read())
        except (OSError, msgspec.DecodeError):
            return None

    @property
    def kill_file(self) -> str:
        return os.path.join(self.path, KILL_FILE)

    def request_kill(self) -> None:
        """Mark the task to be killed (its executor acts on SIGUSR1 only once this exists)."""
        with contextlib.suppress(OSError), open(self.kill_file, "wb"):
            pass

    def is_done(self) -> bool:
        return os.path.exists(self.done_file)

    def mark_done(self) -> None:
        with contextlib.suppress(OSError), open(self.done_file, "wb"):
            pass

    def runner_alive(self) -> bool:
        return is_locked(self.checkpoint)

    def state(self) -> RunnerState | None:
        """The checkpoint's story, or None if there is none (or it cannot be read)."""
        if not os.path.exists(self.checkpoint):
            return None
        try:
            return replay(self.checkpoint)
        except (CheckpointError, OSError):
            return None


def runner_pid(state: RunnerState | None) -> int:
    if state is None or not state.statuses:
        return 0
    return state.statuses[-1].runner_pid


def kill_session(sid: int) -> int:
    """SIGKILL every process of session ``sid`` (a dead executor's: it led its session, and the
    processes it started stay in it, whatever their process group). The session id cannot be
    reused while any of them lives. Returns how many were signalled."""
    if sid <= 1 or sid == os.getsid(0):
        return 0
    killed = 0
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0
    for entry in entries:
        if not entry.isdigit():
            continue
        stat = proc_stat(int(entry))
        if stat is None or stat.session != sid:
            continue
        with contextlib.suppress(OSError):
            os.kill(int(entry), signal.SIGKILL)
            killed += 1
    return killed


def orphan_cleanup(state: RunnerState | None) -> int:
    """Kill the process groups a dead executor left running; returns how many were signalled."""
    if state is None:
        return 0
    killed = 0
    for runs in state.processes.values():
        run = runs[-1] if runs else None
        if run is None or run.coordinator_pid is None or run.stop_time is not None:
            continue
        pgid = run.coordinator_pid  # the coordinator leads the run's process group
        if kill_orphan_group(pgid, pgid, run.coordinator_ticks) or kill_orphan_group(
                pgid, run.pid, None):
            killed += 1
    return killed


def recorded_executor_pid(tdir: TaskDir) -> int:
    """The executor's pid if it is alive and still leads its own session (not a reused pid)."""
    try:
        with open(os.path.join(tdir.path, "executor.pid")) as fp:
            pid = int(fp.read().strip())
    except (OSError, ValueError):
        return 0
    stat = proc_stat(pid)
    return pid if stat is not None and stat.state != "Z" and stat.session == pid else 0


def live_pidfd(pid: int) -> int:
    """A pidfd for PID if it is alive (not a zombie), else -1."""
    if pid <= 0:
        return -1
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return -1
    stat = proc_stat(pid)
    if stat is None or stat.state == "Z":
        os.close(fd)
        return -1
    return fd
