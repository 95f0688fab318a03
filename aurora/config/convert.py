"""A checked pystachio job -> what Aurora's client sends: TaskConfig, instances, cron, update
settings and the Thermos executor data.

Behaviour matched (Aurora 0.22 client: ``config/__init__.py``, ``config/thrift.py``,
``client/config.py``, ``client/cli/context.py``, ``client/api/updater_util.py``):

* ``{{mesos.role}}``, ``{{mesos.cluster}}`` and ``{{thermos.user}}`` are bound to the job's
  role, cluster and role (``AuroraConfig.standard_bindings``);
* the tier is backfilled from the cluster's tiers: with no tier, the first non-revocable tier
  whose preemptibility matches ``production`` (so ``preemptible``, or ``preferred`` for
  production jobs); with a tier, ``production`` follows it (the CLI's
  ``_get_config_with_production_and_tier``);
* the executor data is the whole interpolated job as JSON, ``update_config`` and ``instances``
  removed, ``{{mesos.instance}}``, ``{{mesos.hostname}}``, ``{{thermos.task_id}}`` and
  ``{{thermos.ports[...]}}`` left for the executor. Keys are sorted (Aurora's Python 2 dict
  order is arbitrary; the executor reads JSON, so only the content matters);
* requested ports are the ``{{thermos.ports[name]}}`` of the processes, resolved through the
  announcer's portmap (a name mapped to a number asks for nothing; an alias asks for its
  target), plus the portmap's unresolved targets (``AuroraConfig.ports``);
* RAM and disk are bytes in the file and whole MB on the wire (floor); each must be >= 1 MB and
  the CPU > 0; ``task_links`` is never sent (AURORA-739); the owner is the local user;
* the client's checks: process names, process order (no cycles, no daemon or ephemeral
  prerequisites, no final/non-final mix), ``max_total_failures`` below the instance count
  (and >= 2% of it for dedicated jobs), no negative update/health-check intervals, static
  announcer ports only for dedicated jobs; update settings as ``UpdaterConfig`` makes them.
"""

from __future__ import annotations

import getpass
import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import msgspec
from pystachio import Empty, Ref

from aurora.api.codec import api
from aurora.api.convert import CronCollisionPolicy, JobConfiguration
from aurora.config import schema
from aurora.config.errors import ConfigError
from aurora.config.loader import check_job
from aurora.model.jobkey import InvalidJobKeyError, JobKey, allowed_environments, identifier_problem
from aurora.model.resources import MB, InvalidResourcesError, Resources
from aurora.model.task import (
    AURORA_EXECUTOR_NAME,
    DEFAULT_TIER,
    TIERS,
    AppcImage,
    Constraint,
    Container,
    CoordinatorSlaPolicy,
    CountSlaPolicy,
    DockerContainer,
    DockerImage,
    DockerParameter,
    ExecutorConfig,
    Identity,
    MesosContainer,
    Metadata,
    PartitionPolicy,
    PercentageSlaPolicy,
    SlaPolicy,
    TaskConfig,
    TaskDescriptionError,
    TierInfo,
    Volume,
    VolumeMode,
)

__all__ = [
    "BatchStrategy",
    "LoadedJob",
    "QueueStrategy",
    "UpdateSettings",
    "UpdateStrategy",
    "VariableBatchStrategy",
    "convert_job",
    "requested_ports",
]

_STANDARD_BINDINGS = {Ref.from_address("mesos.role"): "{{role}}",
                      Ref.from_address("mesos.cluster"): "{{cluster}}",
                      Ref.from_address("thermos.user"): "{{role}}"}
_THERMOS_PORTS = Ref.from_address("thermos.ports")
_PROCESS_NAME = re.compile(r"[^./][^/]*")
_MIN_PULSE_INTERVAL_SECS = 60
_ALIASED_FIELDS = ("update_config", "instances")


# ------------------------------------------------------------------------- update settings


class QueueStrategy(msgspec.Struct, frozen=True, tag="queue"):
    group_size: int


class BatchStrategy(msgspec.Struct, frozen=True, tag="batch"):
    group_size: int
    autopause_after_batch: bool = False


