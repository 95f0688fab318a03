"""Helpers for the executor tests: task JSON builders, a status recorder, runner drivers."""

from __future__ import annotations

import dataclasses
import json
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aurora.executor.checkpoint import ProcessRun, ProcessState
from aurora.executor.clock import Clock, SystemClock
from aurora.executor.executor import ExecutorOptions, TaskExecution, run_task
from aurora.executor.runner import RunnerOptions, TaskRunner
from aurora.executor.sandbox import SandboxLayout
from aurora.executor.status import StatusUpdate
from aurora.executor.task import LaunchInfo, resolve_task
from aurora.model.status import ScheduleStatus


def proc(name: str, cmdline: str, **fields: Any) -> dict[str, Any]:
    """A process dict; min_duration defaults to 0 so retries are immediate in tests."""
    return {"name": name, "cmdline": cmdline, "min_duration": 0, **fields}


def job(*processes: dict[str, Any], order: list[list[str]] | None = None,
        health: dict[str, Any] | None = None, lifecycle: dict[str, Any] | None = None,
        **task_fields: Any) -> bytes:
    """MesosJob JSON the way Aurora's client sends it in executorConfig.data."""
    task: dict[str, Any] = {"name": "task", "processes": list(processes),
                            "constraints": [{"order": o} for o in (order or [])],
                            "finalization_wait": 2, **task_fields}
    blob: dict[str, Any] = {"role": "www", "environment": "test", "name": "job",
                            "cluster": "test", "task": task}
    if health is not None:
        blob["health_check_config"] = health
    if lifecycle is not None:
        blob["lifecycle"] = lifecycle
    return json.dumps(blob).encode()


class Recorder:
    def __init__(self) -> None:
        self.updates: list[StatusUpdate] = []
        self.hooks: list[Callable[[StatusUpdate], object]] = []

    def __call__(self, update: StatusUpdate) -> None:
        self.updates.append(update)
        for hook in self.hooks:
            hook(update)

    def when(self, state: ScheduleStatus, action: Callable[[], object]) -> None:
        """Call ``action`` each time ``state`` is reported."""
        self.hooks.append(lambda update: action() if update.state == state else None)

    @property
    def states(self) -> list[str]:
        return [u.state.name for u in self.updates]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch_info(task_id: str = "www-test-job-0-abc", **fields: Any) -> LaunchInfo:
    return LaunchInfo(task_id=task_id, hostname="host1", **fields)


# How the runner starts processes in the tests that run both ways (the ``run_mode`` fixture):
# through a coordinator per run, or directly as its own children (what agents' executors do).
MODE = {"direct": False}


def with_mode(options: ExecutorOptions | None) -> ExecutorOptions:
    options = options or ExecutorOptions()
    return dataclasses.replace(options, runner=dataclasses.replace(options.runner,
                                                                   direct=MODE["direct"]))


def execute(sandbox: Path, data: bytes, *, ports: dict[str, int] | None = None,
            instance: int = 0, clock: Clock | None = None,
            options: ExecutorOptions | None = None,
            recorder: Recorder | None = None) -> tuple[StatusUpdate, Recorder]:
    recorder = recorder or Recorder()
    launch = launch_info(instance=instance, ports=ports or {})
    update = run_task(data, launch, str(sandbox), recorder, clock=clock,
                      options=with_mode(options))
    return update, recorder


def make_execution(sandbox: Path, data: bytes, *, ports: dict[str, int] | None = None,
                   clock: Clock | None = None, options: ExecutorOptions | None = None,
                   recorder: Recorder | None = None) -> TaskExecution:
    clock = clock or SystemClock()
    options = with_mode(options)
    task = resolve_task(data, launch_info(ports=ports or {}))
    layout = SandboxLayout.create(str(sandbox))
    runner = TaskRunner(task, layout, task_data=data, clock=clock, options=options.runner)
    return TaskExecution(runner, recorder or Recorder(), clock=clock, options=options)


def runs(sandbox: Path, name: str) -> list[ProcessRun]:
    from aurora.executor.checkpoint import replay

    return replay(str(sandbox / ".thermos" / "runner.ckpt")).processes.get(name, [])


def states(sandbox: Path, name: str) -> list[ProcessState]:
    return [r.state for r in runs(sandbox, name)]


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition"
             ) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fp:
            data = fp.read()
    except OSError:
        return False
    return data[data.rfind(b")") + 2:].split()[0] != b"Z"


FAST = ExecutorOptions(runner=RunnerOptions(fsync="never"))


def read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


__all__ = ["FAST", "MODE", "Recorder", "execute", "free_port", "job", "launch_info",
           "make_execution", "pid_alive", "proc", "read", "runs", "states", "wait_for"]
