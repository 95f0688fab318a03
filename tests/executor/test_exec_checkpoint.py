"""The checkpoint: framing, torn tails, corruption, the writer's lock and replay validation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aurora.executor.checkpoint import (
    CheckpointCorrupt,
    CheckpointLocked,
    CheckpointWriter,
    ProcessState,
    ProcessStatus,
    RunnerHeader,
    RunnerState,
    TaskState,
    TaskStatus,
    apply_record,
    encode_frame,
    is_locked,
    read_records,
    replay,
)

HEADER = RunnerHeader(task_id="t", launch_time=1.0, sandbox="/s", log_dir="/s/.logs",
                      hostname="h", user="u", uid=1, instance=0, ports={"http": 1})


def history() -> list:
    return [
        HEADER,
        TaskStatus(state=TaskState.ACTIVE, timestamp=1.0, runner_pid=10),
        ProcessStatus(process="a", seq=0, state=ProcessState.WAITING, timestamp=1.0),
        ProcessStatus(process="a", seq=1, state=ProcessState.FORKED, timestamp=1.1,
                      coordinator_pid=11, fork_time=1.1),
        ProcessStatus(process="a", seq=2, state=ProcessState.RUNNING, timestamp=1.2, pid=12,
                      start_time=1.2),
        ProcessStatus(process="a", seq=3, state=ProcessState.FAILED, timestamp=2.0,
                      return_code=1, message="exit status 1"),
        ProcessStatus(process="a", seq=4, state=ProcessState.WAITING, timestamp=2.0),
    ]


def write(path: Path, records: list) -> bytes:
    data = b"".join(encode_frame(r) for r in records)
    path.write_bytes(data)
    return data


def test_round_trip_and_replay(tmp_path: Path) -> None:
    path = tmp_path / "ckpt"
    write(path, history())
    records, valid = read_records(str(path))
    assert records == history() and valid == path.stat().st_size
    state = replay(str(path))
    runs = state.processes["a"]
    assert [r.state for r in runs] == [ProcessState.FAILED, ProcessState.WAITING]
    assert runs[0].return_code == 1 and runs[0].pid == 12 and runs[0].coordinator_pid == 11
    assert runs[1].run == 1 and runs[1].seq == 4
    assert state.task_state == TaskState.ACTIVE and state.header == HEADER


@pytest.mark.parametrize("cut", [1, 3, 7, 8, 9, 20])
def test_torn_last_record_is_ignored(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "ckpt"
    data = write(path, history())
    last = len(encode_frame(history()[-1]))
    path.write_bytes(data[: len(data) - last + min(cut, last - 1)])
    records, valid = read_records(str(path))
    assert records == history()[:-1]
    assert valid == len(data) - last


def test_torn_tail_with_bad_checksum_or_zero_fill(tmp_path: Path) -> None:
    path = tmp_path / "ckpt"
    data = bytearray(write(path, history()))
    data[-1] ^= 0xFF  # last frame fully present but damaged
    path.write_bytes(bytes(data))
    assert read_records(str(path))[0] == history()[:-1]
    path.write_bytes(write(path, history()) + b"\0" * 4096)  # zero-filled tail
    assert read_records(str(path))[0] == history()


def test_damage_in_the_middle_is_corruption(tmp_path: Path) -> None:
    path = tmp_path / "ckpt"
    data = bytearray(write(path, history()))
    data[len(encode_frame(HEADER)) + 9] ^= 0xFF  # inside the second frame's payload
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointCorrupt, match="damaged record"):
        read_records(str(path))


def test_writer_truncates_a_torn_tail_and_appends(tmp_path: Path) -> None:
    path = tmp_path / "ckpt"
    data = write(path, history())
    path.write_bytes(data[:-5])
    writer = CheckpointWriter(str(path), fsync="always")
    assert writer.records == history()[:-1]
    writer.write(ProcessStatus(process="a", seq=4, state=ProcessState.WAITING, timestamp=3.0))
    writer.close()
    records, valid = read_records(str(path))
    assert len(records) == len(history()) and valid == path.stat().st_size
    assert isinstance(records[-1], ProcessStatus) and records[-1].timestamp == 3.0


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "ckpt"
    write(path, history())
    writer = CheckpointWriter(str(path))
    assert is_locked(str(path))
    with pytest.raises(CheckpointLocked) as e:
        CheckpointWriter(str(path))
    assert e.value.holder_pid == 10
    writer.close()
    assert not is_locked(str(path))
    CheckpointWriter(str(path)).close()


def test_fsync_policies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    for policy, expected in (("always", 3), ("task", 2), ("never", 0)):
        calls.clear()
        writer = CheckpointWriter(str(tmp_path / policy), fsync=policy)  # type: ignore[arg-type]
        writer.write(HEADER)
        writer.write(ProcessStatus(process="a", seq=0, state=ProcessState.WAITING, timestamp=1))
        writer.write(TaskStatus(state=TaskState.ACTIVE, timestamp=1, runner_pid=1))
        writer.close()
        assert len(calls) == expected, policy


@pytest.mark.parametrize("bad, match", [
    (ProcessStatus(process="a", seq=1, state=ProcessState.WAITING, timestamp=0), "sequence"),
    (ProcessStatus(process="a", seq=0, state=ProcessState.RUNNING, timestamp=0), "transition"),
])
def test_replay_rejects_impossible_histories(bad: ProcessStatus, match: str) -> None:
    state = RunnerState()
    apply_record(state, HEADER)
    with pytest.raises(CheckpointCorrupt, match=match):
        apply_record(state, bad)


def test_success_cannot_follow_waiting() -> None:
    state = RunnerState()
    for record in history()[:3]:
        apply_record(state, record)
    with pytest.raises(CheckpointCorrupt, match="WAITING -> SUCCESS"):
        apply_record(state, ProcessStatus(process="a", seq=1, state=ProcessState.SUCCESS,
                                          timestamp=0))
