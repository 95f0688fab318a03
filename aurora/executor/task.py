"""The task as the runner sees it: a :class:`~aurora.executor.config.JobConfig` bound to its launch.

At launch the executor knows what the scheduler assigned: the task id, the instance number, the
agent's hostname and the named ports. :func:`resolve_task` combines them with the job config:
ports are resolved through the announcer's portmap aliases (``PortResolver``), every template is
rendered (process command lines, the task name, the shell health command) and the task is
validated (process names, order constraints, daemon/ephemeral ordering rules) so a bad task fails
before anything runs, with a message saying what is wrong.
"""

from __future__ import annotations

import getpass
import re
import socket
from typing import Any

import msgspec

from aurora.executor.config import (
    ConfigError,
    HttpHealthChecker,
    JobConfig,
    LoggerConfig,
    parse_executor_data,
)
from aurora.executor.planner import InvalidSchedule, TaskPlanner
from aurora.executor.template import TemplateError, render

__all__ = [
    "HealthSpec",
    "InvalidTask",
    "LaunchInfo",
    "LifecycleSpec",
    "ResolvedProcess",
    "ResolvedTask",
    "resolve_ports",
    "resolve_task",
]

# Thermos' VALID_PROCESS_NAME_RE: not starting with '.' or '/', no '/' anywhere.
_PROCESS_NAME = re.compile(r"[^./][^/]*")


class InvalidTask(ValueError):
    """The task cannot run as described (bad config, unbound template, invalid plan)."""


class LaunchInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What the scheduler assigned to this task (AssignedTask's taskId, instanceId, ports...)."""

    task_id: str
    instance: int = 0
    hostname: str = msgspec.field(default_factory=socket.gethostname)
    ports: dict[str, int] = msgspec.field(default_factory=dict)
    user: str = msgspec.field(default_factory=getpass.getuser)

    @classmethod
    def from_assigned_task(cls, assigned: object) -> LaunchInfo:
        """From an :class:`aurora.model.AssignedTask`."""
        from aurora.model import AssignedTask

        if not isinstance(assigned, AssignedTask):
            raise TypeError(f"expected an AssignedTask, got {type(assigned).__name__}")
        return cls(
            task_id=assigned.task_id,
            instance=assigned.instance_id,
            hostname=assigned.slave_host or socket.gethostname(),
            ports=dict(assigned.assigned_ports),
        )


class ResolvedProcess(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    cmdline: str
    max_failures: int = 1
    daemon: bool = False
    ephemeral: bool = False
    min_duration: float = 5.0
    final: bool = False
    logger: LoggerConfig | None = None


class HealthSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Which health check runs: ``kind`` is "http" (GET on ``port``) or "shell"."""

    kind: str
    port: int | None = None
    endpoint: str = "/health"
    expected_response: str = "ok"
    expected_response_code: int = 0
    shell_command: str | None = None
    initial_interval_secs: float = 15.0
    interval_secs: float = 10.0
    max_consecutive_failures: int = 0
    min_consecutive_successes: int = 1
    timeout_secs: float = 1.0


class LifecycleSpec(msgspec.Struct, frozen=True, kw_only=True):
    """The HTTP kill sequence: POST each endpoint to ``port``, then wait its seconds."""

    port: int
    endpoints: tuple[tuple[str, float], ...]


class ResolvedTask(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str
    name: str
    processes: tuple[ResolvedProcess, ...]
    constraints: tuple[tuple[str, ...], ...] = ()
    max_failures: int = 1
    max_concurrency: int = 0
    finalization_wait: float = 30.0
    instance: int = 0
    hostname: str = ""
    user: str = ""
    ports: dict[str, int] = msgspec.field(default_factory=dict)
    health: HealthSpec | None = None
    lifecycle: LifecycleSpec | None = None

    def process(self, name: str) -> ResolvedProcess:
        for proc in self.processes:
            if proc.name == name:
                return proc
        raise KeyError(name)


def resolve_ports(job: JobConfig, assigned: dict[str, int]) -> dict[str, int]:
    """Assigned ports plus the announcer's aliases, dereferenced; unresolvable names dropped."""
    portmap: dict[str, str | int] = {}
    if job.announce is not None:
        scope = {"primary_port": job.announce.primary_port}
        for name, value in job.announce.portmap.items():
            portmap[name] = render(value, scope, "announce.portmap") if isinstance(
                value, str) else value
    portmap.update(assigned)
    for name, value in list(portmap.items()):
        if isinstance(value, str) and value.isdigit():
            portmap[name] = int(value)
    resolved: dict[str, int] = {}
    for name in portmap:
        seen: set[str] = set()
        target: str | int = portmap[name]
        while isinstance(target, str) and target in portmap:
            if target in seen:
                raise InvalidTask(f"Found cycle in portmap at {name!r}")
            seen.add(target)
            target = portmap[target]
        if isinstance(target, int):
            resolved[name] = target
    return resolved


def _namespace(job: JobConfig, launch: LaunchInfo, ports: dict[str, int]) -> dict[str, object]:
    names: dict[str, object] = {
        "mesos": {"instance": launch.instance, "hostname": launch.hostname},
        "thermos": {"ports": dict(ports), "task_id": launch.task_id, "user": launch.user},
        "processes": [{"name": p.name} for p in job.task.processes],
        "instance": launch.instance,
    }
    for key in ("role", "environment", "cluster"):
        value = getattr(job, key)
        if value is not None:
            names[key] = value
    return names


def _validate(job: JobConfig) -> None:
    processes = job.task.processes
    if not processes:
        raise InvalidTask("Task has no processes")
    seen: set[str] = set()
    for proc in processes:
        if not _PROCESS_NAME.fullmatch(proc.name):
            raise InvalidTask(f"Task has invalid process: Invalid process name: {proc.name}")
        if proc.name in seen:
            raise InvalidTask(f"Task has duplicate process name: {proc.name}")
        seen.add(proc.name)
        if proc.max_failures < 0:
            raise InvalidTask(f"Process {proc.name}: max_failures must be >= 0")
        if proc.min_duration < 0:
            raise InvalidTask(f"Process {proc.name}: min_duration must be >= 0")
    for constraint in job.task.constraints:
        for name in constraint.order:
            if name not in seen:
                raise InvalidTask(f"Task has invalid plan: order names unknown process {name!r}")
    if job.task.max_concurrency < 0 or job.task.max_failures < 0:
        raise InvalidTask("Task max_concurrency and max_failures must be >= 0")
    if job.task.finalization_wait < 0:
        raise InvalidTask("Task finalization_wait must be >= 0")


def _health(
    job: JobConfig, ports: dict[str, int], namespace: dict[str, object]
) -> HealthSpec | None:
    cfg = job.health_check_config
    common: dict[str, Any] = {
        "initial_interval_secs": cfg.initial_interval_secs,
        "interval_secs": cfg.interval_secs,
        "max_consecutive_failures": cfg.max_consecutive_failures,
        "min_consecutive_successes": cfg.min_consecutive_successes,
        "timeout_secs": cfg.timeout_secs,
    }
    if cfg.interval_secs <= 0:
        raise InvalidTask("health_check_config.interval_secs must be > 0")
    checker = cfg.health_checker
    if checker.shell is not None:
        command = render(checker.shell.shell_command, namespace, "health check shell_command")
        return HealthSpec(kind="shell", shell_command=command, **common)
    if "health" not in ports:
        return None  # Aurora's NoopHealthChecker: no health port, no checks.
    http = checker.http or HttpHealthChecker()
    return HealthSpec(
        kind="http",
        port=ports["health"],
        endpoint=http.endpoint,
        expected_response=http.expected_response,
        expected_response_code=http.expected_response_code,
        **common,
    )


def _lifecycle(job: JobConfig, ports: dict[str, int]) -> LifecycleSpec | None:
    http = job.lifecycle.http
    if http is None or http.port not in ports:
        return None
    return LifecycleSpec(
        port=ports[http.port],
        endpoints=(
            (http.graceful_shutdown_endpoint, http.graceful_shutdown_wait_secs),
            (http.shutdown_endpoint, http.shutdown_wait_secs),
        ),
    )


def resolve_task(job: JobConfig | bytes | str, launch: LaunchInfo) -> ResolvedTask:
    """Bind ``job`` to ``launch``: render templates, resolve ports, validate. Raises InvalidTask."""
    try:
        if not isinstance(job, JobConfig):
            job = parse_executor_data(job)
        _validate(job)
        ports = resolve_ports(job, launch.ports)
        namespace = _namespace(job, launch, ports)
        processes = tuple(
            ResolvedProcess(
                name=p.name,
                cmdline=render(p.cmdline, namespace, f"process {p.name!r} cmdline"),
                max_failures=p.max_failures,
                daemon=p.daemon,
                ephemeral=p.ephemeral,
                min_duration=p.min_duration,
                final=p.final,
                logger=p.logger,
            )
            for p in job.task.processes
        )
        name = render(job.task.name or job.task.processes[0].name, namespace, "task name")
        resolved = ResolvedTask(
            task_id=launch.task_id,
            name=name,
            processes=processes,
            constraints=tuple(tuple(c.order) for c in job.task.constraints),
            max_failures=job.task.max_failures,
            max_concurrency=job.task.max_concurrency,
            finalization_wait=job.task.finalization_wait,
            instance=launch.instance,
            hostname=launch.hostname,
            user=launch.user,
            ports=ports,
            health=_health(job, ports, namespace),
            lifecycle=_lifecycle(job, ports),
        )
        TaskPlanner(resolved.processes, resolved.constraints, final=False)
        TaskPlanner(resolved.processes, resolved.constraints, final=True)
    except InvalidSchedule as e:
        raise InvalidTask(f"Task has invalid plan: {e}") from e
    except (ConfigError, TemplateError) as e:
        raise InvalidTask(str(e)) from e
    return resolved
