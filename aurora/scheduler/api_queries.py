"""The API's read side: argument checks, TaskQuery selection over the state table, and the
ReadOnlyScheduler methods (tasks, pending reasons, jobs, summaries, tiers, populateJobConfig).

Facts matched (Aurora 0.22, ``ReadOnlySchedulerImpl``, ``base/Query``, ``storage/TaskStore``):

* TaskQuery terms are ANDed and an unset or empty term matches everything; a blank ``role`` is
  ignored; ``offset`` and ``limit`` apply only when positive, after filtering;
* getTasksWithoutConfigs drops the executor config's data (its name stays);
* getPendingReason refuses ``slaveHosts`` and ``statuses`` and looks at PENDING tasks only; the
  reason is the scheduler's last veto text for the task's group;
* getJobs synthesises each job from its active tasks (the most recently changed task's config,
  as many instances as active tasks); getJobSummary does the same over all the role's tasks and
  counts them as Aurora's JobStats do; getRoleSummary counts jobs with tasks and cron jobs.

Selection uses the table's indexes: task ids by lookup, jobs by their task lists, hosts by
theirs, statuses by theirs; only a query naming none of them walks every task.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from thriftpy2.thrift import TType

from aurora.api import convert as cv
from aurora.api.codec import api, invalid_request, ok
from aurora.api.convert import JobConfiguration
from aurora.model.status import ACTIVE_STATES, WIRE_STATUSES
from aurora.model.status import ScheduleStatus as S
from aurora.model.task import DEFAULT_TIER, TIERS, DockerContainer, TaskConfig

if TYPE_CHECKING:
    from aurora.scheduler.service import Scheduler

ACTIVE_CODES = frozenset(int(s) for s in ACTIVE_STATES)
PENDING_CODES = frozenset({int(S.INIT), int(S.PENDING), int(S.THROTTLED)})
FINISHED_CODES = frozenset({int(S.KILLED), int(S.FINISHED)})
FAILED_CODES = frozenset({int(S.LOST), int(S.FAILED)})
AURORA_EXECUTOR = "AuroraExecutor"
DELETED = int(S.DELETED)
Response = Any  # a thrift Response struct


class BadInput(ValueError):
    """An argument the API cannot take (INVALID_REQUEST)."""


# ----------------------------------------------------------------------- argument checks

_INT_BITS = {TType.BYTE: 8, TType.I16: 16, TType.I32: 32, TType.I64: 64}
_TYPE_NAMES = {TType.BOOL: "bool", TType.BYTE: "byte", TType.I16: "i16", TType.I32: "i32",
               TType.I64: "i64", TType.DOUBLE: "double", TType.STRING: "string",
               TType.LIST: "list", TType.SET: "set", TType.MAP: "map"}


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _split(spec: Any) -> tuple[int, Any]:
    return (spec[0], spec[1]) if isinstance(spec, tuple) else (spec, None)


def _wrong(path: str, expected: str, value: Any) -> BadInput:
    return BadInput(f"{path}: expected {expected}, got {type(value).__name__} {value!r:.80}")


def check_struct(value: Any, cls: Any, path: str = "") -> None:
    """Every set field of VALUE (a thrift struct of class CLS) has the IDL's type."""
    if not isinstance(value, cls):
        raise _wrong(path or "argument", cls.__name__, value)
    for spec in cls.thrift_spec.values():
        member = getattr(value, spec[1], None)
        if member is not None:
            check_value(member, spec[0], spec[2] if len(spec) == 4 else None,
                        _join(path, spec[1]))


def check_value(value: Any, ttype: int, sub: Any, path: str) -> None:
    """VALUE has thrift type TTYPE (SUB: struct or enum class, element or map spec)."""
    if ttype == TType.STRUCT:
        check_struct(value, sub, path)
    elif ttype in (TType.LIST, TType.SET):
        _check_items(value, sub, path)
    elif ttype == TType.MAP:
        if not isinstance(value, dict):
            raise _wrong(path, "map", value)
        (ktype, ksub), (vtype, vsub) = _split(sub[0]), _split(sub[1])
        for key, item in value.items():
            check_value(key, ktype, ksub, f"{path} key")
            check_value(item, vtype, vsub, f"{path}[{key!r}]")
    else:
        _check_scalar(value, ttype, sub, path)


