"""The domain model (:mod:`aurora.model`) to and from the API's Thrift structs.

``*_to_thrift`` builds the structs the scheduler sends; ``*_from_thrift`` reads what a client
sent and raises a ValueError subclass of the model's (InvalidJobKeyError, InvalidResourcesError,
TaskDescriptionError, UnknownStatusError) whose message starts with the Thrift field path, e.g.
``description.taskConfig.resources: ...``.

Facts matched (Aurora 0.22 and its Python client, ``config/thrift.py``):

* a field Thrift leaves unset reads as Java's default (0, false, empty), as in Aurora: an unset
  ``maxTaskFailures`` is 0, an unset ``cronCollisionPolicy`` is KILL_EXISTING;
* resources travel as ``set<Resource>`` (one numCpus, ramMb, diskMb, optional numGpus, one
  namedPort per port); a second CPU/RAM/disk/GPU value is refused as Aurora does. Aurora 0.19's
  ``numCpus``/``ramMb``/``diskMb``/``requestedPorts`` fields are written too (unless
  ``legacy_resources=False``) and read when the set is absent;
* an unset tier is the default tier; the client's ``production`` flag is ignored on the way in
  and derived from the tier on the way out (``ConfigurationManager``);
* ``executorConfig`` is passed through: for ``AuroraExecutor`` its data is the Thermos job JSON
  the client made; ``getTasksWithoutConfigs`` drops that data (``with_executor_data=False``);
* non-empty ``mesosFetcherUris`` are refused (Aurora's default: the fetcher is disabled);
* the job owner must be a good identifier; a task without an owner gets its role.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import IntEnum
from typing import Any, TypeVar

import msgspec
from msgspec.structs import force_setattr

from aurora.api.codec import api
from aurora.model.jobkey import InvalidJobKeyError, JobKey, identifier_problem
from aurora.model.resources import InvalidResourcesError, Resources
from aurora.model.status import ScheduleStatus, UnknownStatusError
from aurora.model.task import (
    DEFAULT_TIER,
    I32_MAX,
    AppcImage,
    AssignedTask,
    Constraint,
    Container,
    CoordinatorSlaPolicy,
    CountSlaPolicy,
    DockerContainer,
    DockerImage,
    DockerParameter,
    ExecutorConfig,
    Identity,
    LimitConstraint,
    MesosContainer,
    Metadata,
    PartitionPolicy,
    PercentageSlaPolicy,
    ScheduledTask,
    SlaPolicy,
    TaskConfig,
    TaskDescriptionError,
    TaskEvent,
    ValueConstraint,
    Volume,
    VolumeMode,
)

__all__ = [
    "CronCollisionPolicy",
    "JobConfiguration",
    "assigned_task_from_thrift",
    "assigned_task_to_thrift",
    "constraint_from_thrift",
    "constraint_to_thrift",
    "container_from_thrift",
    "container_to_thrift",
    "from_thrift",
    "job_configuration_from_thrift",
    "job_configuration_to_thrift",
    "job_key_from_thrift",
    "job_key_to_thrift",
    "resource_aggregate_from_thrift",
    "resource_aggregate_to_thrift",
    "resources_from_thrift",
    "resources_to_thrift",
    "schedule_status_from_thrift",
    "schedule_status_to_thrift",
    "scheduled_task_from_thrift",
    "scheduled_task_to_thrift",
    "sla_policy_from_thrift",
    "sla_policy_to_thrift",
    "task_config_from_thrift",
    "task_config_to_thrift",
    "task_event_from_thrift",
    "task_event_to_thrift",
    "to_thrift",
]

_T = TypeVar("_T")
_E = TypeVar("_E", bound=IntEnum)

_MODEL_ERRORS = (InvalidJobKeyError, InvalidResourcesError, TaskDescriptionError,
                 UnknownStatusError)
#: Aurora's names for the resources that may appear only once in a task (ResourceType).
_SINGLE_RESOURCES = {"numCpus": "CPU", "ramMb": "RAM", "diskMb": "disk", "numGpus": "GPU"}


class CronCollisionPolicy(IntEnum):
    """api.thrift CronCollisionPolicy: what a cron run does when the last is still running."""

    KILL_EXISTING = 0
    CANCEL_NEW = 1
    RUN_OVERLAP = 2  # deprecated: treated as CANCEL_NEW


class JobConfiguration(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A job as a client submits it (Aurora's JobConfiguration); its key is the task's job."""

    task_config: TaskConfig
    instance_count: int
    cron_schedule: str | None = None
    cron_collision_policy: CronCollisionPolicy = CronCollisionPolicy.KILL_EXISTING

    def __post_init__(self) -> None:
        count = self.instance_count
        if type(count) is not int or not 0 < count <= I32_MAX:
            raise TaskDescriptionError(
                f"instance_count: Instance count must be positive, got {count!r}")
        if self.cron_schedule == "":
            force_setattr(self, "cron_schedule", None)
        if self.cron_schedule is not None and self.task_config.is_service:
            raise TaskDescriptionError("a service task may not be run on a cron schedule")
        policy = self.cron_collision_policy
        if type(policy) is not CronCollisionPolicy:
            force_setattr(self, "cron_collision_policy",
                          _enum(CronCollisionPolicy, policy, "cron_collision_policy"))

    @property
    def key(self) -> JobKey:
        return self.task_config.job


