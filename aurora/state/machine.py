"""Aurora's task state machine: which transitions are legal and what each one sets off.

This module is the one place the rules live. It mirrors Aurora's ``TaskStateMachine``:

* a transition to the state a task already has is a NOOP;
* the callbacks of the *from* state run for every attempted transition, legal or not, so an
  illegal transition can still carry side effects (an executor reporting RUNNING for a task we
  believe is KILLING gets a kill: ILLEGAL_WITH_SIDE_EFFECTS);
* every legal transition saves the task (SAVE_STATE), except into DELETED and except a
  PENDING/THROTTLED task killed (it is deleted outright).

The rules compile to a matrix of action bits indexed ``[from * STATE_SLOTS + to]``
(:data:`MATRIX`). The compiled task-state table and its pure twin both read that matrix and resolve
its three conditional bits with :func:`resolve` semantics, so nothing about the rules is written
twice. :class:`TaskStateMachine` applies the same rules to one task and is the reference the tests
hold the bulk table to.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from enum import IntEnum, IntFlag

from aurora.model.status import STATE_SLOTS
from aurora.model.status import ScheduleStatus as S


class Code(IntFlag):
    """Bits of one matrix cell: what a (from, to) transition does before task data is consulted."""

    VALID = 1 << 0  # the transition is legal: the task takes the new state
    SAVE_STATE = 1 << 1  # persist the new state and append a task event
    KILL = 1 << 2  # ask the agent to kill the task
    RESCHEDULE = 1 << 3  # create the task's successor
    RESCHEDULE_IF_SERVICE = 1 << 4  # ... only when the task is a service (to FINISHED)
    FAILURE = 1 << 5  # count a failure; reschedule per the failure rule (to FAILED)
    DELETE = 1 << 6  # remove the task from the store
    TRANSITION_TO_LOST = 1 << 7  # then move the task on to LOST
    RESCHEDULE_UNLESS_KILLING = 1 << 8  # PARTITIONED -> LOST: not when it was being killed


class Action(IntEnum):
    """Side effects, in the order Aurora's StateManager carries them out."""

    INCREMENT_FAILURES = 0
    SAVE_STATE = 1
    RESCHEDULE = 2
    TRANSITION_TO_LOST = 3
    KILL = 4
    DELETE = 5


class Result(IntEnum):
    """Outcome of one transition attempt (Aurora's StateChangeResult)."""

    SUCCESS = 0
    NOOP = 1
    ILLEGAL = 2
    ILLEGAL_WITH_SIDE_EFFECTS = 3
    INVALID_CAS_STATE = 4


C = Code
_ACTIVE_FROM_ASSIGNED = {
    S.FINISHED: C.RESCHEDULE_IF_SERVICE,
    S.PREEMPTING: C.KILL,
    S.FAILED: C.FAILURE,
    S.RESTARTING: C.KILL,
    S.DRAINING: C.KILL,
    S.KILLED: C.RESCHEDULE,
    S.KILLING: C.KILL,
}
# Being interrupted by us (preempt, restart, drain): the task is on its way out and comes back.
_RESTARTING_CALLBACK = {
    S.ASSIGNED: C.KILL,
    S.STARTING: C.KILL,
    S.RUNNING: C.KILL,
    S.PARTITIONED: C.TRANSITION_TO_LOST,
    S.LOST: C.KILL | C.RESCHEDULE,
    S.FINISHED: C.RESCHEDULE,
    S.FAILED: C.RESCHEDULE,
    S.KILLED: C.RESCHEDULE,
}
# Terminal (and KILLING, DELETED) tasks: a sign of life gets a kill; DELETED removes the task.
_TERMINATED_CALLBACK = {
    S.ASSIGNED: C.KILL,
    S.STARTING: C.KILL,
    S.RUNNING: C.KILL,
    S.DELETED: C.DELETE,
}


@dataclass(frozen=True)
class _Rule:
    to: frozenset[S]
    callback: dict[S, Code]


def _rule(to: tuple[S, ...], callback: dict[S, Code]) -> _Rule:
    return _Rule(frozenset(to), callback)


