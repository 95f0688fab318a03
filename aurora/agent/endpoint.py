"""What both ends of the agent channel share: the endpoint base class (an asyncio socket to
wait on, a synchronous shadow to drain and send through), acknowledgement tokens, range
helpers. See :mod:`aurora.agent.channel` for the channel as a whole."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import zmq
import zmq.asyncio
from zmq.backend import Socket as _RawSocket

from aurora.agent.security import (
    HandshakeMonitor,
    ServerGuard,
)

log = logging.getLogger(__name__)


# The loop wakes on ZeroMQ's edge-triggered FD; this bounds the wait should an edge be missed
# anyway (sends on the shadow socket are followed by an explicit check, see _kick).
_SAFETY_S = 0.5


# Frame I/O on the synchronous shadow through pyzmq's compiled socket methods: its Python layer
# (send_multipart, recv_multipart, Flag arithmetic, option attributes) cost several us per
# message, more than ZeroMQ itself, on a path that carries every launch and status batch.
_raw_send = _RawSocket.send
_raw_recv = _RawSocket.recv
_raw_get = _RawSocket.get
_NOBLOCK = int(zmq.NOBLOCK)
_MORE_NOBLOCK = int(zmq.SNDMORE) | _NOBLOCK
_RCVMORE = int(zmq.RCVMORE)
_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)


def batch_io_threads(ctx: zmq.Context[zmq.Socket[bytes]]) -> None:
    """Run CTX's ZeroMQ I/O threads as SCHED_BATCH (before its first socket; no effect after):
    an I/O thread woken by a send then no longer preempts the thread sending the rest of its
    batch, one context switch per message. Same CPU share; at most a scheduler tick of delay on
    a busy machine. (one-off-real: the scheduler I/O thread's context switches per task 0.18 ->
    0.07, the main thread's involuntary ones 0.18 -> 0.11.)"""
    policy = getattr(os, "SCHED_BATCH", None)
    if policy is not None:
        with contextlib.suppress(zmq.ZMQError, AttributeError):
            ctx.set(zmq.THREAD_SCHED_POLICY, policy)


def send_frames(sock: zmq.Socket[bytes], *frames: bytes) -> None:
    """``sock.send_multipart(frames, NOBLOCK)``: raises zmq.Again (high-water mark) or
    ZMQError (e.g. EHOSTUNREACH for an unknown ROUTER peer) on the first frame that fails."""
    last = len(frames) - 1
    for i, frame in enumerate(frames):
        _raw_send(sock, frame, _NOBLOCK if i == last else _MORE_NOBLOCK)


def send_each(sock: zmq.Socket[bytes], messages: Sequence[tuple[bytes, bytes]]) -> list[int]:
    """Send each (routing identity, payload) pair of MESSAGES as one message, back to back;
    returns the positions of those that failed (unknown peer, high-water mark). One tight loop
    for a whole burst: ZeroMQ's I/O thread, woken by the first, finds the rest queued instead of
    being woken again for each (the Python work of building a message between two sends was
    enough for it to go back to sleep)."""
    failed: list[int] = []
    i = 0
    for identity, payload in messages:
        try:
            _raw_send(sock, identity, _MORE_NOBLOCK)
            _raw_send(sock, payload, _NOBLOCK)
        except zmq.ZMQError:
            failed.append(i)
        i += 1
    return failed


def recv_each(sock: zmq.Socket[bytes], limit: int) -> list[list[bytes]]:
    """Up to LIMIT waiting messages (each a list of frames), received back to back without
    blocking; fewer when no more is waiting."""
    out: list[list[bytes]] = []
    for _ in range(limit):
        try:
            frames = [_raw_recv(sock, _NOBLOCK)]
        except zmq.Again:
            break
        while _raw_get(sock, _RCVMORE):
            frames.append(_raw_recv(sock, _NOBLOCK))
        out.append(frames)
    return out


def input_waiting(sock: zmq.Socket[bytes]) -> bool:
    """A message waits (reading EVENTS also re-arms ZeroMQ's notification fd)."""
    return bool(_raw_get(sock, _EVENTS) & _POLLIN)


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


def complement_ranges(lo: int, hi: int, holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
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


def now_ms() -> int:
    return int(time.time() * 1000)


def new_epoch() -> int:
    return time.time_ns() // 1000  # microseconds: distinct across restarts


class AckToken(NamedTuple):
    """The ``ack`` of the last StatusUpdate of each contiguous run the SchedulerEndpoint
    delivers (the others carry None): acknowledging it acknowledges seqs ``lo``..``hi``."""

    peer: bytes
    epoch: int
    lo: int
    hi: int


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


class Endpoint:
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
        batch_io_threads(self._ctx)
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
            if sync is not None and input_waiting(sync):
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
        if sync is not None and input_waiting(sync):
            self._wake()
        else:
            self._kicked = False

    def _wake(self) -> None:
        """Input may be waiting: drain now, or when ``min_drain_interval`` since the last
        drain has passed."""
        if self._drain_timer is not None:
            if self._sync is not None:
                input_waiting(self._sync)  # re-arms ZeroMQ's notification fd
            return
        loop = self._loop
        wait = self._last_drain + self._min_drain_interval - (loop.time() if loop else 0.0)
        if wait > 0 and loop is not None:
            if self._sync is not None:
                input_waiting(self._sync)
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
        messages = recv_each(sync, self._max_drain)
        self._messages(messages)
        if len(messages) == self._max_drain:  # more may be waiting: drained without pause
            if self._loop is not None and self._drain_timer is None:
                self._drain_timer = self._loop.call_soon(self._timed_drain)
        self._drained()

    def _messages(self, messages: list[list[bytes]]) -> None:
        """Handle what one drain received, in order (each message's frames)."""
        for frames in messages:
            try:
                self._frames(frames)
            except Exception:  # a callback failed: log it, keep serving
                log.exception("error handling a message")

    def _frames(self, frames: list[bytes]) -> None:
        raise NotImplementedError

    def _drained(self) -> None:
        pass

    async def _hb_loop(self) -> None:
        raise NotImplementedError
