"""The group committer: follow-ups wait for the fsync, which runs off the loop; groups stay in
order; a clean stop drains everything."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from aurora.scheduler.committer import Committer
from aurora.scheduler.records import EncodedTasks, SaveQuota
from aurora.scheduler.storage import Storage


class SlowSyncStorage:
    """Records writes; ``sync_wal`` blocks until the test lets it return."""

    def __init__(self, sync: bool = True) -> None:
        self.sync = sync
        self.last_seq = 0
        self.writes: list[tuple[list[Any], bool]] = []
        self.synced_upto: list[int] = []
        self.release = threading.Event()
        self.sync_started = threading.Event()

    def commit(self, txns: list[Any], *, defer_sync: bool = False) -> list[int]:
        if txns:
            self.writes.append((list(txns), defer_sync))
            self.last_seq += len(txns)
        return list(range(self.last_seq - len(txns) + 1, self.last_seq + 1))

    def sync_wal(self) -> None:
        seq = self.last_seq
        self.sync_started.set()
        assert self.release.wait(5), "the test never released the fsync"
        self.release.clear()
        self.synced_upto.append(seq)


def op(n: int) -> SaveQuota:
    return SaveQuota(f"role{n}", b"")


async def _until(predicate: Any, what: str) -> None:
    for _ in range(500):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def test_follow_ups_wait_for_the_fsync_and_the_loop_goes_on_meanwhile() -> None:
    async def scenario() -> None:
        storage = SlowSyncStorage()
        committer = Committer(storage)  # type: ignore[arg-type]
        done: list[str] = []
        committer.submit([op(1)], lambda: done.append("first"))
        await _until(storage.sync_started.is_set, "the first fsync")
        assert storage.writes == [([(op(1),)], True)]  # written, not yet durable
        ticks = 0
        for _ in range(5):  # the loop is not blocked by the fsync
            await asyncio.sleep(0)
            ticks += 1
        assert ticks == 5 and done == []
        # Submitted while the first group syncs: the next group, written after the fsync.
        committer.submit([op(2)], lambda: done.append("second"))
        committer.submit([op(3)], lambda: done.append("third"))
        await asyncio.sleep(0.05)
        assert len(storage.writes) == 1 and done == []
        storage.sync_started.clear()
        storage.release.set()
        await _until(lambda: done == ["first"] and storage.sync_started.is_set(),
                     "the first group's follow-up and the second fsync")
        assert storage.writes[1] == ([(op(2),), (op(3),)], True)
        storage.release.set()
        await _until(lambda: done == ["first", "second", "third"], "the second group")
        assert storage.synced_upto == [1, 3]
        assert not committer.pending
        committer.close()

    asyncio.run(scenario())


def test_an_empty_commit_waits_for_everything_before_it() -> None:
    async def scenario() -> None:
        storage = SlowSyncStorage()
        committer = Committer(storage)  # type: ignore[arg-type]
        committer.submit([op(1)])
        waiter = asyncio.ensure_future(committer.commit([]))
        await _until(storage.sync_started.is_set, "the fsync")
        await asyncio.sleep(0.02)
        assert not waiter.done()
        storage.release.set()
        assert await asyncio.wait_for(waiter, 5) == 1
        committer.close()

    asyncio.run(scenario())


def test_close_drains_the_group_in_flight_and_what_is_queued() -> None:
    async def scenario() -> None:
        storage = SlowSyncStorage()
        committer = Committer(storage)  # type: ignore[arg-type]
        done: list[int] = []
        committer.submit([op(1)], lambda: done.append(1))
        await _until(storage.sync_started.is_set, "the fsync")
        committer.submit([op(2)], lambda: done.append(2))
        storage.release.set()  # the in-flight fsync may now return
        committer.close()
        assert done == [1, 2]
        assert storage.writes[-1] == ([(op(2),)], False)  # the last one synced in place

    asyncio.run(scenario())


def test_without_fsync_a_group_is_followed_up_at_once() -> None:
    async def scenario() -> None:
        storage = SlowSyncStorage(sync=False)
        committer = Committer(storage)  # type: ignore[arg-type]
        done: list[int] = []
        committer.submit([op(1)], lambda: done.append(1))
        await asyncio.sleep(0)
        assert done == [1] and storage.writes == [([(op(1),)], False)]
        assert storage.synced_upto == []

    asyncio.run(scenario())


def test_a_failed_fsync_fails_the_waiters_and_runs_no_follow_up() -> None:
    async def scenario() -> None:
        storage = SlowSyncStorage()

        def broken() -> None:
            raise OSError(5, "Input/output error")

        storage.sync_wal = broken  # type: ignore[method-assign]
        committer = Committer(storage)  # type: ignore[arg-type]
        done: list[int] = []
        errors: list[BaseException] = []
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx.get("exception")))
        committer.submit([op(1)], lambda: done.append(1))
        with pytest.raises(OSError, match="Input/output error"):
            await asyncio.wait_for(committer.commit([op(2)]), 5)
        assert done == []
        await _until(lambda: errors, "the loop to see the failure")

    asyncio.run(scenario())


def test_real_storage_round_trip(tmp_path: Path) -> None:
    async def scenario() -> None:
        storage = Storage(tmp_path)
        committer = Committer(storage)
        seq = await committer.commit([op(1)])
        assert seq == storage.last_seq == 1
        assert committer.syncs == 1
        committer.close()
        storage.close()
        again = Storage(tmp_path)
        assert again.last_seq == 1
        again.close()

    asyncio.run(scenario())


def test_writes_start_at_least_min_interval_apart_and_a_lone_one_goes_at_once() -> None:
    async def scenario() -> None:
        storage = SlowSyncStorage()
        storage.release.set()  # fsyncs return at once

        def instant_sync() -> None:
            storage.synced_upto.append(storage.last_seq)

        storage.sync_wal = instant_sync  # type: ignore[method-assign]
        committer = Committer(storage, min_interval=0.2)  # type: ignore[arg-type]
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        assert await asyncio.wait_for(committer.commit([op(1)]), 5) == 1
        first = loop.time() - t0
        assert first < 0.15, f"a lone write waited {first:.3f} s"
        # Three more soon after: they wait for the interval, then go as one write.
        waiters = [asyncio.ensure_future(committer.commit([op(n)])) for n in (2, 3, 4)]
        await asyncio.sleep(0.1)
        assert len(storage.writes) == 1 and not any(w.done() for w in waiters)
        assert await asyncio.wait_for(asyncio.gather(*waiters), 5) == [4, 4, 4]
        assert loop.time() - t0 >= 0.2
        assert [len(txns) for txns, _ in storage.writes] == [1, 3]
        assert storage.synced_upto == [1, 4]
        # close() writes what waits for the interval at once, follow-ups included.
        done: list[int] = []
        committer.submit([op(5)], lambda: done.append(5))
        await asyncio.sleep(0)
        assert done == []
        committer.close()
        assert done == [5] and storage.writes[-1] == ([(op(5),)], False)

    asyncio.run(scenario())


def test_a_backlog_is_written_in_pieces_each_followed_up_after_its_own_fsync() -> None:
    async def scenario() -> None:
        storage = SlowSyncStorage()
        committer = Committer(storage)  # type: ignore[arg-type]
        committer.max_group_rows = 5
        done: list[int] = []

        def rows(n: int, tag: int) -> list[EncodedTasks]:
            return [EncodedTasks([b"t%d-%d" % (tag, i) for i in range(n)], [b"r"] * n)]

        committer.submit([op(0)], lambda: done.append(0))
        await _until(storage.sync_started.is_set, "the first fsync")
        # While it syncs: 3 + 3 + 3 rows, a follow-up alone, one transaction over the limit.
        committer.submit(rows(3, 1), lambda: done.append(1))
        committer.submit(rows(3, 2), lambda: done.append(2))
        committer.submit([], lambda: done.append(22))  # rides with transaction 2
        waiter = asyncio.ensure_future(committer.commit(rows(3, 3)))
        await asyncio.sleep(0)  # commit() queues its transaction
        committer.submit(rows(9, 4), lambda: done.append(4))
        await asyncio.sleep(0)
        sizes: list[list[int]] = []
        for expect_done in ([0], [0, 1], [0, 1, 2, 22]):
            storage.sync_started.clear()
            storage.release.set()
            await _until(lambda e=expect_done: done == e, f"follow-ups {expect_done}")
        assert not waiter.done()  # its piece is not synced yet
        storage.sync_started.clear()
        storage.release.set()
        await _until(waiter.done, "the waiter of transaction 3")
        assert done == [0, 1, 2, 22]
        storage.release.set()
        await _until(lambda: done == [0, 1, 2, 22, 4], "the last piece")
        for txns, _ in storage.writes:
            sizes.append([sum(len(o.keys) if isinstance(o, EncodedTasks) else 1 for o in t)
                          for t in txns])
        # At most 5 rows a write, unless one transaction alone has more; order kept.
        assert sizes == [[1], [3], [3], [3], [9]]
        assert waiter.result() == 4
        committer.close()

    asyncio.run(scenario())
