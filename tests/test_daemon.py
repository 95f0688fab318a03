"""aurora-scheduler as a process: serves, shuts down cleanly on SIGTERM, refuses a second
scheduler on its data dir, and comes back with its state."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(data: Path, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "aurora.scheduler.main", "--cluster", "test", "--data-dir",
         str(data), "--http-port", str(port), "--backend", "sim", "--sim-hosts", "8",
         "--no-fsync"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def get(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        body = r.read().decode()
        return json.loads(body) if r.headers.get_content_type() == "application/json" else body


def wait_healthy(proc: subprocess.Popen[str], port: int) -> None:
    deadline = time.time() + 20
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"scheduler exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if get(port, "/health") == "OK":
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("scheduler did not become healthy")


def test_serves_stops_cleanly_and_refuses_a_second(tmp_path: Path) -> None:
    port = free_port()
    proc = start(tmp_path, port)
    try:
        wait_healthy(proc, port)
        assert get(port, "/state")["cluster"] == "test"
        assert len(get(port, "/agents")) == 8
        assert "aurora_task_store_tasks" in get(port, "/metrics")
        second = subprocess.run(
            [sys.executable, "-m", "aurora.scheduler.main", "--cluster", "test",
             "--data-dir", str(tmp_path), "--http-port", str(free_port())],
            capture_output=True, text=True, timeout=30, check=False)
        assert second.returncode == 2
        assert "is in use by another aurora-scheduler (pid" in second.stderr
        assert str(proc.pid) in second.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "stopped cleanly" in err


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")
def test_unknown_backend_is_a_clear_error(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "aurora.scheduler.main", "--cluster", "t", "--data-dir",
         str(tmp_path), "--backend", "mesos", "--http-port", str(free_port())],
        capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode != 0 and "backend 'mesos' is not available yet" in out.stderr


def test_local_backend_refuses_plaintext_off_loopback(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "aurora.scheduler.main", "--cluster", "t", "--data-dir",
         str(tmp_path), "--backend", "local", "--agent-address", "tcp://0.0.0.0:7810",
         "--http-port", str(free_port())],
        capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "plaintext is allowed on loopback only" in lines[0]


@pytest.mark.parametrize("which", ["http", "agents"])
def test_a_taken_port_is_one_line(tmp_path: Path, which: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        http = busy if which == "http" else free_port()
        agents = free_port() if which == "http" else busy
        out = subprocess.run(
            [sys.executable, "-m", "aurora.scheduler.main", "--cluster", "t", "--data-dir",
             str(tmp_path), "--backend", "local", "--agent-address",
             f"tcp://127.0.0.1:{agents}", "--http-port", str(http), "--log-format", "text",
             "--log-level", "ERROR"],
            capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and str(busy) in lines[0] and "Traceback" not in out.stderr, out.stderr
