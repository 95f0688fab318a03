"""Every (from, to) pair of the status matrix against Aurora's reference.

The expectations below are written out again from ../shared/aurora-reference.md and Aurora's
TaskStateMachine.java, on purpose without reading aurora.state.machine: the matrix is checked,
not restated.
"""

from __future__ import annotations

import pytest

from aurora.model.status import ScheduleStatus as S
from aurora.state.machine import Action, Result, TaskFacts, TaskStateMachine, flapping_penalty_ms

A = Action
ALL = list(S)
TERMINAL = {S.FINISHED, S.FAILED, S.KILLED, S.LOST}
INTERRUPTING = {S.PREEMPTING, S.RESTARTING, S.DRAINING}
LIVE_REPORTS = {S.ASSIGNED, S.STARTING, S.RUNNING}

LEGAL: dict[S, set[S]] = {
    S.INIT: {S.PENDING, S.THROTTLED},
    S.PENDING: {S.ASSIGNED, S.KILLING},
    S.THROTTLED: {S.PENDING, S.KILLING},
    S.ASSIGNED: {S.STARTING, S.RUNNING, S.FINISHED, S.FAILED, S.RESTARTING, S.DRAINING,
                 S.KILLED, S.KILLING, S.LOST, S.PREEMPTING},
    S.STARTING: {S.RUNNING, S.FINISHED, S.FAILED, S.RESTARTING, S.DRAINING, S.KILLING,
                 S.KILLED, S.LOST, S.PREEMPTING, S.PARTITIONED},
    S.RUNNING: {S.FINISHED, S.FAILED, S.RESTARTING, S.DRAINING, S.KILLING, S.KILLED, S.LOST,
                S.PREEMPTING, S.PARTITIONED},
    S.PARTITIONED: {S.LOST, S.FAILED, S.FINISHED, S.RUNNING, S.ASSIGNED, S.STARTING,
                    S.RESTARTING, S.DRAINING, S.PREEMPTING, S.KILLING},
    S.PREEMPTING: {S.FINISHED, S.FAILED, S.KILLED, S.KILLING, S.LOST, S.PARTITIONED},
    S.RESTARTING: {S.FINISHED, S.FAILED, S.KILLED, S.KILLING, S.LOST, S.PARTITIONED},
    S.DRAINING: {S.FINISHED, S.FAILED, S.KILLED, S.KILLING, S.LOST, S.PARTITIONED},
    S.KILLING: {S.FINISHED, S.FAILED, S.KILLED, S.LOST, S.DELETED, S.PARTITIONED},
    S.FINISHED: {S.DELETED},
    S.FAILED: {S.DELETED},
    S.KILLED: {S.DELETED},
    S.LOST: {S.DELETED},
    S.DELETED: set(),
}


