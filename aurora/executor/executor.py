"""One task's executor: the runner, health checks, the kill sequence and status reports.

This is the in-process entry point. The agent forks, and in the child calls :func:`run_task` (a
new task) or :func:`recover_task` (a task whose checkpoint exists, e.g. after the agent or the
executor restarted); either returns the terminal :class:`StatusUpdate` once the task is over, and
the child exits. No new interpreter is started, and nothing here uses threads, so the runner may
fork its coordinators safely.

Statuses (Aurora's executor): STARTING when the launch begins; RUNNING once the health check
has passed ``min_consecutive_successes`` times (at once when the task has no health check; checks
run while the task is ACTIVE, not once its processes are being cleaned up or finalized); then
FINISHED / FAILED / KILLED / LOST. A health check failing past its limits, a kill request
(:meth:`TaskExecution.request_kill`, or SIGTERM/SIGINT/SIGUSR1 with signal handlers installed;
SIGUSR1 only once ``ExecutorOptions.kill_file`` exists, when that is set) start the kill
sequence: the HTTP lifecycle POSTs, then the runner's SIGTERM, finalization wait and SIGKILL.
The status sent at the end is the one that started the shutdown (FAILED with the health reason,
or KILLED) unless the task had already finished. SIGUSR2 or :meth:`TaskExecution.request_lose`
kills at once and reports LOST.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field

from aurora.executor.checkpoint import CheckpointError, TaskState
from aurora.executor.clock import Clock, SystemClock
from aurora.executor.health import HealthMonitor, make_monitor
from aurora.executor.lifecycle import HttpLifecycle
from aurora.executor.runner import RunnerOptions, TaskRunner
from aurora.executor.sandbox import SandboxLayout
from aurora.executor.signaler import HttpRequester, http_request
from aurora.executor.status import StatusCallback, StatusReporter, StatusUpdate, terminal_status
from aurora.executor.task import InvalidTask, LaunchInfo, resolve_task
from aurora.model.status import ScheduleStatus

__all__ = ["ExecutorOptions", "TaskExecution", "recover_task", "run_task"]

NO_HEALTH_CHECK = "No health-check defined, task is assumed healthy."


@dataclass(frozen=True)
class ExecutorOptions:
    runner: RunnerOptions = field(default_factory=RunnerOptions)
    checkpoint_root: str | None = None  # default <sandbox>/.thermos
    log_dir: str | None = None  # default <sandbox>/.logs
    http_request: HttpRequester = http_request
    kill_wait: float | None = None  # SIGTERM -> SIGKILL on a kill; default finalization_wait
    install_signal_handlers: bool = False
    # If set, SIGUSR1 asks for a kill only once this file exists (it is checked when the run
    # begins too): an executor that runs one task after another takes a late kill request
    # for an earlier task as nothing.
    kill_file: str | None = None


class TaskExecution:
    """Drives a :class:`TaskRunner` to the end, with health checks and status reports."""

    def __init__(
        self,
        runner: TaskRunner,
        on_status: StatusCallback,
        *,
        clock: Clock | None = None,
        options: ExecutorOptions | None = None,
    ) -> None:
        self.runner = runner
        self.options = options or ExecutorOptions()
        self._clock: Clock = clock or SystemClock()
        self._on_status = on_status
        self.reporter: StatusReporter | None = None
        self.health: HealthMonitor | None = None
        self.lifecycle: HttpLifecycle | None = None
        self._shutdown: tuple[ScheduleStatus, str] | None = None
        self._runner_killed = False
        self._lost = False
        self._wake_r, self._wake_w = -1, -1  # created by run()
        self._kill_reason: str | None = None
        self._lose_reason: str | None = None

    # --- requests (safe from signal handlers and other threads)

    def request_kill(self, reason: str = "Instructed to kill task.") -> None:
        self._kill_reason = self._kill_reason or reason
        self._wake()

    def request_lose(self, reason: str = "Task lost.") -> None:
        self._lose_reason = self._lose_reason or reason
        self._wake()

    def _wake(self) -> None:
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"w")

    @contextlib.contextmanager
    def signal_handlers(self) -> Iterator[None]:
        """SIGTERM/SIGINT/SIGUSR1 request a kill, SIGUSR2 a loss, while the block runs."""
        handlers = {
            signal.SIGTERM: lambda *_: self.request_kill("Told to shut down executor."),
            signal.SIGINT: lambda *_: self.request_kill("Told to shut down executor."),
            signal.SIGUSR1: lambda *_: self._kill_signal(),
            signal.SIGUSR2: lambda *_: self.request_lose(),
        }
        previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _kill_signal(self) -> None:
        kill_file = self.options.kill_file
        if kill_file is None or os.path.exists(kill_file):
            self.request_kill()

    # --- the loop

    def run(self) -> StatusUpdate:
        if self.options.install_signal_handlers:
            with self.signal_handlers():
                return self._run()
        return self._run()

    def _run(self) -> StatusUpdate:
        runner = self.runner
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.options.kill_file is not None and os.path.exists(self.options.kill_file):
            self.request_kill()  # asked before this run could take signals
        try:
            runner.start()
            reporter = StatusReporter(runner.task.task_id, self._on_status, self._clock,
                                      persist=runner.record_reported, last=runner.state.reported)
            self.reporter = reporter
            if runner.is_terminal:
                return self._finish()
            if reporter.last is None:
                reporter.report(ScheduleStatus.STARTING)
            self._start_health()
            while True:
                timeout = self._step()
                if timeout is None:
                    return self._finish()
                self._clock.wait([*runner.fds(), self._wake_r], timeout)
        finally:
            runner.close()
            wake_r, wake_w = self._wake_r, self._wake_w
            self._wake_r = self._wake_w = -1
            for fd in (wake_r, wake_w):
                os.close(fd)

    def _start_health(self) -> None:
        runner, reporter = self.runner, self.reporter
        assert reporter is not None
        last = reporter.last
        already_running = last is not None and last.state == ScheduleStatus.RUNNING
        spec = runner.task.health
        if spec is None:
            reporter.report(ScheduleStatus.RUNNING, NO_HEALTH_CHECK)
            return
        # Like Aurora's, the shell check runs with the executor's environment.
        self.health = make_monitor(spec, runner.layout.sandbox, None, self.options.http_request)
        self.health.start(self._clock.time(), already_running=already_running)

    def _step(self) -> float | None:
        runner = self.runner
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_r, 256):
                pass
        now = self._clock.time()
        if self._lose_reason is not None and not self._lost and not runner.is_terminal:
            # A loss overrides a kill in progress: everything dies now and the task is LOST.
            self._lost = True
            self._shutdown = (ScheduleStatus.LOST, self._lose_reason)
            self._runner_killed = True
            runner.lose()
        if self._kill_reason is not None and self._shutdown is None:
            self._begin_shutdown(ScheduleStatus.KILLED, self._kill_reason)
        waits: list[float] = []
        if self._shutdown is not None and not self._runner_killed:
            wait = self.lifecycle.step(now, runner.is_terminal) if self.lifecycle else None
            if wait is None:
                self._runner_killed = True
                runner.kill(wait=self.options.kill_wait)
            else:
                waits.append(wait)
        wait = runner.step()
        if wait is None:
            return None
        waits.append(wait)
        health = self.health
        if health is not None and self._shutdown is None and runner.task_state == TaskState.ACTIVE:
            if health.due(now):
                health.run_check(now)
                state, message = health.status
                if state == ScheduleStatus.FAILED:
                    self._begin_shutdown(state, message or "Failed health check!")
                    return 0.0
                if state == ScheduleStatus.RUNNING:
                    assert self.reporter is not None
                    self.reporter.report(state, message)
            if health.next_due is not None:
                waits.append(max(0.0, health.next_due - self._clock.time()))
        return min(waits)

    def _begin_shutdown(self, state: ScheduleStatus, message: str) -> None:
        if self._shutdown is not None or self.runner.is_terminal:
            return
        self._shutdown = (state, message)
        spec = self.runner.task.lifecycle
        if spec is not None:
            self.lifecycle = HttpLifecycle(spec, request=self.options.http_request)

    def _finish(self) -> StatusUpdate:
        runner, reporter = self.runner, self.reporter
        assert reporter is not None
        last = reporter.last
        if last is not None and last.terminal:
            # Recovered after the terminal status was sent: send it again, in case the agent
            # never got it (terminal updates are idempotent upstream).
            state, message = last.state, last.message
        elif self._shutdown is not None:
            state, message = self._shutdown
        else:
            state, message = terminal_status(runner.task_state, runner.failure_message())
        update = reporter.report(state, message, force=True)
        assert update is not None
        return update


def _failed_launch(task_id: str, message: str, on_status: StatusCallback,
                   clock: Clock) -> StatusUpdate:
    reporter = StatusReporter(task_id, on_status, clock)
    reporter.report(ScheduleStatus.STARTING)
    update = reporter.report(ScheduleStatus.FAILED, message)
    assert update is not None
    return update


def run_task(
    data: bytes | str,
    launch: LaunchInfo,
    sandbox: str,
    on_status: StatusCallback,
    *,
    clock: Clock | None = None,
    options: ExecutorOptions | None = None,
) -> StatusUpdate:
    """Run a new task (``executorConfig.data`` bound to ``launch``) to its terminal status."""
    clock = clock or SystemClock()
    options = options or ExecutorOptions()
    raw = data.encode() if isinstance(data, str) else data
    try:
        task = resolve_task(raw, launch)
    except InvalidTask as e:
        return _failed_launch(launch.task_id, f"Invalid task: {e}", on_status, clock)
    layout = SandboxLayout.create(sandbox, options.checkpoint_root, options.log_dir)
    try:
        layout.make_dirs()
    except OSError as e:
        return _failed_launch(launch.task_id, f"Failed to initialize sandbox: {e}", on_status,
                              clock)
    runner = TaskRunner(task, layout, task_data=raw, clock=clock, options=options.runner)
    return TaskExecution(runner, on_status, clock=clock, options=options).run()


def recover_task(
    checkpoint_root: str,
    on_status: StatusCallback,
    *,
    clock: Clock | None = None,
    options: ExecutorOptions | None = None,
) -> StatusUpdate:
    """Take over the task checkpointed under ``checkpoint_root`` and run it to the end.

    Raises :class:`~aurora.executor.checkpoint.CheckpointLocked` while its runner still lives,
    and CheckpointError when there is nothing to recover.
    """
    clock = clock or SystemClock()
    options = options or ExecutorOptions()
    try:
        runner = TaskRunner.recover(checkpoint_root, clock=clock, options=options.runner)
    except (OSError, InvalidTask) as e:
        raise CheckpointError(f"cannot recover the task in {checkpoint_root}: {e}") from e
    return TaskExecution(runner, on_status, clock=clock, options=options).run()