def _check_items(value: Any, sub: Any, path: str) -> None:
    if isinstance(value, str | bytes | dict) or not isinstance(value, Iterable):
        raise _wrong(path, "a list or set", value)
    etype, esub = _split(sub)
    for i, item in enumerate(value):
        check_value(item, etype, esub, f"{path}[{i}]")


def _check_scalar(value: Any, ttype: int, enum: Any, path: str) -> None:
    name = _TYPE_NAMES.get(ttype, str(ttype))
    if ttype == TType.BOOL:
        good = type(value) is bool
    elif ttype in _INT_BITS:
        bits = _INT_BITS[ttype]
        good = (isinstance(value, int) and not isinstance(value, bool)
                and -(1 << (bits - 1)) <= value < 1 << (bits - 1))
        names = getattr(enum, "_VALUES_TO_NAMES", None)
        if good and names is not None and value not in names:
            known = ", ".join(f"{n}={v}" for v, n in sorted(names.items()))
            raise BadInput(f"{path}: {value} is not a {enum.__name__} (expected one of {known})")
    elif ttype == TType.DOUBLE:
        good = isinstance(value, int | float) and not isinstance(value, bool)
    else:
        good = isinstance(value, str)
    if not good:
        raise _wrong(path, name, value)


def required(value: Any, path: str) -> Any:
    if value is None:
        raise BadInput(f"{path} is missing")
    return value


def job_key(value: Any, path: str = "job") -> Any:
    """A validated model JobKey from a thrift one (InvalidJobKeyError says why not)."""
    return cv.job_key_from_thrift(required(value, path), path)


def job_configuration(description: Any, path: str = "description") -> JobConfiguration:
    """A client's job, read and checked as Aurora's ConfigurationManager does."""
    job = cv.job_configuration_from_thrift(required(description, path), path)
    check_executor(job.task_config, f"{path}.taskConfig")
    return job


def check_executor(config: TaskConfig, path: str) -> None:
    executor = config.executor_config
    if executor is None:
        if not isinstance(config.container, DockerContainer):
            raise BadInput(f"{path}: Configuration may not be null.")
        return
    if executor.name != AURORA_EXECUTOR:
        raise BadInput(f"{path}.executorConfig: Configuration for executor '{executor.name}' "
                       "doesn't exist.")
    try:
        thermos = json.loads(executor.data)
    except ValueError as exc:
        raise BadInput(f"{path}.executorConfig.data: not the Thermos task as JSON: "
                       f"{exc}") from None
    if not isinstance(thermos, dict):
        raise BadInput(f"{path}.executorConfig.data: the Thermos task must be a JSON object")


# ---------------------------------------------------------------------------- table index


class TableIndex:
    """Job and host numbers of the state table by name, without registering unknown ones."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self._jobs: dict[tuple[str, str, str], int] = {}
        self._roles: dict[str, list[int]] = {}
        self._hosts: dict[str, int] = {}
        self._seen_jobs = 0
        self._seen_hosts = 0

    def _refresh(self) -> None:
        count = self.table.job_count
        for jid in range(self._seen_jobs, count):
            key = tuple(self.table.job_key(jid))
            self._jobs[key] = jid  # type: ignore[index]
            self._roles.setdefault(key[0], []).append(jid)
        self._seen_jobs = count
        hosts = self.table.host_count
        for h in range(self._seen_hosts, hosts):
            self._hosts[self.table.host_name(h)] = h
        self._seen_hosts = hosts

    def job(self, key: Any) -> int:
        """The table's number for a job (a model JobKey or a tuple), -1 when unknown."""
        self._refresh()
        parts = key if isinstance(key, tuple) else (key.role, key.environment, key.name)
        return self._jobs.get(parts, -1)

    def jobs(self, keys: Iterable[tuple[str, str, str]]) -> list[int]:
        return sorted(j for j in (self.job(k) for k in keys) if j >= 0)

    def jobs_of_role(self, role: str | None) -> list[int]:
        """Jobs of ROLE, or every job for None."""
        self._refresh()
        if role is None:
            return list(range(self._seen_jobs))
        return list(self._roles.get(role, ()))

    def key(self, jid: int) -> tuple[str, str, str]:
        return tuple(self.table.job_key(jid))  # type: ignore[return-value]

    def host(self, name: str) -> int:
        self._refresh()
        return self._hosts.get(name, -1)


def _chain(groups: Iterable[Iterable[int]]) -> Iterator[int]:
    for group in groups:
        yield from group


# ----------------------------------------------------------------------------- task query


