"""The task-state table, run against the compiled module and its pure twin."""

from __future__ import annotations

from array import array
from types import ModuleType
from typing import Any

import pytest

from aurora.model.status import ScheduleStatus as S
from aurora.model.status import UnknownStatusError
from aurora.state.machine import Action, Result, TaskFacts, TaskStateMachine

MIN = 60_000

# How to bring a fresh PENDING task to each state, one legal step at a time.
PATHS: dict[S, list[S]] = {
    S.PENDING: [],
    S.ASSIGNED: [S.ASSIGNED],
    S.STARTING: [S.ASSIGNED, S.STARTING],
    S.RUNNING: [S.ASSIGNED, S.STARTING, S.RUNNING],
    **{s: [S.ASSIGNED, S.STARTING, S.RUNNING, s]
       for s in (S.FINISHED, S.FAILED, S.KILLED, S.LOST, S.KILLING, S.PREEMPTING, S.RESTARTING,
                 S.DRAINING, S.PARTITIONED)},
}


class World:
    """A table with one job on a few hosts, and helpers to reach any state."""

    def __init__(self, mod: ModuleType, *, service: bool = False, max_failures: int = 1) -> None:
        self.t = mod.StateTable(namespace=0xABCDEF, scheduler_host="sched")
        self.job = self.t.add_job("www-data", "prod", "hello")
        self.cfg = self.t.add_config(self.job, service, max_failures)
        self.hosts = [self.t.intern_host(f"host{i}") for i in range(3)]
        self.now = 1_000_000

    def insert(self, instances: list[int]) -> list[int]:
        return list(self.t.insert(self.cfg, instances, self.now).created)

    def move(self, slot: int, to: S, **kw: Any) -> Any:
        self.now += 1000
        if to == S.ASSIGNED:
            return self.t.assign([slot], [self.hosts[0]], self.now, **kw)
        return self.t.transition([slot], int(to), self.now, **kw)

    def reach(self, state: S, instance: int = 0) -> int:
        if state == S.THROTTLED:  # a task that flapped is rescheduled THROTTLED
            slot = self.reach(S.RUNNING, instance)
            eff = self.move(slot, S.KILLED)
            return eff.created[0]
        (slot,) = self.insert([instance])
        for step in PATHS[state]:
            self.move(slot, step)
        assert self.t.state(slot) == state
        return slot


def test_insert_creates_pending_tasks_with_an_event(statetable: ModuleType) -> None:
    w = World(statetable)
    eff = w.t.insert(w.cfg, [0, 1, 2], 5000, message="created by test")
    assert len(eff.created) == 3 and len(w.t) == 3
    for inst, slot in enumerate(eff.created):
        assert w.t.state(slot) == S.PENDING
        assert w.t.active_task(w.job, inst) == slot
        assert w.t.events(slot) == [(5000, S.PENDING, "created by test")]
        assert w.t.row(slot)[:3] == (S.PENDING, w.job, inst)
    assert sorted(w.t.tasks_of_job(w.job)) == sorted(eff.created)
    assert w.t.count_in_state(S.PENDING) == 3


def test_task_ids_follow_aurora_and_are_looked_up(statetable: ModuleType) -> None:
    t = statetable.StateTable(namespace=7)
    job = t.add_job("www-data", "staging2", "hello.world")
    cfg = t.add_config(job, False, 1)
    (slot,) = t.insert(cfg, [4], 0).created
    tid = t.task_id(slot)
    assert tid.startswith("www-data-staging2-hello-world-4-")  # '.' becomes '-', as Aurora does
    assert len(tid.rsplit("-", 5)[-5:]) == 5
    assert list(t.lookup([tid, tid[:-1] + "f", "nonsense", tid.replace("-4-", "-5-")])) == [
        slot, -1, -1, -1]


def test_insert_is_all_or_nothing_with_a_clear_error(statetable: ModuleType) -> None:
    w = World(statetable)
    w.insert([0])
    before = w.t.dump()
    with pytest.raises(ValueError, match="instance 0 of job www-data/prod/hello already has"):
        w.t.insert(w.cfg, [5, 0], 1)
    with pytest.raises(ValueError, match="instance 3 is given twice"):
        w.t.insert(w.cfg, [3, 3], 1)
    with pytest.raises(ValueError, match="out of range"):
        w.t.insert(w.cfg, [-1], 1)
    with pytest.raises(ValueError, match="unknown config id 99"):
        w.t.insert(99, [1], 1)
    assert w.t.dump() == before


