"""Group commit: the transactions of one event-loop turn go to storage in one write.

Callers hand over a transaction (its operations) and what must happen once it is durable
(launch, kill, acknowledge, reply). At the end of the loop turn every pending transaction is
committed in one WriteBatch, then the follow-ups run in order. Nothing leaves the process before
the write that justifies it has returned.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from aurora.scheduler.records import Op
from aurora.scheduler.storage import Storage

log = logging.getLogger(__name__)

AfterCommit = Callable[[], None]


class Committer:
    def __init__(self, storage: Storage, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.storage = storage
        self._loop = loop
        self._txns: list[Sequence[Op]] = []
        self._after: list[AfterCommit] = []
        self._waiters: list[asyncio.Future[int]] = []
        self._scheduled = False
        self.flushes = 0

    def submit(self, ops: Sequence[Op], after: AfterCommit | None = None) -> None:
        """Queue a transaction (may be empty: then only AFTER is queued behind the others)."""
        if ops:
            self._txns.append(tuple(ops))
        if after is not None:
            self._after.append(after)
        self._schedule()

    async def commit(self, ops: Sequence[Op]) -> int:
        """Queue a transaction and wait until it is durable; returns the last sequence number."""
        loop = self._loop or asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        self._waiters.append(fut)
        self.submit(ops)
        return await fut

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            (self._loop or asyncio.get_running_loop()).call_soon(self.flush)

    def flush(self) -> None:
        """Write everything pending now, then run the follow-ups and wake the waiters."""
        self._scheduled = False
        txns, after, waiters = self._txns, self._after, self._waiters
        self._txns, self._after, self._waiters = [], [], []
        try:
            self.storage.commit(txns)
        except Exception as exc:  # storage is gone: nothing may act as if it were written
            log.critical("storage commit failed: %s", exc)
            for fut in waiters:
                if not fut.done():
                    fut.set_exception(exc)
            raise
        self.flushes += 1
        for fn in after:
            fn()
        for fut in waiters:
            if not fut.done():
                fut.set_result(self.storage.last_seq)
