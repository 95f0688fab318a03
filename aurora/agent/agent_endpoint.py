"""An agent's end of the agent channel: one DEALER per agent (see :mod:`aurora.agent.channel`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import msgspec
import zmq
import zmq.asyncio

from aurora.agent.endpoint import Endpoint, new_epoch, now_ms, send_frames
from aurora.agent.protocol import (
    Ack,
    Heartbeat,
    KillBatch,
    LaunchBatch,
    Message,
    Reconcile,
    Register,
    StatusBatch,
    Update,
    decode_or_none,
    encode,
)
from aurora.agent.security import (
    ClientGuard,
    CurveClient,
    require_loopback,
)
from aurora.scheduler.backend import Launch

log = logging.getLogger(__name__)


@dataclass
class AgentStats:
    sent_batches: int = 0
    resent: int = 0
    send_dropped: int = 0
    malformed: int = 0
    heartbeats: int = 0
    reregistered: int = 0
    handshake_failed: int = 0  # e.g. the scheduler refused our CURVE key (only with curve)


class AgentEndpoint(Endpoint):
    """An agent's DEALER (routing id = agent id). :meth:`report` numbers updates and sends them in
    batches; each is kept until acknowledged and resent, in seq order, after the scheduler's epoch
    changes (it restarted: the agent re-registers first) or after ``resend_timeout`` seconds
    without an acknowledgement. Callbacks: ``on_launch(launches)``, ``on_kill(task_ids)``,
    ``on_reconcile(task_ids | None)``, ``on_heartbeat(hb)``. With ``curve`` it is a CURVE
    client of the scheduler's key; without it ``address`` must be loopback (else
    :class:`PlaintextNotAllowed`)."""

    def __init__(
        self,
        address: str,
        register: Register,
        *,
        on_launch: Callable[[Sequence[Launch]], None] | None = None,
        on_kill: Callable[[Sequence[str]], None] | None = None,
        on_reconcile: Callable[[Sequence[str] | None], None] | None = None,
        on_heartbeat: Callable[[Heartbeat], None] | None = None,
        heartbeat_interval: float = 5.0,
        resend_timeout: float = 10.0,
        max_batch: int = 1000,
        max_drain: int = 1000,
        reconnect_ivl_ms: int = 100,
        ctx: zmq.asyncio.Context | None = None,
        curve: CurveClient | None = None,
    ) -> None:
        if curve is None:
            require_loopback(address, "agent")
        self.address = address
        self.curve = curve
        self.epoch = register.epoch or new_epoch()
        self.register = msgspec.structs.replace(register, epoch=self.epoch)
        self.stats = AgentStats()
        self.scheduler_epoch: int | None = None
        self.unacked: dict[int, Update] = {}  # seq -> update, in seq order
        self.next_seq = 1
        self._on_launch = on_launch
        self._on_kill = on_kill
        self._on_reconcile = on_reconcile
        self._on_heartbeat = on_heartbeat
        self._hb_interval = heartbeat_interval
        self._resend_timeout = resend_timeout
        self._max_batch = max_batch
        self._reconnect_ivl = reconnect_ivl_ms
        super().__init__(ctx, max_drain)
        self._rereg_ivl = min(1.0, heartbeat_interval)
        self._last_register = 0.0
        self._last_sent = 0.0
        self._progress = time.monotonic()  # last ack or (re)send of everything unacked

    async def start(self) -> None:
        sock = self._socket(zmq.DEALER)
        sock.setsockopt(zmq.ROUTING_ID, self.register.agent_id.encode())
        sock.setsockopt(zmq.RECONNECT_IVL, self._reconnect_ivl)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, max(self._reconnect_ivl, 1000))
        if self.curve is not None:
            self.curve.apply(sock)
            self._guard = ClientGuard(
                sock, self.stats, self.address, self._reregister, self._reconnect_ivl / 1000
            )
        sock.connect(self.address)
        self._run(sock)
        self._send(self.register)
        self._last_register = time.monotonic()

    def _send(self, msg: Message) -> bool:
        if self._sync is None:
            return False
        try:
            send_frames(self._sync, encode(msg))
            self._last_sent = time.monotonic()
            self._kick()
            return True
        except zmq.ZMQError:  # EAGAIN: high-water mark; kept in `unacked`, resent later
            self.stats.send_dropped += 1
            return False

    def _reregister(self) -> None:
        """A new connection after a refused handshake: register and resend from scratch."""
        self.stats.reregistered += 1
        self._last_register = time.monotonic()
        self._send(self.register)
        self.resend_unacked()

    def report(self, updates: Iterable[Update]) -> int:
        """Number, keep and send these updates; returns the last seq assigned."""
        first = self.next_seq
        for u in updates:
            self.unacked[self.next_seq] = u
            self.next_seq += 1
        if self.next_seq > first:
            self._send_range(first, self.next_seq)
        return self.next_seq - 1

    def _low(self) -> int:
        return next(iter(self.unacked), self.next_seq)

    def _send_range(self, first: int, end: int) -> None:
        """Send the unacked seqs in [first, end) as contiguous batches of at most max_batch."""
        low = self._low()
        run: list[Update] = []
        run_first = first

        def flush() -> None:
            if run:
                self._send(StatusBatch(self.epoch, run_first, tuple(run), low))
                self.stats.sent_batches += 1
                run.clear()

        unacked, max_batch = self.unacked, self._max_batch
        for s in range(first, end):
            u = unacked.get(s)
            if u is None:
                flush()
                continue
            if not run:
                run_first = s
            run.append(u)
            if len(run) >= max_batch:
                flush()
        flush()

    def resend_unacked(self) -> None:
        """Send every unacknowledged update again, in seq order."""
        self._progress = time.monotonic()
        if not self.unacked:
            return
        first = next(iter(self.unacked))
        self.stats.resent += len(self.unacked)
        self._send_range(first, self.next_seq)

    def _ack(self, ack: Ack) -> None:
        if ack.epoch != self.epoch:
            return
        buf = self.unacked
        before = len(buf)
        if ack.upto_seq:
            for s in [s for s in buf if s <= ack.upto_seq]:
                del buf[s]
        for lo, hi in ack.ranges:
            if hi - lo < len(buf):
                for s in range(lo, hi + 1):
                    buf.pop(s, None)
            else:
                for s in [s for s in buf if lo <= s <= hi]:
                    del buf[s]
        if len(buf) < before:
            self._progress = time.monotonic()

    def _frames(self, frames: list[bytes]) -> None:
        msg = decode_or_none(frames[0]) if len(frames) == 1 else None
        if msg is None:
            self.stats.malformed += 1
            return
        self._handle(msg)

    def _handle(self, msg: Message) -> None:
        if isinstance(msg, Ack):
            self._ack(msg)
        elif isinstance(msg, Heartbeat):
            self.stats.heartbeats += 1
            now = time.monotonic()
            changed = self.scheduler_epoch is not None and msg.epoch != self.scheduler_epoch
            self.scheduler_epoch = msg.epoch
            if not msg.registered and (changed or now - self._last_register >= self._rereg_ivl):
                # The scheduler does not know us (it restarted): register, then resend.
                self.stats.reregistered += 1
                self._last_register = now
                self._send(self.register)
                self.resend_unacked()
            elif changed:  # a new scheduler we already registered with: resend
                self.resend_unacked()
            if self._on_heartbeat is not None:
                self._on_heartbeat(msg)
        elif isinstance(msg, LaunchBatch):
            if msg.ack is not None:
                self._ack(msg.ack)
            if self._on_launch is not None:
                self._on_launch(msg.launches)
        elif isinstance(msg, KillBatch):
            if self._on_kill is not None:
                self._on_kill(msg.task_ids)
        elif isinstance(msg, Reconcile):
            if self._on_reconcile is not None:
                self._on_reconcile(msg.task_ids)
        else:
            self.stats.malformed += 1

    async def _hb_loop(self) -> None:
        while True:  # a heartbeat only after an interval in which we sent nothing else
            await asyncio.sleep(self._hb_interval)
            if time.monotonic() - self._last_sent >= 0.9 * self._hb_interval:
                self._send(Heartbeat(self.epoch, now_ms()))
            if self.unacked and time.monotonic() - self._progress > self._resend_timeout:
                self.resend_unacked()
