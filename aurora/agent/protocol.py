"""Wire messages between the scheduler (ROUTER) and local agents (DEALER).

Every message is one msgpack frame holding a msgspec tagged union, encoded as an array whose first
element is the tag (compact: no field names on the wire). Status updates travel in batches with
contiguous sequence numbers (``first_seq``, ``first_seq + 1``, ...) per agent *epoch* (one agent
process lifetime); the scheduler acknowledges them (``Ack``) after persisting their effect and the
agent resends whatever is unacknowledged, so delivery is at-least-once and duplicates are
recognisable by (epoch, seq).
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from aurora.scheduler.backend import HostInfo, Launch


class Register(msgspec.Struct, tag="reg", array_like=True, frozen=True):
    """Agent -> scheduler: who I am and what I offer. ``epoch`` changes when the agent restarts."""

    agent_id: str
    hostname: str
    cpu_milli: int
    ram_mb: int
    disk_mb: int
    gpus: int = 0
    port_ranges: tuple[tuple[int, int], ...] = ()
    attributes: dict[str, tuple[str, ...]] = msgspec.field(default_factory=dict)
    epoch: int = 0

    def host_info(self) -> HostInfo:
        return HostInfo(
            hostname=self.hostname,
            agent_id=self.agent_id,
            cpu_milli=self.cpu_milli,
            ram_mb=self.ram_mb,
            disk_mb=self.disk_mb,
            gpus=self.gpus,
            port_ranges=self.port_ranges,
            attributes=self.attributes,
        )


class Heartbeat(msgspec.Struct, tag="hb", array_like=True, frozen=True):
    """Both ways. ``epoch`` is the sender's incarnation: an agent that sees a new scheduler epoch
    re-registers and resends everything unacknowledged. ``registered`` is False in the scheduler's
    answer to a message from an agent it does not know (it restarted): register again."""

    epoch: int
    time_ms: int = 0
    registered: bool = True


class LaunchBatch(msgspec.Struct, tag="launch", array_like=True, frozen=True):
    """Scheduler -> agent: start these tasks (and, riding along, an acknowledgement that
    would otherwise be a message of its own)."""

    launches: tuple[Launch, ...]
    ack: Ack | None = None


class KillBatch(msgspec.Struct, tag="kill", array_like=True, frozen=True):
    """Scheduler -> agent: kill these tasks (unknown ids are answered with a terminal update)."""

    task_ids: tuple[str, ...]


class Reconcile(msgspec.Struct, tag="recon", array_like=True, frozen=True):
    """Scheduler -> agent: report the status of these tasks (None: of every task you know)."""

    task_ids: tuple[str, ...] | None = None


class Update(msgspec.Struct, array_like=True, frozen=True):
    """One status update inside a StatusBatch."""

    task_id: str
    status: int  # ScheduleStatus wire number
    timestamp_ms: int
    message: str | None = None


class StatusBatch(msgspec.Struct, tag="status", array_like=True, frozen=True):
    """Agent -> scheduler: updates numbered ``first_seq``, ``first_seq + 1``, ...

    ``low`` is the agent's lowest unacknowledged seq when it sent the batch: every seq below it is
    acknowledged, so the scheduler may forget it (and treats it as a duplicate if it comes again).
    """

    epoch: int
    first_seq: int
    updates: tuple[Update, ...]
    low: int = 0


class Ack(msgspec.Struct, tag="ack", array_like=True, frozen=True):
    """Scheduler -> agent: updates of agent ``epoch`` that are persisted: every seq <= ``upto_seq``
    and every seq in the inclusive ``ranges``."""

    epoch: int
    upto_seq: int = 0
    ranges: tuple[tuple[int, int], ...] = ()


Message = Register | Heartbeat | LaunchBatch | KillBatch | Reconcile | StatusBatch | Ack

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Message)


def encode(msg: Message) -> bytes:
    return _encoder.encode(msg)


def decode(data: bytes) -> Message:
    """Decode one frame; raises msgspec.DecodeError / ValidationError on bad input."""
    return _decoder.decode(data)


def decode_or_none(data: object) -> Message | None:
    """Decode one frame, or None for anything malformed (never raises)."""
    try:
        return _decoder.decode(data)  # type: ignore[arg-type]
    except Exception:
        return None


def seq_ranges(seqs: Iterable[int]) -> tuple[tuple[int, int], ...]:
    """Compress sequence numbers into sorted inclusive ranges: [1, 2, 3, 7] -> ((1, 3), (7, 7))."""
    out: list[tuple[int, int]] = []
    lo = hi = -2
    for s in sorted(set(seqs)):
        if s == hi + 1:
            hi = s
            continue
        if hi >= lo >= 0:
            out.append((lo, hi))
        lo = hi = s
    if hi >= lo >= 0:
        out.append((lo, hi))
    return tuple(out)
