"""Exporting table rows to storage records and restoring them, over both implementations."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aurora._fastpath import NO_EXTENSIONS, load
from aurora.model.status import ScheduleStatus as S
from aurora.scheduler.records import TaskRecord, decode_task, encode


@pytest.fixture
def taskrows(impl: str) -> ModuleType:
    return load("taskrows", impl)


def busy_table(statetable: ModuleType) -> tuple[Any, list[str], list[str], list[int]]:
    """Tasks in many states, rescheduled, partitioned, with and without hosts."""
    t = statetable.StateTable(namespace=0x1234)
    jobs = ["www/prod/hello", "www/prod/db"]
    for j in jobs:
        t.add_job(*j.split("/"))
    hosts = ["h0", "h1"]
    for h in hosts:
        t.intern_host(h)
    t.add_config(0, True, 1)
    t.add_config(1, False, 3)
    a = list(t.insert(0, range(4), 1_000, message="created").created)
    b = list(t.insert(1, range(2), 1_000).created)
    t.assign(a[:3] + b[:1], [0, 1, 0, 1], 2_000)
    t.transition(a[:3], int(S.RUNNING), 3_000)
    t.transition(a[:1], int(S.FAILED), 4_000, message="exit 1")  # rescheduled, THROTTLED
    t.transition(a[1:2], int(S.PARTITIONED), 5_000)
    t.transition(b[:1], int(S.LOST), 6_000)
    return t, jobs, hosts, [10, 20]


def test_rows_follow_the_task_record_layout(statetable: ModuleType,
                                            taskrows: ModuleType) -> None:
    t, jobs, hosts, cfg_ids = busy_table(statetable)
    slots = [s for s in range(t.slot_count) if t.state(s) != 31]
    rows = taskrows.export(t, slots, jobs, hosts, cfg_ids)
    records = [decode_task(encode(r)) for r in rows]  # a row encodes as a TaskRecord
    assert all(isinstance(r, TaskRecord) for r in records)
    failed = next(r for r in records if r.status == S.FAILED)
    assert failed.host == "h0" and failed.failures == 1 and failed.config == 10
    assert failed.events[-1] == (4_000, S.FAILED, "exit 1")
    successor = next(r for r in records if r.ancestor == failed.id)
    assert successor.status == S.THROTTLED and successor.instance == failed.instance
    assert next(r for r in records if r.status == S.PARTITIONED).times_partitioned == 1


def test_restore_rebuilds_the_same_table(statetable: ModuleType, taskrows: ModuleType) -> None:
    t, jobs, hosts, cfg_ids = busy_table(statetable)
    slots = [s for s in range(t.slot_count) if t.state(s) != 31]
    records = [decode_task(encode(r)) for r in taskrows.export(t, slots, jobs, hosts, cfg_ids)]
    fresh = statetable.StateTable(namespace=0x1234)
    for j in jobs:
        fresh.add_job(*j.split("/"))
    for h in hosts:
        fresh.intern_host(h)
    fresh.add_config(0, True, 1)
    fresh.add_config(1, False, 3)
    restored = taskrows.restore(fresh, records, {j: i for i, j in enumerate(jobs)},
                                {h: i for i, h in enumerate(hosts)}, {10: 0, 20: 1})
    assert len(restored) == len(records) == len(t)
    by_id = {fresh.task_id(s): s for s in restored}
    for s in slots:
        r = by_id[t.task_id(s)]
        assert fresh.row(r)[:1] + fresh.row(r)[2:] == t.row(s)[:1] + t.row(s)[2:]
        assert fresh.events(r) == t.events(s)
    assert fresh.next_seq == t.next_seq
    assert sorted(fresh.tasks_on_host(0)) == sorted(by_id[t.task_id(s)]
                                                   for s in t.tasks_on_host(0))
    for inst in range(4):
        want = t.active_task(0, inst)
        got = fresh.active_task(0, inst)
        assert (want < 0 and got < 0) or fresh.task_id(got) == t.task_id(want)
    # The restored table goes on working: ids keep growing, nothing is reused.
    new = fresh.insert(1, [1], 9_000) if fresh.active_task(1, 1) < 0 else None
    assert new is None or fresh.task_id(new.created[0]) not in by_id


def test_bad_rows_leave_the_table_unchanged(statetable: ModuleType,
                                            taskrows: ModuleType) -> None:
    t, jobs, hosts, cfg_ids = busy_table(statetable)
    slots = [s for s in range(t.slot_count) if t.state(s) != 31]
    rows = taskrows.export(t, slots, jobs, hosts, cfg_ids)
    maps = ({j: i for i, j in enumerate(jobs)}, {h: i for i, h in enumerate(hosts)},
            {10: 0, 20: 1})
    before = t.dump()
    with pytest.raises(ValueError, match="restored twice"):
        taskrows.restore(t, rows[:1], *maps)
    fresh = statetable.StateTable(namespace=0x1234)
    for j in jobs:
        fresh.add_job(*j.split("/"))
    fresh.add_config(0, True, 1)
    fresh.add_config(1, False, 3)
    empty = fresh.dump()
    with pytest.raises(ValueError, match="unknown host 'h0'"):
        taskrows.restore(fresh, rows, maps[0], {}, maps[2])
    with pytest.raises(ValueError, match="unknown host 'h0'"):  # mapped, but not in the table
        taskrows.restore(fresh, rows, *maps)
    bad_status = [(*rows[0][:4], 8, *rows[0][5:])]
    with pytest.raises(ValueError, match="unknown status 8"):
        taskrows.restore(fresh, bad_status, *maps)
    foreign = [(rows[0][0].replace("-0000-1234-", "-0000-9999-"), *rows[0][1:])]
    assert foreign[0][0] != rows[0][0]
    with pytest.raises(ValueError, match="not an id of this scheduler's namespace"):
        taskrows.restore(fresh, foreign, *maps)
    assert fresh.dump() == empty and t.dump() == before


@pytest.mark.skipif(NO_EXTENSIONS, reason="compares the compiled module with its twin")
def test_compiled_and_pure_export_the_same_rows() -> None:
    outs = []
    for impl in ("compiled", "pure"):
        t, jobs, hosts, cfg_ids = busy_table(load("statetable", impl))
        slots = [s for s in range(t.slot_count) if t.state(s) != 31]
        outs.append(load("taskrows", impl).export(t, slots, jobs, hosts, cfg_ids))
    assert outs[0] == outs[1]


def test_out_of_range_fields_are_refused(statetable: ModuleType, taskrows: ModuleType) -> None:
    t, jobs, hosts, cfg_ids = busy_table(statetable)
    rows = taskrows.export(t, [0], jobs, hosts, cfg_ids)
    fresh = statetable.StateTable(namespace=0x1234)
    for j in jobs:
        fresh.add_job(*j.split("/"))
    for h in hosts:
        fresh.intern_host(h)
    fresh.add_config(0, True, 1)
    maps = ({j: i for i, j in enumerate(jobs)}, {h: i for i, h in enumerate(hosts)}, {10: 0})
    bad_instance = [(*rows[0][:2], -1, *rows[0][3:])]
    with pytest.raises(ValueError, match="instance -1 is out of range"):
        taskrows.restore(fresh, bad_instance, *maps)
    bad_event = [(*rows[0][:12], ((1, 99, None),))]
    with pytest.raises(ValueError, match="an event has an unknown status"):
        taskrows.restore(fresh, bad_event, *maps)
    assert len(fresh) == 0


@given(ns=st.integers(0, 2**64 - 1), instances=st.integers(1, 40),
       inst0=st.sampled_from([0, 127, 128, 255, 65_535, 65_536]),
       ts=st.sampled_from([0, 1, 200, 70_000, 2**33, 1_795_567_684_087]),
       message=st.one_of(st.none(), st.text(max_size=300)), events=st.integers(0, 6),
       role=st.sampled_from(["www", "a" * 40, "rôle", "x" * 300]),
       ports=st.dictionaries(st.text(min_size=1, max_size=5), st.integers(0, 65_535),
                             max_size=20))
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # modules, no state
def test_encoded_rows_are_msgspecs_encoding(statetable: ModuleType, taskrows: ModuleType,
                                            ns: int, instances: int, inst0: int, ts: int,
                                            message: str | None, events: int, role: str,
                                            ports: dict[str, int]) -> None:
    """export_encoded writes each row as msgspec would encode export()'s row with ports: the
    same bytes, in either implementation; and they decode as TaskRecords."""
    t = statetable.StateTable(namespace=ns)
    t.add_job(role, "prod", "job")
    t.intern_host("host-1")
    t.add_config(0, True, -1)
    slots = list(t.insert(0, range(inst0, inst0 + instances), ts, message=message).created)
    t.assign(slots[:1], [0], ts + 1)
    for i in range(events):  # RUNNING <-> PARTITIONED: kept as one cycle
        t.transition(slots[:1], int(S.RUNNING if i % 2 == 0 else S.PARTITIONED), ts + 2 + i,
                     message=message)
    t.transition(slots[1:2], int(S.KILLING), ts + 5)  # PENDING -> KILLING deletes it
    live = [s for s in range(t.slot_count) if t.state(s) != 31]
    jobs, hosts, cfg = [f"{role}/prod/job"], ["host-1"], [7]
    by_slot = {live[0]: ports} if live else {}
    keys, values = taskrows.export_encoded(t, live, jobs, hosts, cfg, by_slot)
    rows = taskrows.export(t, live, jobs, hosts, cfg, by_slot)
    assert keys == [r[0].encode() for r in rows]
    assert values == [encode(r) for r in rows]
    assert [decode_task(v).id for v in values] == [r[0] for r in rows]


def test_a_long_event_history_encodes_in_order(statetable: ModuleType,
                                               taskrows: ModuleType) -> None:
    """More events than the compiled encoder keeps on its stack (256) still come out oldest
    first, as msgspec encodes them."""
    t, jobs, hosts, cfg_ids = busy_table(statetable)
    row = taskrows.export(t, [0], jobs, hosts, cfg_ids)[0]
    events = tuple((1_000 + i, int(S.RUNNING if i % 2 else S.PARTITIONED), f"m{i % 7}")
                   for i in range(600))
    fresh = statetable.StateTable(namespace=0x1234)
    for j in jobs:
        fresh.add_job(*j.split("/"))
    for h in hosts:
        fresh.intern_host(h)
    fresh.add_config(0, True, 1)
    fresh.add_config(1, False, 3)
    [slot] = taskrows.restore(fresh, [(*row[:12], events)], {j: i for i, j in enumerate(jobs)},
                              {h: i for i, h in enumerate(hosts)}, {10: 0, 20: 1})
    _keys, values = taskrows.export_encoded(fresh, [slot], jobs, hosts, cfg_ids, {})
    assert values == [encode((*row[:12], events, {}))]
    assert decode_task(values[0]).events == events
