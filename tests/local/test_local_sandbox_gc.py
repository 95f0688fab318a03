"""Finished tasks' directories are removed once --sandbox-gc-hours have passed since the
scheduler acknowledged their end; unfinished ones never are."""

from __future__ import annotations

import os
import time
from pathlib import Path

from local_harness import running, wait_for

from aurora.agent.sandbox_gc import expired_task_dirs, remove_task_dir

RES = "resources = Resources(cpu = 0.25, ram = 32*MB, disk = 32*MB)"


def test_expired_task_dirs_are_the_done_ones_past_the_delay(tmp_path: Path) -> None:
    now = time.time()
    for name, done_age in (("old", 3600.0), ("recent", 10.0), ("running", None)):
        d = tmp_path / name / "sandbox" / ".logs"
        d.mkdir(parents=True)
        (d / "stdout").write_text("x")
        if done_age is not None:
            done = tmp_path / name / "done"
            done.touch()
            os.utime(done, (now - done_age, now - done_age))
    assert expired_task_dirs(str(tmp_path), now, 60.0) == [str(tmp_path / "old")]
    assert sorted(expired_task_dirs(str(tmp_path), now, 5.0)) == [
        str(tmp_path / "old"), str(tmp_path / "recent")]
    assert expired_task_dirs(str(tmp_path / "missing"), now, 5.0) == []
    assert remove_task_dir(str(tmp_path / "old")) and not (tmp_path / "old").exists()
    assert (tmp_path / "running" / "sandbox" / ".logs" / "stdout").exists()


def test_a_finished_tasks_directory_goes_after_the_delay(tmp_path: Path) -> None:
    with running(tmp_path, agent_args=("--sandbox-gc-hours", "0.0005")) as cluster:  # 1.8 s
        key = cluster.create("gc", f"""
            task = Task(name = 'gc', processes = [Process(name = 'p', cmdline = 'echo hi')],
                        {RES})
            """)
        tasks = cluster.wait_tasks(key, lambda ts: ts and ts[0]["status"] == "FINISHED",
                                   what="FINISHED")
        tdir = cluster.task_dir(tasks[0]["task_id"])
        wait_for(lambda: (tdir / "done").exists(), 20, "the end acknowledged (done)")
        assert (tdir / "sandbox" / ".logs" / "p" / "0" / "stdout").read_text() == "hi\n"
        wait_for(lambda: not tdir.exists(), 30, "the directory removed")
        wait_for(lambda: cluster.agent_state().get("counters", {}).get("sandboxes_removed", 0) >= 1,
                 10,
                 "the removal counted")
