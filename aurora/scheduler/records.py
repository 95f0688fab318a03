"""What the scheduler writes to storage: records of its state and the operations that change it.

Every change is a transaction: a list of operations with a sequence number. The same operations
are appended to the log and folded into the materialised state (one column family per kind of
record), so replaying the log from a snapshot rebuilds exactly the materialised state -- what a
standby would do, and what the crash test checks. Encoding is msgpack through msgspec, with
records as arrays (no field names on disk) to stay compact.
"""

from __future__ import annotations

from typing import Any

import msgspec


class TaskRecord(msgspec.Struct, array_like=True, frozen=True):
    """One task as stored: the state table's row plus what it points at, by name."""

    id: str
    job: str  # role/environment/name
    instance: int
    config: int  # id in the configs column family: a config is stored once, not per task
    status: int  # ScheduleStatus wire number
    host: str | None
    failures: int
    times_partitioned: int
    ancestor: str | None
    state_ts: int
    flags: int
    flaps: int
    events: tuple[tuple[int, int, str | None], ...]  # (timestamp ms, status, message)
    ports: dict[str, int] = {}


class SaveTasks(msgspec.Struct, tag="st", array_like=True, frozen=True):
    tasks: tuple[TaskRecord, ...]


class DeleteTasks(msgspec.Struct, tag="dt", array_like=True, frozen=True):
    ids: tuple[str, ...]


class SaveConfig(msgspec.Struct, tag="sc", array_like=True, frozen=True):
    id: int
    data: bytes  # the encoded TaskConfig


class SaveJob(msgspec.Struct, tag="sj", array_like=True, frozen=True):
    key: str
    data: bytes  # the encoded job (configuration, instance count, cron ...)


class RemoveJob(msgspec.Struct, tag="rj", array_like=True, frozen=True):
    key: str


class SaveHost(msgspec.Struct, tag="sh", array_like=True, frozen=True):
    hostname: str
    data: bytes  # attributes and maintenance mode


class SaveQuota(msgspec.Struct, tag="sq", array_like=True, frozen=True):
    role: str
    data: bytes


class RemoveQuota(msgspec.Struct, tag="rq", array_like=True, frozen=True):
    role: str


class SaveMeta(msgspec.Struct, tag="sm", array_like=True, frozen=True):
    key: str
    value: bytes


Op = (SaveTasks | DeleteTasks | SaveConfig | SaveJob | RemoveJob | SaveHost | SaveQuota
      | RemoveQuota | SaveMeta)


class Transaction(msgspec.Struct, array_like=True, frozen=True):
    seq: int
    ops: tuple[Op, ...]


_encoder = msgspec.msgpack.Encoder()
_txn_decoder = msgspec.msgpack.Decoder(Transaction)
_task_decoder = msgspec.msgpack.Decoder(TaskRecord)


def encode(value: Any) -> bytes:
    return _encoder.encode(value)


def decode_transaction(data: bytes) -> Transaction:
    return _txn_decoder.decode(data)


def decode_task(data: bytes) -> TaskRecord:
    return _task_decoder.decode(data)


#: Column family each kind of record lives in, and how an op turns into puts and deletes.
FAMILIES = ("log", "tasks", "configs", "jobs", "hosts", "quotas", "meta")


class EncodedTasks:
    """A SaveTasks whose rows the table already encoded (``taskrows.export_encoded``): task
    ids as bytes and the MessagePack of each row. Storage logs it as a SaveTasks holding the
    very same bytes (msgspec.Raw) and stores them in the tasks family: one encoding per row."""

    __slots__ = ("keys", "values")

    def __init__(self, keys: list[bytes], values: list[bytes]) -> None:
        self.keys = keys
        self.values = values

    def logged(self) -> SaveTasks:
        return SaveTasks(tuple(map(msgspec.Raw, self.values)))  # type: ignore[arg-type]


def materialise(op: Op) -> list[tuple[str, bytes, bytes | None]]:
    """The (family, key, value or None to delete) writes that fold OP into the state."""
    if isinstance(op, SaveTasks):  # rows fresh from the table are plain tuples in field order
        return [("tasks", (t.id if isinstance(t, TaskRecord) else t[0]).encode(), encode(t))
                for t in op.tasks]
    if isinstance(op, DeleteTasks):
        return [("tasks", i.encode(), None) for i in op.ids]
    if isinstance(op, SaveConfig):
        return [("configs", op.id.to_bytes(8, "big"), op.data)]
    if isinstance(op, SaveJob):
        return [("jobs", op.key.encode(), op.data)]
    if isinstance(op, RemoveJob):
        return [("jobs", op.key.encode(), None)]
    if isinstance(op, SaveHost):
        return [("hosts", op.hostname.encode(), op.data)]
    if isinstance(op, SaveQuota):
        return [("quotas", op.role.encode(), op.data)]
    if isinstance(op, RemoveQuota):
        return [("quotas", op.role.encode(), None)]
    if isinstance(op, SaveMeta):
        return [("meta", op.key.encode(), op.value)]
    raise TypeError(f"not a storage operation: {op!r}")