@dataclass(frozen=True)
class Query:
    """A TaskQuery as sets; an empty set is an unset term."""

    role: str | None = None
    environment: str | None = None
    job_name: str | None = None
    job_keys: frozenset[tuple[str, str, str]] = field(default_factory=frozenset)
    task_ids: frozenset[str] = field(default_factory=frozenset)
    statuses: frozenset[int] = field(default_factory=frozenset)
    instances: frozenset[int] = field(default_factory=frozenset)
    hosts: frozenset[str] = field(default_factory=frozenset)
    offset: int = 0
    limit: int = 0

    @classmethod
    def from_thrift(cls, query: Any, path: str = "query") -> Query:
        q = required(query, path)
        role = q.role if q.role is not None and q.role.strip() else None
        return cls(role=role, environment=q.environment, job_name=q.jobName,
                   job_keys=frozenset((k.role, k.environment, k.name) for k in q.jobKeys or ()),
                   task_ids=frozenset(q.taskIds or ()), statuses=frozenset(q.statuses or ()),
                   instances=frozenset(q.instanceIds or ()),
                   hosts=frozenset(q.slaveHosts or ()), offset=q.offset or 0,
                   limit=q.limit or 0)

    def scoped_jobs(self) -> frozenset[tuple[str, str, str]]:
        if self.job_keys:
            return self.job_keys
        if self.role is not None and self.environment is not None and self.job_name is not None:
            return frozenset({(self.role, self.environment, self.job_name)})
        return frozenset()

    def key_matches(self, key: tuple[str, str, str]) -> bool:
        return ((self.role is None or key[0] == self.role)
                and (self.environment is None or key[1] == self.environment)
                and (self.job_name is None or key[2] == self.job_name)
                and (not self.job_keys or key in self.job_keys))


def select(sched: Scheduler, index: TableIndex, query: Query, *,
           paged: bool = True) -> list[int]:
    """Slots of the tasks QUERY matches, by job, instance and age; offset/limit when PAGED."""
    table = sched.table
    matched: list[tuple[int, int, int, int]] = []
    keys: dict[int, bool] = {}
    for s in _candidates(sched, index, query):
        row = table.row(s)
        state, jid, instance, host = row[0], row[1], row[2], row[4]
        if query.statuses and state not in query.statuses:
            continue
        if query.instances and instance not in query.instances:
            continue
        if query.hosts and (host < 0 or table.host_name(host) not in query.hosts):
            continue
        good = keys.get(jid)
        if good is None:
            good = keys[jid] = query.key_matches(index.key(jid))
        if good:
            matched.append((jid, instance, row[7], s))
    matched.sort()
    slots = [m[3] for m in matched]
    if paged and query.offset > 0:
        slots = slots[query.offset:]
    if query.limit > 0:
        slots = slots[:query.limit]
    return slots


def _candidates(sched: Scheduler, index: TableIndex, query: Query) -> Iterable[int]:
    """The smallest index-backed superset of the query's tasks."""
    table = sched.table
    if query.task_ids:
        return [s for s in table.lookup(sorted(query.task_ids)) if s >= 0]
    jobs = query.scoped_jobs()
    if jobs:
        return _chain(table.tasks_of_job(j) for j in index.jobs(jobs))
    if query.hosts:
        hosts = sorted(h for h in (index.host(n) for n in query.hosts) if h >= 0)
        return _chain(table.tasks_on_host(h) for h in hosts)
    if query.statuses:
        return _chain(table.tasks_in_state(st) for st in sorted(query.statuses))
    if query.role is not None:
        return _chain(table.tasks_of_job(j) for j in index.jobs_of_role(query.role))
    return _chain(table.tasks_in_state(int(st)) for st in WIRE_STATUSES)


# ----------------------------------------------------------------------- thrift task views


