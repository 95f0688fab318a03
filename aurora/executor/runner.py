"""The Thermos task runner: runs a task's processes to a terminal state, checkpointing every step.

Task states (Thermos): ACTIVE runs the regular plan. When it completes, becomes unhealthy (more
failed processes than the task's ``max_failures``, or deadlocked) or is killed, the task moves to
CLEANING: every running process group gets SIGTERM and has until the deadline
(``finalization_wait`` after cleaning began, or the kill's own wait) to exit. Then FINALIZING runs
the ``final`` processes within what is left of the deadline. Anything still alive at the deadline
is SIGKILLed and the task ends SUCCESS (regular plan healthy), FAILED, or the state a kill forced
(KILLED or LOST).

Process runs move WAITING -> FORKED -> RUNNING -> SUCCESS / FAILED / KILLED / LOST; see
:mod:`aurora.executor.planner` for retries, daemons, ephemerals and min_duration, and
:mod:`aurora.executor.process` for the coordinators that run them.

Every transition is a checkpoint record, applied through one code path (:meth:`_apply`) both
live and during replay, so a runner started on an existing checkpoint rebuilds the same state and
plan, re-attaches to coordinators that are still running and accounts for those that finished
(or vanished) while no runner was watching.

The runner never sleeps: :meth:`TaskRunner.step` does whatever is due and returns how long the
caller may wait, and :meth:`TaskRunner.fds` lists what to wait on (coordinator pidfds and the
notify pipe). :mod:`aurora.executor.executor` drives it together with health checks.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass, field

from aurora.executor.checkpoint import (
    TERMINAL_PROCESS_STATES,
    CheckpointError,
    CheckpointWriter,
    FsyncPolicy,
    ProcessRun,
    ProcessState,
    ProcessStatus,
    Record,
    ReportedStatus,
    RunnerHeader,
    RunnerState,
    TaskState,
    TaskStatus,
    apply_record,
    read_records,
)
from aurora.executor.clock import Clock, SystemClock
from aurora.executor.direct import DirectRun
from aurora.executor.logs import LogSettings, log_settings
from aurora.executor.planner import INFINITY, TaskPlanner
from aurora.executor.process import (
    Coordinator,
    CoordinatorRecord,
    Exited,
    LaunchError,
    LaunchSpec,
    Started,
    kill_orphan_group,
)
from aurora.executor.sandbox import SandboxLayout
from aurora.executor.task import LaunchInfo, ResolvedTask, resolve_task

__all__ = ["RunnerOptions", "TaskRunner"]

_ACTIVE_RUN = (ProcessState.WAITING, ProcessState.FORKED, ProcessState.RUNNING)
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class RunnerOptions:
    fsync: FsyncPolicy = "always"
    log_defaults: LogSettings = field(default_factory=LogSettings)
    preserve_env: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)
    # A coordinator that has not reported RUNNING this long after its fork is LOST (Thermos).
    lost_timeout: float = 60.0
    # Longest pause between steps (coordinators of an earlier runner cannot notify us).
    max_iteration_wait: float = 1.0
    # Start processes whose output goes straight to files without a coordinator (see
    # aurora.executor.direct): for executors whose death ends their task (the agent's).
    direct: bool = False


class TaskRunner:
    """Runs one :class:`ResolvedTask` in ``layout``; see the module docstring."""

    def __init__(
        self,
        task: ResolvedTask,
        layout: SandboxLayout,
        *,
        task_data: bytes | None = None,
        clock: Clock | None = None,
        options: RunnerOptions | None = None,
    ) -> None:
        self.task = task
        self.layout = layout
        self._task_data = task_data
        self._clock: Clock = clock or SystemClock()
        self.options = options or RunnerOptions()
        self.state = RunnerState()
        self._regular = TaskPlanner(task.processes, task.constraints, final=False)
        self._finalizing = TaskPlanner(task.processes, task.constraints, final=True)
        self._writer: CheckpointWriter | None = None
        self._coordinators: dict[str, Coordinator | DirectRun] = {}
        self._notify_r = self._notify_w = -1
        self._deadline: float | None = None
        self._forced: TaskState | None = None
        self.attached: list[str] = []  # processes re-attached on recovery

    # --- construction from a checkpoint

    @classmethod
    def recover(
        cls,
        checkpoint_root: str,
        *,
        clock: Clock | None = None,
        options: RunnerOptions | None = None,
    ) -> TaskRunner:
        """A runner for the task whose checkpoint is under ``checkpoint_root``."""
        checkpoint = os.path.join(checkpoint_root, "runner.ckpt")
        records, _ = read_records(checkpoint)
        header = next((r for r in records if isinstance(r, RunnerHeader)), None)
        if header is None:
            raise CheckpointError(f"no runner header in {checkpoint}")
        with open(os.path.join(checkpoint_root, "task.json"), "rb") as fp:
            data = fp.read()
        launch = LaunchInfo(task_id=header.task_id, instance=header.instance,
                            hostname=header.hostname, ports=dict(header.ports), user=header.user)
        layout = SandboxLayout(sandbox=header.sandbox, checkpoint_root=checkpoint_root,
                               log_dir=header.log_dir)
        return cls(resolve_task(data, launch), layout, task_data=data, clock=clock,
                   options=options)

    # --- queries

    @property
    def task_state(self) -> TaskState:
        return self.state.task_state

    @property
    def is_terminal(self) -> bool:
        return self.state.is_terminal

    @property
    def regular_plan(self) -> TaskPlanner:
        return self._regular

    @property
    def finalizing_plan(self) -> TaskPlanner:
        return self._finalizing

    def fds(self) -> list[int]:
        fds = [c.pidfd for c in self._coordinators.values() if c.pidfd >= 0]
        if self._notify_r >= 0:
            fds.append(self._notify_r)
        return fds

    def healthy(self, now: float) -> bool:
        limit = self.task.max_failures
        failed = len(self._regular.failed)
        return not self._regular.deadlocked(now) and (limit == 0 or failed < limit)

    def failure_message(self) -> str:
        """Why the task failed, from the runs of its failed processes."""
        parts = []
        for name in self._regular.failed:
            runs = self.state.processes.get(name, [])
            last = runs[-1] if runs else None
            attempts = self._regular.failures[name]
            reason = (last.message if last and last.message else
                      f"exit status {last.return_code}" if last else "failed")
            parts.append(f"process {name!r} failed after {attempts} attempt"
                         f"{'s' if attempts != 1 else ''}: {reason}")
        if parts:
            return "Task failed: " + "; ".join(parts)
        if self._regular.deadlocked(self._clock.time()):
            return "Task failed: its processes can no longer make progress"
        return "Task failed."

    # --- lifecycle

    def start(self) -> None:
        """Take the checkpoint (exclusively), replay it, and resume or begin the task.

        Raises CheckpointLocked while another runner holds it. Calling it again is a no-op.
        """
        if self._writer is not None:
            return
        self.layout.make_dirs()
        self._writer = CheckpointWriter(self.layout.checkpoint_path, fsync=self.options.fsync)
        for record in self._writer.records:
            self._apply(record)
        now = self._clock.time()
        if self.state.header is None:
            if self._task_data is not None:
                tmp = self.layout.task_path + ".tmp"
                with open(tmp, "wb") as fp:
                    fp.write(self._task_data)
                os.replace(tmp, self.layout.task_path)
            self._write(RunnerHeader(
                task_id=self.task.task_id, launch_time=now, sandbox=self.layout.sandbox,
                log_dir=self.layout.log_dir, hostname=self.task.hostname, user=self.task.user,
                uid=os.getuid(), instance=self.task.instance, ports=dict(self.task.ports)))
        elif self.state.header.task_id != self.task.task_id:
            raise CheckpointError(f"checkpoint belongs to task {self.state.header.task_id}, "
                                  f"not {self.task.task_id}")
        if self.is_terminal:
            return
        self._notify_r, self._notify_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._write(TaskStatus(state=self.task_state, timestamp=now, runner_pid=os.getpid()))
        self._reattach(now)
        if self.task_state == TaskState.CLEANING:
            self._signal_running(signal.SIGTERM)

    def close(self) -> None:
        """Release the checkpoint and every handle (coordinators keep running if alive)."""
        for coordinator in self._coordinators.values():
            coordinator.close()
        self._coordinators.clear()
        for fd in (self._notify_r, self._notify_w):
            if fd >= 0:
                os.close(fd)
        self._notify_r = self._notify_w = -1
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def record_reported(self, state: int, message: str | None) -> None:
        """Checkpoint the status last sent upward (see ReportedStatus)."""
        if self._writer is not None:
            self._write(ReportedStatus(state=state, message=message,
                                       timestamp=self._clock.time()))

    def kill(self, wait: float | None = None, terminal: TaskState = TaskState.KILLED) -> None:
        """Stop the task: SIGTERM now, SIGKILL after ``wait`` (default finalization_wait)."""
        if terminal not in (TaskState.KILLED, TaskState.LOST):
            raise ValueError("a kill ends a task KILLED or LOST")
        if self.is_terminal:
            return
        now = self._clock.time()
        deadline = now + (self.task.finalization_wait if wait is None else wait)
        if self.task_state != TaskState.ACTIVE and self._deadline is not None:
            deadline = min(deadline, self._deadline)  # a kill never extends the time left
        self._set_task_state(self.task_state if self.task_state != TaskState.ACTIVE
                             else TaskState.CLEANING, now, terminal=terminal, deadline=deadline)

    def lose(self) -> None:
        """Kill everything now and end the task LOST."""
        self.kill(wait=0.0, terminal=TaskState.LOST)

    def step(self) -> float | None:
        """Do what is due; seconds until the next step is wanted, or None once terminal."""
        if self._writer is None and not self.is_terminal:
            raise CheckpointError("runner not started")
        if self.is_terminal:
            return None
        now = self._clock.time()
        self._drain_notify()
        self._collect(now)
        for _ in range(8):
            wait = self._run_stage(now)
            if wait is not None:
                return max(0.0, min(wait, self.options.max_iteration_wait))
            self._advance(now)
            if self.is_terminal:
                return None
        return 0.0

    # --- stages

    def _run_stage(self, now: float) -> float | None:
        state = self.task_state
        if state == TaskState.ACTIVE:
            self._run_plan(self._regular, now)
            if self._regular.is_complete() or not self.healthy(now):
                return None
            return self._plan_wait(self._regular, now)
        if state == TaskState.CLEANING:
            assert self._deadline is not None
            if not self._coordinators or now >= self._deadline:
                return None
            return self._deadline - now
        if state == TaskState.FINALIZING:
            assert self._deadline is not None
            self._run_plan(self._finalizing, now)
            if (now >= self._deadline or self._finalizing.is_complete()
                    or self._finalizing.deadlocked(now)):
                return None
            return min(self._deadline - now, self._plan_wait(self._finalizing, now))
        return None

    def _advance(self, now: float) -> None:
        state = self.task_state
        if state == TaskState.ACTIVE:
            self._set_task_state(TaskState.CLEANING, now,
                                 deadline=now + self.task.finalization_wait)
        elif state == TaskState.CLEANING:
            assert self._deadline is not None
            if now >= self._deadline:
                self._set_task_state(self._terminal_state(now), now)
            else:
                self._set_task_state(TaskState.FINALIZING, now)
        else:
            self._set_task_state(self._terminal_state(now), now)

    def _terminal_state(self, now: float) -> TaskState:
        if self._forced is not None:
            return self._forced
        return TaskState.SUCCESS if self.healthy(now) else TaskState.FAILED

    def _set_task_state(self, state: TaskState, now: float, *, terminal: TaskState | None = None,
                        deadline: float | None = None) -> None:
        previous = self.task_state
        self._write(TaskStatus(state=state, timestamp=now, runner_pid=os.getpid(),
                               terminal=terminal, deadline=deadline))
        if state == TaskState.CLEANING:
            self._signal_running(signal.SIGTERM)
            if deadline is not None and deadline <= now:
                self._kill_all(now, "killed")
        elif state == TaskState.FINALIZING and previous != state:
            self._kill_all(now, "killed before finalization")
        elif state not in _ACTIVE_TASK_STATES:
            self._kill_all(now, "killed at the end of the task")

    def _plan_wait(self, plan: TaskPlanner, now: float) -> float:
        limit = self.task.max_concurrency
        if limit and len(plan.running) >= limit:
            return INFINITY  # woken by a process exiting
        return plan.min_wait(now)

    def _run_plan(self, plan: TaskPlanner, now: float) -> None:
        runnable = plan.runnable_at(now)
        limit = self.task.max_concurrency
        if limit:
            runnable = runnable[: max(0, limit - len(plan.running))]
        for name in runnable:
            self._launch(name)

    # --- processes

    def _launch(self, name: str) -> None:
        current = self.state.current_run(name)
        if current is None or current.state in TERMINAL_PROCESS_STATES:
            seq = 0 if current is None else current.seq + 1
            self._write(ProcessStatus(process=name, seq=seq, state=ProcessState.WAITING,
                                      timestamp=self._clock.time()))
        run = self.state.current_run(name)
        assert run is not None and run.state == ProcessState.WAITING
        proc = self.task.process(name)
        spec = LaunchSpec(
            name=name,
            run=run.run,
            cmdline=proc.cmdline,
            cwd=self.layout.sandbox,
            env=self._environment(),
            status_path=self.layout.coordinator_path(name, run.run),
            stdout_path=self.layout.log_path(name, run.run, "stdout"),
            stderr_path=self.layout.log_path(name, run.run, "stderr"),
            logs=log_settings(proc.logger, self.options.log_defaults),
        )

        def forked(pid: int, ticks: int | None) -> None:
            self._write(self._next(name, ProcessState.FORKED, coordinator_pid=pid,
                                   coordinator_ticks=ticks, fork_time=self._clock.time()))

        try:
            if self.options.direct and spec.logs.direct:
                self._coordinators[name] = DirectRun.launch(spec, forked)
            else:
                self._coordinators[name] = Coordinator.launch(spec, self._notify_w, forked)
        except LaunchError as e:
            self._write(self._next(name, ProcessState.FAILED, message=str(e)))

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ) if self.options.preserve_env else {}
        env.update(HOME=self.layout.sandbox, LOGNAME=self.task.user, USER=self.task.user,
                   PATH=os.environ.get("PATH", _DEFAULT_PATH))
        env.update(self.options.extra_env)
        profile = os.path.join(self.layout.sandbox, ".thermos_profile")
        if os.path.exists(profile):
            env["BASH_ENV"] = profile
        return env

    def _next(self, name: str, state: ProcessState, **fields: object) -> ProcessStatus:
        current = self.state.current_run(name)
        assert current is not None
        return ProcessStatus(process=name, seq=current.seq + 1, state=state,
                             timestamp=self._clock.time(), **fields)  # type: ignore[arg-type]

    def _drain_notify(self) -> None:
        if self._notify_r < 0:
            return
        with contextlib.suppress(BlockingIOError):
            while os.read(self._notify_r, 4096):
                pass

    def _collect(self, now: float) -> None:
        for name, coordinator in list(self._coordinators.items()):
            for record in coordinator.read():
                self._on_coordinator_record(name, record)
            if name not in self._coordinators:
                continue
            if coordinator.dead():
                for record in coordinator.read():
                    self._on_coordinator_record(name, record)
                if name in self._coordinators:
                    self._finish_run(name, ProcessState.LOST,
                                     message="coordinator exited without recording a result")
            else:
                run = self.state.current_run(name)
                if (run is not None and run.state == ProcessState.FORKED
                        and run.fork_time is not None
                        and now - run.fork_time > self.options.lost_timeout):
                    coordinator.signal_group(signal.SIGKILL)
                    self._finish_run(name, ProcessState.LOST,
                                     message="process never started running")

    def _on_coordinator_record(self, name: str, record: CoordinatorRecord) -> None:
        run = self.state.current_run(name)
        if run is None or run.state not in (ProcessState.FORKED, ProcessState.RUNNING):
            return
        if isinstance(record, Started):
            if run.state == ProcessState.FORKED:
                self._write(self._next(name, ProcessState.RUNNING, pid=record.pid,
                                       start_time=record.start_time))
            return
        assert isinstance(record, Exited)
        rc = record.return_code
        if rc is None:
            state = ProcessState.FAILED
        else:
            state = (ProcessState.SUCCESS if rc == 0 else
                     ProcessState.KILLED if rc < 0 else ProcessState.FAILED)
            if run.state == ProcessState.FORKED and state == ProcessState.SUCCESS:
                self._write(self._next(name, ProcessState.RUNNING))  # no Started record
        self._finish_run(name, state, stop_time=record.stop_time, return_code=rc,
                         message=record.message)

    def _finish_run(self, name: str, state: ProcessState, **fields: object) -> None:
        self._write(self._next(name, state, **fields))
        coordinator = self._coordinators.pop(name, None)
        if coordinator is not None:
            if state in (ProcessState.KILLED, ProcessState.LOST):
                coordinator.wait_dead(0.5)
            coordinator.close()

    def _signal_running(self, sig: int) -> None:
        for coordinator in self._coordinators.values():
            coordinator.signal_group(sig)

    def _kill_all(self, now: float, message: str) -> None:
        self._collect(now)
        for name, coordinator in list(self._coordinators.items()):
            coordinator.signal_group(signal.SIGKILL)
            self._finish_run(name, ProcessState.KILLED, stop_time=now,
                             return_code=-signal.SIGKILL, message=message)

    def _reattach(self, now: float) -> None:
        for name, runs in self.state.processes.items():
            run = runs[-1]
            if run.state not in (ProcessState.FORKED, ProcessState.RUNNING):
                continue  # WAITING runs are simply forked again
            path = self.layout.coordinator_path(name, run.run)
            coordinator = None
            if run.coordinator_pid is not None:
                coordinator = Coordinator.attach(run.coordinator_pid, run.coordinator_ticks, path)
            if coordinator is not None:
                self._coordinators[name] = coordinator
                self.attached.append(name)
                for record in coordinator.read():
                    self._on_coordinator_record(name, record)
                continue
            # The coordinator is gone: use what it recorded, else the run is lost.
            reader = Coordinator(run.coordinator_pid or -1, None, path, -1, is_child=False)
            self._coordinators[name] = reader
            for record in reader.read():
                self._on_coordinator_record(name, record)
            if name in self._coordinators:
                latest = self.state.current_run(name)
                assert latest is not None
                kill_orphan_group(latest.coordinator_pid or -1, latest.pid, None)
                self._finish_run(name, ProcessState.LOST,
                                 message="coordinator vanished while no runner was watching")

    # --- records

    def _write(self, record: Record) -> None:
        self._apply(record)
        if self._writer is None:
            raise CheckpointError("runner not started")
        self._writer.write(record)

    def _apply(self, record: Record) -> None:
        previous = self.task_state
        apply_record(self.state, record)
        if isinstance(record, ProcessStatus):
            self._apply_process(record)
        elif isinstance(record, TaskStatus):
            if record.terminal is not None:
                self._forced = record.terminal
            if record.deadline is not None:
                self._deadline = record.deadline
            elif record.state == TaskState.CLEANING and previous != TaskState.CLEANING:
                self._deadline = record.timestamp + self.task.finalization_wait

    def _apply_process(self, record: ProcessStatus) -> None:
        name = record.process
        plan = self._regular if name in self._regular else self._finalizing
        state = record.state
        if state in _ACTIVE_RUN:
            plan.set_running(name)
        elif state == ProcessState.SUCCESS:
            plan.add_success(name, record.timestamp)
        elif state == ProcessState.FAILED:
            plan.add_failure(name, record.timestamp)
        else:
            plan.lost(name, record.timestamp)

    def runs(self, name: str) -> list[ProcessRun]:
        return list(self.state.processes.get(name, []))


_ACTIVE_TASK_STATES = (TaskState.ACTIVE, TaskState.CLEANING, TaskState.FINALIZING)
