"""Quota: per role, binding production tasks that are not dedicated (Aurora's QuotaManager).

A create or an addition fails with "Insufficient resource quota: CPU quota exceeded by 1.00
core(s); ..." when the role's active prod-shared tasks plus the new ones would need more than its
quota; a role without quota has none. Quotas live in memory and in storage (SaveQuota).
"""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

import msgspec

from aurora.model.resources import Resources
from aurora.model.status import ACTIVE_STATES
from aurora.model.task import TaskConfig
from aurora.scheduler.records import SaveQuota
from aurora.scheduler.service import Scheduler

ACTIVE_CODES = frozenset(int(s) for s in ACTIVE_STATES)
PROD_SHARED = (True, False)
#: Consumption buckets: (production, dedicated).
BUCKETS = ((True, False), (False, False), (True, True), (False, True))
_ZERO = Resources(0.0, 0, 0)
_encoder = msgspec.msgpack.Encoder()
_quota_decoder = msgspec.msgpack.Decoder(Resources)



def _quota_resources(config: TaskConfig) -> Resources:
    r = config.resources
    return Resources(r.cpu, r.ram_mb, r.disk_mb, r.gpus)


def _overage(quota: Resources, wanted: Resources) -> str:
    """Aurora's QuotaCheckResult details: each resource the request exceeds, and by how much."""
    parts = [(name, unit, need - have) for name, unit, have, need in (
        ("CPU", "core(s)", quota.cpu, wanted.cpu), ("RAM", "MB", quota.ram_mb, wanted.ram_mb),
        ("disk", "MB", quota.disk_mb, wanted.disk_mb),
        ("GPU", "core(s)", quota.gpus, wanted.gpus)) if need > have]
    return "; ".join(f"{name} quota exceeded by {over:.2f} {unit}" for name, unit, over in parts)


class Quotas:
    """Each role's quota (ResourceAggregate as Resources), kept in memory and in storage."""

    def __init__(self, sched: Scheduler) -> None:
        self.sched = sched
        self.by_role: dict[str, Resources] = {
            key.decode(): _quota_decoder.decode(data)
            for key, data in sched.storage.items("quotas")}

    def get(self, role: str) -> Resources:
        return self.by_role.get(role, _ZERO)

    def consumption(self, role: str) -> dict[tuple[bool, bool], Resources]:
        """What the role's active tasks take, by (production, dedicated)."""
        table = self.sched.table
        counts: dict[int, int] = {}
        for key in [k for k in self.sched.jobs.jobs if k.split("/", 1)[0] == role]:
            for s in table.tasks_of_job(self.sched.jobs.job_id(self.sched.jobs.jobs[key].key)):
                if table.state(s) in ACTIVE_CODES:
                    cid = table.row(s)[3]
                    counts[cid] = counts.get(cid, 0) + 1
        used = dict.fromkeys(BUCKETS, _ZERO)
        for cid, n in counts.items():
            config = self.sched.jobs.configs[cid]
            bucket = (config.is_production, config.is_dedicated)
            used[bucket] = used[bucket] + _quota_resources(config) * n
        return used

    def problem(self, config: TaskConfig, instances: int) -> str | None:
        """Why INSTANCES more tasks of CONFIG do not fit the role's quota; None when they do."""
        if not config.is_production or config.is_dedicated:
            return None
        role = config.job.role
        wanted = self.consumption(role)[PROD_SHARED] + _quota_resources(config) * instances
        over = _overage(self.get(role), wanted)
        return f"Insufficient resource quota: {over}" if over else None

    async def set(self, role: str, quota: Resources) -> None:
        used = self.consumption(role)[PROD_SHARED]
        if _overage(quota, used):
            raise ValueError(f"Quota: {quota} is less then current prod reservation: {used}")
        await self.sched.committer.commit([SaveQuota(role, _encoder.encode(quota))])
        self.by_role[role] = quota


_QUOTAS: WeakKeyDictionary[Any, Quotas] = WeakKeyDictionary()


def quotas(sched: Scheduler) -> Quotas:
    """The scheduler's quotas (loaded from its storage on first use)."""
    found = _QUOTAS.get(sched)
    if found is None:
        found = _QUOTAS[sched] = Quotas(sched)
    return found


def quota_problem(sched: Scheduler, config: TaskConfig, instances: int) -> str | None:
    """The quota check for creating or adding INSTANCES tasks of CONFIG: the message of the
    refusal, or None when the tasks fit."""
    return quotas(sched).problem(config, instances)