class VariableBatchStrategy(msgspec.Struct, frozen=True, tag="variable_batch"):
    group_sizes: tuple[int, ...]
    autopause_after_batch: bool = False


UpdateStrategy = QueueStrategy | BatchStrategy | VariableBatchStrategy


class UpdateSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Aurora's JobUpdateSettings, from the job's ``update_config``."""

    update_group_size: int = 1
    max_per_instance_failures: int = 0
    max_failed_instances: int = 0
    min_wait_in_instance_running_ms: int = 45_000
    rollback_on_failure: bool = True
    wait_for_batch_completion: bool = False
    block_if_no_pulses_after_ms: int | None = None
    sla_aware: bool = False
    update_strategy: UpdateStrategy = QueueStrategy(1)

    def to_thrift(self, instances: Iterable[int] | None = None) -> Any:
        """The thrift JobUpdateSettings; ``instances`` limits the update to those instances."""
        ranges = None
        ids = sorted(set(instances or ()))
        if ids:
            ranges, start = [], ids[0]
            for before, after in pairwise([*ids, None]):
                if after != before + 1:
                    ranges.append(api.Range(first=start, last=before))
                    start = after
        strategy = self.update_strategy
        if isinstance(strategy, QueueStrategy):
            wire = api.JobUpdateStrategy(
                queueStrategy=api.QueueJobUpdateStrategy(groupSize=strategy.group_size))
        elif isinstance(strategy, BatchStrategy):
            wire = api.JobUpdateStrategy(batchStrategy=api.BatchJobUpdateStrategy(
                groupSize=strategy.group_size, autopauseAfterBatch=strategy.autopause_after_batch))
        else:
            wire = api.JobUpdateStrategy(varBatchStrategy=api.VariableBatchJobUpdateStrategy(
                groupSizes=list(strategy.group_sizes),
                autopauseAfterBatch=strategy.autopause_after_batch))
        return api.JobUpdateSettings(
            updateGroupSize=self.update_group_size,
            maxPerInstanceFailures=self.max_per_instance_failures,
            maxFailedInstances=self.max_failed_instances,
            minWaitInInstanceRunningMs=self.min_wait_in_instance_running_ms,
            rollbackOnFailure=self.rollback_on_failure,
            updateOnlyTheseInstances=ranges,
            waitForBatchCompletion=self.wait_for_batch_completion,
            blockIfNoPulsesAfterMs=self.block_if_no_pulses_after_ms,
            slaAware=self.sla_aware,
            updateStrategy=wire)


# ---------------------------------------------------------------------------- loaded job


@dataclass(frozen=True)
class LoadedJob:
    """A job from a config file, as Aurora's client would submit it."""

    file: str
    cluster: str
    key: JobKey
    job_configuration: JobConfiguration
    warnings: tuple[str, ...]
    raw: Any  # the pystachio job, bindings applied and tier backfilled
    _update: UpdateSettings | ConfigError

    @property
    def task_config(self) -> TaskConfig:
        return self.job_configuration.task_config

    @property
    def instances(self) -> int:
        return self.job_configuration.instance_count

    @property
    def cron_schedule(self) -> str | None:
        return self.job_configuration.cron_schedule

    @property
    def cron_collision_policy(self) -> CronCollisionPolicy:
        return self.job_configuration.cron_collision_policy

    @property
    def executor_data(self) -> str:
        executor = self.task_config.executor_config
        return "" if executor is None else executor.data

    @property
    def name(self) -> str:
        """``cluster/role/environment/name``."""
        return self.key.with_cluster(self.cluster)

    @property
    def update_settings(self) -> UpdateSettings:
        """The update settings; a bad ``update_config`` raises here (only updates need it)."""
        if isinstance(self._update, ConfigError):
            raise self._update
        return self._update


# ------------------------------------------------------------------------------- helpers


class _Where:
    """The file and job errors are about."""

    def __init__(self, file: str, job: str) -> None:
        self.file, self.job = file, job

    def error(self, field: str | None, reason: str) -> ConfigError:
        return ConfigError(reason, file=self.file, job=self.job, field=field)


