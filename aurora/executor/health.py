"""Health checks: what moves a task from STARTING to RUNNING, and fails an unhealthy one.

The counting is Aurora's ``ThreadedHealthChecker`` (``executor/common/health_checker.py``), here
driven by the executor's loop and clock instead of a thread:

* a check runs at start and then every ``interval_secs``;
* failures are forgiven during the first ``ceil(initial_interval_secs / interval_secs)`` attempts
  (the grace period, default 2 intervals when unset);
* ``min_consecutive_successes`` consecutive successes make the task RUNNING; this must happen
  within ``forgiving + max_consecutive_failures + min_consecutive_successes`` attempts, or the
  task fails ("Not enough successful health checks in time."), and it fails at once when too
  few attempts are left to collect the successes it still needs;
* more than ``max_consecutive_failures`` consecutive failures make it unhealthy;
* while ``<sandbox>/.healthchecksnooze`` exists, checks are skipped and count as successes.

Checkers: HTTP GET of ``endpoint`` on the task's ``health`` port expecting ``expected_response``
(default "ok"), or a shell command (``/bin/bash -c``, in the sandbox) expecting exit status 0.
Each check blocks the loop for at most ``timeout_secs``.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
from collections.abc import Callable

from aurora.executor.signaler import HttpRequester, HttpSignaler, http_request
from aurora.executor.task import HealthSpec
from aurora.model.status import ScheduleStatus

__all__ = ["HealthCheck", "HealthMonitor", "http_check", "make_monitor", "shell_check"]

#: A health check: () -> (healthy, reason when not).
HealthCheck = Callable[[], tuple[bool, str | None]]


def http_check(port: int, endpoint: str, expected_response: str, expected_response_code: int,
               timeout: float, request: HttpRequester = http_request) -> HealthCheck:
    signaler = HttpSignaler(port, timeout=timeout, request=request)

    def check() -> tuple[bool, str | None]:
        return signaler(endpoint, expected_response=expected_response,
                        expected_response_code=expected_response_code)

    return check


def shell_check(command: str, cwd: str, env: dict[str, str] | None,
                timeout: float) -> HealthCheck:
    def check() -> tuple[bool, str | None]:
        try:
            proc = subprocess.Popen(["/bin/bash", "-c", command], cwd=cwd, env=env,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as e:
            return False, f"OSError: {e.strerror}"
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return False, "Health check timed out."
        if proc.returncode != 0:
            text = output.decode(errors="replace").strip()
            return False, (f"Command '{command}' returned non-zero exit status "
                           f"{proc.returncode} with output '{text}'")
        return True, None

    return check


class HealthMonitor:
    def __init__(
        self,
        check: HealthCheck,
        *,
        interval_secs: float,
        initial_interval_secs: float | None = None,
        max_consecutive_failures: int = 0,
        min_consecutive_successes: int = 1,
        snooze_file: str | None = None,
    ) -> None:
        self._check = check
        self.interval = interval_secs
        grace = initial_interval_secs if initial_interval_secs is not None else interval_secs * 2
        self.forgiving_attempts = math.ceil(grace / interval_secs)
        self.max_consecutive_failures = max_consecutive_failures
        self.min_consecutive_successes = min_consecutive_successes
        self.max_attempts_to_running = (self.forgiving_attempts + max_consecutive_failures
                                        + min_consecutive_successes)
        self.snooze_file = snooze_file
        self.attempts = 0
        self.consecutive_failures = 0
        self.consecutive_successes = 0
        self.running = False
        self.healthy = True
        self.reason: str | None = None
        self.next_due: float | None = None
        self.checks = 0

    def start(self, now: float, *, already_running: bool = False) -> None:
        self.next_due = now
        self.running = already_running

    def due(self, now: float) -> bool:
        return self.healthy and self.next_due is not None and now >= self.next_due

    def run_check(self, now: float) -> None:
        """Perform one check and schedule the next one ``interval`` after ``now``."""
        self.next_due = now + self.interval
        if not self.running and self.attempts > self.max_attempts_to_running:
            self.healthy = False
            self.reason = "Not enough successful health checks in time."
            return
        if self.snooze_file is not None and os.path.isfile(self.snooze_file):
            ok, reason = True, None
        else:
            try:
                ok, reason = self._check()
            except Exception as e:  # a checker bug must not kill the executor
                ok, reason = False, f"Internal health check error: {e}"
        self.checks += 1
        if self.attempts <= self.max_attempts_to_running:
            self.attempts += 1
        self._count(ok, reason)

    def _count(self, ok: bool, reason: str | None) -> None:
        if ok:
            self.consecutive_successes += 1
            if not self.running and self.consecutive_successes >= self.min_consecutive_successes:
                self.running = True
            self.consecutive_failures = 0
            return
        self.consecutive_successes = 0
        if self.attempts <= self.forgiving_attempts:
            return
        if not self.running:
            remaining = self.max_attempts_to_running - self.attempts
            needed = self.min_consecutive_successes - self.consecutive_successes
            if remaining > 1 and needed > remaining:
                self.healthy, self.reason = False, reason
        self.consecutive_failures += 1
        if self.consecutive_failures > self.max_consecutive_failures:
            self.healthy, self.reason = False, reason

    @property
    def status(self) -> tuple[ScheduleStatus, str | None]:
        if not self.healthy:
            return ScheduleStatus.FAILED, f"Failed health check! {self.reason}"
        if self.running:
            return ScheduleStatus.RUNNING, "Task is healthy."
        return ScheduleStatus.STARTING, None


def make_monitor(spec: HealthSpec, sandbox: str, env: dict[str, str] | None,
                 request: HttpRequester = http_request) -> HealthMonitor:
    """The monitor for a task's :class:`HealthSpec`."""
    if spec.kind == "shell":
        assert spec.shell_command is not None
        check = shell_check(spec.shell_command, sandbox, env, spec.timeout_secs)
    else:
        assert spec.port is not None
        check = http_check(spec.port, spec.endpoint, spec.expected_response,
                           spec.expected_response_code, spec.timeout_secs, request)
    return HealthMonitor(
        check,
        interval_secs=spec.interval_secs,
        initial_interval_secs=spec.initial_interval_secs,
        max_consecutive_failures=spec.max_consecutive_failures,
        min_consecutive_successes=spec.min_consecutive_successes,
        snooze_file=os.path.join(sandbox, ".healthchecksnooze"),
    )