def test_unknown_status_number_is_a_clear_error(statetable: ModuleType) -> None:
    w = World(statetable)
    slot = w.reach(S.RUNNING)
    before = w.t.dump()
    for bad in (8, 10, 19, 32, -5, "RUNNING", None):
        with pytest.raises(UnknownStatusError, match="unknown task status"):
            w.t.transition([slot], bad, 0)
    with pytest.raises(UnknownStatusError):
        w.t.tasks_in_state(8)
    assert w.t.dump() == before


def test_transition_each_is_the_updates_one_by_one_in_order(statetable: ModuleType) -> None:
    # Three tasks' interleaved STARTING/RUNNING/FINISHED, an update for an unknown task and one
    # that is illegal (FINISHED -> RUNNING): one call, the same table and effects as one
    # transition per update.
    worlds = [World(statetable), World(statetable)]
    for w in worlds:
        w.insert([0, 1, 2])
        w.now += 1000
        w.t.assign([0, 1, 2], [w.hosts[0], w.hosts[1], w.hosts[2]], w.now)
        w.now += 1000
    batch = [(0, S.STARTING, None), (1, S.STARTING, None), (0, S.RUNNING, "up"),
             (2, S.STARTING, None), (0, S.FINISHED, "done"), (-1, S.RUNNING, None),
             (1, S.RUNNING, "up"), (0, S.RUNNING, None), (2, S.FAILED, "boom")]
    each = worlds[0].t.transition_each(array("q", [b[0] for b in batch]),
                                       [int(b[1]) for b in batch], worlds[0].now,
                                       [b[2] for b in batch])
    one_by_one = [worlds[1].t.transition([slot], int(to), worlds[1].now, msg)
                  for slot, to, msg in batch]
    assert worlds[0].t.dump() == worlds[1].t.dump()
    for field in ("saved", "ended", "created", "killed", "deleted_slots"):
        assert list(getattr(each, field)) == [s for e in one_by_one for s in getattr(e, field)]
    for field in ("kill_unknown", "illegal"):  # positions: in the batch
        assert list(getattr(each, field)) == [k for k, e in enumerate(one_by_one)
                                              if list(getattr(e, field)) == [0]]
    assert list(each.kill_unknown) == [5] and 7 in each.illegal
    assert [worlds[0].t.state(s) for s in range(3)] == [S.FINISHED, S.RUNNING, S.FAILED]


def test_transition_each_checks_every_status_before_changing_anything(
        statetable: ModuleType) -> None:
    w = World(statetable)
    slot = w.reach(S.ASSIGNED)
    before = w.t.dump()
    with pytest.raises(UnknownStatusError, match="99"):
        w.t.transition_each([slot, slot], [int(S.STARTING), 99], w.now)
    assert w.t.dump() == before
    with pytest.raises(ValueError, match="2 slots, 1 statuses"):
        w.t.transition_each([slot, slot], [int(S.STARTING)], w.now)


def test_illegal_transition_changes_nothing_and_is_counted(statetable: ModuleType) -> None:
    w = World(statetable)
    slot = w.reach(S.RUNNING)
    before = w.t.dump()
    eff = w.t.transition([slot], int(S.PENDING), 99)
    assert list(eff.illegal) == [0] and w.t.illegal_transitions == 1
    after = w.t.dump()
    assert after[:4] == before[:4]  # everything but the counter
    assert after[4] == before[4] + 1


