"""The task description the executor receives: Aurora's ``executorConfig.data`` JSON.

Aurora's client sends the job's MesosJob (its pystachio schema, with ``update_config`` and
``instances`` erased) serialised as JSON; older clients sent a MesosTaskInstance, recognised by
its ``instance`` key (``task_info.mesos_task_instance_from_assigned_task``). Both are decoded into
:class:`JobConfig`. Field names and defaults follow ``thermos/config/schema_base.py`` and
``aurora/config/schema/base.py``; unknown keys (cron settings, metadata, ...) are ignored.
Strings may still hold ``{{...}}`` templates (``{{thermos.ports[http]}}``, ``{{mesos.instance}}``):
those are resolved at launch by :mod:`aurora.executor.task`. Integer-second settings are read as
floats so sub-second values work in tests.

A bare Thermos task (a dict with ``processes``) is accepted too, for running tasks by hand.
"""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = [
    "AnnouncerConfig",
    "ConfigError",
    "HealthCheckConfig",
    "HealthCheckerConfig",
    "HttpHealthChecker",
    "HttpLifecycleConfig",
    "JobConfig",
    "LifecycleConfig",
    "LoggerConfig",
    "OrderConstraint",
    "ProcessConfig",
    "ResourcesConfig",
    "RotatePolicy",
    "ShellHealthChecker",
    "ThermosTaskConfig",
    "parse_executor_data",
]

MB = 1024 * 1024


class ConfigError(ValueError):
    """The executor data is not a task description we can run; the message says why."""


class _Base(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    pass


class RotatePolicy(_Base, frozen=True):
    log_size: int = 100 * MB
    backups: int = 5


class LoggerConfig(_Base, frozen=True):
    destination: Literal["file", "console", "both", "none"] = "file"
    mode: Literal["standard", "rotate"] = "standard"
    rotate: RotatePolicy | None = None


class ResourcesConfig(_Base, frozen=True):
    cpu: float = 0.0
    ram: int = 0
    disk: int = 0
    gpu: int = 0


class ProcessConfig(_Base, frozen=True):
    name: str
    cmdline: str
    max_failures: int = 1
    daemon: bool = False
    ephemeral: bool = False
    min_duration: float = 5.0
    final: bool = False
    logger: LoggerConfig | None = None
    resources: ResourcesConfig | None = None


class OrderConstraint(_Base, frozen=True):
    order: list[str] = msgspec.field(default_factory=list)


class ThermosTaskConfig(_Base, frozen=True):
    name: str | None = None
    processes: list[ProcessConfig] = msgspec.field(default_factory=list)
    constraints: list[OrderConstraint] = msgspec.field(default_factory=list)
    resources: ResourcesConfig | None = None
    max_failures: int = 1
    max_concurrency: int = 0
    finalization_wait: float = 30.0
    user: str | None = None


class HttpHealthChecker(_Base, frozen=True):
    endpoint: str = "/health"
    expected_response: str = "ok"
    expected_response_code: int = 0


class ShellHealthChecker(_Base, frozen=True):
    shell_command: str


class HealthCheckerConfig(_Base, frozen=True):
    http: HttpHealthChecker | None = None
    shell: ShellHealthChecker | None = None


def _default_checker() -> HealthCheckerConfig:
    return HealthCheckerConfig(http=HttpHealthChecker())


class HealthCheckConfig(_Base, frozen=True):
    health_checker: HealthCheckerConfig = msgspec.field(default_factory=_default_checker)
    initial_interval_secs: float = 15.0
    interval_secs: float = 10.0
    max_consecutive_failures: int = 0
    min_consecutive_successes: int = 1
    timeout_secs: float = 1.0


class HttpLifecycleConfig(_Base, frozen=True):
    port: str = "health"
    graceful_shutdown_endpoint: str = "/quitquitquit"
    shutdown_endpoint: str = "/abortabortabort"
    graceful_shutdown_wait_secs: float = 5.0
    shutdown_wait_secs: float = 5.0


class LifecycleConfig(_Base, frozen=True):
    http: HttpLifecycleConfig | None = None


def _default_lifecycle() -> LifecycleConfig:
    return LifecycleConfig(http=HttpLifecycleConfig())


class AnnouncerConfig(_Base, frozen=True):
    primary_port: str = "http"
    portmap: dict[str, str | int] = msgspec.field(
        default_factory=lambda: {"aurora": "{{primary_port}}"}
    )
    zk_path: str | None = None


class JobConfig(_Base, frozen=True):
    """A MesosJob (or MesosTaskInstance) as far as the executor cares."""

    task: ThermosTaskConfig
    role: str | None = None
    environment: str | None = None
    name: str | None = None
    cluster: str | None = None
    instance: int | None = None  # only in the MesosTaskInstance form
    health_check_config: HealthCheckConfig = msgspec.field(default_factory=HealthCheckConfig)
    lifecycle: LifecycleConfig = msgspec.field(default_factory=_default_lifecycle)
    announce: AnnouncerConfig | None = None


_job_decoder = msgspec.json.Decoder(JobConfig, strict=False)
_task_decoder = msgspec.json.Decoder(ThermosTaskConfig, strict=False)


def parse_executor_data(data: bytes | str) -> JobConfig:
    """Decode ``executorConfig.data`` (or a bare Thermos task) into a :class:`JobConfig`."""
    raw = data.encode() if isinstance(data, str) else data
    if not raw.strip():
        raise ConfigError("Task did not have a thermos config!")
    try:
        blob = msgspec.json.decode(raw)
    except msgspec.DecodeError as e:
        raise ConfigError(f"Could not deserialize thermos config: {e}") from e
    if not isinstance(blob, dict):
        raise ConfigError("Could not deserialize thermos config: expected a JSON object")
    try:
        if "task" in blob:
            return _job_decoder.decode(raw)
        if "processes" in blob:
            return JobConfig(task=_task_decoder.decode(raw))
    except msgspec.ValidationError as e:
        raise ConfigError(f"Invalid thermos config: {e}") from e
    raise ConfigError("Invalid thermos config: expected a job with a 'task' or a task with "
                      "'processes'")


def encode_job(job: JobConfig) -> bytes:
    """JSON for a job config (what the runner stores in its checkpoint directory)."""
    return msgspec.json.encode(job)
