"""Group commit: the transactions of one event-loop turn go to storage in one write.

Callers hand over a transaction (its operations) and what must happen once it is durable
(launch, kill, acknowledge, reply). At the end of the loop turn every pending transaction is
written in one WriteBatch; the follow-ups run in order once that write is durable. Nothing leaves
the process before the write that justifies it is on disk.

With a syncing store (``Storage(sync=True)``, the default) the fsync of the write-ahead log runs
on the committer's own thread, which lets the GIL go while the disk works: the loop goes on
receiving status updates and API calls meanwhile, and what they submit is written as the next
group as soon as the fsync is back. At most one group is being synced at a time, so the groups
stay in order and each one's follow-ups run after its own fsync. A fsync can take tens of
milliseconds while agents write their sandboxes on the same disk; the loop no longer stands
still for it. Without fsync (``sync=False``) each group is written and followed up at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable, Sequence

from aurora.scheduler.records import EncodedTasks, Op
from aurora.scheduler.storage import Storage

log = logging.getLogger(__name__)

AfterCommit = Callable[[], None]
_Group = tuple[list[AfterCommit], list["asyncio.Future[int]"], int]

# A write holds at most about this many task rows (more only when one transaction has more):
# what arrives faster than that is written in pieces of this size, each synced while the loop
# goes on. A storm once made groups of 570,000 rows (190 MB in one WriteBatch): the loop stood
# still for the whole write, and memory that large comes fresh from the kernel every time.
MAX_GROUP_ROWS = 50_000


def _rows(ops: Sequence[Op]) -> int:
    return sum(len(op.keys) if isinstance(op, EncodedTasks) else 1 for op in ops)


class Committer:
    def __init__(self, storage: Storage, loop: asyncio.AbstractEventLoop | None = None,
                 min_interval: float = 0.0) -> None:
        self.storage = storage
        self._loop = loop
        # Syncing writes start at least this far apart (seconds): under load a group then
        # gathers what this long brings (one fsync, one pass of follow-ups); an isolated write
        # goes at once, as the last one is long past.
        self.min_interval = min_interval
        self._last_write = float("-inf")
        self._timer: asyncio.TimerHandle | None = None
        self._txns: list[Sequence[Op]] = []
        # Follow-ups and waiters, each with the number of transactions queued up to its own:
        # it belongs to the group that writes that many.
        self._after: list[tuple[int, AfterCommit]] = []
        self._waiters: list[tuple[int, asyncio.Future[int]]] = []
        self.max_group_rows = MAX_GROUP_ROWS
        self._scheduled = False
        self._syncer: concurrent.futures.ThreadPoolExecutor | None = None
        self._syncing: concurrent.futures.Future[None] | None = None
        self._synced_group: _Group | None = None
        self.flushes = 0
        self.syncs = 0

    def submit(self, ops: Sequence[Op], after: AfterCommit | None = None) -> None:
        """Queue a transaction (may be empty: then only AFTER is queued behind the others)."""
        if ops:
            self._txns.append(tuple(ops))
        if after is not None:
            self._after.append((len(self._txns), after))
        self._schedule()

    async def commit(self, ops: Sequence[Op]) -> int:
        """Queue a transaction and wait until it is durable; returns the last sequence number."""
        loop = self._loop or asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        self.submit(ops)
        self._waiters.append((len(self._txns), fut))
        return await fut

    @property
    def pending(self) -> bool:
        """Something is queued or being synced."""
        return bool(self._txns or self._after or self._waiters or self._syncing)

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            (self._loop or asyncio.get_running_loop()).call_soon(self.flush)

    def flush(self) -> None:
        """Write everything pending now (unless a group is being synced: then it goes as the
        next group once that is back); follow-ups run when the write is durable."""
        self._scheduled = False
        self._timer = None
        if self._syncing is not None:
            return
        if self.min_interval > 0 and self.storage.sync and self._txns:
            loop = self._loop or asyncio.get_running_loop()
            wait = self._last_write + self.min_interval - loop.time()
            if wait > 0:
                self._scheduled = True
                self._timer = loop.call_later(wait, self.flush)
                return
            self._last_write = loop.time()
        txns, after, waiters = self._take()
        pipelined = self.storage.sync and bool(txns)
        try:
            self.storage.commit(txns, defer_sync=pipelined)
        except Exception as exc:  # storage is gone: nothing may act as if it were written
            self._fail(waiters, exc)
            raise
        self.flushes += 1
        if not pipelined:
            self._follow_up(after, waiters, self.storage.last_seq)
            return
        if self._syncer is None:
            self._syncer = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="aurora-wal-sync")
        loop = self._loop or asyncio.get_running_loop()
        self._synced_group = (after, waiters, self.storage.last_seq)
        syncing = self._syncing = self._syncer.submit(self.storage.sync_wal)
        syncing.add_done_callback(
            lambda f: loop.call_soon_threadsafe(self._synced, f))

    def _take(self) -> tuple[list[Sequence[Op]], list[AfterCommit], list[asyncio.Future[int]]]:
        """The next group: queued transactions up to ``max_group_rows`` rows (at least one),
        with the follow-ups and waiters that came with them."""
        txns = self._txns
        k, rows, limit = 0, 0, self.max_group_rows
        while k < len(txns):
            rows += _rows(txns[k])
            if k and rows > limit:
                break
            k += 1
        if k == len(txns):
            after, waiters = [fn for _, fn in self._after], [f for _, f in self._waiters]
            self._txns, self._after, self._waiters = [], [], []
            return txns, after, waiters
        self._txns = txns[k:]
        after = [fn for at, fn in self._after if at <= k]
        self._after = [(at - k, fn) for at, fn in self._after if at > k]
        waiters = [f for at, f in self._waiters if at <= k]
        self._waiters = [(at - k, f) for at, f in self._waiters if at > k]
        return txns[:k], after, waiters

    def _synced(self, syncing: concurrent.futures.Future[None]) -> None:
        if syncing is not self._syncing:
            return  # close() already took care of it
        self._syncing = None
        group, self._synced_group = self._synced_group, None
        assert group is not None
        after, waiters, seq = group
        exc = syncing.exception()
        if exc is not None:
            self._fail(waiters, exc)
            raise exc
        self.syncs += 1
        self._follow_up(after, waiters, seq)
        if self._txns or self._after or self._waiters:
            self.flush()

    def close(self) -> None:
        """Wait for the group being synced, write and sync what is still queued, run every
        follow-up: for a clean stop (the loop may already be gone)."""
        self._scheduled = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        syncing = self._syncing
        if syncing is not None:
            syncing.result()
            self._syncing = None
            group, self._synced_group = self._synced_group, None
            assert group is not None
            self.syncs += 1
            self._follow_up(*group)
        while self._txns or self._after or self._waiters:
            txns, after, waiters = self._take()
            self.storage.commit(txns)
            self.flushes += 1
            self._follow_up(after, waiters, self.storage.last_seq)
        if self._syncer is not None:
            self._syncer.shutdown(wait=True)
            self._syncer = None

    def _follow_up(self, after: list[AfterCommit], waiters: list[asyncio.Future[int]],
                   seq: int) -> None:
        for fn in after:
            fn()
        for fut in waiters:
            if not fut.done():
                fut.set_result(seq)

    @staticmethod
    def _fail(waiters: list[asyncio.Future[int]], exc: BaseException) -> None:
        log.critical("storage commit failed: %s", exc)
        for fut in waiters:
            if not fut.done():
                fut.set_exception(exc)
