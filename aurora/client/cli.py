"""``aurora``: Aurora's job client (Aurora 0.22 ``client/cli``), for the verbs built so far.

    aurora job create CLUSTER/ROLE/ENV/NAME FILE.aurora [--bind k=v] [--wait-until RUNNING|FINISHED]
    aurora job diff|inspect CLUSTER/ROLE/ENV/NAME FILE.aurora [--bind k=v]
    aurora job add CLUSTER/ROLE/ENV/NAME/INSTANCE COUNT
    aurora job kill CLUSTER/ROLE/ENV/NAME/INSTANCES       (instances like 0-3,7)
    aurora job killall CLUSTER/ROLE/ENV/NAME
    aurora job list CLUSTER[/ROLE[/ENV]]
    aurora job restart CLUSTER/ROLE/ENV/NAME[/INSTANCES]
    aurora job status CLUSTER/ROLE/ENV/NAME
    aurora quota get CLUSTER/ROLE
    aurora config list FILE.aurora

Read commands take ``--json``. Tables are drawn with rich on a terminal and written as
tab-separated lines otherwise. Exit codes: 0 ok, 1 the scheduler refused or nothing was found,
2 usage or configuration error, 3 the scheduler cannot be reached. Errors are one line on
stderr, ``aurora: <message>``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from aurora.client import EXIT_OK, EXIT_REFUSED, EXIT_USAGE, ClientError
from aurora.client.api import SchedulerClient, api
from aurora.client.clusters import get_cluster
from aurora.client.jobkeys import parse_instance_key, parse_job_key, parse_job_path
from aurora.model.jobkey import InvalidJobKeyError, JobKey, identifier_problem
from aurora.model.status import ACTIVE_STATES, TERMINAL_STATES, ScheduleStatus

__all__ = ["connect", "main", "parser", "run", "to_plain"]

PROG = "aurora"


# ------------------------------------------------------------------------------ helpers


def connect(cluster: str) -> SchedulerClient:
    """A client of the scheduler of ``cluster`` (from clusters.json)."""
    found = get_cluster(cluster)
    return SchedulerClient(found.api_url, cluster=cluster)


def to_plain(value: Any) -> Any:
    """A thriftpy2 value as JSON-ready data (structs -> dicts without unset fields, sets ->
    sorted lists)."""
    spec = getattr(value, "thrift_spec", None)
    if spec is not None:
        out = {}
        for entry in spec.values():
            name = entry[1]
            field = getattr(value, name, None)
            if field is not None:
                out[name] = to_plain(field)
        return out
    if isinstance(value, (set, frozenset)):
        items = [to_plain(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(to_plain(k)): to_plain(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def status_name(value: int) -> str:
    try:
        return ScheduleStatus(value).name
    except ValueError:
        return str(value)


def is_terminal(value: int) -> bool:
    return value in {s.value for s in TERMINAL_STATES}


_ACTIVE_NUMBERS = frozenset(s.value for s in ACTIVE_STATES)


def stdout_is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]],
                title: str | None = None) -> None:
    """A rich table on a terminal; tab-separated lines (header first) otherwise."""
    rows = [["" if c is None else str(c) for c in row] for row in rows]
    if stdout_is_terminal():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*row)
        Console().print(table)
        return
    if title:
        print(title)
    print("\t".join(columns))
    for row in rows:
        print("\t".join(row))


def job_key_thrift(key: JobKey) -> Any:
    return api.JobKey(role=key.role, environment=key.environment, name=key.name)


def parse_bindings(values: Sequence[str] | None) -> list[str]:
    out = []
    for value in values or ():
        name, eq, _ = value.partition("=")
        if not eq or not name.strip():
            raise ClientError(f"invalid binding '{value}': expected name=value")
        out.append(value)
    return out


def load_config(path: str, job: str | None, bindings: Sequence[str] | None) -> Any:
    from aurora.config import load

    return load(path, job, parse_bindings(bindings))


def scheduler_page(client: SchedulerClient, key: JobKey) -> str:
    base = client.url[: -len("/api")] if client.url.endswith("/api") else client.url
    return f"{base}/scheduler/{key.role}/{key.environment}/{key.name}"


def task_query(key: JobKey, *, statuses: Iterable[ScheduleStatus] | None = None,
               instances: Iterable[int] | None = None) -> Any:
    query = api.TaskQuery(jobKeys={job_key_thrift(key)})
    if statuses is not None:
        query.statuses = {int(s) for s in statuses}
    if instances is not None:
        query.instanceIds = set(instances)
    return query


def fetch_tasks(client: SchedulerClient, query: Any, *, configs: bool = False) -> list[Any]:
    method = "getTasksStatus" if configs else "getTasksWithoutConfigs"
    result = client.call(method, query=query).result
    return list(result.scheduleStatusResult.tasks or []) if result else []


def task_row(task: Any) -> dict[str, Any]:
    assigned = task.assignedTask
    events = [{"timestamp": e.timestamp, "status": status_name(e.status),
               "message": e.message, "scheduler": e.scheduler}
              for e in (task.taskEvents or [])]
    return {
        "instance": assigned.instanceId,
        "task_id": assigned.taskId,
        "status": status_name(task.status),
        "host": assigned.slaveHost,
        "agent_id": assigned.slaveId,
        "ports": dict(sorted((assigned.assignedPorts or {}).items())),
        "failure_count": task.failureCount,
        "ancestor_id": task.ancestorId,
        "events": events,
    }


def format_time(ms: int | None) -> str:
    if not ms:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


def aggregate(agg: Any) -> dict[str, Any]:
    """cpu / ram_mb / disk_mb of a ResourceAggregate (the resources set first)."""
    out: dict[str, Any] = {"cpu": 0.0, "ram_mb": 0, "disk_mb": 0}
    if agg is None:
        return out
    seen = False
    for res in agg.resources or ():
        seen = True
        if res.numCpus is not None:
            out["cpu"] += res.numCpus
        elif res.ramMb is not None:
            out["ram_mb"] += res.ramMb
        elif res.diskMb is not None:
            out["disk_mb"] += res.diskMb
        elif res.numGpus is not None:
            out["gpus"] = out.get("gpus", 0) + res.numGpus
    if not seen:
        out.update(cpu=agg.numCpus or 0.0, ram_mb=agg.ramMb or 0, disk_mb=agg.diskMb or 0)
    return out


# --------------------------------------------------------------------------------- jobs


def cmd_job_create(args: argparse.Namespace) -> int:
    cluster, key = parse_job_key(args.jobspec)
    client = connect(cluster)
    loaded = load_config(args.config_file, args.jobspec, args.bind)
    from aurora.api.convert import job_configuration_to_thrift

    description = job_configuration_to_thrift(loaded.job_configuration)
    for warning in loaded.warnings:
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    response = client.call("createJob", description=description)
    for detail in response.details or ():
        if detail.message:
            print(f"{PROG}: {detail.message}", file=sys.stderr)
    print(f"Job create succeeded: job url={scheduler_page(client, key)}")
    if args.wait_until:
        return wait_for(client, key, loaded.instances, args.wait_until, args.poll_interval,
                        args.wait_timeout)
    return EXIT_OK


def _progress_counts(tasks: list[Any], target: str) -> tuple[int, int, int]:
    """(instances at the target, instances active, instances terminal) by latest attempt."""
    latest: dict[int, Any] = {}
    for task in tasks:
        inst = task.assignedTask.instanceId
        prev = latest.get(inst)
        if prev is None or _last_time(task) >= _last_time(prev):
            latest[inst] = task
    done = active = terminal = 0
    for task in latest.values():
        if is_terminal(task.status):
            terminal += 1
        else:
            active += 1
        if (target == "RUNNING" and task.status == ScheduleStatus.RUNNING) or \
                (target == "FINISHED" and is_terminal(task.status)):
            done += 1
    return done, active, terminal


def _last_time(task: Any) -> int:
    events = task.taskEvents or []
    return max((e.timestamp or 0 for e in events), default=0)


def wait_for(client: SchedulerClient, key: JobKey, instances: int, target: str,
             interval: float, timeout: float | None) -> int:
    """Poll getTasksStatus until every instance is RUNNING (or all are terminal)."""
    deadline = None if not timeout else time.monotonic() + timeout
    query = task_query(key)
    progress = None
    if stdout_is_terminal():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                            MofNCompleteColumn(), TextColumn("{task.fields[state]}"))
        progress.start()
        bar = progress.add_task(f"waiting for {target}", total=instances, state="")
    last_line = ""
    try:
        while True:
            tasks = fetch_tasks(client, query)
            done, active, terminal = _progress_counts(tasks, target)
            state = f"{done}/{instances} {target}, {active} active, {terminal} finished"
            if progress is not None:
                progress.update(bar, completed=done, state=state)
            elif state != last_line:
                print(f"{PROG}: {state}", file=sys.stderr)
                last_line = state
            if done >= instances:
                print(f"Job {client.cluster}/{key} reached {target}")
                return EXIT_OK
            if target == "RUNNING" and tasks and active == 0:
                raise ClientError(f"job {client.cluster}/{key} finished before all instances "
                                  "were RUNNING", EXIT_REFUSED)
            if deadline is not None and time.monotonic() > deadline:
                raise ClientError(f"timed out waiting for {client.cluster}/{key} to reach "
                                  f"{target} ({state})", EXIT_REFUSED)
            time.sleep(interval)
    finally:
        if progress is not None:
            progress.stop()


def _find_job(client: SchedulerClient, key: JobKey) -> Any:
    result = client.call("getJobs", ownerRole=key.role).result
    for config in (result.getJobsResult.configs or ()) if result else ():
        k = config.key or (config.taskConfig.job if config.taskConfig else None)
        if k and (k.role, k.environment, k.name) == (key.role, key.environment, key.name):
            return config
    return None


def _flatten(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _flatten(v, f"{path}.{k}" if path else str(k), out)
    else:
        out[path] = value


def _task_fields(task: Any) -> dict[str, Any]:
    plain = to_plain(task)
    executor = plain.get("executorConfig") or {}
    data = executor.get("data")
    if isinstance(data, str):
        try:
            executor["data"] = json.loads(data)
        except ValueError:
            pass
    flat: dict[str, Any] = {}
    _flatten(plain, "taskConfig", flat)
    return flat


def cmd_job_diff(args: argparse.Namespace) -> int:
    cluster, key = parse_job_key(args.jobspec)
    client = connect(cluster)
    loaded = load_config(args.config_file, args.jobspec, args.bind)
    from aurora.api.convert import job_configuration_to_thrift

    local = job_configuration_to_thrift(loaded.job_configuration)
    populated = client.call("populateJobConfig", description=local).result
    local_task = populated.populateJobResult.taskConfig if populated else local.taskConfig
    remote = _find_job(client, key)
    if remote is None:
        raise ClientError(f"job {cluster}/{key} is not running on the scheduler: "
                          "nothing to diff against", EXIT_REFUSED)
    mine = _task_fields(local_task)
    theirs = _task_fields(remote.taskConfig)
    mine["instanceCount"], theirs["instanceCount"] = local.instanceCount, remote.instanceCount
    mine["cronSchedule"], theirs["cronSchedule"] = local.cronSchedule, remote.cronSchedule
    diffs = [{"field": f, "scheduler": theirs.get(f), "local": mine.get(f)}
             for f in sorted(set(mine) | set(theirs)) if mine.get(f) != theirs.get(f)]
    if args.json:
        print_json(diffs)
    elif not diffs:
        print(f"No differences between {args.config_file} and the scheduler's "
              f"{cluster}/{key}")
    else:
        print_table(["field", "scheduler", "local"],
                    ([d["field"], json.dumps(d["scheduler"]), json.dumps(d["local"])]
                     for d in diffs),
                    title=f"{cluster}/{key}: scheduler vs {args.config_file}")
    return EXIT_OK


def _production(task: Any) -> bool | None:
    try:
        return bool(task.is_production)
    except KeyError:  # a tier this client does not know
        return None


def cmd_job_inspect(args: argparse.Namespace) -> int:
    parse_job_key(args.jobspec)
    loaded = load_config(args.config_file, args.jobspec, args.bind)
    task = loaded.task_config
    try:
        executor = json.loads(loaded.executor_data) if loaded.executor_data else {}
    except ValueError:
        executor = {}
    processes = (executor.get("task") or {}).get("processes") or []
    res = task.resources
    info = {
        "job": loaded.name,
        "instances": loaded.instances,
        "service": task.is_service,
        "tier": task.tier,
        "production": _production(task),
        "priority": task.priority,
        "max_task_failures": task.max_task_failures,
        "cron_schedule": loaded.cron_schedule,
        "resources": {"cpu": res.cpu, "ram_mb": res.ram_mb, "disk_mb": res.disk_mb,
                      "gpus": res.gpus, "ports": list(res.ports)},
        "constraints": [str(c) for c in task.constraints],
        "contact": task.contact_email,
        "processes": [{"name": p.get("name"), "cmdline": p.get("cmdline")} for p in processes],
        "executor_data": executor,
    }
    if args.json:
        print_json(info)
        return EXIT_OK
    print(f"Job: {info['job']}")
    for name in ("instances", "service", "tier", "production", "priority",
                 "max_task_failures", "cron_schedule", "contact"):
        if info[name] is not None:
            print(f"  {name}: {info[name]}")
    r = info["resources"]
    print(f"  resources: cpu={r['cpu']} ram={r['ram_mb']}MB disk={r['disk_mb']}MB"
          + (f" gpus={r['gpus']}" if r["gpus"] else "")
          + (f" ports={','.join(r['ports'])}" if r["ports"] else ""))
    if info["constraints"]:
        print(f"  constraints: {', '.join(info['constraints'])}")
    task_data = executor.get("task") or {}
    print(f"  task: {task_data.get('name', '')}")
    for p in processes:
        flags = [f for f in ("daemon", "ephemeral", "final") if p.get(f)]
        print(f"    process {p.get('name')}{' (' + ', '.join(flags) + ')' if flags else ''}:")
        print(f"      cmdline: {p.get('cmdline')}")
    for warning in loaded.warnings:
        print(f"  warning: {warning}")
    return EXIT_OK


def cmd_job_add(args: argparse.Namespace) -> int:
    cluster, key, instances = parse_instance_key(args.instance_key, required=True)
    if instances is None or len(instances) != 1:
        raise ClientError(f"invalid instance key '{args.instance_key}': "
                          "expected exactly one instance to copy")
    if args.count < 1:
        raise ClientError(f"instance count must be positive, got {args.count}")
    client = connect(cluster)
    (instance,) = instances
    client.call("addInstances", key=api.InstanceKey(jobKey=job_key_thrift(key),
                                                    instanceId=instance), count=args.count)
    print(f"Added {args.count} instance(s) to {cluster}/{key} (copies of instance {instance})")
    return EXIT_OK


def cmd_job_kill(args: argparse.Namespace) -> int:
    cluster, key, instances = parse_instance_key(args.instance_key, required=True)
    client = connect(cluster)
    client.call("killTasks", job=job_key_thrift(key), instances=set(instances or ()),
                message=args.message)
    print(f"Kill of {cluster}/{key} instances {_ranges(instances or ())} requested")
    return EXIT_OK


def cmd_job_killall(args: argparse.Namespace) -> int:
    cluster, key = parse_job_key(args.jobspec)
    client = connect(cluster)
    client.call("killTasks", job=job_key_thrift(key), instances=None, message=args.message)
    print(f"Kill of all instances of {cluster}/{key} requested")
    return EXIT_OK


def _ranges(values: Iterable[int]) -> str:
    nums = sorted(values)
    parts: list[str] = []
    i = 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        parts.append(str(nums[i]) if i == j else f"{nums[i]}-{nums[j]}")
        i = j + 1
    return ",".join(parts)


def cmd_job_list(args: argparse.Namespace) -> int:
    cluster, role, env = parse_job_path(args.path)
    client = connect(cluster)
    result = client.call("getJobs", ownerRole=role).result
    names = []
    for config in (result.getJobsResult.configs or ()) if result else ():
        k = config.key or config.taskConfig.job
        if (role and k.role != role) or (env and k.environment != env):
            continue
        names.append(f"{cluster}/{k.role}/{k.environment}/{k.name}")
    names.sort()
    if args.json:
        print_json(names)
    else:
        for name in names:
            print(name)
    return EXIT_OK


def cmd_job_restart(args: argparse.Namespace) -> int:
    cluster, key, instances = parse_instance_key(args.instance_key)
    client = connect(cluster)
    if instances is None:
        tasks = fetch_tasks(client, task_query(key, statuses=ACTIVE_STATES))
        instances = frozenset(t.assignedTask.instanceId for t in tasks)
        if not instances:
            raise ClientError(f"job {cluster}/{key} has no active instances to restart",
                              EXIT_REFUSED)
    client.call("restartShards", job=job_key_thrift(key), shardIds=set(instances))
    print(f"Restart of {cluster}/{key} instances {_ranges(instances)} requested")
    return EXIT_OK


def cmd_job_status(args: argparse.Namespace) -> int:
    cluster, key = parse_job_key(args.jobspec)
    client = connect(cluster)
    tasks = fetch_tasks(client, task_query(key))
    rows = sorted((task_row(t) for t in tasks),
                  key=lambda r: (r["instance"], r["events"][-1]["timestamp"] if r["events"]
                                 else 0))
    if args.json:
        print_json({"job": f"{cluster}/{key}", "tasks": rows})
        return EXIT_OK if rows else EXIT_REFUSED
    if not rows:
        raise ClientError(f"no tasks found for job {cluster}/{key}", EXIT_REFUSED)
    active = sum(1 for r in rows if ScheduleStatus[r["status"]] in ACTIVE_STATES
                 if r["status"] in ScheduleStatus.__members__)
    title = f"Job {cluster}/{key}: {active} active, {len(rows) - active} inactive tasks"
    table = []
    for r in rows:
        last = r["events"][-1] if r["events"] else {}
        ports = ",".join(f"{n}={p}" for n, p in r["ports"].items())
        table.append([r["instance"], r["status"], r["host"], ports,
                      format_time(last.get("timestamp")), last.get("message") or "",
                      r["task_id"]])
    print_table(["instance", "status", "host", "ports", "updated", "message", "task id"],
                table, title=title)
    if args.verbose:
        for r in rows:
            print(f"events of instance {r['instance']} ({r['task_id']}):")
            for e in r["events"]:
                msg = f": {e['message']}" if e["message"] else ""
                print(f"  {format_time(e['timestamp'])} {e['status']}{msg}")
    return EXIT_OK


# ------------------------------------------------------------------------ quota, config


def cmd_quota_get(args: argparse.Namespace) -> int:
    parts = args.path.split("/")
    if len(parts) != 2:
        raise ClientError(f"invalid role path '{args.path}': expected cluster/role")
    for field, value in zip(("cluster", "role"), parts, strict=True):
        problem = identifier_problem(field, value)
        if problem:
            raise ClientError(f"invalid role path '{args.path}': {problem}")
    cluster, role = parts
    client = connect(cluster)
    result = client.call("getQuota", ownerRole=role).result.getQuotaResult
    info = {"role": role, "quota": aggregate(result.quota)}
    for name, field in (("prod_shared_consumption", "prodSharedConsumption"),
                        ("non_prod_shared_consumption", "nonProdSharedConsumption"),
                        ("prod_dedicated_consumption", "prodDedicatedConsumption"),
                        ("non_prod_dedicated_consumption", "nonProdDedicatedConsumption")):
        info[name] = aggregate(getattr(result, field))
    if args.json:
        print_json(info)
        return EXIT_OK
    print_table(["", "cpu", "ram_mb", "disk_mb"],
                ([name, info[name]["cpu"], info[name]["ram_mb"], info[name]["disk_mb"]]
                 for name in info if name != "role"),
                title=f"Quota of {cluster}/{role}")
    return EXIT_OK


def cmd_config_list(args: argparse.Namespace) -> int:
    from aurora.config import list_jobs

    names = list_jobs(args.config_file, parse_bindings(args.bind))
    if args.json:
        print_json(names)
    else:
        print("jobs=[" + ", ".join(names) + "]")
    return EXIT_OK


# ------------------------------------------------------------------------------- parser


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as ``aurora: <message>`` after the usage line."""


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Aurora's job client.")
    nouns = p.add_subparsers(dest="noun", metavar="{job,quota,config}", required=True)

    def verb(group: Any, name: str, func: Callable[[argparse.Namespace], int], help_: str,
             *, json_flag: bool = False) -> argparse.ArgumentParser:
        sub = group.add_parser(name, help=help_, description=help_)
        sub.set_defaults(func=func)
        if json_flag:
            sub.add_argument("--json", action="store_true", help="print JSON")
        return sub

    def config_args(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("jobspec", metavar="CLUSTER/ROLE/ENV/NAME")
        sub.add_argument("config_file", metavar="FILE.aurora")
        sub.add_argument("--bind", action="append", metavar="NAME=VALUE",
                         help="bind a template variable (repeatable)")

    job = nouns.add_parser("job", help="work with jobs").add_subparsers(
        dest="verb", metavar="VERB", required=True)
    sub = verb(job, "create", cmd_job_create, "create a job from a config file")
    config_args(sub)
    sub.add_argument("--wait-until", "--wait_until", dest="wait_until",
                     choices=("RUNNING", "FINISHED"),
                     help="wait until every instance is RUNNING, or all have FINISHED")
    sub.add_argument("--wait-timeout", type=float, default=None, help=argparse.SUPPRESS)
    sub.add_argument("--poll-interval", type=float, default=1.0, help=argparse.SUPPRESS)
    config_args(verb(job, "diff", cmd_job_diff,
                     "compare a config file with the job on the scheduler", json_flag=True))
    config_args(verb(job, "inspect", cmd_job_inspect, "show a job as a config file defines it",
                     json_flag=True))
    sub = verb(job, "add", cmd_job_add, "add instances copied from an existing one")
    sub.add_argument("instance_key", metavar="CLUSTER/ROLE/ENV/NAME/INSTANCE")
    sub.add_argument("count", type=int, metavar="COUNT")
    sub = verb(job, "kill", cmd_job_kill, "kill some instances of a job")
    sub.add_argument("instance_key", metavar="CLUSTER/ROLE/ENV/NAME/INSTANCES")
    sub.add_argument("--message", default=None, help="a message to record with the kill")
    sub = verb(job, "killall", cmd_job_killall, "kill every instance of a job")
    sub.add_argument("jobspec", metavar="CLUSTER/ROLE/ENV/NAME")
    sub.add_argument("--message", default=None, help="a message to record with the kill")
    sub = verb(job, "list", cmd_job_list, "list the jobs of a cluster, role or environment",
               json_flag=True)
    sub.add_argument("path", metavar="CLUSTER[/ROLE[/ENV]]")
    sub = verb(job, "restart", cmd_job_restart, "restart some or all instances of a job")
    sub.add_argument("instance_key", metavar="CLUSTER/ROLE/ENV/NAME[/INSTANCES]")
    sub = verb(job, "status", cmd_job_status, "show the tasks of a job", json_flag=True)
    sub.add_argument("jobspec", metavar="CLUSTER/ROLE/ENV/NAME")
    sub.add_argument("-v", "--verbose", action="store_true", help="list every task's events")

    quota = nouns.add_parser("quota", help="role quotas").add_subparsers(
        dest="verb", metavar="VERB", required=True)
    sub = verb(quota, "get", cmd_quota_get, "show a role's quota and consumption",
               json_flag=True)
    sub.add_argument("path", metavar="CLUSTER/ROLE")

    config = nouns.add_parser("config", help="config files").add_subparsers(
        dest="verb", metavar="VERB", required=True)
    sub = verb(config, "list", cmd_config_list, "list the jobs a config file defines",
               json_flag=True)
    sub.add_argument("config_file", metavar="FILE.aurora")
    sub.add_argument("--bind", action="append", metavar="NAME=VALUE")
    return p


def run(build: Callable[[], argparse.ArgumentParser], prog: str,
        argv: Sequence[str] | None) -> int:
    """Parse, run, and turn every failure into one ``<prog>: <message>`` line and an exit code."""
    from aurora.config import ConfigError

    args = build().parse_args(None if argv is None else list(argv))
    try:
        return int(args.func(args))
    except ClientError as err:
        print(f"{prog}: {err}", file=sys.stderr)
        return err.exit_code
    except (ConfigError, InvalidJobKeyError) as err:
        print(f"{prog}: {_one_line(err)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # no traceback for users; the type says where to look
        print(f"{prog}: unexpected error ({type(err).__name__}): {_one_line(err)}",
              file=sys.stderr)
        return EXIT_REFUSED


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def main(argv: Sequence[str] | None = None) -> int:
    return run(parser, PROG, argv)


if __name__ == "__main__":
    sys.exit(main())