class TaskWriter:
    """ScheduledTask structs from table rows; each config is converted once per writer."""

    def __init__(self, sched: Scheduler, *, with_executor_data: bool = True) -> None:
        self.sched = sched
        self.with_executor_data = with_executor_data
        self._configs: dict[int, Any] = {}

    def config(self, cid: int) -> Any:
        thrift = self._configs.get(cid)
        if thrift is None:
            thrift = self._configs[cid] = cv.task_config_to_thrift(
                self.sched.jobs.configs[cid], with_executor_data=self.with_executor_data)
        return thrift

    def tasks(self, slots: Iterable[int]) -> list[Any]:
        live = [s for s in slots if self.sched.table.state(s) != DELETED]
        return [self._task(s, rec) for s, rec in zip(live, self.sched.rows(live), strict=True)]

    def _task(self, slot: int, rec: Any) -> Any:
        (task_id, _, instance, cid, status, host, failures, partitions, ancestor) = rec[:9]
        scheduler = self.sched.settings.scheduler_host
        assigned = api.AssignedTask(
            taskId=task_id, slaveId=self._agent(host), slaveHost=host, task=self.config(cid),
            assignedPorts=self._ports(slot), instanceId=instance)
        events = [api.TaskEvent(timestamp=ts, status=st, message=msg, scheduler=scheduler)
                  for ts, st, msg in rec[12]]
        return api.ScheduledTask(assignedTask=assigned, status=status, failureCount=failures,
                                 timesPartitioned=partitions, taskEvents=events,
                                 ancestorId=ancestor)

    def _agent(self, host: str | None) -> str | None:
        if host is None:
            return None
        info = self.sched.hosts.get(host)
        return info.agent_id if info is not None else host

    def _ports(self, slot: int) -> dict[str, int]:
        numbers = self.sched.task_ports.get(slot)
        return self.sched.port_map(slot, numbers) if numbers else {}


def ranges(instances: Iterable[int]) -> list[Any]:
    """Sorted instance ids as Aurora's contiguous Ranges."""
    out: list[Any] = []
    for i in sorted(set(instances)):
        if out and out[-1].last == i - 1:
            out[-1].last = i
        else:
            out.append(api.Range(first=i, last=i))
    return out


# ------------------------------------------------------------------------ read-only methods


