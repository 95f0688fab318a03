"""The side effects of a bulk operation on the task-state table, for the service layer to carry out.

The table has already changed its own memory when it returns these; nothing has left the process.
The service persists ``saved``/``created`` tasks and ``deleted`` ids in one transaction, and only
then acts on the outside world: kills ``killed`` tasks (and the unknown ones at ``kill_unknown``),
and offers ``created`` PENDING tasks to the scheduler.
"""

from __future__ import annotations

from array import array


def _slots() -> array:
    return array("q")


class Effects:
    """Effects of one bulk call. Slots index the table; positions index the call's input."""

    __slots__ = ("cas_failed", "created", "deleted", "deleted_slots", "ended", "illegal",
                 "kill_unknown", "killed", "noop", "saved")

    def __init__(self) -> None:
        #: Existing tasks whose new state must be persisted (SAVE_STATE), in the order changed.
        self.saved: array = _slots()
        #: Tasks that entered a terminal state (their resources can be given back).
        self.ended: array = _slots()
        #: Tasks the agent must kill (KILL).
        self.killed: array = _slots()
        #: Input positions naming no live task for which the report deserves a kill.
        self.kill_unknown: array = _slots()
        #: New tasks: inserted, or successors of rescheduled ones (RESCHEDULE).
        self.created: array = _slots()
        #: Ids of tasks removed from the table (DELETE), and the slots they had.
        self.deleted: list[str] = []
        self.deleted_slots: array = _slots()
        #: Input positions whose transition was illegal (counted by the table, never raised).
        self.illegal: array = _slots()
        #: Transitions to the state a task already had.
        self.noop: int = 0
        #: Transitions skipped because the task was not in the expected state.
        self.cas_failed: int = 0

    def as_tuple(self) -> tuple:
        """Everything, as plain values: for comparing two implementations."""
        return (
            self.saved.tolist(), self.killed.tolist(), self.kill_unknown.tolist(),
            self.created.tolist(), list(self.deleted), self.deleted_slots.tolist(),
            self.illegal.tolist(), self.noop, self.cas_failed, self.ended.tolist(),
        )

    def merge(self, other: Effects) -> None:
        """Add OTHER's effects (of a later bulk call) to these."""
        self.saved.extend(other.saved)
        self.killed.extend(other.killed)
        self.created.extend(other.created)
        self.deleted.extend(other.deleted)
        self.deleted_slots.extend(other.deleted_slots)
        self.ended.extend(other.ended)
        self.noop += other.noop
        self.cas_failed += other.cas_failed

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Effects) and self.as_tuple() == other.as_tuple()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Effects(saved={len(self.saved)}, killed={len(self.killed)}, "
            f"kill_unknown={len(self.kill_unknown)}, created={len(self.created)}, "
            f"deleted={len(self.deleted)}, illegal={len(self.illegal)}, noop={self.noop}, "
            f"cas_failed={self.cas_failed})"
        )
