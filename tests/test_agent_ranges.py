"""RangeSet against a plain set of ints."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aurora.agent.channel import merge_ranges
from aurora.agent.ranges import RangeSet

spans = st.tuples(st.integers(0, 60), st.integers(0, 8)).map(lambda t: (t[0], t[0] + t[1]))


@given(st.lists(spans, max_size=12), spans, st.integers(0, 70))
def test_rangeset_matches_a_set(adds: list[tuple[int, int]], query: tuple[int, int],
                                floor: int) -> None:
    rs, model = RangeSet(), set()
    for lo, hi in adds:
        rs.add(lo, hi)
        model.update(range(lo, hi + 1))
    ranges = rs.ranges()
    assert all(a <= b for a, b in ranges)
    assert all(ranges[i][1] + 1 < ranges[i + 1][0] for i in range(len(ranges) - 1))  # merged
    assert len(rs) == len(model)
    assert all((x in rs) == (x in model) for x in range(-1, 72))
    lo, hi = query
    missing = [x for lo_, hi_ in rs.missing(lo, hi) for x in range(lo_, hi_ + 1)]
    assert missing == [x for x in range(lo, hi + 1) if x not in model]
    rs.discard_below(floor)
    assert {x for a, b in rs.ranges() for x in range(a, b + 1)} == {x for x in model if x >= floor}


def test_merge_ranges() -> None:
    assert merge_ranges([(5, 7), (1, 2), (3, 3), (6, 9)]) == ((1, 3), (5, 9))
    assert merge_ranges([]) == ()
