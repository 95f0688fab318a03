"""The configuration DSL: the pystachio structs and helpers a ``.aurora`` file sees.

Written from Aurora 0.22's documented schema (``docs/reference/configuration.md``), checked
against its source (thermos ``schema_base``/``schema_helpers``, aurora ``config/schema/base``):
the same struct names, fields, types and defaults, so a file written for Aurora's client loads
here, and the executor data built from it is what Aurora's executor expects. Where the docs and
the source disagree the source is followed (see ``aurora.config`` for the list).

Everything public here, together with pystachio's own names, is the namespace a ``.aurora``
file runs in (see :data:`DSL_NAMES`).
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise
from typing import Any

import pystachio
from pystachio import (
    Boolean,
    Choice,
    Default,
    Empty,
    Enum,
    Float,
    Integer,
    List,
    Map,
    Required,
    String,
    Struct,
)

from aurora.model.task import AURORA_EXECUTOR_NAME

# ------------------------------------------------------------------------------------ units

#: Sizes are written in bytes: ``ram = 512 * MB``.
BYTES = 1
KB = 1024 * BYTES
MB = 1024 * KB
GB = 1024 * MB
TB = 1024 * GB

# ---------------------------------------------------------------------------------- thermos


class ThermosContext(Struct):
    """``{{thermos.*}}``: filled in by the executor on the host."""

    ports = Map(String, Integer)
    task_id = String
    user = String


class Resources(Struct):
    """CPU cores, RAM and disk in bytes, GPUs."""

    cpu = Required(Float)
    ram = Required(Integer)
    disk = Required(Integer)
    gpu = Default(Integer, 0)


class Constraint(Struct):
    """A process ordering: the processes named run one after another."""

    order = List(String)


class RotatePolicy(Struct):
    log_size = Default(Integer, 100 * MB)
    backups = Default(Integer, 5)


LoggerDestination = Enum("file", "console", "both", "none")
LoggerMode = Enum("standard", "rotate")


class Logger(Struct):
    destination = Default(LoggerDestination, LoggerDestination("file"))
    mode = Default(LoggerMode, LoggerMode("standard"))
    rotate = RotatePolicy


class Process(Struct):
    """One command line run (and re-run) by Thermos."""

    cmdline = Required(String)
    name = Required(String)
    resources = Resources  # reserved by Thermos, unused
    max_failures = Default(Integer, 1)
    daemon = Default(Boolean, False)
    ephemeral = Default(Boolean, False)
    min_duration = Default(Integer, 5)
    final = Default(Boolean, False)
    logger = Default(Logger, Empty)


class Task(Struct):
    """Processes run together in one sandbox, with their ordering and resources."""

    name = Default(String, "{{processes[0].name}}")
    processes = List(Process)
    constraints = Default(List(Constraint), [])
    resources = Resources
    max_failures = Default(Integer, 1)
    max_concurrency = Default(Integer, 0)
    finalization_wait = Default(Integer, 30)
    user = String


# ------------------------------------------------------------------------------------ aurora


class MesosContext(Struct):
    """``{{mesos.*}}``: filled in by the executor for each instance."""

    instance = Required(Integer)
    hostname = Required(String)


class QueueUpdateStrategy(Struct):
    batch_size = Default(Integer, 1)


class BatchUpdateStrategy(Struct):
    batch_size = Default(Integer, 1)
    autopause_after_batch = Default(Boolean, False)


class VariableBatchUpdateStrategy(Struct):
    batch_sizes = Required(List(Integer))
    autopause_after_batch = Default(Boolean, False)


class UpdateConfig(Struct):
    batch_size = Default(Integer, 1)
    watch_secs = Default(Integer, 45)
    max_per_shard_failures = Default(Integer, 0)
    max_total_failures = Default(Integer, 0)
    rollback_on_failure = Default(Boolean, True)
    wait_for_batch_completion = Default(Boolean, False)
    pulse_interval_secs = Integer
    sla_aware = Default(Boolean, False)
    update_strategy = Choice([QueueUpdateStrategy, BatchUpdateStrategy,
                              VariableBatchUpdateStrategy])


class HttpHealthChecker(Struct):
    endpoint = Default(String, "/health")
    expected_response = Default(String, "ok")
    expected_response_code = Default(Integer, 0)


class ShellHealthChecker(Struct):
    shell_command = Required(String)


class HealthCheckerConfig(Struct):
    http = HttpHealthChecker
    shell = ShellHealthChecker


DefaultHealthChecker = HealthCheckerConfig(http=HttpHealthChecker())


class HealthCheckConfig(Struct):
    health_checker = Default(HealthCheckerConfig, DefaultHealthChecker)
    initial_interval_secs = Default(Float, 15.0)
    interval_secs = Default(Float, 10.0)
    max_consecutive_failures = Default(Integer, 0)
    min_consecutive_successes = Default(Integer, 1)
    timeout_secs = Default(Float, 1.0)


class HttpLifecycleConfig(Struct):
    """How the executor asks the task to stop: POSTs to endpoints on a named port."""

    port = Default(String, "health")
    graceful_shutdown_endpoint = Default(String, "/quitquitquit")
    shutdown_endpoint = Default(String, "/abortabortabort")
    graceful_shutdown_wait_secs = Default(Integer, 5)
    shutdown_wait_secs = Default(Integer, 5)


class LifecycleConfig(Struct):
    http = HttpLifecycleConfig


DisableLifecycle = LifecycleConfig()
DefaultLifecycleConfig = LifecycleConfig(http=HttpLifecycleConfig())


class Announcer(Struct):
    """ServerSet announcement; ``portmap`` aliases port names to each other or to numbers."""

    primary_port = Default(String, "http")
    portmap = Default(Map(String, String), {"aurora": "{{primary_port}}"})
    zk_path = String


class MesosTaskInstance(Struct):
    """One instance as the executor sees it (the executor builds it from the job)."""

    task = Required(Task)
    instance = Required(Integer)
    role = Required(String)
    announce = Announcer
    environment = Required(String)
    health_check_config = Default(HealthCheckConfig, HealthCheckConfig())
    lifecycle = LifecycleConfig


class Parameter(Struct):
    name = Required(String)
    value = Required(String)


class Docker(Struct):
    image = Required(String)
    parameters = Default(List(Parameter), [])


class AppcImage(Struct):
    name = Required(String)
    image_id = Required(String)


class DockerImage(Struct):
    name = Required(String)
    tag = Required(String)


Mode = Enum("RO", "RW")


class Volume(Struct):
    container_path = Required(String)
    host_path = Required(String)
    mode = Required(Mode)


class Mesos(Struct):
    image = Choice([AppcImage, DockerImage])
    volumes = Default(List(Volume), [])


class Container(Struct):
    """Deprecated wrapper: set ``container = Docker(...)`` directly."""

    docker = Docker


class PartitionPolicy(Struct):
    reschedule = Default(Boolean, True)
    delay_secs = Default(Integer, 0)


class Metadata(Struct):
    key = Required(String)
    value = Required(String)


class ExecutorConfig(Struct):
    name = Default(String, AURORA_EXECUTOR_NAME)
    data = Default(String, "")


class PercentageSlaPolicy(Struct):
    percentage = Required(Float)
    duration_secs = Required(Integer)


class CountSlaPolicy(Struct):
    count = Required(Integer)
    duration_secs = Required(Integer)


class CoordinatorSlaPolicy(Struct):
    coordinator_url = Required(String)
    status_key = Default(String, "drain")


class MesosJob(Struct):
    """A job: a task, how many instances, where, and how to schedule and update it."""

    name = Default(String, "{{task.name}}")
    role = Required(String)
    contact = String
    cluster = Required(String)
    environment = Required(String)
    instances = Default(Integer, 1)
    task = Required(Task)
    announce = Announcer
    tier = String
    cron_schedule = String
    cron_collision_policy = Default(String, "KILL_EXISTING")
    update_config = Default(UpdateConfig, UpdateConfig())
    constraints = Map(String, String)
    metadata = Default(List(Metadata), [])
    service = Default(Boolean, False)
    max_task_failures = Default(Integer, 1)
    production = Default(Boolean, False)
    priority = Default(Integer, 0)
    health_check_config = Default(HealthCheckConfig, HealthCheckConfig())
    lifecycle = Default(LifecycleConfig, DefaultLifecycleConfig)
    task_links = Map(String, String)  # accepted, never sent (Aurora's AURORA-739)
    executor_config = Default(ExecutorConfig, ExecutorConfig())
    enable_hooks = Default(Boolean, False)
    partition_policy = PartitionPolicy
    sla_policy = Choice([CoordinatorSlaPolicy, CountSlaPolicy, PercentageSlaPolicy])
    container = Choice([Container, Docker, Mesos])


Job = MesosJob
Service = Job(service=True)


# ----------------------------------------------------------------------------------- helpers


def _get_or_zero(value: Any) -> Any:
    return 0 if value is Empty else value.get()


class Units:
    """Arithmetic on the parts of tasks (used by ``Tasks.combine`` and ``Tasks.concat``)."""

    @classmethod
    def safe_get(cls, unit: Any) -> Any:
        return _get_or_zero(unit)

    @classmethod
    def optional_resources(cls, resources: Any) -> Resources:
        return Resources() if resources is Empty else resources

    @classmethod
    def _fold(cls, resources: Iterable[Any], pick: Any) -> Resources:
        total = {"cpu": 0, "ram": 0, "disk": 0, "gpu": 0}
        for item in map(cls.optional_resources, resources):
            for field in total:
                total[field] = pick(total[field], _get_or_zero(getattr(item, field)()))
        return Resources(**total)

    @classmethod
    def resources_sum(cls, *resources: Any) -> Resources:
        return cls._fold(resources, lambda a, b: a + b)

    @classmethod
    def resources_max(cls, resources: Iterable[Any]) -> Resources:
        return cls._fold(resources, max)

    @classmethod
    def finalization_wait_sum(cls, waits: Iterable[Any]) -> int:
        return sum(_get_or_zero(w) for w in waits)

    @classmethod
    def finalization_wait_max(cls, waits: Iterable[Any]) -> int:
        return max([0, *(_get_or_zero(w) for w in waits)])

    @staticmethod
    def _distinct(items: Iterable[Any]) -> list[Any]:
        # Aurora merges through a set (arbitrary order); we keep first appearances in order.
        kept: list[Any] = []
        for item in items:
            if item not in kept:
                kept.append(item)
        return kept

    @classmethod
    def processes_merge(cls, tasks: Iterable[Any]) -> list[Any]:
        return cls._distinct(p for task in tasks for p in task.processes())

    @classmethod
    def constraints_merge(cls, tasks: Iterable[Any]) -> list[Any]:
        return cls._distinct(c for task in tasks for c in task.constraints())


class Processes:
    @classmethod
    def _process_name(cls, process: Any) -> Any:
        if isinstance(process, Process):
            return process.name()
        if isinstance(process, str):
            return process
        raise ValueError(f"Unknown value for process order: {process!r}")

    @classmethod
    def order(cls, *processes: Any) -> list[Constraint]:
        """``[Constraint(order=[names...])]``: run the processes (or names) in this order."""
        return [Constraint(order=[cls._process_name(p) for p in processes])]


class Tasks:
    SIMPLE_CPU = 1.0
    SIMPLE_RAM = 1 * GB
    SIMPLE_DISK = 1 * GB

    @classmethod
    def _merged(cls, tasks: tuple[Any, ...]) -> Any:
        # As in Aurora's source, the merged task keeps the identity (name, failure limits...)
        # of the LAST task given, whatever its comment and the docs say.
        return tasks[-1](processes=Units.processes_merge(tasks))

    @classmethod
    def combine(cls, *tasks: Any, **kw: Any) -> Task:
        """One task running every process of ``tasks`` in parallel; resources are summed."""
        if not tasks:
            return Task()
        return cls._merged(tasks)(
            resources=Units.resources_sum(*(t.resources() for t in tasks)),
            constraints=Units.constraints_merge(tasks),
            finalization_wait=Units.finalization_wait_max(t.finalization_wait() for t in tasks),
            **kw)

    @classmethod
    def concat(cls, *tasks: Any, **kw: Any) -> Task:
        """One task running ``tasks`` one after another; resources are the maximum."""
        if not tasks:
            return Task()
        constraints = Units.constraints_merge(tasks)
        for before, after in pairwise(tasks):
            for first in before.processes():
                for then in after.processes():
                    if first != then:
                        constraints.extend(Processes.order(first, then))
        return cls._merged(tasks)(
            resources=Units.resources_max(t.resources() for t in tasks),
            constraints=constraints,
            finalization_wait=Units.finalization_wait_sum(t.finalization_wait() for t in tasks),
            **kw)

    @classmethod
    def simple(cls, name: Any, command: Any) -> Task:
        """A one-process task with 1 CPU, 1 GB of RAM and 1 GB of disk."""
        return Task(name=name, processes=[Process(name=name, cmdline=command)],
                    resources=Resources(cpu=cls.SIMPLE_CPU, ram=cls.SIMPLE_RAM,
                                        disk=cls.SIMPLE_DISK))

    @classmethod
    def sequential(cls, task: Any) -> Any:
        """``task`` with its processes ordered as listed; it must have no constraints yet."""
        existing = task.constraints()
        if existing is not Empty and existing != List(Constraint)([]):
            raise ValueError("Cannot turn a Task with existing constraints into a SequentialTask!")
        if task.processes() is Empty:
            return task()
        return task(constraints=order(*task.processes()))


class Options:
    """Command-line flags from arguments: ``java_options('a', b=1) == '-a -b 1'``."""

    @classmethod
    def render_option(cls, short_prefix: str, long_prefix: str, option: str,
                      value: Any = None) -> str:
        flag = (short_prefix if len(option) == 1 else long_prefix) + option
        return f"{flag} {value}" if value else flag

    @classmethod
    def render_options(cls, short_prefix: str, long_prefix: str, *options: Any,
                       **kw_options: Any) -> list[str]:
        rendered: list[str] = []
        for option in options:
            if isinstance(option, str):
                rendered.append(cls.render_option(short_prefix, long_prefix, option))
            elif isinstance(option, dict):
                rendered.extend(cls.render_option(short_prefix, long_prefix, k, v)
                                for k, v in option.items())
            else:
                raise ValueError(f"Got an unexpected argument to render_options: {option!r}")
        rendered.extend(cls.render_option(short_prefix, long_prefix, k, v)
                        for k, v in kw_options.items())
        return rendered

    @classmethod
    def java(cls, *options: Any, **kw_options: Any) -> str:
        return " ".join(cls.render_options("-", "-", *options, **kw_options))

    @classmethod
    def python(cls, *options: Any, **kw_options: Any) -> str:
        return " ".join(cls.render_options("-", "--", *options, **kw_options))


def SimpleTask(name: Any, command: Any) -> Task:
    """A one-process task with default resources (``Tasks.simple``)."""
    return Tasks.simple(name, command)


def SequentialTask(*args: Any, **kw: Any) -> Task:
    """A Task whose processes run one after another, in the order listed."""
    return Tasks.sequential(Task(*args, **kw))


order = Processes.order
combine_tasks = Tasks.combine
concat_tasks = Tasks.concat
java_options = Options.java
python_options = Options.python


# -------------------------------------------------------------------------------- namespace

_SCHEMA_NAMES = (
    "AURORA_EXECUTOR_NAME", "BYTES", "KB", "MB", "GB", "TB",
    "ThermosContext", "Resources", "Constraint", "RotatePolicy", "LoggerDestination",
    "LoggerMode", "Logger", "Process", "Task", "MesosContext", "QueueUpdateStrategy",
    "BatchUpdateStrategy", "VariableBatchUpdateStrategy", "UpdateConfig", "HttpHealthChecker",
    "ShellHealthChecker", "HealthCheckerConfig", "DefaultHealthChecker", "HealthCheckConfig",
    "HttpLifecycleConfig", "LifecycleConfig", "DisableLifecycle", "DefaultLifecycleConfig",
    "Announcer", "MesosTaskInstance", "Parameter", "Docker", "AppcImage", "DockerImage", "Mode",
    "Volume", "Mesos", "Container", "PartitionPolicy", "Metadata", "ExecutorConfig",
    "PercentageSlaPolicy", "CountSlaPolicy", "CoordinatorSlaPolicy", "MesosJob", "Job",
    "Service", "Units", "Processes", "Tasks", "Options", "SimpleTask", "SequentialTask",
    "order", "combine_tasks", "concat_tasks", "java_options", "python_options",
)


def dsl_namespace() -> dict[str, Any]:
    """A fresh globals dict for running a ``.aurora`` file: pystachio's names and the schema
    (what Aurora's loader gets from ``from pystachio import *`` and the schema imports)."""
    namespace: dict[str, Any] = {
        name: getattr(pystachio, name) for name in dir(pystachio) if not name.startswith("_")
    }
    namespace.update((name, globals()[name]) for name in _SCHEMA_NAMES)
    return namespace


#: The names a ``.aurora`` file can use besides pystachio's own and ``include``.
DSL_NAMES: tuple[str, ...] = _SCHEMA_NAMES

__all__ = [*_SCHEMA_NAMES, "DSL_NAMES", "dsl_namespace"]
