"""The API's operator side: quotas, host maintenance, snapshots and backups, reconciliation and
pruning (AuroraAdmin), plus getQuota.

Facts matched (Aurora 0.22, ``QuotaManager``, ``MaintenanceController``,
``SchedulerThriftInterface``):

* quota is per role and binds production tasks that are not dedicated: a create or an addition
  fails with "Insufficient resource quota: CPU quota exceeded by 1.00 core(s); ..." when the
  role's active prod-shared tasks plus the new ones would need more than its quota; a role
  without quota has none. setQuota refuses a quota below the role's current prod consumption.
  getQuota reports the quota and the four consumptions (prod/non-prod, shared/dedicated) of the
  role's active tasks;
* maintenance modes are NONE, SCHEDULED, DRAINING, DRAINED and apply to hosts the scheduler
  knows (unknown hosts are left out of the answer). Draining moves the host's running tasks to
  DRAINING (killed, then rescheduled elsewhere); a host with no active task is DRAINED at once,
  and a DRAINING host becomes DRAINED once its last active task has ended;
* explicit reconciliation asks about every task on an agent, in batches (1000 by default);
  implicit asks the backend about everything it knows;
* pruneTasks deletes terminal tasks only (all terminal ones unless the query names statuses);
  its ``limit`` applies, its ``offset`` does not.

Quotas and maintenance modes are kept per scheduler, loaded from storage on first use and
persisted with SaveQuota / SaveHost operations. :func:`quota_problem` is the check the job
actions can call.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import msgspec

from aurora.api import convert as cv
from aurora.api.codec import api, invalid_request, ok
from aurora.model.status import SLAVE_ASSIGNED_STATES, TERMINAL_STATES
from aurora.model.status import ScheduleStatus as S
from aurora.scheduler.api_queries import (
    ACTIVE_CODES,
    DELETED,
    Query,
    Response,
    TableIndex,
    required,
    select,
)
from aurora.scheduler.quota import quotas
from aurora.scheduler.records import Op, SaveHost

if TYPE_CHECKING:
    from aurora.scheduler.service import Scheduler

NONE, SCHEDULED, DRAINING, DRAINED = 1, 2, 3, 4  # api.thrift MaintenanceMode
DRAIN_MESSAGE = "Draining machine for maintenance."
DRAINABLE_CODES = frozenset(int(s) for s in (S.ASSIGNED, S.STARTING, S.RUNNING, S.PARTITIONED))
ASSIGNED_CODES = frozenset(int(s) for s in SLAVE_ASSIGNED_STATES)
TERMINAL_CODES = frozenset(int(s) for s in TERMINAL_STATES)
RECONCILE_BATCH = 1000


class HostRecord(msgspec.Struct, array_like=True):
    """What SaveHost stores for a host: its maintenance mode."""

    mode: int


_encoder = msgspec.msgpack.Encoder()
_host_decoder = msgspec.msgpack.Decoder(HostRecord)


# ----------------------------------------------------------------------------- maintenance


class Maintenance:
    """Hosts' maintenance modes: applied to the cluster model, persisted as SaveHost."""

    def __init__(self, sched: Scheduler, index: TableIndex) -> None:
        self.sched = sched
        self.index = index
        self.modes: dict[str, int] = {}
        for key, data in sched.storage.items("hosts"):
            mode = _host_decoder.decode(data).mode
            if mode != NONE:
                name = key.decode()
                sched.cluster.set_maintenance(sched.known_host(name), mode)
                self.modes[name] = mode

    def known(self, names: Any) -> list[str]:
        return sorted(n for n in set(names or ()) if self.sched.cluster.host_id(n) >= 0)

    def statuses(self, names: list[str]) -> list[Any]:
        return [api.HostStatus(host=n, mode=self.modes.get(n, NONE)) for n in names]

    def _set(self, names: list[str], mode: int) -> list[Op]:
        for name in names:
            self.sched.cluster.set_maintenance(self.sched.cluster.host_id(name), mode)
            if mode == NONE:
                self.modes.pop(name, None)
            else:
                self.modes[name] = mode
        return [SaveHost(n, _encoder.encode(HostRecord(mode))) for n in names]

    def _active(self, name: str) -> list[int]:
        h = self.index.host(name)
        if h < 0:
            return []
        table = self.sched.table
        return [s for s in table.tasks_on_host(h) if table.state(s) in ACTIVE_CODES]

    async def _drain(self, names: list[str]) -> None:
        """Running tasks on NAMES go to DRAINING; hosts without active tasks are DRAINED."""
        table = self.sched.table
        empty, busy, slots = [], [], []
        for name in names:
            active = self._active(name)
            (busy if active else empty).append(name)
            slots += [s for s in active if table.state(s) in DRAINABLE_CODES]
        ops = self._set(empty, DRAINED) + self._set(busy, DRAINING)
        eff = table.transition(slots, int(S.DRAINING), self.sched.clock_ms(), DRAIN_MESSAGE)
        self.sched.apply(eff)
        await self.sched.committer.commit(ops)

    async def start(self, names: list[str]) -> None:
        await self.sched.committer.commit(self._set(names, SCHEDULED))

    async def drain(self, names: list[str]) -> None:
        await self._drain(names)

    async def end(self, names: list[str]) -> None:
        await self.sched.committer.commit(self._set(names, NONE))

    async def poll(self) -> None:
        """Aurora's periodic pass: DRAINING hosts drain again, and empty ones become DRAINED."""
        draining = sorted(n for n, m in self.modes.items() if m == DRAINING)
        if draining:
            await self._drain(draining)


