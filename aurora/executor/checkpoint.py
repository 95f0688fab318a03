"""The runner's append-only checkpoint: records, framing, the writer and replay.

A checkpoint is a sequence of frames ``u32 length | u32 crc32 | msgpack record`` (big-endian).
Records follow Thermos' ``RunnerCkpt`` union (``thermos_internal.thrift``), with the same state
numbers: a :class:`RunnerHeader` once, :class:`TaskStatus` on every task transition (and each
time a runner takes control), :class:`ProcessStatus` on every process transition, plus
:class:`ReportedStatus`, the last status sent upward (so a recovered executor neither repeats
STARTING/RUNNING nor loses a terminal status it never got to send).

Replay (:func:`replay`) folds the records into a :class:`RunnerState`, checking each process
transition and sequence number as Thermos' ``CheckpointDispatcher`` does. A torn last frame (a
crash mid-write: a short header, a length past the end of the file, a bad checksum on the final
frame, or zero fill) is ignored, and the writer truncates it before appending; damage followed by
intact frames is corruption and raises :class:`CheckpointCorrupt`.

The writer holds an exclusive ``flock`` on the file: one runner per task. ``fsync`` policy:
``always`` (every record, Thermos' behaviour), ``task`` (the header, task transitions and
terminal process records) or ``never``.
"""

from __future__ import annotations

import enum
import errno
import fcntl
import os
import struct
import zlib
from typing import Any, Literal

import msgspec

__all__ = [
    "TERMINAL_PROCESS_STATES",
    "TERMINAL_TASK_STATES",
    "CheckpointCorrupt",
    "CheckpointError",
    "CheckpointLocked",
    "CheckpointWriter",
    "FsyncPolicy",
    "ProcessRun",
    "ProcessState",
    "ProcessStatus",
    "Record",
    "ReportedStatus",
    "RunnerHeader",
    "RunnerState",
    "TaskState",
    "TaskStatus",
    "apply_record",
    "decode_frames",
    "encode_frame",
    "is_locked",
    "read_records",
    "replay",
]

_HEADER = struct.Struct(">II")
MAX_RECORD = 16 * 1024 * 1024


class TaskState(enum.IntEnum):
    ACTIVE = 0
    SUCCESS = 1
    FAILED = 2
    KILLED = 3
    LOST = 4
    CLEANING = 5
    FINALIZING = 6


class ProcessState(enum.IntEnum):
    WAITING = 0
    FORKED = 1
    RUNNING = 2
    SUCCESS = 3
    KILLED = 4
    FAILED = 5
    LOST = 6


TERMINAL_TASK_STATES = frozenset(
    {TaskState.SUCCESS, TaskState.FAILED, TaskState.KILLED, TaskState.LOST})
TERMINAL_PROCESS_STATES = frozenset(
    {ProcessState.SUCCESS, ProcessState.FAILED, ProcessState.KILLED, ProcessState.LOST})

# Which states a process may move to each state from (None: no run yet / previous run terminal).
_ALLOWED_FROM: dict[ProcessState, frozenset[ProcessState | None]] = {
    ProcessState.WAITING: frozenset({None, *TERMINAL_PROCESS_STATES}),
    ProcessState.FORKED: frozenset({ProcessState.WAITING}),
    ProcessState.RUNNING: frozenset({ProcessState.FORKED}),
    ProcessState.SUCCESS: frozenset({ProcessState.RUNNING}),
    ProcessState.FAILED: frozenset(
        {ProcessState.WAITING, ProcessState.FORKED, ProcessState.RUNNING}),
    ProcessState.KILLED: frozenset({ProcessState.FORKED, ProcessState.RUNNING}),
    ProcessState.LOST: frozenset({ProcessState.FORKED, ProcessState.RUNNING}),
}


class _Record(msgspec.Struct, array_like=True, omit_defaults=True, tag_field="k"):
    pass


class RunnerHeader(_Record, tag="h"):
    task_id: str
    launch_time: float
    sandbox: str
    log_dir: str
    hostname: str
    user: str
    uid: int
    instance: int = 0
    ports: dict[str, int] = {}