@pytest.mark.parametrize("frm", [s for s in S if s not in (S.INIT,)], ids=lambda s: s.name)
@pytest.mark.parametrize("service", [False, True], ids=["oneoff", "service"])
def test_table_effects_match_the_state_machine(statetable: ModuleType, frm: S,
                                               service: bool) -> None:
    """Drive a task to FROM, attempt every target, compare with the one-task machine."""
    for to in S:
        if to == S.INIT and frm != S.DELETED:
            continue  # nothing reports INIT; tasks are born PENDING
        w = World(statetable, service=service)
        if frm == S.DELETED:
            slot = w.reach(S.PENDING)
            w.move(slot, S.KILLING)  # deletes it
            facts = None
        else:
            slot = w.reach(frm)
            row = w.t.row(slot)
            facts = TaskFacts(frm, service, 1, row[5], bool(row[10] & 1))
        want = TaskStateMachine().transition(facts, to)
        eff = w.move(slot, to) if to != S.ASSIGNED else w.t.transition([slot], int(to), w.now)
        label = f"{frm.name} -> {to.name}"
        if want.result == Result.NOOP:
            assert eff.noop == 1, label
            continue
        legal = want.result == Result.SUCCESS
        assert (list(eff.illegal) == []) == legal, label
        if frm == S.DELETED:
            assert (list(eff.kill_unknown) == [0]) == (Action.KILL in want.actions), label
            continue
        acts = set(want.actions)
        if Action.TRANSITION_TO_LOST in acts:  # then the machine moves the task on to LOST
            assert facts is not None
            nested = TaskStateMachine().transition(
                TaskFacts(to, service, 1, facts.failure_count,
                          facts.was_killing or to == S.KILLING), S.LOST)
            acts |= nested.actions
        assert (slot in eff.killed) == (Action.KILL in acts), label
        assert (list(eff.saved[:1]) == [slot]) == (Action.SAVE_STATE in acts), label
        assert bool(eff.deleted) == (Action.DELETE in acts), label
        if Action.TRANSITION_TO_LOST in acts:
            assert w.t.state(slot) == S.LOST, label
        elif Action.DELETE in acts:
            assert w.t.state(slot) == S.DELETED, label
        else:
            assert w.t.state(slot) == (to if legal else frm), label
        assert bool(eff.created) == (Action.RESCHEDULE in acts), label


def test_reschedule_carries_instance_failures_and_ancestor(statetable: ModuleType) -> None:
    w = World(statetable, max_failures=3)
    slot = w.reach(S.RUNNING, instance=2)
    w.now += 10 * MIN  # ran long enough not to count as flapping
    eff = w.t.transition([slot], int(S.FAILED), w.now, message="exit 1")
    (new,) = eff.created
    old_row, new_row = w.t.row(slot), w.t.row(new)
    assert old_row[5] == 1 and new_row[5] == 1  # failure counted, carried
    assert new_row[2] == 2 and new_row[8] == old_row[7]  # same instance, ancestor = old seq
    assert w.t.state(new) == S.PENDING and w.t.events(new)[-1][2] == "Rescheduled"
    assert w.t.active_task(w.job, 2) == new
    assert w.t.events(slot)[-1] == (w.now, S.FAILED, "exit 1")
    assert w.t.task_id(new) != w.t.task_id(slot)


def test_failure_limit_stops_rescheduling(statetable: ModuleType) -> None:
    w = World(statetable, max_failures=2)
    slot = w.reach(S.RUNNING)
    w.now += 10 * MIN
    (slot2,) = w.t.transition([slot], int(S.FAILED), w.now).created  # count 0 < 1: retried
    for step in (S.ASSIGNED, S.STARTING, S.RUNNING):
        w.move(slot2, step)
    w.now += 10 * MIN
    eff = w.t.transition([slot2], int(S.FAILED), w.now)  # count 1 < 1 false
    assert list(eff.created) == [] and w.t.row(slot2)[5] == 2
    assert w.t.active_task(w.job, 0) == -1


def test_flapping_service_is_throttled_with_growing_penalty(statetable: ModuleType) -> None:
    w = World(statetable, service=True)
    slot = w.reach(S.RUNNING)
    penalties = []
    for _ in range(6):
        eff = w.move(slot, S.FAILED)  # ran one second: flapped
        (slot,) = eff.created
        assert w.t.state(slot) == S.THROTTLED
        penalties.append(w.t.throttled_until(slot) - w.now)
        w.now = w.t.throttled_until(slot)
        w.t.transition([slot], int(S.PENDING), w.now, expect=int(S.THROTTLED))
        for step in (S.ASSIGNED, S.STARTING, S.RUNNING):
            w.move(slot, step)
    assert penalties == [30_000, 60_000, 120_000, 240_000, 300_000, 300_000]
    assert "penalized for 30000 ms" in (w.t.events(w.t.tasks_of_job(w.job)[-2])[0][2] or "")


def test_task_killed_by_us_does_not_count_as_flapping(statetable: ModuleType) -> None:
    w = World(statetable, service=True)
    slot = w.reach(S.RUNNING)
    w.move(slot, S.RESTARTING)
    (new,) = w.move(slot, S.KILLED).created
    assert w.t.state(new) == S.PENDING


