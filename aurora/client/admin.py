"""``aurora_admin``: cluster administration (Aurora 0.22 ``client/commands/admin.py``).

    aurora_admin set_quota CLUSTER ROLE CPU RAM DISK      (RAM, DISK: 512MB, 4GB, ...; bare = MB)
    aurora_admin host_drain|host_activate|host_status CLUSTER --hosts h1,h2
    aurora_admin scheduler_snapshot|scheduler_backup_now|scheduler_list_backups CLUSTER
    aurora_admin reconcile_tasks CLUSTER [--type explicit|implicit] [--batch_size N]
    aurora_admin prune_tasks CLUSTER [--states S1,S2] [--role R] [--env E] [--limit N]
    aurora_admin query CLUSTER ROLE JOB [--shards 0-3] [--states S1,S2] [--json]

Exit codes and error lines as ``aurora`` (see :mod:`aurora.client.cli`).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

from aurora.client import EXIT_OK, ClientError
from aurora.client.api import api
from aurora.client.cli import connect, print_json, print_table, run, status_name, task_row
from aurora.client.jobkeys import parse_instances
from aurora.model.jobkey import identifier_problem
from aurora.model.status import TERMINAL_STATES, ScheduleStatus

__all__ = ["main", "parse_data_mb", "parser"]

PROG = "aurora_admin"
Command = Callable[[argparse.Namespace], int]
_UNITS = {"": 1, "B": 1 / 2**20, "K": 1 / 1024, "KB": 1 / 1024, "M": 1, "MB": 1,
          "G": 1024, "GB": 1024, "T": 2**20, "TB": 2**20}
_DATA = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*")


def parse_data_mb(text: str, what: str) -> int:
    """``4GB`` -> 4096 (MB); a bare number is MB."""
    m = _DATA.fullmatch(text)
    unit = m.group(2).upper() if m else ""
    if not m or unit not in _UNITS:
        raise ClientError(f"invalid {what} '{text}': expected a size like 512MB or 4GB")
    return int(float(m.group(1)) * _UNITS[unit])


def _hosts(text: str) -> set[str]:
    hosts = {h.strip() for h in text.split(",") if h.strip()}
    if not hosts:
        raise ClientError("--hosts needs at least one host name")
    return hosts


def _statuses(text: str | None) -> set[int] | None:
    if not text:
        return None
    out = set()
    for name in text.split(","):
        name = name.strip().upper()
        if name not in ScheduleStatus.__members__:
            raise ClientError(f"unknown task state '{name}': expected one of "
                              f"{', '.join(ScheduleStatus.__members__)}")
        out.add(int(ScheduleStatus[name]))
    return out


def _check(field: str, value: str) -> str:
    problem = identifier_problem(field, value)
    if problem:
        raise ClientError(problem)
    return value


def _print_host_statuses(statuses: Any, as_json: bool) -> None:
    rows = sorted((s.host, api.MaintenanceMode._VALUES_TO_NAMES.get(s.mode, str(s.mode)))
                  for s in statuses or ())
    if as_json:
        print_json([{"host": h, "mode": m} for h, m in rows])
    else:
        print_table(["host", "mode"], rows)


# ------------------------------------------------------------------------------ commands


def cmd_set_quota(args: argparse.Namespace) -> int:
    role = _check("role", args.role)
    try:
        cpu = float(args.cpu)
    except ValueError:
        raise ClientError(f"invalid cpu '{args.cpu}': expected a number of cores") from None
    if cpu < 0:
        raise ClientError(f"invalid cpu '{args.cpu}': must not be negative")
    ram, disk = parse_data_mb(args.ram, "ram"), parse_data_mb(args.disk, "disk")
    quota = api.ResourceAggregate(
        numCpus=cpu, ramMb=ram, diskMb=disk,
        resources={api.Resource(numCpus=cpu), api.Resource(ramMb=ram),
                   api.Resource(diskMb=disk)})
    connect(args.cluster).call("setQuota", ownerRole=role, quota=quota)
    print(f"Quota of {role} set to cpu={cpu:g} ram={ram}MB disk={disk}MB")
    return EXIT_OK


def _maintenance(method: str, result_field: str) -> Command:
    def command(args: argparse.Namespace) -> int:
        client = connect(args.cluster)
        result = client.call(method, hosts=api.Hosts(hostNames=_hosts(args.hosts))).result
        statuses = getattr(result, result_field).statuses if result else ()
        _print_host_statuses(statuses, args.json)
        return EXIT_OK
    return command


def cmd_simple(method: str, done: str) -> Command:
    def command(args: argparse.Namespace) -> int:
        connect(args.cluster).call(method)
        print(done)
        return EXIT_OK
    return command


def cmd_list_backups(args: argparse.Namespace) -> int:
    result = connect(args.cluster).call("listBackups").result
    backups = sorted(result.listBackupsResult.backups or ()) if result else []
    if args.json:
        print_json(backups)
    else:
        for backup in backups:
            print(backup)
    return EXIT_OK


def cmd_reconcile(args: argparse.Namespace) -> int:
    client = connect(args.cluster)
    if args.type == "implicit":
        client.call("triggerImplicitTaskReconciliation")
    else:
        if args.batch_size is not None and args.batch_size < 1:
            raise ClientError(f"--batch_size must be positive, got {args.batch_size}")
        client.call("triggerExplicitTaskReconciliation",
                    settings=api.ExplicitReconciliationSettings(batchSize=args.batch_size))
    print(f"Triggered {args.type} task reconciliation")
    return EXIT_OK


def cmd_prune(args: argparse.Namespace) -> int:
    statuses = _statuses(args.states)
    terminal = {int(s) for s in TERMINAL_STATES}
    if statuses is not None and not statuses <= terminal:
        bad = ", ".join(status_name(s) for s in sorted(statuses - terminal))
        raise ClientError(f"only terminal tasks can be pruned, not {bad}")
    query = api.TaskQuery(statuses=statuses,
                          role=_check("role", args.role) if args.role else None,
                          environment=_check("environment", args.env) if args.env else None,
                          limit=args.limit)
    connect(args.cluster).call("pruneTasks", query=query)
    print("Tasks pruned")
    return EXIT_OK


def cmd_query(args: argparse.Namespace) -> int:
    query = api.TaskQuery(role=_check("role", args.role), jobName=_check("name", args.job),
                          statuses=_statuses(args.states),
                          instanceIds=set(parse_instances(args.shards)) if args.shards else None)
    result = connect(args.cluster).call("getTasksWithoutConfigs", query=query).result
    tasks = list(result.scheduleStatusResult.tasks or ()) if result else []
    rows = sorted((task_row(t) for t in tasks), key=lambda r: (r["instance"], r["task_id"]))
    if args.json:
        print_json(rows)
    else:
        print_table(["instance", "status", "host", "task id"],
                    ([r["instance"], r["status"], r["host"], r["task_id"]] for r in rows),
                    title=f"{len(rows)} task(s) of {args.role}/*/{args.job}")
    return EXIT_OK


# -------------------------------------------------------------------------------- parser


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Aurora cluster administration.")
    cmds = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, func: Any, help_: str, *, json_flag: bool = False
                ) -> argparse.ArgumentParser:
        sub = cmds.add_parser(name, help=help_, description=help_)
        sub.set_defaults(func=func)
        sub.add_argument("cluster", metavar="CLUSTER")
        if json_flag:
            sub.add_argument("--json", action="store_true", help="print JSON")
        return sub

    sub = command("set_quota", cmd_set_quota, "set a role's quota")
    sub.add_argument("role", metavar="ROLE")
    sub.add_argument("cpu", metavar="CPU")
    sub.add_argument("ram", metavar="RAM")
    sub.add_argument("disk", metavar="DISK")
    for name, method, field, help_ in (
            ("host_drain", "drainHosts", "drainHostsResult", "drain hosts of their tasks"),
            ("host_activate", "endMaintenance", "endMaintenanceResult",
             "take hosts out of maintenance"),
            ("host_status", "maintenanceStatus", "maintenanceStatusResult",
             "show hosts' maintenance modes")):
        sub = command(name, _maintenance(method, field), help_, json_flag=True)
        sub.add_argument("--hosts", required=True, metavar="H1,H2",
                         help="comma-separated host names")
    command("scheduler_snapshot", cmd_simple("snapshot", "Snapshot taken"),
            "make the scheduler write a snapshot now")
    command("scheduler_backup_now", cmd_simple("performBackup", "Backup written"),
            "make the scheduler write a backup now")
    command("scheduler_list_backups", cmd_list_backups, "list the scheduler's backups",
            json_flag=True)
    sub = command("reconcile_tasks", cmd_reconcile, "reconcile tasks with the cluster")
    sub.add_argument("--type", choices=("explicit", "implicit"), default="explicit")
    sub.add_argument("--batch_size", "--batch-size", dest="batch_size", type=int, default=None)
    sub = command("prune_tasks", cmd_prune, "delete terminal tasks from the scheduler")
    sub.add_argument("--states", help="comma-separated terminal states")
    sub.add_argument("--role")
    sub.add_argument("--env")
    sub.add_argument("--limit", type=int)
    sub = command("query", cmd_query, "list the tasks of a role's job", json_flag=True)
    sub.add_argument("role", metavar="ROLE")
    sub.add_argument("job", metavar="JOB")
    sub.add_argument("--shards", help="instances, like 0-3,7")
    sub.add_argument("--states", help="comma-separated task states")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return run(parser, PROG, argv)


if __name__ == "__main__":
    sys.exit(main())
