"""Sets of sequence numbers kept as sorted, disjoint, inclusive ranges.

Status updates arrive in contiguous batches, almost always just above everything seen before, so
adding a batch is an append or an extension of the last range: O(1) per batch, not per update.
"""

from __future__ import annotations

from bisect import bisect_right

__all__ = ["RangeSet"]


class RangeSet:
    __slots__ = ("_his", "_los")

    def __init__(self) -> None:
        self._los: list[int] = []
        self._his: list[int] = []

    def __len__(self) -> int:
        return sum(h - lo + 1 for lo, h in zip(self._los, self._his, strict=True))

    def __contains__(self, seq: int) -> bool:
        i = bisect_right(self._los, seq) - 1
        return i >= 0 and seq <= self._his[i]

    def ranges(self) -> list[tuple[int, int]]:
        return list(zip(self._los, self._his, strict=True))

    def add(self, lo: int, hi: int) -> None:
        """Add [lo, hi]."""
        if hi < lo:
            return
        los, his = self._los, self._his
        if not los or lo > his[-1] + 1:  # the usual case: above everything
            los.append(lo)
            his.append(hi)
            return
        if lo >= los[-1]:  # touches or overlaps the last range
            his[-1] = max(his[-1], hi)
            return
        i = bisect_right(los, lo) - 1  # last range starting at or before lo
        if i >= 0 and his[i] + 1 >= lo:
            start = i
            lo = los[i]
        else:
            start = i + 1
        j = start
        while j < len(los) and los[j] <= hi + 1:
            hi = max(hi, his[j])
            j += 1
        los[start:j] = [lo]
        his[start:j] = [hi]

    def missing(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """The parts of [lo, hi] not in the set, in order."""
        los, his = self._los, self._his
        if not los or lo > his[-1]:
            return [(lo, hi)] if lo <= hi else []
        out: list[tuple[int, int]] = []
        i = max(0, bisect_right(los, lo) - 1)
        cur = lo
        while cur <= hi and i < len(los):
            if his[i] < cur:
                i += 1
                continue
            if los[i] > cur:
                out.append((cur, min(hi, los[i] - 1)))
            cur = his[i] + 1
            i += 1
        if cur <= hi:
            out.append((cur, hi))
        return out

    def discard_below(self, floor: int) -> None:
        """Forget every seq below FLOOR."""
        los, his = self._los, self._his
        k = 0
        while k < len(los) and his[k] < floor:
            k += 1
        if k:
            del los[:k]
            del his[:k]
        if los and los[0] < floor:
            los[0] = floor