class TaskStatus(_Record, tag="t"):
    state: TaskState
    timestamp: float
    runner_pid: int
    # On the CLEANING record of a kill: the forced terminal state and the kill deadline.
    terminal: TaskState | None = None
    deadline: float | None = None


class ProcessStatus(_Record, tag="p"):
    process: str
    seq: int
    state: ProcessState
    timestamp: float
    coordinator_pid: int | None = None
    coordinator_ticks: int | None = None  # /proc start time of the coordinator (identity)
    fork_time: float | None = None
    pid: int | None = None
    start_time: float | None = None
    stop_time: float | None = None
    return_code: int | None = None
    message: str | None = None


class ReportedStatus(_Record, tag="r"):
    state: int  # aurora.model.ScheduleStatus
    message: str | None
    timestamp: float


Record = RunnerHeader | TaskStatus | ProcessStatus | ReportedStatus

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Record)


class CheckpointError(Exception):
    """The checkpoint cannot be used."""


class CheckpointCorrupt(CheckpointError):
    """Damage in the middle of a checkpoint, or records that do not form a valid history."""


class CheckpointLocked(CheckpointError):
    """Another runner holds the checkpoint."""

    def __init__(self, path: str, holder_pid: int | None) -> None:
        self.holder_pid = holder_pid
        super().__init__(f"checkpoint {path} is held by another runner (pid {holder_pid})")


# --- framing


def encode_frame(record: msgspec.Struct) -> bytes:
    payload = _encoder.encode(record)
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def decode_frames(
    data: bytes, decoder: msgspec.msgpack.Decoder[Any] = _decoder
) -> tuple[list[Any], int]:
    """Decode every intact frame; return (records, length of the valid prefix).

    Bytes after the valid prefix are a torn tail. Raises CheckpointCorrupt if damage is followed
    by more data that is not zero fill.
    """
    records: list[Any] = []
    pos, size = 0, len(data)
    while pos < size:
        bad = size - pos < _HEADER.size
        if not bad:
            length, crc = _HEADER.unpack_from(data, pos)
            end = pos + _HEADER.size + length
            if length == 0 or length > MAX_RECORD or end > size:
                bad = True
            else:
                payload = data[pos + _HEADER.size:end]
                if zlib.crc32(payload) != crc:
                    bad = True
                else:
                    try:
                        records.append(decoder.decode(payload))
                    except msgspec.DecodeError:
                        bad = True
        if bad:
            tail = data[pos:]
            torn = (size - pos < _HEADER.size or not tail.strip(b"\0")
                    or _frame_reaches_end(data, pos))
            if not torn:
                raise CheckpointCorrupt(f"damaged record at offset {pos} of {size} bytes")
            return records, pos
        pos = end
    return records, pos


def _frame_reaches_end(data: bytes, pos: int) -> bool:
    length, _ = _HEADER.unpack_from(data, pos)
    return bool(length == 0 or pos + _HEADER.size + length >= len(data))


def read_records(path: str) -> tuple[list[Record], int]:
    """All intact records of the checkpoint at ``path`` and the valid length ([] if absent)."""
    try:
        with open(path, "rb") as fp:
            data = fp.read()
    except FileNotFoundError:
        return [], 0
    return decode_frames(data)


# --- state


class ProcessRun(msgspec.Struct, kw_only=True):
    """One run of a process, as the checkpoint describes it."""

    process: str
    seq: int
    state: ProcessState
    run: int
    timestamp: float = 0.0
    coordinator_pid: int | None = None
    coordinator_ticks: int | None = None
    fork_time: float | None = None
    pid: int | None = None
    start_time: float | None = None
    stop_time: float | None = None
    return_code: int | None = None
    message: str | None = None