def expected(frm: S, to: S, facts: TaskFacts) -> tuple[Result, set[Action]]:
    """The reference's answer for one attempted transition."""
    if frm == to:
        return Result.NOOP, set()
    legal = to in LEGAL[frm]
    fx: set[Action] = set()
    if legal and to != S.DELETED and not (frm in (S.PENDING, S.THROTTLED) and to == S.KILLING):
        fx.add(A.SAVE_STATE)

    def failure() -> None:
        fx.add(A.INCREMENT_FAILURES)
        if (facts.is_service or facts.max_task_failures == -1
                or facts.failure_count < facts.max_task_failures - 1):
            fx.add(A.RESCHEDULE)

    if frm in (S.PENDING, S.THROTTLED) and to == S.KILLING:
        fx.add(A.DELETE)  # a task that never ran is deleted outright
    elif frm in (S.ASSIGNED, S.STARTING, S.RUNNING):
        if to == S.FINISHED and facts.is_service:
            fx.add(A.RESCHEDULE)
        elif to in INTERRUPTING | {S.KILLING}:
            fx.add(A.KILL)
        elif to == S.FAILED:
            failure()
        elif to == S.KILLED:
            fx.add(A.RESCHEDULE)
        elif to == S.LOST:
            fx.add(A.RESCHEDULE)
            if frm == S.ASSIGNED:
                fx.add(A.KILL)
    elif frm == S.PARTITIONED:
        if to == S.LOST:
            fx.add(A.KILL)
            if not facts.was_killing:
                fx.add(A.RESCHEDULE)
        elif to in INTERRUPTING | {S.KILLING}:
            fx.add(A.TRANSITION_TO_LOST)
        elif to == S.FAILED:
            failure()
    elif frm in INTERRUPTING:
        if to in {S.FINISHED, S.FAILED, S.KILLED}:
            fx.add(A.RESCHEDULE)  # whatever the failure limit
        elif to == S.LOST:
            fx |= {A.KILL, A.RESCHEDULE}
        elif to == S.PARTITIONED:
            fx.add(A.TRANSITION_TO_LOST)
        elif to in LIVE_REPORTS:
            fx.add(A.KILL)  # still alive while we are killing it: kill again
    elif frm == S.KILLING or frm in TERMINAL or frm == S.DELETED:
        if to in LIVE_REPORTS:
            fx.add(A.KILL)
        elif to == S.DELETED and legal:
            fx.add(A.DELETE)
        elif frm == S.KILLING and to == S.PARTITIONED:
            fx.add(A.TRANSITION_TO_LOST)
    if legal:
        return Result.SUCCESS, fx
    return (Result.ILLEGAL_WITH_SIDE_EFFECTS if fx else Result.ILLEGAL), fx


VARIANTS = [
    TaskFacts(S.PENDING),  # the default one-off task: max_task_failures=1
    TaskFacts(S.PENDING, is_service=True),
    TaskFacts(S.PENDING, max_task_failures=3, failure_count=1),  # 1 < 2: retried
    TaskFacts(S.PENDING, max_task_failures=3, failure_count=2),  # 2 < 2 false: not retried
    TaskFacts(S.PENDING, max_task_failures=-1, failure_count=100),
    TaskFacts(S.PENDING, was_killing=True),
]


@pytest.mark.parametrize("frm", ALL, ids=lambda s: s.name)
@pytest.mark.parametrize("variant", range(len(VARIANTS)))
def test_every_pair_matches_the_reference(frm: S, variant: int) -> None:
    machine = TaskStateMachine()
    base = VARIANTS[variant]
    for to in ALL:
        if frm == S.DELETED:
            facts = None
            want = expected(frm, to, base)
        else:
            facts = TaskFacts(frm, base.is_service, base.max_task_failures, base.failure_count,
                              base.was_killing)
            want = expected(frm, to, facts)
        got = machine.transition(facts, to)
        assert (got.result, set(got.actions)) == want, f"{frm.name} -> {to.name}"
        assert got.status == (to if got.result == Result.SUCCESS else frm)


def test_illegal_transitions_are_counted_not_raised() -> None:
    machine = TaskStateMachine()
    machine.transition(TaskFacts(S.RUNNING), S.PENDING)
    machine.transition(TaskFacts(S.FINISHED), S.RUNNING)
    machine.transition(TaskFacts(S.RUNNING), S.FINISHED)
    machine.transition(TaskFacts(S.RUNNING), S.RUNNING)  # a NOOP is not illegal
    assert machine.illegal_transitions == 2


def test_default_one_off_failure_is_not_retried() -> None:
    got = TaskStateMachine().transition(TaskFacts(S.RUNNING), S.FAILED)
    assert set(got.actions) == {A.INCREMENT_FAILURES, A.SAVE_STATE}


@pytest.mark.parametrize(
    ("flaps", "penalty"),
    [(0, 0), (1, 30_000), (2, 60_000), (3, 120_000), (4, 240_000), (5, 300_000), (40, 300_000)],
)
def test_flapping_penalty_backs_off_from_30s_to_5min(flaps: int, penalty: int) -> None:
    assert flapping_penalty_ms(flaps, 30_000, 300_000) == penalty