#: From each state: the states it may move to, and the side effects of attempting each target.
RULES: dict[S, _Rule] = {
    S.INIT: _rule((S.PENDING, S.THROTTLED), {}),
    S.PENDING: _rule((S.ASSIGNED, S.KILLING), {S.KILLING: C.DELETE}),
    S.THROTTLED: _rule((S.PENDING, S.KILLING), {S.KILLING: C.DELETE}),
    S.PARTITIONED: _rule(
        (S.LOST, S.FAILED, S.FINISHED, S.RUNNING, S.ASSIGNED, S.STARTING, S.RESTARTING,
         S.DRAINING, S.PREEMPTING, S.KILLING),
        {
            S.LOST: C.KILL | C.RESCHEDULE_UNLESS_KILLING,
            S.KILLING: C.TRANSITION_TO_LOST,
            S.RESTARTING: C.TRANSITION_TO_LOST,
            S.DRAINING: C.TRANSITION_TO_LOST,
            S.PREEMPTING: C.TRANSITION_TO_LOST,
            S.FAILED: C.FAILURE,
        },
    ),
    S.ASSIGNED: _rule(
        (S.STARTING, S.RUNNING, S.FINISHED, S.FAILED, S.RESTARTING, S.DRAINING, S.KILLED,
         S.KILLING, S.LOST, S.PREEMPTING),
        {**_ACTIVE_FROM_ASSIGNED, S.LOST: C.RESCHEDULE | C.KILL},
    ),
    S.STARTING: _rule(
        (S.RUNNING, S.FINISHED, S.FAILED, S.RESTARTING, S.DRAINING, S.KILLING, S.KILLED,
         S.LOST, S.PREEMPTING, S.PARTITIONED),
        {**_ACTIVE_FROM_ASSIGNED, S.LOST: C.RESCHEDULE},
    ),
    S.RUNNING: _rule(
        (S.FINISHED, S.RESTARTING, S.DRAINING, S.FAILED, S.KILLING, S.KILLED, S.LOST,
         S.PREEMPTING, S.PARTITIONED),
        {**_ACTIVE_FROM_ASSIGNED, S.LOST: C.RESCHEDULE},
    ),
    S.FINISHED: _rule((S.DELETED,), _TERMINATED_CALLBACK),
    S.PREEMPTING: _rule(
        (S.FINISHED, S.FAILED, S.KILLING, S.KILLED, S.LOST, S.PARTITIONED), _RESTARTING_CALLBACK
    ),
    S.RESTARTING: _rule(
        (S.FINISHED, S.FAILED, S.KILLING, S.KILLED, S.LOST, S.PARTITIONED), _RESTARTING_CALLBACK
    ),
    S.DRAINING: _rule(
        (S.FINISHED, S.FAILED, S.KILLING, S.KILLED, S.LOST, S.PARTITIONED), _RESTARTING_CALLBACK
    ),
    S.FAILED: _rule((S.DELETED,), _TERMINATED_CALLBACK),
    S.KILLED: _rule((S.DELETED,), _TERMINATED_CALLBACK),
    # KILLING -> PARTITIONED must end the task (an unreachable agent will never confirm the kill).
    S.KILLING: _rule(
        (S.FINISHED, S.FAILED, S.KILLED, S.LOST, S.DELETED, S.PARTITIONED),
        {**_TERMINATED_CALLBACK, S.PARTITIONED: C.TRANSITION_TO_LOST},
    ),
    S.LOST: _rule((S.DELETED,), _TERMINATED_CALLBACK),
    S.DELETED: _rule((), _TERMINATED_CALLBACK),
}


def _cell(frm: S, to: S) -> Code:
    rule = RULES[frm]
    code = rule.callback.get(to, Code(0))
    if to in rule.to:
        code |= C.VALID
        if to != S.DELETED and not (frm in (S.PENDING, S.THROTTLED) and to == S.KILLING):
            code |= C.SAVE_STATE
    return code


def _build_matrix() -> array:
    matrix = array("H", [0]) * (STATE_SLOTS * STATE_SLOTS)
    for frm in S:
        for to in S:
            if frm != to:
                matrix[frm * STATE_SLOTS + to] = int(_cell(frm, to))
    return matrix


#: Action bits per (from, to), indexed ``from * STATE_SLOTS + to``; the diagonal is 0 (NOOP).
MATRIX: array = _build_matrix()


def cell(frm: int, to: int) -> Code:
    """The matrix cell for FROM -> TO."""
    return Code(MATRIX[frm * STATE_SLOTS + to])


def resolve(
    code: int, is_service: bool, max_task_failures: int, failure_count: int, was_killing: bool
) -> frozenset[Action]:
    """The side effects of a matrix cell for a task with these properties.

    The failure rule: a FAILED task is rescheduled when it is a service, when maxTaskFailures is
    -1, or when its failure count *before* this failure is below maxTaskFailures - 1.
    """
    actions: set[Action] = set()
    if code & C.SAVE_STATE:
        actions.add(Action.SAVE_STATE)
    if code & C.KILL:
        actions.add(Action.KILL)
    if code & C.DELETE:
        actions.add(Action.DELETE)
    if code & C.TRANSITION_TO_LOST:
        actions.add(Action.TRANSITION_TO_LOST)
    if code & C.RESCHEDULE:
        actions.add(Action.RESCHEDULE)
    if code & C.RESCHEDULE_IF_SERVICE and is_service:
        actions.add(Action.RESCHEDULE)
    if code & C.RESCHEDULE_UNLESS_KILLING and not was_killing:
        actions.add(Action.RESCHEDULE)
    if code & C.FAILURE:
        actions.add(Action.INCREMENT_FAILURES)
        if is_service or max_task_failures == -1 or failure_count < max_task_failures - 1:
            actions.add(Action.RESCHEDULE)
    return frozenset(actions)


@dataclass(frozen=True)
class TaskFacts:
    """What the state machine needs to know about one task (None for a task that does not exist)."""

    status: S
    is_service: bool = False
    max_task_failures: int = 1
    failure_count: int = 0
    was_killing: bool = False  # a KILLING event is in the task's history


@dataclass(frozen=True)
class Transition:
    result: Result
    actions: frozenset[Action]
    status: S  # the state after the transition (before any TRANSITION_TO_LOST follow-up)


class TaskStateMachine:
    """Applies the rules to a single task; counts illegal transitions instead of raising."""

    def __init__(self) -> None:
        self.illegal_transitions = 0

    def transition(self, task: TaskFacts | None, to: S) -> Transition:
        frm = task.status if task is not None else S.DELETED
        if frm == to:
            return Transition(Result.NOOP, frozenset(), frm)
        code = cell(frm, to)
        if task is None:
            actions = resolve(code, False, 1, 0, False)
        else:
            actions = resolve(
                code, task.is_service, task.max_task_failures, task.failure_count,
                task.was_killing,
            )
        if code & C.VALID:
            return Transition(Result.SUCCESS, actions, to)
        self.illegal_transitions += 1
        result = Result.ILLEGAL_WITH_SIDE_EFFECTS if actions else Result.ILLEGAL
        return Transition(result, actions, frm)


def flapping_penalty_ms(flaps: int, initial_ms: int, max_ms: int) -> int:
    """Penalty for a task whose last FLAPS ancestors in a row flapped (truncated binary backoff)."""
    if flaps <= 0:
        return 0
    return min(max_ms, initial_ms << min(flaps - 1, 32))
