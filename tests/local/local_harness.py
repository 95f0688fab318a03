"""A real local cluster for tests: aurora-scheduler --backend local and aurora-agent processes,
with short heartbeats and timeouts, driven through the Thrift API like the CLI does."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from aurora.api.convert import job_configuration_to_thrift
from aurora.client.api import SchedulerClient
from aurora.client.cli import fetch_tasks, job_key_thrift, task_query, task_row
from aurora.config import load
from aurora.model.jobkey import JobKey

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(fn: Callable[[], T], timeout: float = 20.0, what: str = "condition",
             interval: float = 0.1) -> T:
    deadline = time.time() + timeout
    last: Any = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


class LocalCluster:
    def __init__(self, root: Path, *, agents: int = 1, cpus: float = 4, ram_mb: int = 4096,
                 attributes: tuple[str, ...] = (), agent_timeout: float = 1.5,
                 agent_args: tuple[str, ...] = ()) -> None:
        self.root = root
        self.data = root / "data"
        self.work = root / "work"
        self.http_port = free_port()
        self.agent_port = free_port()
        self.agents = agents
        self.cpus, self.ram_mb, self.attributes = cpus, ram_mb, attributes
        self.agent_timeout = agent_timeout
        self.agent_args = agent_args
        self.scheduler: subprocess.Popen[bytes] | None = None
        self.agent: subprocess.Popen[bytes] | None = None
        self.client = SchedulerClient(f"http://127.0.0.1:{self.http_port}/api", timeout=10)
        self._logs: list[Any] = []

    # ------------------------------------------------------------------ processes
    def _log(self, name: str) -> Any:
        fp = open(self.root / name, "ab")
        self._logs.append(fp)
        return fp

    def start_scheduler(self) -> None:
        cmd = [sys.executable, "-m", "aurora.scheduler.main", "--cluster", "local",
               "--data-dir", str(self.data), "--http-port", str(self.http_port),
               "--backend", "local", "--agent-address", f"tcp://127.0.0.1:{self.agent_port}",
               "--agent-heartbeat", "0.2", "--agent-timeout", str(self.agent_timeout),
               "--initial-flapping-task-delay", "0.5", "--no-fsync", "--log-format", "text"]
        log = self._log("scheduler.log")
        self.scheduler = subprocess.Popen(cmd, stdout=log, stderr=log)
        wait_for(self._healthy, 20, "the scheduler to serve")

    def _healthy(self) -> bool:
        if self.scheduler is not None and self.scheduler.poll() is not None:
            raise AssertionError(f"scheduler exited:\n{self.tail('scheduler.log')}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/health",
                                        timeout=2) as r:
                return r.read() == b"OK"
        except OSError:
            return False

    def start_agent(self, wait: bool = True) -> None:
        cmd = [sys.executable, "-m", "aurora.agent.main", "--scheduler",
               f"tcp://127.0.0.1:{self.agent_port}", "--work-dir", str(self.work),
               "--agents", str(self.agents), "--cpus", str(self.cpus), "--ram-mb",
               str(self.ram_mb), "--disk-mb", "10000", "--heartbeat", "0.2",
               # Task ports below the kernel's ephemeral range (32768-60999 here): a port an
               # outgoing connection holds cannot be bound by a task.
               "--ports", f"{10000 + (os.getpid() % 200) * 100}-"
                          f"{10000 + (os.getpid() % 200) * 100 + 99}"]
        for attr in self.attributes:
            cmd += ["--attribute", attr]
        cmd += list(self.agent_args)
        log = self._log("agent.log")
        self.agent = subprocess.Popen(cmd, stdout=log, stderr=log)
        if wait:
            wait_for(lambda: self.vars().get("agents_connected") == self.agents, 20,
                     "the agents to register")

    def kill_agent(self, sig: int = signal.SIGKILL) -> None:
        assert self.agent is not None
        self.agent.send_signal(sig)
        self.agent.wait(20)

    def kill_scheduler(self, sig: int = signal.SIGKILL) -> None:
        assert self.scheduler is not None
        self.scheduler.send_signal(sig)
        self.scheduler.wait(20)

    def stop(self) -> None:
        for proc in (self.agent, self.scheduler):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for fp in self._logs:
            fp.close()
        # Whatever the tests left running (services, sleeps) dies with its process group.
        for pid_file in self.work.glob("agents/*/tasks/*/executor.pid"):
            try:
                os.killpg(int(pid_file.read_text()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        for state in self.work.glob("agents/*/tasks/*/sandbox/.thermos/runner.ckpt"):
            _kill_runs(state)

    def tail(self, name: str, lines: int = 40) -> str:
        try:
            return "\n".join((self.root / name).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # ------------------------------------------------------------------ API
    def vars(self) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/vars.json",
                                        timeout=2) as r:
                return dict(json.loads(r.read()))
        except OSError:
            return {}

    def create(self, name: str, config: str, *, instances: int = 1, role: str = "www-data",
               service: bool = False, bindings: tuple[str, ...] = (),
               job_extra: str = "") -> JobKey:
        path = self.root / f"{name}.aurora"
        kind = "Service" if service else "Job"
        path.write_text(textwrap.dedent(config) + textwrap.dedent(f"""
            jobs = [{kind}(cluster = 'local', role = '{role}', environment = 'test',
                           name = '{name}', task = task, instances = {instances}
                           {job_extra})]
            """))
        key = JobKey(role, "test", name)
        loaded = load(str(path), f"local/{role}/test/{name}", list(bindings))
        self.client.call("createJob",
                         description=job_configuration_to_thrift(loaded.job_configuration))
        return key

    def tasks(self, key: JobKey) -> list[dict[str, Any]]:
        return [task_row(t) for t in fetch_tasks(self.client, task_query(key))]

    def wait_tasks(self, key: JobKey, pred: Callable[[list[dict[str, Any]]], bool],
                   timeout: float = 30.0, what: str = "tasks") -> list[dict[str, Any]]:
        last: list[dict[str, Any]] = []

        def check() -> bool:
            nonlocal last
            last = self.tasks(key)
            return pred(last)

        try:
            wait_for(check, timeout, what, 0.2)
        except AssertionError:
            summary = [(t["instance"], t["status"], t["events"][-1]["message"] if t["events"]
                        else None) for t in last]
            raise AssertionError(f"timed out waiting for {what}: {summary}\n"
                                 f"{self.tail('agent.log')}") from None
        return last

    def kill_job(self, key: JobKey) -> None:
        self.client.call("killTasks", job=job_key_thrift(key), instances=None, message="test")

    def task_dir(self, task_id: str) -> Path:
        found = list(self.work.glob(f"agents/*/tasks/{task_id}"))
        assert found, f"no directory for task {task_id}"
        return found[0]

    def agent_state(self) -> dict[str, Any]:
        try:
            return dict(json.loads((self.work / "agent-state.json").read_text()))
        except (OSError, ValueError):
            return {}


def _kill_runs(checkpoint: Path) -> None:
    from aurora.agent.tasks import orphan_cleanup
    from aurora.executor.checkpoint import CheckpointError, replay

    try:
        orphan_cleanup(replay(str(checkpoint)))
    except (CheckpointError, OSError):
        pass


def statuses(tasks: list[dict[str, Any]]) -> list[str]:
    return sorted(t["status"] for t in tasks)


def by_instance(tasks: list[dict[str, Any]], instance: int) -> list[dict[str, Any]]:
    return sorted((t for t in tasks if t["instance"] == instance),
                  key=lambda t: t["events"][0]["timestamp"] if t["events"] else 0)


def alive(pid: int) -> bool:
    """PID names a process that has not exited (zombies count as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fp:
            return fp.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@contextmanager
def running(root: Path, **kwargs: Any) -> Iterator[LocalCluster]:
    """A LocalCluster (keyword arguments as its constructor's), started, stopped at the end."""
    c = LocalCluster(root, **kwargs)
    try:
        c.start_scheduler()
        c.start_agent()
        yield c
    finally:
        c.stop()
