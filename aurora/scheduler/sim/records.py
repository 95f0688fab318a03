"""What the sim holds per task, and its counters."""

from __future__ import annotations

import time
from dataclasses import dataclass

import msgspec

from aurora.model.status import ScheduleStatus
from aurora.scheduler.backend import StatusUpdate

STARTING = int(ScheduleStatus.STARTING)
RUNNING = int(ScheduleStatus.RUNNING)
FINISHED = int(ScheduleStatus.FINISHED)
FAILED = int(ScheduleStatus.FAILED)
KILLED = int(ScheduleStatus.KILLED)
LOST = int(ScheduleStatus.LOST)
TERMINAL = frozenset({FINISHED, FAILED, KILLED, LOST})
NONE = -1  # no status reported yet / no pending step / no host

FINISHED_MESSAGE = "Task finished (simulated)"
KILLED_MESSAGE = "Task killed (simulated)"


def wall_clock_ms() -> int:
    """The default clock for update timestamps: wall time in milliseconds."""
    return time.time_ns() // 1_000_000


class TaskRecord(msgspec.Struct, gc=False):
    """One task the sim runs: its host, what it uses there, its last reported status and its
    one pending step.

    Not tracked by the garbage collector (it can hold no cycle): a million of them would
    otherwise make every full collection walk a million more objects."""

    task_id: str
    host: int  # host index; NONE for a task adopted on reconciliation
    cpu: int
    ram: int
    disk: int
    gpus: int
    ports: tuple[int, ...] | None
    draw: int = 0  # 48 random bits drawn at launch: running delay, run time, failure
    status: int = NONE  # last status emitted
    pending: int = NONE  # next status, due in `slot`
    slot: int = NONE
    token: int = NONE  # ack token of the latest update emitted for it
    update: StatusUpdate | None = None  # that update, until it is acknowledged


@dataclass
class SimStats:
    """Counters for /vars (``SimBackend.vars()`` adds the gauges)."""

    hosts: int = 0
    launched: int = 0  # launches accepted
    refused: int = 0  # launches answered LOST (unknown host/agent, duplicate id, over-commit)
    overcommits: int = 0  # of which: would have over-committed the host (cpu/ram/disk/gpu/port)
    running: int = 0  # gauge: tasks whose last status is RUNNING
    finished: int = 0
    failed: int = 0
    killed: int = 0
    lost: int = 0  # every LOST update emitted (refusals, unknown kills, unknown reconciles)
    adopted: int = 0
    reconciled: int = 0  # reconciliation answers emitted
    updates_sent: int = 0  # deliveries, resends included
    batches_sent: int = 0
    resent: int = 0
    superseded: int = 0  # unacknowledged updates dropped because a newer one was emitted
    acked: int = 0
    timers: int = 0  # loop timers armed (step slots and resend checks)
