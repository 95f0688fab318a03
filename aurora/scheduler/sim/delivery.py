"""Status update delivery: batches, ack tokens, resends (the part of the sim a Mesos agent's
status update manager plays).

Every update gets an int ``ack`` token and waits in ``_unacked`` until acknowledged. Updates
queue in an outbox; one ``call_soon`` callback delivers it in batches of ``batch_size``, at most
``max_batches_per_tick`` batches per callback so a burst cannot hold the loop. Delivered batches
wait in a queue, oldest first; one timer resends, ``resend_after_ms`` after delivery, the
updates of a batch not yet acknowledged -- except those superseded by a newer update of the same
task (only a task's latest status is worth resending; the newer one is resent in its turn).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence

from aurora.scheduler.backend import BackendSink, StatusUpdate
from aurora.scheduler.sim.config import SimConfig
from aurora.scheduler.sim.records import LOST, TERMINAL, SimStats, TaskRecord


class Delivery:
    """The delivery half of ``SimBackend`` (a base class: the step loop inlines emission)."""

    def __init__(self, config: SimConfig, stats: SimStats, clock_ms: Callable[[], int],
                 loop: asyncio.AbstractEventLoop | None) -> None:
        self.config = config
        self.stats = stats
        self._clock_ms = clock_ms
        self._loop = loop
        self._sink: BackendSink | None = None
        self._hostnames: list[str] = []
        self._tasks: dict[str, TaskRecord] = {}
        # outbox[_out_pos:] waits to be delivered
        self._outbox: list[StatusUpdate] = []
        self._out_pos = 0
        self._flush_handle: asyncio.Handle | None = None
        # token -> the record whose update it is (its latest while rec.token == token), or the
        # update itself when it is about no record (refusals, unknown ids)
        self._unacked: dict[object, TaskRecord | StatusUpdate] = {}
        self._sent: deque[tuple[float, list[StatusUpdate]]] = deque()  # (loop time, batch)
        self._resend_timer: asyncio.TimerHandle | None = None
        self._next_token = 1

    def ack(self, tokens: Sequence[object]) -> None:
        """Forget these updates; a task whose terminal update is acknowledged is forgotten
        too (its end is persisted), as an agent does."""
        unacked = self._unacked
        tasks = self._tasks
        acked = 0
        for token in tokens:
            rec = unacked.pop(token, None)
            if rec is None:
                continue  # a duplicate ack, or a token that is not ours
            acked += 1
            if type(rec) is TaskRecord and rec.token == token:
                rec.update = None
                if rec.status in TERMINAL and tasks.get(rec.task_id) is rec:
                    del tasks[rec.task_id]
        self.stats.acked += acked

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def _emit_rec(self, rec: TaskRecord, status: int, message: str | None, ts: int) -> None:
        token = self._next_token
        self._next_token = token + 1
        h = rec.host
        update = StatusUpdate(rec.task_id, status, ts, message,
                              self._hostnames[h] if h >= 0 else None, token)
        rec.status = status
        rec.token = token
        rec.update = update
        self._unacked[token] = rec
        self._outbox.append(update)

    def _emit_free(self, task_id: str, status: int, message: str,
                   hostname: str | None = None) -> None:
        """An update about no record the sim holds (refusals, unknown ids)."""
        token = self._next_token
        self._next_token = token + 1
        update = StatusUpdate(task_id, status, self._clock_ms(), message, hostname, token)
        self._unacked[token] = update
        self._outbox.append(update)
        if status == LOST:
            self.stats.lost += 1

    def _requeue_unacked(self) -> None:
        """After a reconnect: every unacknowledged update (delivered or not) is queued again,
        in token order; superseded ones are dropped."""
        self._sent.clear()
        live: dict[object, TaskRecord | StatusUpdate] = {}
        outbox: list[StatusUpdate] = []
        for token, x in self._unacked.items():
            if type(x) is TaskRecord:
                if x.token != token or x.update is None:
                    self.stats.superseded += 1
                    continue
                outbox.append(x.update)
            else:
                outbox.append(x)  # type: ignore[arg-type]
            live[token] = x
        self._unacked = live
        self._outbox = outbox
        self._out_pos = 0

    def _cancel_delivery(self) -> None:
        for handle in (self._resend_timer, self._flush_handle):
            if handle is not None:
                handle.cancel()
        self._resend_timer = self._flush_handle = None

    def _flush_soon(self) -> None:
        if (self._flush_handle is None and self._sink is not None
                and self._out_pos < len(self._outbox)):
            self._flush_handle = self._get_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        sink = self._sink
        if sink is None:
            return
        out = self._outbox
        size = self.config.batch_size
        pos = self._out_pos
        end = min(len(out), pos + size * self.config.max_batches_per_tick)
        now = self._get_loop().time()
        stats = self.stats
        while pos < end:
            batch = out[pos:min(pos + size, end)]
            pos += len(batch)
            self._out_pos = pos
            self._sent.append((now, batch))
            stats.batches_sent += 1
            stats.updates_sent += len(batch)
            sink.status_updates(batch)  # may re-enter (launch, kill, ack) or stop us
            if self._sink is not sink or self._outbox is not out:
                return
        if self._out_pos >= len(out):
            self._outbox = []
            self._out_pos = 0
        else:
            self._flush_soon()
        if self._resend_timer is None:
            self._arm_resend()

    def _arm_resend(self) -> None:
        if self._sent and self._sink is not None:
            due = self._sent[0][0] + self.config.resend_after_ms / 1000.0
            self.stats.timers += 1
            self._resend_timer = self._get_loop().call_at(due, self._on_resend)

    def _on_resend(self) -> None:
        self._resend_timer = None
        limit = self._get_loop().time() - self.config.resend_after_ms / 1000.0
        sent, unacked = self._sent, self._unacked
        again: list[StatusUpdate] = []
        superseded = 0
        while sent and sent[0][0] <= limit:
            for update in sent.popleft()[1]:
                token = update.ack
                rec = unacked.get(token)
                if rec is None:
                    continue  # acknowledged
                if type(rec) is TaskRecord and rec.token != token:
                    del unacked[token]
                    superseded += 1
                    continue
                again.append(update)
        self.stats.superseded += superseded
        self.stats.resent += len(again)
        self._outbox.extend(again)
        self._flush_soon()
        self._arm_resend()

