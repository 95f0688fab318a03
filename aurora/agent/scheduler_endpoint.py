"""The scheduler's end of the agent channel: one ROUTER for every agent (see
:mod:`aurora.agent.channel`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import zmq
import zmq.asyncio

from aurora.agent.endpoint import (
    AckToken,
    Endpoint,
    EndpointStats,
    complement_ranges,
    merge_ranges,
    new_epoch,
    now_ms,
    send_each,
)
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
    CurveServer,
    ServerGuard,
    require_loopback,
)
from aurora.scheduler.backend import Launch

log = logging.getLogger(__name__)


@dataclass
class _Peer:
    identity: bytes
    register: Register
    last_seen: float
    last_sent: float = 0.0  # monotonic time of our last message to it
    floor: int = 0  # every seq below it is acknowledged by the agent's own account
    seen: RangeSet = field(default_factory=RangeSet)  # delivered to the sink
    acked: RangeSet = field(default_factory=RangeSet)  # acked by the sink


class SchedulerEndpoint(Endpoint):
    """The scheduler's ROUTER. Callbacks run on the event loop:

    * ``on_register(reg)`` -- an agent (re)registered;
    * ``on_status(updates, tokens)`` -- a drain's new updates (duplicates filtered), as the
      wire :class:`Update` structs (task_id, status, timestamp_ms, message: nothing is copied per
      update), and the :class:`AckToken` of each run of them (an agent's contiguous seqs, in
      order); pass the tokens to :meth:`ack` once all the updates' effects are persisted;
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
        on_status: Callable[[Sequence[Update], Sequence[AckToken]], None],
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
        self.epoch = new_epoch()
        self.stats = EndpointStats()
        self.peers: dict[bytes, _Peer] = {}
        self._on_register = on_register
        self._on_status = on_status
        self._on_heartbeat = on_heartbeat
        self._on_agent_lost = on_agent_lost
        self._hb_interval = heartbeat_interval
        self._agent_timeout = agent_timeout
        self._batch: list[Update] = []  # updates of the drain in progress, and their tokens
        self._tokens: list[AckToken] = []
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
        return not self._send_many([identity], [encode(msg)])

    def _send_many(self, identities: Sequence[bytes], payloads: Sequence[bytes]) -> list[int]:
        """Send encoded messages in one burst (:func:`send_each`); returns the positions of
        those dropped."""
        if self._sync is None:
            return list(range(len(payloads)))
        failed = send_each(self._sync, list(zip(identities, payloads, strict=True)))
        sent = len(payloads) - len(failed)
        self.stats.messages_out += sent
        self.stats.send_dropped += len(failed)
        if failed:  # EHOSTUNREACH (unknown peer) or EAGAIN (high-water mark)
            log.debug("sends dropped: %r", [identities[i] for i in failed])
        now, peers = time.monotonic(), self.peers
        for identity in identities:
            peer = peers.get(identity)
            if peer is not None:
                peer.last_sent = now
        if sent:
            self._kick()
        return failed

    def launch(self, agent_id: str, launches: Sequence[Launch]) -> bool:
        return not self.launch_many([(agent_id, launches)])

    def launch_many(self, batches: Sequence[tuple[str, Sequence[Launch]]]) -> list[int]:
        """Send each (agent id, launches) of BATCHES as one LaunchBatch, with the
        acknowledgement held for that agent riding along; all encoded first, then sent in one
        burst. Returns the positions of the batches that could not be sent."""
        held_acks = self._held_acks
        identities: list[bytes] = []
        payloads: list[bytes] = []
        held: list[tuple[int, list[tuple[int, int]]] | None] = []
        for agent_id, launches in batches:
            identity = agent_id.encode()
            h = held_acks.pop(identity, None)
            held.append(h)
            ack = Ack(h[0], 0, merge_ranges(h[1])) if h is not None else None
            identities.append(identity)
            payloads.append(encode(LaunchBatch(tuple(launches), ack)))
        failed = self._send_many(identities, payloads)
        for i in failed:
            h = held[i]
            if h is not None:  # not sent: the acknowledgement goes on its own later
                held_acks[identities[i]] = h
        return failed

    def kill(self, agent_id: str, task_ids: Sequence[str]) -> bool:
        return self._send(agent_id.encode(), KillBatch(tuple(task_ids)))

    def reconcile(self, agent_id: str, task_ids: Sequence[str] | None = None) -> bool:
        return self._send(
            agent_id.encode(), Reconcile(None if task_ids is None else tuple(task_ids))
        )

    def ack(self, tokens: Iterable[object], *, hold: bool = True) -> None:
        """These updates are persisted: tell their agents (one Ack per agent epoch), at once or,
        with ``ack_delay`` and ``hold``, with the next launch to the agent if one goes out in
        that time. (At once: every held acknowledgement goes along, theirs and the others'.)"""
        held, peers = self._held_acks, self.peers
        stale_ids: list[bytes] = []
        stale: list[bytes] = []
        for tok in tokens:
            if type(tok) is not AckToken:
                continue
            identity, epoch, lo, hi = tok
            peer = peers.get(identity)
            if peer is not None and peer.register.epoch == epoch:
                floor = peer.floor
                peer.acked.add(lo if lo > floor else floor, hi)
            waiting = held.get(identity)
            if waiting is None:
                held[identity] = (epoch, [(lo, hi)])
            elif waiting[0] == epoch:
                waiting[1].append((lo, hi))
            else:  # what waited is an older incarnation's: it goes first, on its own
                stale_ids.append(identity)
                stale.append(encode(Ack(waiting[0], 0, merge_ranges(waiting[1]))))
                held[identity] = (epoch, [(lo, hi)])
        if stale:
            self._send_many(stale_ids, stale)
        if not hold or self._ack_delay <= 0 or self._loop is None:
            self.flush_acks()
        elif held and self._ack_timer is None:
            self._ack_timer = self._loop.call_later(self._ack_delay, self.flush_acks)

    def flush_acks(self) -> None:
        """Send every held acknowledgement now."""
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._ack_timer = None
        held, self._held_acks = self._held_acks, {}
        if held:
            self._send_many(list(held), [encode(Ack(epoch, 0, merge_ranges(ranges)))
                                         for epoch, ranges in held.values()])

    # -- receiving -------------------------------------------------------------------------

    def _drained(self) -> None:
        batch, tokens = self._batch, self._tokens
        if batch:
            self._batch, self._tokens = [], []
            self.stats.updates += len(batch)
            self._on_status(batch, tokens)

    def _messages(self, messages: list[list[bytes]]) -> None:
        stats, peers = self.stats, self.peers
        stats.messages_in += len(messages)
        now = time.monotonic()
        for frames in messages:
            try:
                if len(frames) != 2:
                    stats.malformed += 1
                    continue
                identity, payload = frames
                msg = decode_or_none(payload)
                if msg is None:
                    stats.malformed += 1
                elif type(msg) is StatusBatch:  # nearly every message: checked first
                    peer = peers.get(identity)
                    if peer is None or msg.epoch != peer.register.epoch:
                        self._unknown(identity)
                    else:
                        peer.last_seen = now
                        self._status(peer, msg)
                else:
                    self._message(identity, msg, now)
            except Exception:  # a callback failed: log it, keep serving
                log.exception("error handling a message")

    def _unknown(self, identity: bytes) -> None:
        """Not registered with this scheduler (it restarted) or a stale agent incarnation:
        tell it our epoch so that it re-registers and resends."""
        self.stats.unknown_peers += 1
        self._send(identity, Heartbeat(self.epoch, now_ms(), registered=False))

    def _message(self, identity: bytes, msg: Message, now: float) -> None:
        """Anything but a status batch."""
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
            self._send(identity, Heartbeat(self.epoch, now_ms()))  # welcome: our epoch
            self._on_register(msg)
            return
        peer = self.peers.get(identity)
        if peer is None:
            self._unknown(identity)
            return
        peer.last_seen = now
        if isinstance(msg, Heartbeat):
            self.stats.heartbeats += 1
            if self._on_heartbeat is not None:
                self._on_heartbeat(peer.register.agent_id, msg)
        else:  # a scheduler-bound message an agent must not send
            self.stats.malformed += 1

    def _status(self, peer: _Peer, batch: StatusBatch) -> None:
        low, floor = batch.low, peer.floor
        if low > floor:
            peer.floor = floor = low
            peer.seen.discard_below(low)
            peer.acked.discard_below(low)
        updates = batch.updates
        n = len(updates)
        if not n:
            return
        first = batch.first_seq
        last = first + n - 1
        identity, epoch = peer.identity, batch.epoch
        fresh = peer.seen.missing(first if first > floor else floor, last)
        if len(fresh) == 1 and fresh[0] == (first, last):  # the usual case: all of it is new
            peer.seen.add(first, last)
            self._batch.extend(updates)
            self._tokens.append(AckToken(identity, epoch, first, last))
            return
        new = 0
        for lo, hi in fresh:
            peer.seen.add(lo, hi)
            new += hi - lo + 1
            self._batch.extend(updates[lo - first:hi - first + 1])
            self._tokens.append(AckToken(identity, epoch, lo, hi))
        if new < n:  # duplicates: acked ones are acked again (that ack must have been lost)
            self.stats.duplicates += n - new
            reack = complement_ranges(first, last, peer.acked.missing(first, last))
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
                    self._send(identity, Heartbeat(self.epoch, now_ms()))