class Queries:
    """ReadOnlyScheduler's methods (getQuota lives with the quota, in api_admin)."""

    def __init__(self, sched: Scheduler, index: TableIndex) -> None:
        self.sched = sched
        self.index = index

    def handlers(self) -> dict[str, Any]:
        return {"getTasksStatus": self.get_tasks_status,
                "getTasksWithoutConfigs": self.get_tasks_without_configs,
                "getPendingReason": self.get_pending_reason,
                "getConfigSummary": self.get_config_summary,
                "getJobs": self.get_jobs,
                "getJobSummary": self.get_job_summary,
                "getRoleSummary": self.get_role_summary,
                "populateJobConfig": self.populate_job_config,
                "getTierConfigs": self.get_tier_configs}

    def _tasks(self, query: Any, with_executor_data: bool) -> Any:
        slots = select(self.sched, self.index, Query.from_thrift(query))
        tasks = TaskWriter(self.sched, with_executor_data=with_executor_data).tasks(slots)
        return ok(api.ScheduleStatusResult(tasks=tasks))

    async def get_tasks_status(self, args: Any) -> Response:
        return self._tasks(args.query, True)

    async def get_tasks_without_configs(self, args: Any) -> Response:
        return self._tasks(args.query, False)

    async def get_pending_reason(self, args: Any) -> Response:
        query = Query.from_thrift(args.query)
        if query.hosts:
            return invalid_request(f"SlaveHosts are not supported in {args.query}")
        if query.statuses:
            return invalid_request(f"Statuses is not supported in {args.query}")
        query = replace(query, statuses=frozenset({int(S.PENDING)}))
        reasons = self.sched.stats.pending_reasons
        table = self.sched.table
        out = [api.PendingReason(taskId=table.task_id(s),
                                 reason=reasons.get(table.row(s)[3], ""))
               for s in select(self.sched, self.index, query)]
        return ok(api.GetPendingReasonResult(reasons=out))

    async def get_config_summary(self, args: Any) -> Response:
        key = job_key(args.job)
        by_config: dict[int, list[int]] = {}
        for s in self._job_tasks(self.index.job(key), active=True):
            row = self.sched.table.row(s)
            by_config.setdefault(row[3], []).append(row[2])
        writer = TaskWriter(self.sched)
        groups = [api.ConfigGroup(config=writer.config(cid), instances=ranges(instances))
                  for cid, instances in sorted(by_config.items())]
        summary = api.ConfigSummary(key=cv.job_key_to_thrift(key), groups=groups)
        return ok(api.ConfigSummaryResult(summary=summary))

    def _job_tasks(self, jid: int, *, active: bool) -> list[int]:
        if jid < 0:
            return []
        table = self.sched.table
        slots = table.tasks_of_job(jid)
        return [s for s in slots if table.state(s) in ACTIVE_CODES] if active else list(slots)

    def _latest_config(self, slots: list[int]) -> int:
        """Config of the task that changed last, active ones first (Tasks.getLatestActiveTask)."""
        table = self.sched.table
        rows = [table.row(s) for s in slots]
        latest = max(rows, key=lambda r: (r[0] in ACTIVE_CODES, r[9]))
        return int(latest[3])

    def _job_configuration(self, cid: int, count: int) -> Any:
        config = self.sched.jobs.configs[cid]
        job = self.sched.jobs.get(config.job)
        cron = job.cron_schedule if job is not None else None
        policy = job.cron_collision_policy if job is not None else 0
        return cv.job_configuration_to_thrift(JobConfiguration(
            task_config=config, instance_count=count, cron_schedule=cron,
            cron_collision_policy=policy))

    def _cron_jobs(self, role: str | None) -> list[Any]:
        return [job for job in self.sched.jobs.jobs.values()
                if job.cron_schedule and (role is None or job.key.role == role)]

    @staticmethod
    def _role(value: str | None) -> str | None:
        return value if value is not None and value.strip() else None

    async def get_jobs(self, args: Any) -> Response:
        role = self._role(args.ownerRole)
        configs: dict[str, Any] = {}
        for jid in self.index.jobs_of_role(role):
            active = self._job_tasks(jid, active=True)
            if active:
                configs["/".join(self.index.key(jid))] = self._job_configuration(
                    self._latest_config(active), len(active))
        for job in self._cron_jobs(role):
            configs[str(job.key)] = self._job_configuration(job.config, job.instances)
        return ok(api.GetJobsResult(configs=[configs[k] for k in sorted(configs)]))

    async def get_job_summary(self, args: Any) -> Response:
        role = self._role(args.role)
        summaries: dict[str, Any] = {}
        for jid in self.index.jobs_of_role(role):
            slots = self._job_tasks(jid, active=False)
            if slots:
                job = self._job_configuration(self._latest_config(slots), len(slots))
                summaries["/".join(self.index.key(jid))] = api.JobSummary(
                    job=job, stats=self._stats(slots))
        for cron in self._cron_jobs(role):
            summaries.setdefault(str(cron.key), api.JobSummary(
                job=self._job_configuration(cron.config, cron.instances),
                stats=self._stats([])))
        return ok(api.JobSummaryResult(summaries=[summaries[k] for k in sorted(summaries)]))

    def _stats(self, slots: list[int]) -> Any:
        counts = {"active": 0, "finished": 0, "failed": 0, "pending": 0}
        for s in slots:
            state = self.sched.table.state(s)
            if state in PENDING_CODES:
                counts["pending"] += 1
            elif state in FINISHED_CODES:
                counts["finished"] += 1
            elif state in FAILED_CODES:
                counts["failed"] += 1
            else:
                counts["active"] += 1
        return api.JobStats(activeTaskCount=counts["active"],
                            finishedTaskCount=counts["finished"],
                            failedTaskCount=counts["failed"], pendingTaskCount=counts["pending"])

    async def get_role_summary(self, args: Any) -> Response:
        jobs: dict[str, int] = {}
        for jid in self.index.jobs_of_role(None):
            if len(self.sched.table.tasks_of_job(jid)):
                role = self.index.key(jid)[0]
                jobs[role] = jobs.get(role, 0) + 1
        crons: dict[str, int] = {}
        for job in self._cron_jobs(None):
            crons[job.key.role] = crons.get(job.key.role, 0) + 1
        summaries = [api.RoleSummary(role=r, jobCount=jobs.get(r, 0),
                                     cronJobCount=crons.get(r, 0))
                     for r in sorted(set(jobs) | set(crons))]
        return ok(api.RoleSummaryResult(summaries=summaries))

    async def populate_job_config(self, args: Any) -> Response:
        try:
            job = job_configuration(args.description)
        except ValueError as exc:
            return invalid_request(f"Invalid configuration: {exc}")
        return ok(api.PopulateJobResult(taskConfig=cv.task_config_to_thrift(job.task_config)))

    async def get_tier_configs(self, args: Any) -> Response:
        tiers = [api.TierConfig(name=name, settings={
                    "preemptible": str(info.preemptible).lower(),
                    "revocable": str(info.revocable).lower()})
                 for name, info in sorted(TIERS.items())]
        return ok(api.GetTierConfigResult(defaultTierName=DEFAULT_TIER, tiers=tiers))