def test_partition_cycles_are_compacted(statetable: ModuleType) -> None:
    w = World(statetable)
    slot = w.reach(S.RUNNING)
    for _ in range(5):
        w.move(slot, S.PARTITIONED)
        w.move(slot, S.RUNNING)
    w.move(slot, S.PARTITIONED)
    statuses = [e[1] for e in w.t.events(slot)]
    assert statuses == [S.PENDING, S.ASSIGNED, S.STARTING, S.RUNNING, S.PARTITIONED]
    assert w.t.row(slot)[6] == 6  # times partitioned


def test_partitioned_task_killed_goes_lost_without_reschedule(statetable: ModuleType) -> None:
    w = World(statetable, service=True)
    slot = w.reach(S.KILLING)
    eff = w.move(slot, S.PARTITIONED)
    assert w.t.state(slot) == S.LOST and list(eff.created) == []
    assert [e[1] for e in w.t.events(slot)][-2:] == [S.PARTITIONED, S.LOST]
    assert w.t.events(slot)[-1][2] == "Action performed on partitioned task, marking as LOST."


def test_pending_task_killed_is_deleted_and_its_id_never_reused(statetable: ModuleType) -> None:
    w = World(statetable)
    (slot,) = w.insert([0])
    tid = w.t.task_id(slot)
    eff = w.move(slot, S.KILLING)
    assert eff.deleted == [tid] and list(eff.saved) == [] and len(w.t) == 0
    assert list(w.t.lookup([tid])) == [-1] and w.t.active_task(w.job, 0) == -1
    (again,) = w.insert([0])
    assert again == slot  # the row is reused...
    assert w.t.task_id(again) != tid  # ...the id never is
    assert list(w.t.tasks_of_job(w.job)) == [again]


def test_unknown_task_reporting_running_gets_a_kill(statetable: ModuleType) -> None:
    w = World(statetable)
    eff = w.t.transition([-1, 10_000], int(S.RUNNING), 0)
    assert list(eff.kill_unknown) == [0, 1] and list(eff.illegal) == [0, 1]
    eff = w.t.transition([-1], int(S.FINISHED), 0)
    assert list(eff.kill_unknown) == [] and list(eff.illegal) == [0]


def test_cas_and_noop_are_reported(statetable: ModuleType) -> None:
    w = World(statetable)
    a, b = w.insert([0, 1])
    w.move(a, S.ASSIGNED)
    tid_b = w.t.task_id(b)
    eff = w.t.transition([a, b], int(S.KILLING), 5, expect=int(S.PENDING))
    assert eff.cas_failed == 1 and eff.deleted == [tid_b]
    assert w.t.state(a) == S.ASSIGNED
    eff = w.t.transition([a], int(S.ASSIGNED), 6)
    assert eff.noop == 1


def test_indexes_answer_by_host_state_and_job(statetable: ModuleType) -> None:
    w = World(statetable)
    slots = w.insert(list(range(6)))
    eff = w.t.assign(slots, [w.hosts[i % 3] for i in range(6)], 10)
    assert list(eff.saved) == slots
    for h in range(3):
        assert sorted(w.t.tasks_on_host(w.hosts[h])) == sorted(slots[h::3])
        assert w.t.host_name(w.hosts[h]) == f"host{h}"
    w.t.transition(array("q", slots[:2]), int(S.STARTING), 11)
    assert sorted(w.t.tasks_in_state(S.STARTING)) == slots[:2]
    assert sorted(w.t.tasks_in_state(S.ASSIGNED)) == slots[2:]
    assert w.t.count_in_state(S.ASSIGNED) == 4
    other = w.t.add_job("www-data", "prod", "other")
    assert list(w.t.tasks_of_job(other)) == []
    assert w.t.add_job("www-data", "prod", "hello") == w.job
    with pytest.raises(ValueError, match="unknown host id 7"):
        w.t.assign(slots[:1], [7], 12)
    with pytest.raises(ValueError, match="1 slots but 2 hosts"):
        w.t.assign(slots[:1], [0, 1], 12)


def test_assign_only_takes_pending_tasks(statetable: ModuleType) -> None:
    w = World(statetable)
    slot = w.reach(S.RUNNING)
    eff = w.t.assign([slot], [w.hosts[2]], 5)
    assert eff.cas_failed == 1 and w.t.row(slot)[4] == w.hosts[0]


def test_memory_accounting_covers_the_rows(statetable: ModuleType) -> None:
    w = World(statetable)
    w.insert(list(range(1000)))
    assert w.t.memory_bytes() >= 1000 * 60