class RunnerState(msgspec.Struct, kw_only=True):
    header: RunnerHeader | None = None
    statuses: list[TaskStatus] = msgspec.field(default_factory=list)
    processes: dict[str, list[ProcessRun]] = msgspec.field(default_factory=dict)
    reported: ReportedStatus | None = None

    @property
    def task_state(self) -> TaskState:
        return self.statuses[-1].state if self.statuses else TaskState.ACTIVE

    @property
    def is_terminal(self) -> bool:
        return self.task_state in TERMINAL_TASK_STATES

    def current_run(self, process: str) -> ProcessRun | None:
        runs = self.processes.get(process)
        return runs[-1] if runs else None


_RUN_FIELDS = ("coordinator_pid", "coordinator_ticks", "fork_time", "pid", "start_time",
               "stop_time", "return_code", "message")


def apply_record(state: RunnerState, record: Record) -> None:
    """Fold one record into ``state``; raise CheckpointCorrupt on an impossible history."""
    if isinstance(record, ProcessStatus):
        runs = state.processes.setdefault(record.process, [])
        current = runs[-1] if runs else None
        expected = 0 if current is None else current.seq + 1
        if record.seq != expected:
            raise CheckpointCorrupt(
                f"process {record.process}: sequence {record.seq}, expected {expected}")
        prior = None if current is None else current.state
        if prior not in _ALLOWED_FROM[record.state]:
            raise CheckpointCorrupt(
                f"process {record.process}: invalid transition "
                f"{prior.name if prior is not None else '(none)'} -> {record.state.name}")
        if record.state == ProcessState.WAITING:
            runs.append(ProcessRun(process=record.process, seq=record.seq, state=record.state,
                                   run=len(runs), timestamp=record.timestamp))
            return
        assert current is not None
        current.seq = record.seq
        current.state = record.state
        current.timestamp = record.timestamp
        for name in _RUN_FIELDS:
            value = getattr(record, name)
            if value is not None:
                setattr(current, name, value)
    elif isinstance(record, TaskStatus):
        if state.header is None:
            raise CheckpointCorrupt("task status before the runner header")
        state.statuses.append(record)
    elif isinstance(record, RunnerHeader):
        if state.header is not None:
            raise CheckpointCorrupt("a second runner header")
        state.header = record
    elif isinstance(record, ReportedStatus):
        state.reported = record


def replay(path: str) -> RunnerState:
    """The state the checkpoint at ``path`` describes (empty if there is none)."""
    state = RunnerState()
    records, _ = read_records(path)
    for record in records:
        apply_record(state, record)
    return state


# --- writer

FsyncPolicy = Literal["always", "task", "never"]


class CheckpointWriter:
    """Exclusive appender to a checkpoint file."""

    def __init__(self, path: str, *, fsync: FsyncPolicy = "always") -> None:
        if fsync not in ("always", "task", "never"):
            raise ValueError(f"unknown fsync policy {fsync!r}")
        self.path = path
        self._fsync = fsync
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise CheckpointLocked(path, _holder(path)) from e
            raise
        self._fd: int | None = fd
        data = os.pread(fd, os.fstat(fd).st_size, 0)
        self.records, valid = decode_frames(data)
        if valid < len(data):
            os.ftruncate(fd, valid)  # drop a torn tail before appending
            os.fsync(fd)

    @property
    def fd(self) -> int | None:
        return self._fd

    def write(self, record: Record) -> None:
        if self._fd is None:
            raise CheckpointError("checkpoint is closed")
        frame = encode_frame(record)
        written = os.write(self._fd, frame)
        if written != len(frame):
            raise CheckpointError(f"short write to {self.path}: {written} of {len(frame)}")
        if self._fsync == "always" or (self._fsync == "task" and _is_durable_kind(record)):
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _is_durable_kind(record: Record) -> bool:
    if isinstance(record, ProcessStatus):
        return record.state in TERMINAL_PROCESS_STATES
    return not isinstance(record, ReportedStatus)


def _holder(path: str) -> int | None:
    try:
        records, _ = read_records(path)
    except CheckpointError:
        return None
    pids = [r.runner_pid for r in records if isinstance(r, TaskStatus)]
    return pids[-1] if pids else None


def is_locked(path: str) -> bool:
    """True while some runner holds the checkpoint at ``path``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False