def _at(data: Mapping[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _fixed(where: _Where, data: Mapping[str, Any], path: str, kind: type) -> Any:
    """A value that must be known at submission (not a ``{{mesos.*}}`` left for the host)."""
    value = _at(data, path)
    if kind is not str and isinstance(value, str):
        raise where.error(path, f"must be known when the job is submitted, got {value!r} "
                                "({{mesos.*}} and {{thermos.*}} are only bound on the host)")
    return value


def _unwrap(choice: Any) -> Any:
    return Empty if choice is Empty else choice.unwrap()


def _resolve_portmap(where: _Where, portmap: Mapping[str, Any]) -> dict[str, Any]:
    """Announcer portmap with aliases followed to a number or an unmapped name."""
    table: dict[str, Any] = {}
    for name, port in portmap.items():
        try:
            table[name] = int(port)
        except ValueError:
            table[name] = port
    resolved = {}
    for name in table:
        seen, target = {name}, table[name]
        while isinstance(target, str) and target in table:
            if target in seen:
                raise where.error("announce.portmap", f"cycle in the portmap at {name!r}")
            seen.add(target)
            target = table[target]
        resolved[name] = target
    return resolved


def requested_ports(job: Any, where: _Where) -> set[str]:
    """The named ports the scheduler must allocate (Aurora's ``AuroraConfig.ports``)."""
    referenced: set[str] = set()
    task, _ = job.task().interpolate()
    if task.has_processes():
        for process in task.processes():
            for ref in process.interpolate()[1]:
                rest = _THERMOS_PORTS.scoped_to(ref)
                if rest is not None and rest.is_index():
                    referenced.add(rest.action().value)
    portmap = (_resolve_portmap(where, job.announce().portmap().get())
               if job.has_announce() else {})
    unallocated = {port for port in portmap.values() if not isinstance(port, int)}
    return unallocated | {p for p in (portmap.get(r, r) for r in referenced)
                          if not isinstance(p, int)}


# -------------------------------------------------------------------------- client checks


def _backfill_tier(job: Any, tiers: Mapping[str, TierInfo], default_tier: str) -> Any:
    production = bool(job.production().get())
    if job.tier() is Empty:
        tier = next((name for name, info in tiers.items()
                     if (not info.preemptible) == production and not info.revocable),
                    default_tier)
        return job(tier=tier)
    tier = job.tier().get()
    return job(production=next((not info.preemptible for name, info in tiers.items()
                                if name == tier), production))


def _check_plan(where: _Where, task: Mapping[str, Any]) -> None:
    """Thermos' checks of a task: process names and a valid process order."""
    processes = task.get("processes", ())
    for i, process in enumerate(processes):
        if _PROCESS_NAME.fullmatch(process["name"]) is None:
            raise where.error(f"task.processes[{i}].name",
                              f"invalid process name {process['name']!r}: no '/', and no "
                              "leading '.'")
    all_names = {p["name"] for p in processes}
    for final in (False, True):
        chosen = {p["name"]: p for p in processes if bool(p["final"]) == final}
        after: dict[str, set[str]] = {name: set() for name in chosen}
        for i, constraint in enumerate(task.get("constraints", ())):
            names = list(constraint.get("order", ()))
            inside, outside = set(names) <= chosen.keys(), set(names).isdisjoint(chosen)
            field = f"task.constraints[{i}].order"
            if inside == outside:
                unknown = sorted(set(names) - all_names)
                raise where.error(field, "an order must name processes" if not names else
                                  f"unknown process {unknown[0]!r}" if unknown else
                                  "an order may not mix final and non-final processes")
            if not inside:
                continue
            for first, then in pairwise(names):
                if chosen[first]["daemon"]:
                    raise where.error(field, f"process {then!r} may not depend upon daemon "
                                             f"process {first!r}")
                if chosen[first]["ephemeral"] and not chosen[then]["ephemeral"]:
                    raise where.error(field, f"non-ephemeral process {then!r} may not depend "
                                             f"upon ephemeral process {first!r}")
                after[then].add(first)
        while after:
            ready = [name for name, needs in after.items() if not needs]
            if not ready:
                raise where.error("task.constraints", "cycles in the process order: "
                                  + ", ".join(sorted(after)))
            for name in ready:
                del after[name]
            for needs in after.values():
                needs.difference_update(ready)


def _client_checks(where: _Where, job: Any, data: Mapping[str, Any], ports: set[str],
                   tier_unset: bool) -> list[str]:
    """Aurora's ``validate_config`` plugins; returns the warnings."""
    size = _fixed(where, data, "instances", int)
    if size <= 0:  # before Aurora's update check, which would blame max_total_failures
        raise where.error("instances", f"Instance count must be positive, got {size}")
    dedicated = "dedicated" in (data.get("constraints") or {})
    failures = _fixed(where, data, "update_config.max_total_failures", int)
    if failures >= size:
        raise where.error("update_config.max_total_failures",
                          f"must be less than the number of instances ({size}): use at most "
                          f"{size - 1}")
    threshold = math.floor(size * 0.02)
    if dedicated and failures < threshold:
        raise where.error("update_config.max_total_failures",
                          f"a dedicated job must tolerate at least 2% of its {size} instances "
                          f"failing: use at least {threshold}")
    for path in ("update_config.watch_secs", "health_check_config.max_consecutive_failures",
                 "health_check_config.min_consecutive_successes",
                 "health_check_config.initial_interval_secs", "health_check_config.interval_secs"):
        value = _fixed(where, data, path, float)
        if value < 0:
            raise where.error(path, f"must not be negative, got {value}")
    warnings = []
    if job.has_announce():
        primary = data["announce"]["primary_port"]
        portmap = data["announce"]["portmap"]
        if primary not in ports and primary not in portmap:
            warnings.append(f"announcer primary port {primary!r} is not bound by any process: "
                            f"listen on {{{{thermos.ports[{primary}]}}}}")
        for name, port in portmap.items():
            if not dedicated and _is_int(port):
                raise where.error(f"announce.portmap[{name}]",
                                  "static ports need a dedicated job (constraints = "
                                  "{'dedicated': ...})")
    if data["production"] and tier_unset:
        warnings.append("'production' is deprecated: set 'tier' instead")
    return warnings


def _update_settings(where: _Where, job: Any, data: Mapping[str, Any]) -> UpdateSettings:
    """Aurora's ``UpdaterConfig(...).to_thrift_update_settings()``."""
    def get(name: str) -> Any:
        return _fixed(where, data, f"update_config.{name}", int)

    batch_size, watch_secs = get("batch_size"), get("watch_secs")
    pulse = get("pulse_interval_secs")
    strategy = _unwrap(job.update_config().update_strategy())
    wait = bool(get("wait_for_batch_completion"))
    if batch_size <= 0:
        raise where.error("update_config.batch_size", "must be greater than 0")
    if watch_secs < 0:
        raise where.error("update_config.watch_secs", "must not be negative")
    if pulse is not None and pulse < _MIN_PULSE_INTERVAL_SECS:
        raise where.error("update_config.pulse_interval_secs",
                          f"must be at least {_MIN_PULSE_INTERVAL_SECS} seconds")
    if strategy is not Empty and wait:
        raise where.error("update_config.wait_for_batch_completion",
                          "cannot be combined with an explicit update_strategy")
    if strategy is not Empty and batch_size > 1:
        raise where.error("update_config.batch_size", "cannot be combined with an "
                          "update_strategy: set the batch size inside the strategy instead")
    chosen: UpdateStrategy
    if strategy is Empty:
        chosen = BatchStrategy(batch_size) if wait else QueueStrategy(batch_size)
    else:
        options = strategy.get()
        autopause = bool(options.get("autopause_after_batch", False))
        sizes = tuple(options.get("batch_sizes", ())) or (options.get("batch_size", 1),)
        if any(isinstance(size, str) or size <= 0 for size in sizes):
            raise where.error("update_config.update_strategy",
                              f"batch sizes must be whole numbers > 0, got {list(sizes)}")
        if isinstance(strategy, schema.QueueUpdateStrategy):
            chosen = QueueStrategy(sizes[0])
        elif isinstance(strategy, schema.BatchUpdateStrategy):
            chosen, wait = BatchStrategy(sizes[0], autopause), True
        else:
            chosen = VariableBatchStrategy(sizes, autopause)
        batch_size = sizes[0]
    return UpdateSettings(
        update_group_size=batch_size, max_per_instance_failures=get("max_per_shard_failures"),
        max_failed_instances=get("max_total_failures"),
        min_wait_in_instance_running_ms=watch_secs * 1000,
        rollback_on_failure=bool(get("rollback_on_failure")), wait_for_batch_completion=wait,
        block_if_no_pulses_after_ms=None if not pulse else pulse * 1000,
        sla_aware=bool(get("sla_aware")), update_strategy=chosen)


# --------------------------------------------------------------------------- task config


def _job_key(where: _Where, data: Mapping[str, Any]) -> JobKey:
    for field in ("role", "environment", "name"):
        problem = identifier_problem(field, data[field])
        if problem is not None:
            raise where.error(field, problem)
    try:
        return JobKey(data["role"], data["environment"], data["name"])
    except InvalidJobKeyError:
        raise where.error("environment", f"environment {data['environment']!r} is not "
                          f"allowed: expected a match for {allowed_environments()}") from None


def _resources(where: _Where, data: Mapping[str, Any], ports: set[str]) -> Resources:
    if _at(data, "task.resources") is None:
        raise where.error("task.resources", "is required: a task must specify resources")
    cpu = _fixed(where, data, "task.resources.cpu", float)
    amounts = {}
    for field in ("ram", "disk"):
        size = _fixed(where, data, f"task.resources.{field}", int)
        if size // MB <= 0:
            raise where.error(f"task.resources.{field}",
                              f"must be at least 1 MB (1048576 bytes), got {size} bytes")
        amounts[field] = size // MB
    if not cpu > 0:
        raise where.error("task.resources.cpu", f"must be greater than 0, got {cpu}")
    gpu = _fixed(where, data, "task.resources.gpu", int)
    try:
        return Resources(float(cpu), amounts["ram"], amounts["disk"], gpu, tuple(ports))
    except InvalidResourcesError as err:
        # a bad GPU count, or a bad port name from {{thermos.ports[...]}} or the portmap
        field = "task.resources.gpu" if "gpus" in str(err) else "task.processes"
        raise where.error(field, str(err)) from None


def _container(where: _Where, job: Any) -> Container:
    chosen = _unwrap(job.container())
    if chosen is Empty:
        return MesosContainer()
    if isinstance(chosen, schema.Container):
        chosen = chosen.docker()
        if chosen is Empty:
            raise where.error("container.docker", "is required in a Container")
    options = chosen.get()
    if isinstance(chosen, schema.Docker):
        params = tuple(DockerParameter(p["name"], p["value"]) for p in options["parameters"])
        return DockerContainer(options["image"], params)
    image = _unwrap(chosen.image())
    mesos_image: DockerImage | AppcImage | None = None
    if isinstance(image, schema.DockerImage):
        mesos_image = DockerImage(image.get()["name"], image.get()["tag"])
    elif isinstance(image, schema.AppcImage):
        mesos_image = AppcImage(image.get()["name"], image.get()["image_id"])
    volumes = tuple(Volume(v["container_path"], v["host_path"], VolumeMode[v["mode"]])
                    for v in options["volumes"])
    return MesosContainer(mesos_image, volumes)


def _sla_policy(where: _Where, job: Any) -> SlaPolicy | None:
    policy = _unwrap(job.sla_policy())
    if policy is Empty:
        return None
    values = policy.get()
    for name in ("percentage", "count", "duration_secs"):
        if isinstance(values.get(name), str):
            raise where.error(f"sla_policy.{name}", "must be known when the job is submitted")
    if isinstance(policy, schema.PercentageSlaPolicy):
        return PercentageSlaPolicy(float(values["percentage"]), values["duration_secs"])
    if isinstance(policy, schema.CountSlaPolicy):
        return CountSlaPolicy(values["count"], values["duration_secs"])
    return CoordinatorSlaPolicy(values["coordinator_url"], values["status_key"])


def _cron_policy(where: _Where, data: Mapping[str, Any]) -> CronCollisionPolicy:
    text = data["cron_collision_policy"]
    try:
        return CronCollisionPolicy[text.upper()]
    except KeyError:
        raise where.error("cron_collision_policy",
                          f"unknown policy {text!r}: expected one of "
                          f"{', '.join(p.name for p in CronCollisionPolicy)}") from None


def _field_of(message: str) -> str | None:
    if message.startswith("constraints") and "dedicated" in message:
        return "constraints[dedicated]"
    head = re.match(r"[a-z_]+(?:\.[a-z_]+)?", message)
    return None if head is None else head.group(0)


def _is_int(value: Any) -> bool:
    try:
        int(value)
    except ValueError:
        return False
    return True


def convert_job(job: Any, *, file: str, job_name: str, owner: str | None = None,
                tiers: Mapping[str, TierInfo] | None = None,
                default_tier: str | None = None) -> LoadedJob:
    """``job`` (a picked pystachio job) as Aurora's client would submit it."""
    where = _Where(file, job_name)
    job = job.bind(_STANDARD_BINDINGS)
    check_job(job, file=file, job_name=job_name)
    tier_unset = job.tier() is Empty
    job = _backfill_tier(job, TIERS if tiers is None else tiers, default_tier or DEFAULT_TIER)
    data = job.interpolate()[0].get()
    ports = requested_ports(job, where)
    warnings = _client_checks(where, job, data, ports, tier_unset)
    _check_plan(where, data["task"])
    key = _job_key(where, data)
    resources = _resources(where, data, ports)
    constraints = []
    for name, text in (data.get("constraints") or {}).items():
        try:
            constraints.append(Constraint.parse(name, text))
        except TaskDescriptionError as err:
            raise where.error(f"constraints[{name}]", str(err)) from None
    executor = data["executor_config"]
    if executor["name"] == AURORA_EXECUTOR_NAME:
        payload = {k: v for k, v in data.items() if k not in _ALIASED_FIELDS}
        executor_config = ExecutorConfig(AURORA_EXECUTOR_NAME, json.dumps(payload, sort_keys=True))
    else:
        executor_config = ExecutorConfig(executor["name"], executor["data"])
    try:
        partition = None if "partition_policy" not in data else PartitionPolicy(
            bool(_fixed(where, data, "partition_policy.reschedule", bool)),
            _fixed(where, data, "partition_policy.delay_secs", int))
        task = TaskConfig(
            job=key, owner=Identity(owner or _local_user()), resources=resources,
            is_service=bool(_fixed(where, data, "service", bool)),
            priority=_fixed(where, data, "priority", int),
            max_task_failures=_fixed(where, data, "max_task_failures", int),
            tier=data["tier"], constraints=tuple(constraints),
            metadata=tuple(Metadata(str(m["key"]), str(m["value"])) for m in data["metadata"]),
            container=_container(where, job), executor_config=executor_config,
            contact_email=data.get("contact"), partition_policy=partition,
            sla_policy=_sla_policy(where, job))
        configuration = JobConfiguration(
            task_config=task, instance_count=_fixed(where, data, "instances", int),
            cron_schedule=data.get("cron_schedule"),
            cron_collision_policy=_cron_policy(where, data))
    except (TaskDescriptionError, InvalidResourcesError) as err:
        text = str(err)
        field = ("instances" if text.startswith("instance_count") else
                 "cron_schedule" if "cron" in text else _field_of(text))
        raise where.error(field, text) from None
    try:
        update: UpdateSettings | ConfigError = _update_settings(where, job, data)
    except ConfigError as err:
        update = err
    return LoadedJob(file=file, cluster=data["cluster"], key=key,
                     job_configuration=configuration, warnings=tuple(warnings), raw=job,
                     _update=update)


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "nobody")
