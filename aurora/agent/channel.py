"""ZeroMQ transport between the scheduler (ROUTER) and local agents (DEALER).

Both ends use ``zmq.asyncio`` sockets on the caller's event loop only to *wait* for input; they
then drain the socket through a synchronous shadow of the same socket (``recv_multipart(NOBLOCK)``
until EAGAIN, up to ``max_drain`` frames per wakeup), because one await per message caps
throughput. Sends never block: a frame ZeroMQ refuses (high-water mark, unknown peer) is counted
and dropped, which is safe because status updates are kept by the agent until acknowledged and
resent after a reconnect (a new scheduler epoch) or after ``resend_timeout`` without progress.

The scheduler may take input in at most every ``batch_interval`` seconds (the daemon's
``--agent-batch-ms``): what arrived meanwhile becomes one batch, so a busy scheduler commits and
acknowledges per batch rather than per message; an acknowledgement may wait ``ack_delay`` for a
launch to the same agent and ride in it (a short task's end and its agent's next task then cost
the scheduler one message, not two). Heartbeats go both ways every
``heartbeat_interval``, but only over a connection that carried nothing else in that interval:
any message proves its sender alive.

Plaintext is allowed on loopback addresses only; elsewhere both ends need CURVE keys (see
:mod:`aurora.agent.security`): the scheduler admits only the agent public keys of its allow
directory, counting refusals in ``stats.auth_denied`` / ``stats.handshake_failed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import msgspec
import zmq
import zmq.asyncio

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
from aurora.agent.ranges import RangeSet
from aurora.agent.security import (
    ClientGuard,
    CurveClient,
    CurveServer,
    HandshakeMonitor,
    ServerGuard,
    require_loopback,
)
from aurora.scheduler.backend import Launch, StatusUpdate

log = logging.getLogger(__name__)


# The loop wakes on ZeroMQ's edge-triggered FD; this bounds the wait should an edge be missed
# anyway (sends on the shadow socket are followed by an explicit check, see _kick).
_SAFETY_S = 0.5


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Sorted, merged inclusive ranges: [(5, 7), (1, 2), (3, 3)] -> ((1, 3), (5, 7))."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return tuple(out)


def _complement(lo: int, hi: int, holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """[lo, hi] minus the sorted disjoint HOLES inside it."""
    out: list[tuple[int, int]] = []
    cur = lo
    for a, b in holes:
        if a > cur:
            out.append((cur, a - 1))
        cur = b + 1
    if cur <= hi:
        out.append((cur, hi))
    return out


def _now_ms() -> int:
    return int(time.time() * 1000)


def _new_epoch() -> int:
    return time.time_ns() // 1000  # microseconds: distinct across restarts


class AckToken(NamedTuple):
    """The ``ack`` of the last StatusUpdate of each contiguous run the SchedulerEndpoint
    delivers (the others carry None): acknowledging it acknowledges seqs ``lo``..``hi``."""

    peer: bytes
    epoch: int
    lo: int
    hi: int


@dataclass
class _Peer:
    identity: bytes
    register: Register
    last_seen: float
    last_sent: float = 0.0  # monotonic time of our last message to it
    floor: int = 0  # every seq below it is acknowledged by the agent's own account
    seen: RangeSet = field(default_factory=RangeSet)  # delivered to the sink
    acked: RangeSet = field(default_factory=RangeSet)  # acked by the sink


@dataclass
class EndpointStats:
    messages_in: int = 0
    messages_out: int = 0
    malformed: int = 0
    unknown_peers: int = 0
    duplicates: int = 0
    send_dropped: int = 0
    updates: int = 0
    heartbeats: int = 0
    auth_denied: int = 0  # ZAP refusals (CURVE key not in the allow directory)
    handshake_failed: int = 0  # failed handshakes (unknown key, plaintext peer, bad server key)


class _Endpoint:
    """What both ends share: an asyncio socket to wait on, its synchronous shadow to drain and
    send through, the receive and heartbeat tasks, and closing. Subclasses handle frames
    (``_frames``), deliver what a drain collected (``_drained``) and heartbeat (``_hb_loop``)."""

    def __init__(
        self, ctx: zmq.asyncio.Context | None, max_drain: int, own_ctx: bool = False,
        min_drain_interval: float = 0.0,
    ) -> None:
        # own_ctx without ctx: a private context, made by start() and destroyed by close()
        self._own_ctx = ctx is None and own_ctx
        self._owned: zmq.asyncio.Context | None = None
        self._ctx = ctx or zmq.asyncio.Context.instance()
        self._guard: ServerGuard | HandshakeMonitor | None = None
        self._max_drain = max_drain
        self._sock: zmq.asyncio.Socket | None = None
        self._sync: zmq.Socket[bytes] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._kicked = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fd = -1
        # Drains at most this often: what arrives meanwhile is handled as one batch (one
        # commit, one acknowledgement per agent) instead of a batch per wake-up.
        self._min_drain_interval = min_drain_interval
        self._last_drain = 0.0
        self._drain_timer: asyncio.Handle | None = None

    def _socket(self, kind: int) -> zmq.asyncio.Socket:
        self._loop = asyncio.get_running_loop()
        if self._own_ctx:
            self._ctx = self._owned = zmq.asyncio.Context()
        sock = self._ctx.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 100_000)
        sock.setsockopt(zmq.RCVHWM, 100_000)
        return sock

    def _run(self, sock: zmq.asyncio.Socket) -> None:
        self._sock = sock
        self._sync = zmq.Socket.shadow(sock.underlying)
        # Wake on ZeroMQ's notification fd (no future or timeout per wait: an agent process
        # hosts hundreds of endpoints), and drain now and then in case an edge was missed.
        assert self._loop is not None
        self._fd = self._sync.FD
        self._loop.add_reader(self._fd, self._wake)
        self._tasks = [asyncio.create_task(self._recv_loop()), asyncio.create_task(self._hb_loop())]

    async def close(self) -> None:
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None
        if self._fd >= 0 and self._loop is not None:
            self._loop.remove_reader(self._fd)
            self._fd = -1
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []
        if self._guard is not None:
            await self._guard.close()
            self._guard = None
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None
            self._sync = None
        if self._owned is not None:
            self._owned.destroy(linger=0)
            self._owned = None

    async def _recv_loop(self) -> None:
        while True:
            await asyncio.sleep(_SAFETY_S)
            sync = self._sync
            if sync is not None and sync.EVENTS & zmq.POLLIN:
                self._wake()

    def _kick(self) -> None:
        """After sends on the shadow socket: ZeroMQ may have consumed the edge that would wake
        the asyncio poll, so check for input ourselves (once per loop turn, however many were
        sent) and drain soon if there is some."""
        loop = self._loop
        if loop is not None and not self._kicked:
            self._kicked = True
            loop.call_soon(self._check_input)

    def _check_input(self) -> None:
        sync = self._sync
        if sync is not None and sync.EVENTS & zmq.POLLIN:
            self._wake()
        else:
            self._kicked = False

    def _wake(self) -> None:
        """Input may be waiting: drain now, or when ``min_drain_interval`` since the last
        drain has passed."""
        if self._drain_timer is not None:
            if self._sync is not None:
                self._sync.EVENTS  # noqa: B018 - reading it re-arms ZeroMQ's notification fd
            return
        loop = self._loop
        wait = self._last_drain + self._min_drain_interval - (loop.time() if loop else 0.0)
        if wait > 0 and loop is not None:
            if self._sync is not None:
                self._sync.EVENTS  # noqa: B018
            self._drain_timer = loop.call_later(wait, self._timed_drain)
            return
        self._drain()

    def _timed_drain(self) -> None:
        self._drain_timer = None
        self._drain()

    def _drain(self) -> None:
        """Receive up to max_drain frames without blocking, then deliver what they carried."""
        self._kicked = False
        if self._loop is not None:
            self._last_drain = self._loop.time()
        sync = self._sync
        if sync is None:
            return
        for _ in range(self._max_drain):
            try:
                frames = sync.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            try:
                self._frames(frames)
            except Exception:  # a callback failed: log it, keep serving
                log.exception("error handling a message")
        else:  # more may be waiting: a backlog is drained without pause
            if self._loop is not None and self._drain_timer is None:
                self._drain_timer = self._loop.call_soon(self._timed_drain)
        self._drained()

    def _frames(self, frames: list[bytes]) -> None:
        raise NotImplementedError

    def _drained(self) -> None:
        pass

    async def _hb_loop(self) -> None:
        raise NotImplementedError


class SchedulerEndpoint(_Endpoint):
    """The scheduler's ROUTER. Callbacks run on the event loop:

    * ``on_register(reg)`` -- an agent (re)registered;
    * ``on_status(updates)`` -- a batch of new updates (duplicates filtered), each with an
      :class:`AckToken` as ``ack``; pass the tokens to :meth:`ack` once persisted;
    * ``on_heartbeat(agent_id, hb)`` and ``on_agent_lost(agent_id)`` (no message for
      ``agent_timeout`` seconds).

    With ``curve`` the ROUTER is a CURVE server admitting only the agent keys of
    ``curve.allow_dir`` (its ZAP handler needs a context of its own: without ``ctx`` the endpoint
    makes one); without it ``address`` must be loopback (else :class:`PlaintextNotAllowed`).
    """

    def __init__(
        self,
        address: str,
        *,
        on_register: Callable[[Register], None],
        on_status: Callable[[Sequence[StatusUpdate]], None],
        on_heartbeat: Callable[[str, Heartbeat], None] | None = None,
        on_agent_lost: Callable[[str], None] | None = None,
        heartbeat_interval: float = 5.0,
        agent_timeout: float = 30.0,
        max_drain: int = 1000,
        ctx: zmq.asyncio.Context | None = None,
        curve: CurveServer | None = None,
        batch_interval: float = 0.0,
        ack_delay: float = 0.0,
    ) -> None:
        if curve is None:
            require_loopback(address, "scheduler")
        self.address = address
        self.curve = curve
        self.epoch = _new_epoch()
        self.stats = EndpointStats()
        self.peers: dict[bytes, _Peer] = {}
        self._on_register = on_register
        self._on_status = on_status
        self._on_heartbeat = on_heartbeat
        self._on_agent_lost = on_agent_lost
        self._hb_interval = heartbeat_interval
        self._agent_timeout = agent_timeout
        self._out: list[StatusUpdate] = []  # updates of the drain in progress
        # Acknowledgements wait up to ack_delay for a launch to the same agent to ride on.
        self._ack_delay = ack_delay
        self._held_acks: dict[bytes, tuple[int, list[tuple[int, int]]]] = {}
        self._ack_timer: asyncio.TimerHandle | None = None
        super().__init__(ctx, max_drain, own_ctx=curve is not None,
                         min_drain_interval=batch_interval)
        self.endpoint = ""

    @property
    def port(self) -> int:
        return int(self.endpoint.rsplit(":", 1)[1])

    async def start(self) -> None:
        sock = self._socket(zmq.ROUTER)
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)  # unknown peer / HWM: an error we count
        sock.setsockopt(zmq.ROUTER_HANDOVER, 1)  # a reconnecting agent takes over its identity
        if self.curve is not None:
            try:  # ZAP handler and handshake monitor first: no connection gets in unchecked
                self._guard = ServerGuard(self._ctx, sock, self.curve, self.stats)
            except BaseException:
                self._sock = sock
                await self.close()
                raise
        deadline = time.monotonic() + 2.0
        while True:  # a just-closed endpoint frees its port asynchronously (ZeroMQ's I/O thread)
            try:
                sock.bind(self.address)
                break
            except zmq.ZMQError as e:
                if e.errno != zmq.EADDRINUSE or time.monotonic() > deadline:
                    self._sock = sock
                    await self.close()
                    raise
                await asyncio.sleep(0.01)
        self.endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self._run(sock)

    async def close(self) -> None:
        if self._ack_timer is not None:
            self._ack_timer.cancel()
        if self._held_acks:
            self.flush_acks()  # persisted: tell the agents rather than have them resend
        self._ack_timer = None
        await super().close()

    def reload_keys(self) -> None:
        """Re-read ``curve.allow_dir`` after agent keys were added or removed (CURVE only)."""
        if isinstance(self._guard, ServerGuard):
            self._guard.reload()

    # -- sending ---------------------------------------------------------------------------

    def _send(self, identity: bytes, msg: Message) -> bool:
        if self._sync is None:
            return False
        try:
            self._sync.send_multipart((identity, encode(msg)), zmq.NOBLOCK)
            self.stats.messages_out += 1
            peer = self.peers.get(identity)
            if peer is not None:
                peer.last_sent = time.monotonic()
            self._kick()
            return True
        except zmq.ZMQError as e:  # EHOSTUNREACH (unknown peer) or EAGAIN (high-water mark)
            log.debug("send to %r dropped: %s", identity, e)
            self.stats.send_dropped += 1
            return False

    def launch(self, agent_id: str, launches: Sequence[Launch]) -> bool:
        identity = agent_id.encode()
        held = self._held_acks.pop(identity, None)
        ack = Ack(held[0], 0, merge_ranges(held[1])) if held is not None else None
        if self._send(identity, LaunchBatch(tuple(launches), ack)):
            return True
        if held is not None:
            self._held_acks[identity] = held  # not sent: it goes on its own later
        return False

    def kill(self, agent_id: str, task_ids: Sequence[str]) -> bool:
        return self._send(agent_id.encode(), KillBatch(tuple(task_ids)))

    def reconcile(self, agent_id: str, task_ids: Sequence[str] | None = None) -> bool:
        return self._send(
            agent_id.encode(), Reconcile(None if task_ids is None else tuple(task_ids))
        )

    def ack(self, tokens: Iterable[object], *, hold: bool = True) -> None:
        """These updates are persisted: tell their agents (one Ack per agent epoch), at once or,
        with ``ack_delay`` and ``hold``, with the next launch to the agent if one goes out in
        that time."""
        by_peer: dict[tuple[bytes, int], list[tuple[int, int]]] = {}
        for tok in tokens:
            if isinstance(tok, AckToken):
                by_peer.setdefault((tok.peer, tok.epoch), []).append((tok.lo, tok.hi))
        held = self._held_acks
        for (identity, epoch), ranges in by_peer.items():
            peer = self.peers.get(identity)
            if peer is not None and peer.register.epoch == epoch:
                for lo, hi in ranges:
                    peer.acked.add(max(lo, peer.floor), hi)
            waiting = held.get(identity)
            if not hold or self._ack_delay <= 0 or self._loop is None:
                if waiting is not None:  # what waited goes along
                    del held[identity]
                    if waiting[0] == epoch:
                        ranges = [*waiting[1], *ranges]
                    else:
                        self._send(identity, Ack(waiting[0], 0, merge_ranges(waiting[1])))
                self._send(identity, Ack(epoch, 0, merge_ranges(ranges)))
                continue
            if waiting is not None and waiting[0] != epoch:
                self._send(identity, Ack(waiting[0], 0, merge_ranges(waiting[1])))
                waiting = None
            if waiting is None:
                held[identity] = (epoch, ranges)
            else:
                waiting[1].extend(ranges)
        if held and self._ack_timer is None and self._loop is not None:
            self._ack_timer = self._loop.call_later(self._ack_delay, self.flush_acks)

    def flush_acks(self) -> None:
        """Send every held acknowledgement now."""
        self._ack_timer = None
        held, self._held_acks = self._held_acks, {}
        for identity, (epoch, ranges) in held.items():
            self._send(identity, Ack(epoch, 0, merge_ranges(ranges)))

    # -- receiving -------------------------------------------------------------------------

    def _drained(self) -> None:
        out, self._out = self._out, []
        if out:
            self.stats.updates += len(out)
            self._on_status(out)

    def _frames(self, frames: list[bytes]) -> None:
        self.stats.messages_in += 1
        if len(frames) != 2:
            self.stats.malformed += 1
            return
        identity, payload = frames
        msg = decode_or_none(payload)
        if msg is None:
            self.stats.malformed += 1
            return
        now = time.monotonic()
        if isinstance(msg, Register):
            if msg.agent_id.encode() != identity:
                self.stats.malformed += 1
                return
            old = self.peers.get(identity)
            if old is not None and old.register.epoch == msg.epoch:
                old.register = msg
                old.last_seen = now
            else:
                self.peers[identity] = _Peer(identity, msg, now)
            self._send(identity, Heartbeat(self.epoch, _now_ms()))  # welcome: our epoch
            self._on_register(msg)
            return
        peer = self.peers.get(identity)
        if peer is None or (isinstance(msg, StatusBatch) and msg.epoch != peer.register.epoch):
            # Not registered with this scheduler (it restarted) or a stale agent incarnation:
            # tell it our epoch so that it re-registers and resends.
            self.stats.unknown_peers += 1
            self._send(identity, Heartbeat(self.epoch, _now_ms(), registered=False))
            return
        peer.last_seen = now
        if isinstance(msg, StatusBatch):
            self._status(peer, msg, self._out)
        elif isinstance(msg, Heartbeat):
            self.stats.heartbeats += 1
            if self._on_heartbeat is not None:
                self._on_heartbeat(peer.register.agent_id, msg)
        else:  # a scheduler-bound message an agent must not send
            self.stats.malformed += 1

    def _status(self, peer: _Peer, batch: StatusBatch, out: list[StatusUpdate]) -> None:
        if batch.low > peer.floor:
            peer.floor = batch.low
            peer.seen.discard_below(batch.low)
            peer.acked.discard_below(batch.low)
        n = len(batch.updates)
        if not n:
            return
        first, last = batch.first_seq, batch.first_seq + n - 1
        identity, epoch, host = peer.identity, batch.epoch, peer.register.hostname
        fresh = peer.seen.missing(max(first, peer.floor), last)
        new = 0
        updates = batch.updates
        for lo, hi in fresh:
            peer.seen.add(lo, hi)
            new += hi - lo + 1
            for u in updates[lo - first:hi - first]:
                out.append(StatusUpdate(u.task_id, u.status, u.timestamp_ms, u.message, host))
            u = updates[hi - first]
            out.append(StatusUpdate(u.task_id, u.status, u.timestamp_ms, u.message, host,
                                    AckToken(identity, epoch, lo, hi)))
        if new < n:  # duplicates: acked ones are acked again (that ack must have been lost)
            self.stats.duplicates += n - new
            reack = _complement(first, last, peer.acked.missing(first, last))
            if first < peer.floor:
                reack = merge_ranges([(first, min(last, peer.floor - 1)), *reack])
            if reack:
                self._send(identity, Ack(epoch, 0, tuple(reack)))

    async def _hb_loop(self) -> None:
        # A heartbeat goes only to an agent we sent nothing else to for an interval: any
        # message tells it we are there (and an agent's messages tell us it is).
        while True:
            await asyncio.sleep(self._hb_interval)
            now = time.monotonic()
            quiet = now - 0.9 * self._hb_interval
            for identity, peer in list(self.peers.items()):
                if now - peer.last_seen > self._agent_timeout:
                    del self.peers[identity]
                    if self._on_agent_lost is not None:
                        self._on_agent_lost(peer.register.agent_id)
                elif peer.last_sent <= quiet:
                    self._send(identity, Heartbeat(self.epoch, _now_ms()))


@dataclass
class AgentStats:
    sent_batches: int = 0
    resent: int = 0
    send_dropped: int = 0
    malformed: int = 0
    heartbeats: int = 0
    reregistered: int = 0
    handshake_failed: int = 0  # e.g. the scheduler refused our CURVE key (only with curve)


class AgentEndpoint(_Endpoint):
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
        self.epoch = register.epoch or _new_epoch()
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
            self._sync.send(encode(msg), zmq.NOBLOCK)
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
                self._send(Heartbeat(self.epoch, _now_ms()))
            if self.unacked and time.monotonic() - self._progress > self._resend_timeout:
                self.resend_unacked()
