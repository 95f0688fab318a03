"""RocksDB storage: transactions, group commit, reopening, the lock, snapshots, replay, backups."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aurora.scheduler.records import (
    DeleteTasks,
    SaveConfig,
    SaveMeta,
    SaveQuota,
    SaveTasks,
    TaskRecord,
    decode_task,
)
from aurora.scheduler.storage import DataDirLocked, Storage, materialised_state, replay


def task(i: int, status: int = 0) -> TaskRecord:
    return TaskRecord(id=f"www-prod-hello-{i}-x", job="www/prod/hello", instance=i, config=1,
                      status=status, host=None, failures=0, times_partitioned=0, ancestor=None,
                      state_ts=1000, flags=0, flaps=0, events=((1000, status, None),))


def test_group_commit_writes_every_transaction_in_order(tmp_path: Path) -> None:
    with Storage(tmp_path) as st:
        seqs = st.commit([[SaveTasks((task(0), task(1)))], [SaveConfig(1, b"cfg")],
                          [DeleteTasks(("www-prod-hello-0-x",))]])
        assert seqs == [1, 2, 3] and st.last_seq == 3 and st.commits == 1
        assert [t.id for t in st.tasks()] == ["www-prod-hello-1-x"]
        assert [txn.seq for txn in st.log()] == [1, 2, 3]
        assert [txn.seq for txn in st.log(after=2)] == [3]
        assert st.commit([]) == []
    with Storage(tmp_path) as st:  # reopened: everything is there
        assert st.last_seq == 3
        assert decode_task(st.get("tasks", b"www-prod-hello-1-x")) == task(1)
        assert st.get("configs", (1).to_bytes(8, "big")) == b"cfg"
        assert st.commit([[SaveMeta("framework_id", b"fw-1")]]) == [4]


def test_a_second_scheduler_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    with Storage(tmp_path):
        code = (
            "import sys; from aurora.scheduler.storage import Storage, DataDirLocked\n"
            f"try:\n    Storage({str(tmp_path)!r})\nexcept DataDirLocked as e:\n"
            "    print(e); sys.exit(3)\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=False)
        assert out.returncode == 3, out.stderr
        assert "is in use by another aurora-scheduler (pid" in out.stdout
        with pytest.raises(DataDirLocked):
            Storage(tmp_path)


def test_snapshot_drops_old_log_and_replay_rebuilds_the_state(tmp_path: Path) -> None:
    with Storage(tmp_path, snapshot_retention=1) as st:
        for i in range(5):
            st.commit([[SaveTasks((task(i),))]])
        snap = st.snapshot()
        st.commit([[SaveTasks((task(1, status=9),)), SaveQuota("www", b"q")]])
        st.commit([[DeleteTasks(("www-prod-hello-2-x",))]])
        assert st.first_log_seq() == 6  # the log up to the snapshot is gone
        base_seq = int(snap.name)
        rebuilt = replay(materialised_state(snap), st.log(base_seq), base_seq)
        log = list(st.log(base_seq))
    live = materialised_state(tmp_path / "db")
    assert rebuilt == live
    assert len(log) == 2 and decode_task(live["tasks"][b"www-prod-hello-1-x"]).status == 9


def test_replay_notices_a_gap(tmp_path: Path) -> None:
    with Storage(tmp_path) as st:
        st.commit([[SaveMeta("a", b"1")], [SaveMeta("b", b"2")], [SaveMeta("c", b"3")]])
        txns = [t for t in st.log() if t.seq != 2]
    from aurora.scheduler.storage import StorageError
    with pytest.raises(StorageError, match="log gap: transaction 3 follows 1"):
        replay({"meta": {}}, iter(txns), 0)


def test_backups_are_listed_and_kept_to_the_retention(tmp_path: Path) -> None:
    with Storage(tmp_path, backup_retention=2) as st:
        names = []
        for i in range(3):
            st.commit([[SaveMeta("n", str(i).encode())]])
            names.append(st.backup(now_s=1_700_000_000 + i))
        assert st.list_backups() == names[1:]
        assert materialised_state(tmp_path / "backups" / names[-1])["meta"][b"n"] == b"2"


def test_a_row_encodes_as_the_record_a_replay_writes_back() -> None:
    from aurora.scheduler.records import encode

    row = ("id", "www/prod/hello", 1, 0, 2, None, 0, 0, None, 5, 0, 0, ((1, 2, None),), {})
    assert encode(decode_task(encode(row))) == encode(row)
