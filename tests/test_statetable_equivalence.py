"""Hypothesis: random operation sequences give identical tables and effects, compiled and pure."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aurora._fastpath import NO_EXTENSIONS, load
from aurora.model.status import ScheduleStatus

pytestmark = pytest.mark.skipif(
    NO_EXTENSIONS, reason="compares the compiled module with its twin; this run has no compiled"
)

S = ScheduleStatus
# Every status can be drawn; the lifecycle ones more often, so tasks get far enough to be
# rescheduled, throttled, partitioned and deleted.
TARGETS = [int(s) for s in ScheduleStatus] + [
    int(s) for s in (S.STARTING, S.RUNNING, S.RUNNING, S.FAILED, S.KILLED, S.LOST, S.KILLING,
                     S.PARTITIONED, S.FINISHED, S.DELETED, S.PENDING)]
slots = st.lists(st.integers(min_value=-1, max_value=12), max_size=10)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), st.integers(0, 3),
                  st.lists(st.integers(0, 6), max_size=5)),
        st.tuples(st.just("transition"), slots, st.sampled_from(TARGETS),
                  st.sampled_from([-1, -1, -1, 0, 2, 9, 16])),
        st.tuples(st.just("assign"), slots, st.integers(0, 2)),
        st.tuples(st.just("advance"), st.sampled_from([1, 1000, 60_000, 400_000])),
        # A status batch: each update its own status, a few unknown numbers among them.
        st.tuples(st.just("each"), slots, st.lists(st.sampled_from([*TARGETS, 99]),
                                                   min_size=10, max_size=10)),
        # One task through several states in a row: reaches the deep corners quickly.
        st.tuples(st.just("walk"), st.integers(0, 8), st.lists(st.sampled_from(TARGETS),
                                                                max_size=8)),
    ),
    max_size=40,
)


def _build(impl: str) -> Any:
    t = load("statetable", impl).StateTable(namespace=99, flap_threshold_ms=300_000)
    for name in ("a", "b"):
        job = t.add_job("role", "prod", name)
        t.add_config(job, False, 1)
        t.add_config(job, True, 3)
    for h in range(3):
        t.intern_host(f"h{h}")
    return t


def _run(t: Any, op: tuple, now: int) -> Any:
    kind = op[0]
    try:
        if kind == "insert":
            return t.insert(op[1], op[2], now, message="go").as_tuple()
        if kind == "transition":
            return t.transition(op[1], op[2], now, message=f"to {op[2]}", expect=op[3]).as_tuple()
        if kind == "assign":
            return t.assign(op[1], [op[2]] * len(op[1]), now).as_tuple()
        if kind == "each":
            statuses = op[2][:len(op[1])]
            return t.transition_each(op[1], statuses, now,
                                     [None if x % 2 else f"m{x}" for x in statuses]).as_tuple()
        if kind == "walk":
            out = [t.assign([op[1]], [0], now).as_tuple()]
            for i, to in enumerate(op[2]):
                out.append(t.transition([op[1]], to, now + i).as_tuple())
            return out
    except (ValueError, KeyError) as exc:
        return (type(exc).__name__, str(exc))
    return None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_compiled_and_pure_agree(sequence: list[tuple]) -> None:
    compiled, pure = _build("compiled"), _build("pure")
    now = 1_000_000
    for op in sequence:
        if op[0] == "advance":
            now += op[1]
            continue
        assert _run(compiled, op, now) == _run(pure, op, now), op
        assert compiled.dump() == pure.dump(), op
        assert len(compiled) == len(pure)
    for tid_slot in range(compiled.slot_count):
        if compiled.state(tid_slot) != 31:
            tid = compiled.task_id(tid_slot)
            assert list(compiled.lookup([tid])) == list(pure.lookup([tid])) == [tid_slot]
