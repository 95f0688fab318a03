"""Task states with Aurora's wire numbers (api.thrift ScheduleStatus), and the sets Aurora names."""

from __future__ import annotations

from enum import IntEnum


class UnknownStatusError(ValueError):
    """A status number or name that is not one of Aurora's ScheduleStatus values."""


class ScheduleStatus(IntEnum):
    """Aurora's ScheduleStatus; the values are the numbers on the wire.

    DELETED is internal (a task that no longer exists): it never goes on the wire, and its number
    is outside the IDL's range so no Thrift peer can send it.
    """

    PENDING = 0
    STARTING = 1
    RUNNING = 2
    FINISHED = 3
    FAILED = 4
    KILLED = 5
    KILLING = 6
    LOST = 7
    ASSIGNED = 9
    INIT = 11
    RESTARTING = 12
    PREEMPTING = 13
    THROTTLED = 16
    DRAINING = 17
    PARTITIONED = 18
    DELETED = 31

    @classmethod
    def from_wire(cls, value: int) -> ScheduleStatus:
        """The status for a wire number; UnknownStatusError names the bad number."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise UnknownStatusError(f"task status must be an integer, got {value!r}")
        if value == cls.DELETED or value not in _BY_NUMBER:
            raise UnknownStatusError(
                f"unknown task status number {value}: Aurora's ScheduleStatus numbers are "
                + ", ".join(f"{s.name}={s.value}" for s in WIRE_STATUSES)
            )
        return _BY_NUMBER[value]

    @classmethod
    def parse(cls, name_or_number: str | int) -> ScheduleStatus:
        """A status from its name (any case) or its wire number."""
        if isinstance(name_or_number, str):
            key = name_or_number.strip().upper()
            if key.isdigit():
                return cls.from_wire(int(key))
            try:
                return cls[key]
            except KeyError:
                raise UnknownStatusError(
                    f"unknown task status {name_or_number!r}: expected one of "
                    + ", ".join(s.name for s in WIRE_STATUSES)
                ) from None
        return cls.from_wire(name_or_number)


_BY_NUMBER = {s.value: s for s in ScheduleStatus}
WIRE_STATUSES: tuple[ScheduleStatus, ...] = tuple(s for s in ScheduleStatus if s.value < 31)

S = ScheduleStatus
#: States a task ends in (api.thrift TERMINAL_STATES).
TERMINAL_STATES = frozenset({S.FAILED, S.FINISHED, S.KILLED, S.LOST})
#: States of a task that still counts for its instance (api.thrift ACTIVE_STATES).
ACTIVE_STATES = frozenset(
    {S.ASSIGNED, S.DRAINING, S.KILLING, S.PENDING, S.PREEMPTING, S.RESTARTING, S.RUNNING,
     S.STARTING, S.PARTITIONED, S.THROTTLED}
)
#: States of a task bound to an agent (api.thrift SLAVE_ASSIGNED_STATES).
SLAVE_ASSIGNED_STATES = frozenset(
    {S.ASSIGNED, S.DRAINING, S.KILLING, S.PREEMPTING, S.RESTARTING, S.RUNNING, S.PARTITIONED,
     S.STARTING}
)
#: States of a task whose sandbox is live (api.thrift LIVE_STATES).
LIVE_STATES = frozenset({S.KILLING, S.PREEMPTING, S.RESTARTING, S.DRAINING, S.PARTITIONED,
                         S.RUNNING})
#: States held under a timeout: past it (5 min by default) the task goes LOST.
TRANSIENT_STATES = frozenset({S.ASSIGNED, S.PREEMPTING, S.RESTARTING, S.KILLING, S.DRAINING})
#: States the flapping rule treats as "interrupted by us" (RescheduleCalculator).
INTERRUPTED_STATES = frozenset({S.RESTARTING, S.KILLING, S.DRAINING})
#: Number of slots a per-state array needs (DELETED included).
STATE_SLOTS = 32