# ------------------------------------------------------------------------- admin methods


class Admin:
    """AuroraAdmin's methods this scheduler has, and getQuota."""

    def __init__(self, sched: Scheduler, index: TableIndex) -> None:
        self.sched = sched
        self.index = index
        self.quotas = quotas(sched)
        self.maintenance = Maintenance(sched, index)

    def handlers(self) -> dict[str, Any]:
        return {"getQuota": self.get_quota, "setQuota": self.set_quota,
                "snapshot": self.snapshot, "performBackup": self.perform_backup,
                "listBackups": self.list_backups, "startMaintenance": self.start_maintenance,
                "drainHosts": self.drain_hosts, "maintenanceStatus": self.maintenance_status,
                "endMaintenance": self.end_maintenance,
                "triggerExplicitTaskReconciliation": self.explicit_reconciliation,
                "triggerImplicitTaskReconciliation": self.implicit_reconciliation,
                "pruneTasks": self.prune_tasks}

    @staticmethod
    def _role(value: str | None) -> str:
        if value is None or not value.strip():
            raise ValueError("ownerRole must not be blank")
        return value

    async def get_quota(self, args: Any) -> Response:
        role = self._role(args.ownerRole)
        used = self.quotas.consumption(role)
        agg = cv.resource_aggregate_to_thrift
        return ok(api.GetQuotaResult(
            quota=agg(self.quotas.get(role)),
            prodSharedConsumption=agg(used[True, False]),
            nonProdSharedConsumption=agg(used[False, False]),
            prodDedicatedConsumption=agg(used[True, True]),
            nonProdDedicatedConsumption=agg(used[False, True])))

    async def set_quota(self, args: Any) -> Response:
        role = self._role(args.ownerRole)
        await self.quotas.set(role, cv.resource_aggregate_from_thrift(args.quota, "quota"))
        return ok()

    async def snapshot(self, args: Any) -> Response:
        self.sched.storage.snapshot()
        return ok()

    async def perform_backup(self, args: Any) -> Response:
        self.sched.storage.backup(self.sched.clock_ms() / 1000)
        return ok()

    async def list_backups(self, args: Any) -> Response:
        return ok(api.ListBackupsResult(backups=self.sched.storage.list_backups()))

    def _hosts(self, args: Any) -> list[str]:
        return self.maintenance.known(required(args.hosts, "hosts").hostNames)

    async def start_maintenance(self, args: Any) -> Response:
        names = self._hosts(args)
        await self.maintenance.start(names)
        return ok(api.StartMaintenanceResult(statuses=self.maintenance.statuses(names)))

    async def drain_hosts(self, args: Any) -> Response:
        names = self._hosts(args)
        await self.maintenance.drain(names)
        return ok(api.DrainHostsResult(statuses=self.maintenance.statuses(names)))

    async def maintenance_status(self, args: Any) -> Response:
        names = self._hosts(args)
        await self.maintenance.poll()
        return ok(api.MaintenanceStatusResult(statuses=self.maintenance.statuses(names)))

    async def end_maintenance(self, args: Any) -> Response:
        names = self._hosts(args)
        await self.maintenance.end(names)
        return ok(api.EndMaintenanceResult(statuses=self.maintenance.statuses(names)))

    async def explicit_reconciliation(self, args: Any) -> Response:
        size = required(args.settings, "settings").batchSize
        if size is not None and size <= 0:
            return invalid_request("Batch size must be greater than zero.")
        table = self.sched.table
        ids = [table.task_id(s) for code in sorted(ASSIGNED_CODES)
               for s in table.tasks_in_state(code)]
        step = size or RECONCILE_BATCH
        for i in range(0, len(ids), step):
            self.sched.backend.reconcile(ids[i:i + step])
        return ok()

    async def implicit_reconciliation(self, args: Any) -> Response:
        self.sched.backend.reconcile(None)
        return ok()

    async def prune_tasks(self, args: Any) -> Response:
        query = Query.from_thrift(args.query)
        if query.statuses - TERMINAL_CODES:
            return invalid_request("Tasks in non-terminal state cannot be pruned.")
        if not query.statuses:
            query = replace(query, statuses=TERMINAL_CODES)
        slots = select(self.sched, self.index, query, paged=False)
        eff = self.sched.table.transition(slots, DELETED, self.sched.clock_ms())
        self.sched.apply(eff)
        await self.sched.committer.commit([])
        return ok()
