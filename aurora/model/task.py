"""Task configuration and scheduled tasks: Aurora's IDL structs (api.thrift) in snake_case.

``TaskConfig`` is frozen and hashable (its hash is cached) because pending tasks are grouped
by identical config. Its set-like fields are kept in a canonical order (constraints by name,
metadata and task links sorted) so equal configs compare and hash equal however they were built.
Construction and msgspec decoding both validate (``__post_init__``); errors name the field.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from enum import IntEnum
from itertools import pairwise
from types import MappingProxyType

import msgspec
from msgspec.structs import force_setattr

from aurora.model.jobkey import JobKey, identifier_problem
from aurora.model.resources import Resources
from aurora.model.status import ScheduleStatus

__all__ = [
    "AURORA_EXECUTOR_NAME",
    "DEDICATED_ATTRIBUTE",
    "DEFAULT_TIER",
    "TIERS",
    "AppcImage",
    "AssignedTask",
    "Constraint",
    "Container",
    "CoordinatorSlaPolicy",
    "CountSlaPolicy",
    "DockerContainer",
    "DockerImage",
    "DockerParameter",
    "ExecutorConfig",
    "Identity",
    "InvalidConstraintError",
    "LimitConstraint",
    "MesosContainer",
    "Metadata",
    "PartitionPolicy",
    "PercentageSlaPolicy",
    "ScheduledTask",
    "SlaPolicy",
    "TaskConfig",
    "TaskDescriptionError",
    "TaskEvent",
    "TierInfo",
    "ValueConstraint",
    "Volume",
    "VolumeMode",
    "new_task_id",
    "task_id_for",
]

#: api.thrift AURORA_EXECUTOR_NAME.
AURORA_EXECUTOR_NAME = "AuroraExecutor"
#: ConfigurationManager.DEDICATED_ATTRIBUTE.
DEDICATED_ATTRIBUTE = "dedicated"

I32_MIN, I32_MAX = -(2**31), 2**31 - 1
_LIMIT = re.compile(r"limit:(\d+)", re.ASCII)
_NOT_TASK_ID_CHAR = re.compile(r"[^\w-]", re.ASCII)


class TaskDescriptionError(ValueError):
    """A task configuration Aurora would reject (its TaskDescriptionException)."""


class InvalidConstraintError(TaskDescriptionError):
    """A constraint that cannot be built or parsed; the message names the constraint."""


# ---------------------------------------------------------------------------------------- tiers


class TierInfo(msgspec.Struct, frozen=True, gc=False):
    """A tier's traits (Aurora's TierInfo). Production means neither preemptible nor revocable."""

    preemptible: bool
    revocable: bool

    @property
    def is_production(self) -> bool:
        return not (self.preemptible or self.revocable)


#: Aurora's default tier configuration (tiers.json).
TIERS: Mapping[str, TierInfo] = MappingProxyType({
    "preferred": TierInfo(preemptible=False, revocable=False),
    "preemptible": TierInfo(preemptible=True, revocable=False),
    "revocable": TierInfo(preemptible=True, revocable=True),
})
#: The tier a task gets when it names none (tiers.json "default").
DEFAULT_TIER = "preemptible"


# ---------------------------------------------------------------------------------- constraints


class Identity(msgspec.Struct, frozen=True, gc=False):
    """The submitting user (deprecated in Aurora, still on the wire)."""

    user: str


class ValueConstraint(msgspec.Struct, frozen=True, gc=False):
    """Host must have (or, negated, must not have) one of ``values`` for the attribute."""

    negated: bool
    values: frozenset[str]

    def __post_init__(self) -> None:
        values = self.values
        if type(values) is not frozenset:
            if isinstance(values, str) or not isinstance(values, Iterable):
                raise InvalidConstraintError(
                    f"value constraint: values must be a set of strings, got {values!r}"
                )
            values = frozenset(values)
            force_setattr(self, "values", values)
        if not values:
            raise InvalidConstraintError("value constraint: values must not be empty")
        for value in values:
            if not isinstance(value, str) or not value:
                raise InvalidConstraintError(
                    f"value constraint: every value must be a non-empty string, got {value!r}"
                )

    def __str__(self) -> str:
        return ("!" if self.negated else "") + ",".join(sorted(self.values))


class LimitConstraint(msgspec.Struct, frozen=True, gc=False):
    """At most ``limit`` active tasks of the job per value of the attribute."""

    limit: int

    def __post_init__(self) -> None:
        if type(self.limit) is not int or not 0 <= self.limit <= I32_MAX:
            raise InvalidConstraintError(
                f"limit constraint: limit must be a whole number from 0 to {I32_MAX}, "
                f"got {self.limit!r}"
            )

    def __str__(self) -> str:
        return f"limit:{self.limit}"


class Constraint(msgspec.Struct, frozen=True, gc=False):
    """A placement constraint on host attribute ``name``: exactly one of value or limit."""

    name: str
    value: ValueConstraint | None = None
    limit: LimitConstraint | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidConstraintError(
                f"constraint name must be a non-empty string, got {self.name!r}"
            )
        if (self.value is None) == (self.limit is None):
            got = "neither" if self.value is None else "both"
            raise InvalidConstraintError(
                f"constraint '{self.name}': exactly one of value or limit must be set, got {got}"
            )

    @classmethod
    def parse(cls, name: str, text: str) -> Constraint:
        """A constraint from the DSL's ``constraints = {name: text}`` entry.

        ``text`` is ``'v1,v2'`` (host value in the set), ``'!v1,v2'`` (host value not in the
        set) or ``'limit:N'`` (at most N of the job's tasks per attribute value).
        """
        if not isinstance(text, str):
            raise InvalidConstraintError(
                f"constraint '{name}': value must be a string, got {type(text).__name__}"
            )
        if text.startswith("limit:"):
            match = _LIMIT.fullmatch(text)
            if match is None:
                raise InvalidConstraintError(
                    f"constraint '{name}': bad limit {text!r}: expected limit:N with N a whole "
                    "number >= 0"
                )
            return cls(name, limit=LimitConstraint(int(match.group(1))))
        negated = text.startswith("!")
        body = text[1:] if negated else text
        values = body.split(",")
        if not body or "" in values:
            raise InvalidConstraintError(
                f"constraint '{name}': bad value {text!r}: expected 'v1,v2', '!v1,v2' or "
                "'limit:N' with no empty values"
            )
        return cls(name, value=ValueConstraint(negated, frozenset(values)))

    @property
    def is_dedicated(self) -> bool:
        return self.name == DEDICATED_ATTRIBUTE

    def __str__(self) -> str:
        """The DSL text of the constraint (without the name): ``Constraint.parse(c.name, str(c))``
        gives ``c`` back."""
        return str(self.value if self.value is not None else self.limit)


class Metadata(msgspec.Struct, frozen=True, order=True, gc=False):
    key: str
    value: str


# ------------------------------------------------------------------------ executor and container


class ExecutorConfig(msgspec.Struct, frozen=True, gc=False):
    """Which executor runs the task (``AuroraExecutor`` for Thermos) and its opaque data."""

    name: str
    data: str = ""


class DockerParameter(msgspec.Struct, frozen=True, gc=False):
    name: str
    value: str


class DockerImage(msgspec.Struct, frozen=True, tag="docker", gc=False):
    name: str
    tag: str


class AppcImage(msgspec.Struct, frozen=True, tag="appc", gc=False):
    name: str
    image_id: str


class VolumeMode(IntEnum):
    """api.thrift Mode, with its wire numbers."""

    RW = 1
    RO = 2


class Volume(msgspec.Struct, frozen=True, gc=False):
    container_path: str
    host_path: str
    mode: VolumeMode = VolumeMode.RO


class MesosContainer(msgspec.Struct, frozen=True, tag="mesos", gc=False):
    """The Mesos containerizer (Aurora's default), optionally with an image and volumes."""

    image: DockerImage | AppcImage | None = None
    volumes: tuple[Volume, ...] = ()


class DockerContainer(msgspec.Struct, frozen=True, tag="docker", gc=False):
    image: str
    parameters: tuple[DockerParameter, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.image, str) or not self.image:
            raise TaskDescriptionError("container.image: a container must specify an image")


Container = MesosContainer | DockerContainer


# -------------------------------------------------------------------------- policies


def _non_negative(owner: str, field: str, value: object) -> None:
    if type(value) is not int or value < 0:
        raise TaskDescriptionError(f"{owner}.{field} must be a whole number >= 0, got {value!r}")


class PartitionPolicy(msgspec.Struct, frozen=True, gc=False):
    """What to do with a PARTITIONED task: reschedule it after ``delay_secs``, or wait."""

    reschedule: bool = True
    delay_secs: int = 0

    def __post_init__(self) -> None:
        _non_negative("partition_policy", "delay_secs", self.delay_secs)


class PercentageSlaPolicy(msgspec.Struct, frozen=True, tag="percentage", gc=False):
    """Keep ``percentage`` of instances RUNNING for at least ``duration_secs`` each."""

    percentage: float
    duration_secs: int

    def __post_init__(self) -> None:
        if not isinstance(self.percentage, int | float) or not 0 <= self.percentage <= 100:
            raise TaskDescriptionError(
                f"sla_policy.percentage must be from 0 to 100, got {self.percentage!r}"
            )
        _non_negative("sla_policy", "duration_secs", self.duration_secs)


class CountSlaPolicy(msgspec.Struct, frozen=True, tag="count", gc=False):
    """Keep ``count`` instances RUNNING for at least ``duration_secs`` each."""

    count: int
    duration_secs: int

    def __post_init__(self) -> None:
        _non_negative("sla_policy", "count", self.count)
        _non_negative("sla_policy", "duration_secs", self.duration_secs)


class CoordinatorSlaPolicy(msgspec.Struct, frozen=True, tag="coordinator", gc=False):
    """Ask an external coordinator; ``status_key`` is the JSON field saying yes (DSL: drain)."""

    coordinator_url: str
    status_key: str = "drain"

    def __post_init__(self) -> None:
        if not isinstance(self.coordinator_url, str) or not self.coordinator_url:
            raise TaskDescriptionError("sla_policy.coordinator_url must not be empty")


SlaPolicy = PercentageSlaPolicy | CountSlaPolicy | CoordinatorSlaPolicy


# ---------------------------------------------------------------------------------- task config


def _canonical_constraints(constraints: object) -> tuple[Constraint, ...]:
    """Constraints sorted by name, one per name; the input itself when already so."""
    if isinstance(constraints, Mapping):  # the DSL's {name: 'text'}
        items = [Constraint.parse(name, text) for name, text in constraints.items()]
    elif isinstance(constraints, Iterable) and not isinstance(constraints, str):
        items = list(constraints)
    else:
        raise TaskDescriptionError(f"constraints must be a sequence, got {constraints!r}")
    for item in items:
        if not isinstance(item, Constraint):
            raise TaskDescriptionError(f"constraints: expected a Constraint, got {item!r}")
    if type(constraints) is tuple and all(
        a.name < b.name for a, b in pairwise(constraints)  # type: ignore[arg-type]
    ):
        return constraints  # type: ignore[return-value]
    items.sort(key=_constraint_name)
    for before, after in pairwise(items):
        if before.name == after.name:
            raise TaskDescriptionError(
                f"constraints: more than one constraint on '{after.name}' "
                f"('{before}' and '{after}')"
            )
    return tuple(items)


def _constraint_name(constraint: Constraint) -> str:
    return constraint.name


def _canonical_metadata(metadata: object) -> tuple[Metadata, ...]:
    """Metadata sorted, duplicates dropped (a Thrift set); the input itself when already so."""
    if isinstance(metadata, Mapping):
        pairs: Iterable[object] = [Metadata(str(k), str(v)) for k, v in metadata.items()]
    elif isinstance(metadata, Iterable) and not isinstance(metadata, str):
        pairs = metadata
    else:
        raise TaskDescriptionError(f"metadata must be a sequence, got {metadata!r}")
    items: list[Metadata] = []
    for item in pairs:
        if isinstance(item, Metadata):
            items.append(item)
        elif isinstance(item, tuple | list) and len(item) == 2:
            items.append(Metadata(*item))
        else:
            raise TaskDescriptionError(f"metadata: expected a Metadata, got {item!r}")
    if type(metadata) is tuple and all(
        type(m) is Metadata for m in metadata
    ) and all(a < b for a, b in pairwise(items)):
        return metadata  # type: ignore[return-value]
    return tuple(sorted(set(items)))


def _canonical_links(links: object) -> tuple[tuple[str, str], ...]:
    """Links sorted by text, each text once; the input itself when already so."""
    if isinstance(links, Mapping):
        pairs = list(links.items())
    elif isinstance(links, Iterable) and not isinstance(links, str):
        pairs = list(links)
    else:
        raise TaskDescriptionError(f"task_links must be a mapping, got {links!r}")
    for pair in pairs:
        if (not isinstance(pair, tuple | list) or len(pair) != 2
                or not isinstance(pair[0], str) or not isinstance(pair[1], str)):
            raise TaskDescriptionError(f"task_links: expected (text, url) strings, got {pair!r}")
    if type(links) is tuple and all(type(p) is tuple for p in links) and all(
        a[0] < b[0] for a, b in pairwise(pairs)
    ):
        return links  # type: ignore[return-value]
    result = tuple(sorted((k, v) for k, v in pairs))
    for (k1, v1), (k2, v2) in pairwise(result):
        if k1 == k2:
            raise TaskDescriptionError(f"task_links: link '{k1}' given twice ({v1!r}, {v2!r})")
    return result


class TaskConfig(msgspec.Struct, frozen=True, kw_only=True, cache_hash=True, gc=False):
    """What a task is: the same for every instance of a job (Aurora's TaskConfig).

    ``constraints`` may be given as any iterable of Constraint or as the DSL's mapping
    ``{name: 'v1,v2' | '!v' | 'limit:N'}``; ``metadata`` as Metadata, pairs or a mapping;
    ``task_links`` as a mapping or pairs. They are stored as sorted tuples.
    Aurora's ``production`` flag is not stored: it follows from the tier (``is_production``).
    Fields Aurora has and this model leaves out: ``mesosFetcherUris``.
    """

    job: JobKey
    owner: Identity
    resources: Resources
    is_service: bool = False
    priority: int = 0
    max_task_failures: int = 1
    tier: str = DEFAULT_TIER
    constraints: tuple[Constraint, ...] = ()
    metadata: tuple[Metadata, ...] = ()
    container: Container = MesosContainer()
    executor_config: ExecutorConfig | None = None
    contact_email: str | None = None
    task_links: tuple[tuple[str, str], ...] = ()
    partition_policy: PartitionPolicy | None = None
    sla_policy: SlaPolicy | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.job, JobKey):
            raise TaskDescriptionError(f"job must be a JobKey, got {self.job!r}")
        if not isinstance(self.owner, Identity):
            raise TaskDescriptionError(f"owner must be an Identity, got {self.owner!r}")
        if not isinstance(self.resources, Resources):
            raise TaskDescriptionError(f"resources must be Resources, got {self.resources!r}")
        problem = self.resources.task_problem()
        if problem is not None:
            raise TaskDescriptionError(f"resources: {problem}")
        if type(self.priority) is not int or not I32_MIN <= self.priority <= I32_MAX:
            raise TaskDescriptionError(
                f"priority must be a whole number from {I32_MIN} to {I32_MAX}, "
                f"got {self.priority!r}"
            )
        mtf = self.max_task_failures
        if type(mtf) is not int or not -1 <= mtf <= I32_MAX:
            raise TaskDescriptionError(
                f"max_task_failures must be -1 (no limit) or a whole number >= 0, got {mtf!r}"
            )
        if type(self.tier) is not str or self.tier not in TIERS:
            problem = identifier_problem("tier", self.tier) or f"tier '{self.tier}' is unknown"
            raise TaskDescriptionError(f"{problem}: expected one of {', '.join(sorted(TIERS))}")
        if not isinstance(self.container, MesosContainer | DockerContainer):
            raise TaskDescriptionError(f"container must be Mesos or Docker, got {self.container!r}")

        constraints = self.constraints
        if constraints:
            canonical = _canonical_constraints(constraints)
            if canonical is not constraints:
                force_setattr(self, "constraints", canonical)
            for constraint in canonical:
                if constraint.name == DEDICATED_ATTRIBUTE:
                    self._check_dedicated(constraint)
                    break
        elif type(constraints) is not tuple:
            force_setattr(self, "constraints", ())
        for field, canonicalise in (("metadata", _canonical_metadata),
                                    ("task_links", _canonical_links)):
            given = getattr(self, field)
            if given or type(given) is not tuple:
                canonical = canonicalise(given)
                if canonical is not given:
                    force_setattr(self, field, canonical)

    def _check_dedicated(self, constraint: Constraint) -> None:
        # ConfigurationManager: a value constraint with exactly one value whose role part (up to
        # the first '/') is '*' or the job's role. The rest is free-form ('role/name' by idiom).
        value = constraint.value
        if value is None:
            raise TaskDescriptionError(
                f"constraints: the dedicated constraint must be a value constraint, got "
                f"'{constraint}'"
            )
        if len(value.values) != 1:
            raise TaskDescriptionError(
                f"constraints: the dedicated constraint must have exactly one value, got "
                f"'{constraint}'"
            )
        (text,) = value.values
        role = text.split("/", 1)[0]
        if role != "*" and role != self.job.role:
            raise TaskDescriptionError(
                f"constraints: dedicated '{text}': only role '{role}' may use hosts dedicated "
                f"to it, and this job's role is '{self.job.role}' (expected "
                f"'{self.job.role}/<name>' or '*/<name>')"
            )

    @property
    def tier_info(self) -> TierInfo:
        return TIERS[self.tier]

    @property
    def is_production(self) -> bool:
        """Aurora's ``production``: the tier is neither preemptible nor revocable."""
        return TIERS[self.tier].is_production

    @property
    def is_preemptible(self) -> bool:
        return TIERS[self.tier].preemptible

    @property
    def is_revocable(self) -> bool:
        return TIERS[self.tier].revocable

    @property
    def is_dedicated(self) -> bool:
        return self.constraint(DEDICATED_ATTRIBUTE) is not None

    def constraint(self, name: str) -> Constraint | None:
        for constraint in self.constraints:
            if constraint.name == name:
                return constraint
        return None

    @property
    def links(self) -> dict[str, str]:
        """``task_links`` as a dict (Aurora's map<string,string>)."""
        return dict(self.task_links)


# ---------------------------------------------------------------------------------------- tasks


def task_id_for(job: JobKey, instance: int, uuid_text: str) -> str:
    """Aurora's task id ``role-env-name-instance-uuid``, every char outside ``[\\w-]`` -> ``-``."""
    raw = f"{job.role}-{job.environment}-{job.name}-{instance}-{uuid_text}"
    return _NOT_TASK_ID_CHAR.sub("-", raw)


def new_task_id(job: JobKey, instance: int) -> str:
    """A fresh task id with a random UUID, as Aurora's TaskIdGenerator makes them."""
    return task_id_for(job, instance, str(uuid.uuid4()))


def _as_status(status: object) -> ScheduleStatus:
    if type(status) is ScheduleStatus:
        return status
    return ScheduleStatus.parse(status)  # type: ignore[arg-type]  # UnknownStatusError if bad


class TaskEvent(msgspec.Struct, frozen=True, gc=False):
    """A state transition: when (ms since the epoch), to what, why, and by which scheduler host."""

    timestamp_ms: int
    status: ScheduleStatus
    message: str | None = None
    scheduler: str | None = None

    def __post_init__(self) -> None:
        if type(self.status) is not ScheduleStatus:
            force_setattr(self, "status", _as_status(self.status))


class AssignedTask(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A task with its id and instance, and (once ASSIGNED) its agent and ports."""

    task_id: str
    task: TaskConfig
    instance_id: int
    slave_id: str | None = None
    slave_host: str | None = None
    assigned_ports: dict[str, int] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.task_id, str) or not self.task_id:
            raise TaskDescriptionError(f"task_id must be a non-empty string, got {self.task_id!r}")
        if type(self.instance_id) is not int or not 0 <= self.instance_id <= I32_MAX:
            raise TaskDescriptionError(
                f"instance_id must be a whole number >= 0, got {self.instance_id!r}"
            )
        if not isinstance(self.task, TaskConfig):
            raise TaskDescriptionError(f"task must be a TaskConfig, got {self.task!r}")


class ScheduledTask(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A task the scheduler tracks: assignment, status, failure history and events."""

    assigned_task: AssignedTask
    status: ScheduleStatus
    failure_count: int = 0
    times_partitioned: int = 0
    task_events: tuple[TaskEvent, ...] = ()
    ancestor_id: str | None = None

    def __post_init__(self) -> None:
        if type(self.status) is not ScheduleStatus:
            force_setattr(self, "status", _as_status(self.status))
        _non_negative("task", "failure_count", self.failure_count)
        _non_negative("task", "times_partitioned", self.times_partitioned)
        if type(self.task_events) is not tuple:
            force_setattr(self, "task_events", tuple(self.task_events))

    @property
    def task_id(self) -> str:
        return self.assigned_task.task_id

    @property
    def instance_id(self) -> int:
        return self.assigned_task.instance_id

    @property
    def config(self) -> TaskConfig:
        return self.assigned_task.task

    @property
    def job(self) -> JobKey:
        return self.assigned_task.task.job