# -------------------------------------------------------------------------------- helpers


def _where(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _build(where: str, factory: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """``factory(*args, **kwargs)``, with a model error's message prefixed by ``where``."""
    try:
        return factory(*args, **kwargs)
    except _MODEL_ERRORS as err:
        raise type(err)(f"{where}: {err}") from None


def _present(value: Any, where: str) -> Any:
    if value is None:
        raise TaskDescriptionError(f"{where} is missing")
    return value


def _enum(enum: type[_E], value: Any, where: str) -> _E:
    try:
        return enum(value)
    except ValueError:
        known = ", ".join(f"{e.name}={e.value}" for e in enum)
        raise TaskDescriptionError(f"{where}: unknown {enum.__name__} {value!r} "
                                   f"(expected one of {known})") from None


def _items(values: Iterable[Any] | None) -> list[Any]:
    return [] if values is None else list(values)


# ------------------------------------------------------------------------------- job keys


def job_key_to_thrift(key: JobKey) -> Any:
    return api.JobKey(role=key.role, environment=key.environment, name=key.name)


def job_key_from_thrift(key: Any, where: str = "job") -> JobKey:
    if key is None:
        raise InvalidJobKeyError(f"{where}: the job key is missing")
    return _build(where, JobKey, key.role, key.environment, key.name)


# ------------------------------------------------------------------------------ resources


def resources_to_thrift(resources: Resources) -> list[Any]:
    """The ``set<Resource>`` of a task: CPU, RAM, disk, each port, GPUs when any."""
    items = [api.Resource(numCpus=resources.cpu), api.Resource(ramMb=resources.ram_mb),
             api.Resource(diskMb=resources.disk_mb)]
    items += [api.Resource(namedPort=port) for port in resources.ports]
    if resources.gpus:
        items.append(api.Resource(numGpus=resources.gpus))
    return items


def resources_from_thrift(resources: Iterable[Any] | None, where: str = "resources",
                          legacy: Any = None) -> Resources:
    """Resources from a ``set<Resource>``; when it is empty, from ``legacy``'s 0.19 fields."""
    amounts: dict[str, Any] = {}
    ports: list[str] = []
    repeated: set[str] = set()
    for i, resource in enumerate(_items(resources)):
        members = [name for name in ("numCpus", "ramMb", "diskMb", "namedPort", "numGpus")
                   if getattr(resource, name, None) is not None]
        if len(members) != 1:
            raise InvalidResourcesError(f"{where}[{i}]: a Resource must set exactly one of "
                                        f"numCpus, ramMb, diskMb, namedPort, numGpus")
        (member,) = members
        value = getattr(resource, member)
        if member == "namedPort":
            ports.append(value)
        elif member in amounts:
            repeated.add(_SINGLE_RESOURCES[member])
        else:
            amounts[member] = value
    if repeated:
        raise InvalidResourcesError(f"{where}: Multiple resource values are not supported for "
                                    f"{', '.join(sorted(repeated))}")
    if not amounts and not ports and legacy is not None:
        amounts = {name: getattr(legacy, name, None) for name in ("numCpus", "ramMb", "diskMb")}
        ports = _items(getattr(legacy, "requestedPorts", None))
    return _build(where, Resources, amounts.get("numCpus") or 0.0, amounts.get("ramMb") or 0,
                  amounts.get("diskMb") or 0, amounts.get("numGpus") or 0, tuple(ports))


def resource_aggregate_to_thrift(resources: Resources, *, legacy_resources: bool = True) -> Any:
    """A ResourceAggregate (quota and consumption: CPU, RAM and disk)."""
    items = [api.Resource(numCpus=resources.cpu), api.Resource(ramMb=resources.ram_mb),
             api.Resource(diskMb=resources.disk_mb)]
    if resources.gpus:
        items.append(api.Resource(numGpus=resources.gpus))
    if not legacy_resources:
        return api.ResourceAggregate(resources=items)
    return api.ResourceAggregate(resources=items, numCpus=resources.cpu,
                                 ramMb=resources.ram_mb, diskMb=resources.disk_mb)


def resource_aggregate_from_thrift(aggregate: Any, where: str = "quota") -> Resources:
    _present(aggregate, where)
    resources = resources_from_thrift(aggregate.resources, _where(where, "resources"),
                                      legacy=aggregate)
    if resources.ports:
        raise InvalidResourcesError(f"{where}: a resource aggregate has no ports")
    return resources


# ---------------------------------------------------------------------------- constraints


def constraint_to_thrift(constraint: Constraint) -> Any:
    if constraint.value is not None:
        inner = api.TaskConstraint(value=api.ValueConstraint(
            negated=constraint.value.negated, values=sorted(constraint.value.values)))
    else:
        assert constraint.limit is not None
        inner = api.TaskConstraint(limit=api.LimitConstraint(limit=constraint.limit.limit))
    return api.Constraint(name=constraint.name, constraint=inner)


def constraint_from_thrift(constraint: Any, where: str = "constraint") -> Constraint:
    _present(constraint, where)
    inner = _present(constraint.constraint, _where(where, "constraint"))
    value = limit = None
    if inner.value is not None:
        value = _build(_where(where, "constraint.value"), ValueConstraint,
                       bool(inner.value.negated), frozenset(_items(inner.value.values)))
    if inner.limit is not None:
        limit = _build(_where(where, "constraint.limit"), LimitConstraint, inner.limit.limit or 0)
    return _build(where, Constraint, constraint.name, value, limit)


# ------------------------------------------------------------------------------ container


def container_to_thrift(container: Container) -> Any:
    if isinstance(container, DockerContainer):
        return api.Container(docker=api.DockerContainer(
            image=container.image,
            parameters=[api.DockerParameter(name=p.name, value=p.value)
                        for p in container.parameters]))
    image = None
    if isinstance(container.image, DockerImage):
        image = api.Image(docker=api.DockerImage(name=container.image.name,
                                                 tag=container.image.tag))
    elif isinstance(container.image, AppcImage):
        image = api.Image(appc=api.AppcImage(name=container.image.name,
                                             imageId=container.image.image_id))
    volumes = [api.Volume(containerPath=v.container_path, hostPath=v.host_path,
                          mode=int(v.mode)) for v in container.volumes]
    return api.Container(mesos=api.MesosContainer(image=image, volumes=volumes))


def container_from_thrift(container: Any, where: str = "container") -> Container:
    """A container; unset means the Mesos containerizer, as in Aurora."""
    if container is None:
        return MesosContainer()
    if (container.mesos is None) == (container.docker is None):
        raise TaskDescriptionError(f"{where}: set exactly one of mesos or docker")
    if container.docker is not None:
        docker = container.docker
        params = tuple(_build(_where(where, f"docker.parameters[{i}]"), DockerParameter,
                              _present(p.name, _where(where, f"docker.parameters[{i}].name")),
                              p.value or "")
                       for i, p in enumerate(_items(docker.parameters)))
        return _build(_where(where, "docker"), DockerContainer, docker.image, params)
    mesos, image = container.mesos, None
    if mesos.image is not None:
        here = _where(where, "mesos.image")
        if mesos.image.docker is not None:
            image = DockerImage(_present(mesos.image.docker.name, f"{here}.docker.name"),
                                _present(mesos.image.docker.tag, f"{here}.docker.tag"))
        elif mesos.image.appc is not None:
            image = AppcImage(_present(mesos.image.appc.name, f"{here}.appc.name"),
                              _present(mesos.image.appc.imageId, f"{here}.appc.imageId"))
        else:
            raise TaskDescriptionError(f"{here}: set one of docker or appc")
    volumes = []
    for i, v in enumerate(_items(mesos.volumes)):
        here = _where(where, f"mesos.volumes[{i}]")
        mode = VolumeMode.RO if v.mode is None else _enum(VolumeMode, v.mode, f"{here}.mode")
        volumes.append(Volume(_present(v.containerPath, f"{here}.containerPath"),
                              _present(v.hostPath, f"{here}.hostPath"), mode))
    return MesosContainer(image, tuple(volumes))


# ------------------------------------------------------------------------------- policies


def sla_policy_to_thrift(policy: SlaPolicy) -> Any:
    if isinstance(policy, PercentageSlaPolicy):
        return api.SlaPolicy(percentageSlaPolicy=api.PercentageSlaPolicy(
            percentage=float(policy.percentage), durationSecs=policy.duration_secs))
    if isinstance(policy, CountSlaPolicy):
        return api.SlaPolicy(countSlaPolicy=api.CountSlaPolicy(
            count=policy.count, durationSecs=policy.duration_secs))
    return api.SlaPolicy(coordinatorSlaPolicy=api.CoordinatorSlaPolicy(
        coordinatorUrl=policy.coordinator_url, statusKey=policy.status_key))


def sla_policy_from_thrift(policy: Any, where: str = "slaPolicy") -> SlaPolicy:
    _present(policy, where)
    set_members = [m for m in ("percentageSlaPolicy", "countSlaPolicy", "coordinatorSlaPolicy")
                   if getattr(policy, m) is not None]
    if len(set_members) != 1:
        raise TaskDescriptionError(f"{where}: set exactly one of percentageSlaPolicy, "
                                   "countSlaPolicy, coordinatorSlaPolicy")
    member = set_members[0]
    inner, here = getattr(policy, member), _where(where, member)
    if member == "percentageSlaPolicy":
        return _build(here, PercentageSlaPolicy, inner.percentage or 0.0,
                      inner.durationSecs or 0)
    if member == "countSlaPolicy":
        return _build(here, CountSlaPolicy, inner.count or 0, inner.durationSecs or 0)
    if inner.statusKey is None:
        return _build(here, CoordinatorSlaPolicy, inner.coordinatorUrl)
    return _build(here, CoordinatorSlaPolicy, inner.coordinatorUrl, inner.statusKey)


# ---------------------------------------------------------------------------- task config


def task_config_to_thrift(task: TaskConfig, *, legacy_resources: bool = True,
                          with_executor_data: bool = True) -> Any:
    """A thrift TaskConfig; see the module notes for ``legacy_resources``."""
    executor = None
    if task.executor_config is not None:
        executor = api.ExecutorConfig(name=task.executor_config.name,
                                      data=task.executor_config.data if with_executor_data
                                      else None)
    config = api.TaskConfig(
        job=job_key_to_thrift(task.job),
        owner=api.Identity(user=task.owner.user),
        isService=task.is_service,
        priority=task.priority,
        maxTaskFailures=task.max_task_failures,
        tier=task.tier,
        production=task.is_production,
        resources=resources_to_thrift(task.resources),
        constraints=[constraint_to_thrift(c) for c in task.constraints],
        metadata=[api.Metadata(key=m.key, value=m.value) for m in task.metadata],
        container=container_to_thrift(task.container),
        executorConfig=executor,
        contactEmail=task.contact_email,
        taskLinks=dict(task.task_links),
        partitionPolicy=None if task.partition_policy is None else api.PartitionPolicy(
            reschedule=task.partition_policy.reschedule,
            delaySecs=task.partition_policy.delay_secs),
        slaPolicy=None if task.sla_policy is None else sla_policy_to_thrift(task.sla_policy),
    )
    if legacy_resources:
        config.numCpus = task.resources.cpu
        config.ramMb = task.resources.ram_mb
        config.diskMb = task.resources.disk_mb
        config.requestedPorts = list(task.resources.ports)
    return config


def task_config_from_thrift(config: Any, where: str = "taskConfig",
                            owner: Identity | None = None) -> TaskConfig:
    """A TaskConfig from a client; ``owner`` stands in for an unset ``owner``."""
    _present(config, where)
    job = job_key_from_thrift(config.job, _where(where, "job"))
    if config.owner is not None and config.owner.user is not None:
        owner = Identity(config.owner.user)
    if config.mesosFetcherUris:
        raise TaskDescriptionError(f"{_where(where, 'mesosFetcherUris')}: Mesos Fetcher for "
                                   "individual jobs is disabled in this cluster.")
    executor = None
    if config.executorConfig is not None:
        name = config.executorConfig.name
        if name is None:
            raise TaskDescriptionError(f"{_where(where, 'executorConfig.name')}: Executor name "
                                       "may not be left unset.")
        executor = ExecutorConfig(name, config.executorConfig.data or "")
    partition = None
    if config.partitionPolicy is not None:
        partition = _build(_where(where, "partitionPolicy"), PartitionPolicy,
                           bool(config.partitionPolicy.reschedule),
                           config.partitionPolicy.delaySecs or 0)
    return _build(
        where, TaskConfig,
        job=job,
        owner=owner or Identity(job.role),
        resources=resources_from_thrift(config.resources, _where(where, "resources"), config),
        is_service=bool(config.isService),
        priority=config.priority or 0,
        max_task_failures=config.maxTaskFailures or 0,
        tier=DEFAULT_TIER if config.tier is None else config.tier,
        constraints=tuple(constraint_from_thrift(c, _where(where, f"constraints[{i}]"))
                          for i, c in enumerate(_items(config.constraints))),
        metadata=tuple(Metadata(_present(m.key, _where(where, f"metadata[{i}].key")),
                                _present(m.value, _where(where, f"metadata[{i}].value")))
                       for i, m in enumerate(_items(config.metadata))),
        container=container_from_thrift(config.container, _where(where, "container")),
        executor_config=executor,
        contact_email=config.contactEmail,
        task_links=dict(config.taskLinks or {}),
        partition_policy=partition,
        sla_policy=None if config.slaPolicy is None
        else sla_policy_from_thrift(config.slaPolicy, _where(where, "slaPolicy")),
    )


# ------------------------------------------------------------------------ job configuration


def job_configuration_to_thrift(job: JobConfiguration, *, legacy_resources: bool = True) -> Any:
    return api.JobConfiguration(
        key=job_key_to_thrift(job.key),
        owner=api.Identity(user=job.task_config.owner.user),
        cronSchedule=job.cron_schedule,
        cronCollisionPolicy=int(job.cron_collision_policy),
        taskConfig=task_config_to_thrift(job.task_config, legacy_resources=legacy_resources),
        instanceCount=job.instance_count,
    )


def job_configuration_from_thrift(job: Any, where: str = "description") -> JobConfiguration:
    """A JobConfiguration from a client (createJob, scheduleCronJob, populateJobConfig...)."""
    _present(job, where)
    key = job_key_from_thrift(job.key, _where(where, "key"))
    owner = None
    if job.owner is not None:
        problem = identifier_problem("user", job.owner.user)
        if problem is not None:
            raise TaskDescriptionError(f"{_where(where, 'owner')}: {problem}")
        owner = Identity(job.owner.user)
    task = task_config_from_thrift(job.taskConfig, _where(where, "taskConfig"), owner)
    if task.job != key:
        raise InvalidJobKeyError(f"{_where(where, 'taskConfig.job')}: '{task.job}' differs from "
                                 f"the job's key '{key}'")
    policy = CronCollisionPolicy.KILL_EXISTING
    if job.cronCollisionPolicy is not None:
        policy = _enum(CronCollisionPolicy, job.cronCollisionPolicy,
                       _where(where, "cronCollisionPolicy"))
    count = job.instanceCount or 0
    if type(count) is not int or not 0 < count <= I32_MAX:
        raise TaskDescriptionError(f"{_where(where, 'instanceCount')}: Instance count must be "
                                   f"positive, got {count!r}")
    return _build(where, JobConfiguration, task_config=task, instance_count=count,
                  cron_schedule=job.cronSchedule or None, cron_collision_policy=policy)


# ---------------------------------------------------------------------------------- tasks


def schedule_status_to_thrift(status: ScheduleStatus) -> int:
    if status == ScheduleStatus.DELETED:
        raise UnknownStatusError("DELETED is internal and never goes on the wire")
    return int(status)


def schedule_status_from_thrift(value: Any, where: str = "status") -> ScheduleStatus:
    _present(value, where)
    return _build(where, ScheduleStatus.from_wire, value)


def task_event_to_thrift(event: TaskEvent) -> Any:
    return api.TaskEvent(timestamp=event.timestamp_ms,
                         status=schedule_status_to_thrift(event.status),
                         message=event.message, scheduler=event.scheduler)


def task_event_from_thrift(event: Any, where: str = "taskEvent") -> TaskEvent:
    _present(event, where)
    return TaskEvent(event.timestamp or 0,
                     schedule_status_from_thrift(event.status, _where(where, "status")),
                     event.message, event.scheduler)


def assigned_task_to_thrift(task: AssignedTask, *, legacy_resources: bool = True,
                            with_executor_data: bool = True) -> Any:
    return api.AssignedTask(
        taskId=task.task_id, slaveId=task.slave_id, slaveHost=task.slave_host,
        task=task_config_to_thrift(task.task, legacy_resources=legacy_resources,
                                   with_executor_data=with_executor_data),
        assignedPorts=dict(task.assigned_ports), instanceId=task.instance_id)


def assigned_task_from_thrift(task: Any, where: str = "assignedTask") -> AssignedTask:
    _present(task, where)
    return _build(where, AssignedTask,
                  task_id=task.taskId,
                  task=task_config_from_thrift(task.task, _where(where, "task")),
                  instance_id=task.instanceId or 0,
                  slave_id=task.slaveId, slave_host=task.slaveHost,
                  assigned_ports=dict(task.assignedPorts or {}))


def scheduled_task_to_thrift(task: ScheduledTask, *, legacy_resources: bool = True,
                             with_executor_data: bool = True) -> Any:
    """A thrift ScheduledTask; ``with_executor_data=False`` for getTasksWithoutConfigs."""
    return api.ScheduledTask(
        assignedTask=assigned_task_to_thrift(task.assigned_task,
                                             legacy_resources=legacy_resources,
                                             with_executor_data=with_executor_data),
        status=schedule_status_to_thrift(task.status),
        failureCount=task.failure_count, timesPartitioned=task.times_partitioned,
        taskEvents=[task_event_to_thrift(e) for e in task.task_events],
        ancestorId=task.ancestor_id)


def scheduled_task_from_thrift(task: Any, where: str = "task") -> ScheduledTask:
    _present(task, where)
    return _build(where, ScheduledTask,
                  assigned_task=assigned_task_from_thrift(task.assignedTask,
                                                          _where(where, "assignedTask")),
                  status=schedule_status_from_thrift(task.status, _where(where, "status")),
                  failure_count=task.failureCount or 0,
                  times_partitioned=task.timesPartitioned or 0,
                  task_events=tuple(task_event_from_thrift(e, _where(where, f"taskEvents[{i}]"))
                                    for i, e in enumerate(_items(task.taskEvents))),
                  ancestor_id=task.ancestorId)


# ------------------------------------------------------------------------------- dispatch

_TO_THRIFT: dict[type, Callable[[Any], Any]] = {
    JobKey: job_key_to_thrift,
    Constraint: constraint_to_thrift,
    MesosContainer: container_to_thrift,
    DockerContainer: container_to_thrift,
    PercentageSlaPolicy: sla_policy_to_thrift,
    CountSlaPolicy: sla_policy_to_thrift,
    CoordinatorSlaPolicy: sla_policy_to_thrift,
    TaskConfig: task_config_to_thrift,
    JobConfiguration: job_configuration_to_thrift,
    ScheduleStatus: schedule_status_to_thrift,
    TaskEvent: task_event_to_thrift,
    AssignedTask: assigned_task_to_thrift,
    ScheduledTask: scheduled_task_to_thrift,
}

_FROM_THRIFT: dict[type, Callable[[Any], Any]] = {
    api.JobKey: job_key_from_thrift,
    api.Constraint: constraint_from_thrift,
    api.Container: container_from_thrift,
    api.SlaPolicy: sla_policy_from_thrift,
    api.ResourceAggregate: resource_aggregate_from_thrift,
    api.TaskConfig: task_config_from_thrift,
    api.JobConfiguration: job_configuration_from_thrift,
    api.TaskEvent: task_event_from_thrift,
    api.AssignedTask: assigned_task_from_thrift,
    api.ScheduledTask: scheduled_task_from_thrift,
}


def to_thrift(value: Any) -> Any:
    """The thrift form of a model value (JobKey, TaskConfig, ScheduledTask, ...)."""
    convert = _TO_THRIFT.get(type(value))
    if convert is None:
        raise TypeError(f"no thrift form for {type(value).__name__}")
    return convert(value)


def from_thrift(value: Any) -> Any:
    """The model value of a thrift struct (JobKey, TaskConfig, ScheduledTask, ...)."""
    convert = _FROM_THRIFT.get(type(value))
    if convert is None:
        raise TypeError(f"no model form for thrift {type(value).__name__}")
    return convert(value)
