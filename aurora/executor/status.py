"""What the executor reports upward: STARTING, RUNNING and the terminal status, with messages.

A :data:`StatusCallback` receives each :class:`StatusUpdate`; the agent wires it to its channel to
the scheduler (ZeroMQ later), ``aurora-executor`` prints them as JSON lines. The states are
Aurora's :class:`~aurora.model.status.ScheduleStatus` values a task reports from its agent.

:class:`StatusReporter` sends a state only when it changes, and persists what it sent through a
hook (the runner's checkpoint), so a recovered executor carries on where the last one stopped:
it does not repeat STARTING/RUNNING, and it re-sends a terminal status in case the agent never
got it.

Messages follow Aurora's executor: "Task finished.", "Task killed.", "Task lost.", "Task is
healthy.", "Failed health check! <reason>"; a failed task says which processes failed and why
(e.g. ``command not found``) where Aurora only says "Task failed.".
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from aurora.executor.checkpoint import ReportedStatus, TaskState
from aurora.executor.clock import Clock
from aurora.model.status import ScheduleStatus

__all__ = [
    "EXECUTOR_STATES",
    "TERMINAL",
    "StatusCallback",
    "StatusReporter",
    "StatusUpdate",
    "terminal_status",
]

EXECUTOR_STATES = (ScheduleStatus.STARTING, ScheduleStatus.RUNNING, ScheduleStatus.FINISHED,
                   ScheduleStatus.FAILED, ScheduleStatus.KILLED, ScheduleStatus.LOST)
TERMINAL = frozenset({ScheduleStatus.FINISHED, ScheduleStatus.FAILED, ScheduleStatus.KILLED,
                      ScheduleStatus.LOST})

_BY_TASK_STATE = {
    TaskState.SUCCESS: (ScheduleStatus.FINISHED, "Task finished."),
    TaskState.FAILED: (ScheduleStatus.FAILED, "Task failed."),
    TaskState.KILLED: (ScheduleStatus.KILLED, "Task killed."),
    TaskState.LOST: (ScheduleStatus.LOST, "Task lost."),
}


class StatusUpdate(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str
    state: ScheduleStatus
    message: str | None = None
    timestamp: float = 0.0

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    def to_json(self) -> bytes:
        return msgspec.json.encode({"task_id": self.task_id, "state": self.state.name,
                                    "message": self.message, "timestamp": self.timestamp})


StatusCallback = Callable[[StatusUpdate], None]


def terminal_status(state: TaskState, failure_message: str | None = None
                    ) -> tuple[ScheduleStatus, str]:
    """The upward status for a runner's terminal task state."""
    status, message = _BY_TASK_STATE[state]
    if state == TaskState.FAILED and failure_message:
        message = failure_message
    return status, message


class StatusReporter:
    def __init__(
        self,
        task_id: str,
        callback: StatusCallback,
        clock: Clock,
        *,
        persist: Callable[[int, str | None], None] | None = None,
        last: ReportedStatus | None = None,
    ) -> None:
        self.task_id = task_id
        self._callback = callback
        self._clock = clock
        self._persist = persist
        self.last: StatusUpdate | None = None
        if last is not None:
            self.last = StatusUpdate(task_id=task_id, state=ScheduleStatus(last.state),
                                     message=last.message, timestamp=last.timestamp)
        self.sent: list[StatusUpdate] = []

    def report(self, state: ScheduleStatus, message: str | None = None, *,
               force: bool = False) -> StatusUpdate | None:
        """Send ``state`` unless it is what was sent last (or a terminal status was sent)."""
        if self.last is not None and not force:
            if self.last.state == state or self.last.terminal:
                return None
        update = StatusUpdate(task_id=self.task_id, state=state, message=message,
                              timestamp=self._clock.time())
        # Send first, then persist: a crash in between repeats the update, never loses it.
        self._callback(update)
        self.sent.append(update)
        self.last = update
        if self._persist is not None:
            self._persist(int(state), message)
        return update
