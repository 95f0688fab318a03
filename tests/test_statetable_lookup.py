"""Task ids back to slots: only an id exactly as the table wrote it names a task."""

from __future__ import annotations

from types import ModuleType

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def table_with_tasks(statetable: ModuleType) -> tuple[object, list[int], list[str]]:
    t = statetable.StateTable(namespace=0xABCDEF0123456789)
    t.add_job("www-data", "prod", "hello")
    t.add_job("rôle", "prod", "hello")  # a prefix that is not ASCII-safe
    t.add_config(0, True, -1)
    t.add_config(1, True, -1)
    slots = list(t.insert(0, [0, 7, 10, 123], 1).created) + list(t.insert(1, [5], 1).created)
    return t, slots, [t.task_id(s) for s in slots]


def test_exact_ids_and_near_misses(statetable: ModuleType) -> None:
    t, slots, ids = table_with_tasks(statetable)
    assert list(t.lookup(ids)) == slots
    tid = ids[2]  # ...-10-<uuid>
    uuid = tid[-36:]
    near = [
        tid.upper(), tid[:-36] + uuid.upper(), tid.replace("-10-", "-010-"),
        tid.replace("-10-", "-1-"), "x" + tid, tid[1:], tid + "0", tid[:-1],
        tid[:-36] + uuid[:8] + uuid[9:13] + "-" + uuid[8] + uuid[13:],  # a dash moved
        tid[:-36] + uuid.replace("-", "_"), ids[0][:-36] + uuid,  # another task's prefix
        "", "-", tid[-37:],
    ]
    assert list(t.lookup(near)) == [-1] * len(near)
    assert t.seq_of(tid.upper()) == t.seq_of(tid) > 0  # the seq itself reads either case
    assert t.seq_of(tid.replace("-", "_")) == -1


@given(edits=st.lists(st.tuples(st.integers(0, 120), st.sampled_from("-0aA9fF_ x")),
                      max_size=3), which=st.integers(0, 4))
@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # modules, no state
def test_lookup_is_string_equality(statetable: ModuleType, edits: list[tuple[int, str]],
                                   which: int) -> None:
    t, slots, ids = table_with_tasks(statetable)
    tid = ids[which]
    for pos, ch in edits:
        if pos < len(tid):
            tid = tid[:pos] + ch + tid[pos + 1:]
    expected = [slots[i] for i, known in enumerate(ids) if known == tid] or [-1]
    assert list(t.lookup([tid])) == expected
