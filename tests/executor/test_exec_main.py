"""The aurora-executor command: one task, status updates as JSON lines, signals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from exec_helpers import job, proc, read, wait_for

from aurora.executor.main import main


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "aurora.executor.main", *args]


def test_runs_a_task_and_prints_status_lines(tmp_path: Path) -> None:
    task = tmp_path / "task.json"
    cmdline = "echo hi from {{mesos.instance}} on {{thermos.ports[http]}}"
    task.write_bytes(job(proc("hello", cmdline)))
    out = subprocess.run(
        command("--sandbox", str(tmp_path / "sb"), "--task-json", str(task), "--task-id", "t-1",
                "--instance", "2", "--port", "http:8080", "--fsync", "never"),
        capture_output=True, check=False, timeout=30)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [line["state"] for line in lines] == ["STARTING", "RUNNING", "FINISHED"]
    assert all(line["task_id"] == "t-1" for line in lines)
    assert read(tmp_path / "sb" / ".logs" / "hello" / "0" / "stdout") == "hi from 2 on 8080\n"


def test_sigterm_starts_the_kill_sequence(tmp_path: Path) -> None:
    task = tmp_path / "task.json"
    task.write_bytes(job(proc("main", "touch started; sleep 30"),
                         proc("final", "touch finalized", final=True)))
    sb = tmp_path / "sb"
    child = subprocess.Popen(command("--sandbox", str(sb), "--task-json", str(task),
                                     "--task-id", "t-2", "--fsync", "never"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: (sb / "started").exists(), timeout=10, what="process start")
        child.send_signal(signal.SIGTERM)
        stdout, stderr = child.communicate(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 1, stderr
    last = json.loads(stdout.splitlines()[-1])
    assert last["state"] == "KILLED" and last["message"] == "Told to shut down executor."
    assert (sb / "finalized").exists()


def test_recover_option_and_argument_errors(tmp_path: Path) -> None:
    assert main(["--sandbox", str(tmp_path)]) == 2
    assert main(["--recover"]) == 2
    assert main(["--recover", "--sandbox", str(tmp_path / "nothing")]) == 2
