"""The Thrift API's handlers on a scheduler with a fake backend: jobs, tasks, pending reasons,
quota, maintenance, snapshots and backups, reconciliation, pruning, and bad input."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from aurora.api import codec
from aurora.api.codec import ResponseCode, api
from aurora.model.status import ACTIVE_STATES as ACTIVE
from aurora.model.status import ScheduleStatus as S
from aurora.scheduler.api import ApiHandlers
from aurora.scheduler.api_admin import DRAINED, DRAINING, NONE, SCHEDULED
from aurora.scheduler.api_queries import Query, TableIndex, select
from aurora.scheduler.backend import BackendSink, HostInfo, Launch, StatusUpdate
from aurora.scheduler.quota import quota_problem
from aurora.scheduler.recovery import restore
from aurora.scheduler.service import Scheduler, Settings
from aurora.scheduler.storage import Storage

ROLE, ENV = "www-data", "prod"
OK, INVALID, ERROR = ResponseCode.OK, ResponseCode.INVALID_REQUEST, ResponseCode.ERROR


class FakeBackend:
    name = "fake"

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.launched: list[Launch] = []
        self.killed: list[str] = []
        self.reconciled: list[list[str] | None] = []

    async def start(self, sink: BackendSink) -> None:
        sink.hosts_up([HostInfo(f"host{i}", f"agent{i}", 4000, 8192, 65536,
                                port_ranges=((31000, 31009),),
                                attributes={"rack": (f"r{i // 2}",)})
                       for i in range(4)])

    async def stop(self) -> None:
        pass

    def launch(self, launches: Sequence[Launch]) -> None:
        self.launched += launches

    def kill(self, task_ids: Sequence[str]) -> None:
        self.killed += task_ids

    def ack(self, tokens: Sequence[object]) -> None:
        pass

    def reconcile(self, task_ids: Sequence[str] | None) -> None:
        self.reconciled.append(None if task_ids is None else list(task_ids))


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def __call__(self) -> int:
        return self.now


class Env:
    """A scheduler, its backend and its API handlers."""

    def __init__(self, sched: Scheduler, backend: FakeBackend) -> None:
        self.sched = sched
        self.backend = backend
        self.api = ApiHandlers(sched)

    async def call(self, method: str, **kw: Any) -> Any:
        args = getattr(api.AuroraAdmin, f"{method}_args")(**kw)
        return await self.api.call(method, args)

    async def ok(self, method: str, **kw: Any) -> Any:
        response = await self.call(method, **kw)
        assert response.responseCode == OK, (method, response.details)
        assert response.serverInfo.clusterName == "test-cluster"
        return response

    async def tasks(self, **query: Any) -> list[Any]:
        response = await self.ok("getTasksStatus", query=api.TaskQuery(**query))
        return response.result.scheduleStatusResult.tasks

    async def settle(self) -> None:
        for _ in range(3):
            await self.sched.committer.commit([])  # everything before it is durable
            await asyncio.sleep(0)


async def boot(path: Path, impl: str, clock: Clock | None = None) -> Env:
    storage = Storage(path)
    backend = FakeBackend(storage)
    sched = Scheduler(storage, backend, clock or Clock(),
                      Settings(impl=impl, seed=7, cluster="test-cluster"))
    restore(sched)
    await backend.start(sched)
    return Env(sched, backend)


def run(path: Path, impl: str, scenario: Any) -> None:
    async def main() -> None:
        env = await boot(path, impl)
        try:
            await scenario(env)
        finally:
            env.sched.storage.close()

    asyncio.run(main())


def thrift_key(name: str = "hello", role: str = ROLE) -> Any:
    return api.JobKey(role=role, environment=ENV, name=name)


def description(name: str = "hello", instances: int = 3, cpu: float = 1.0, ram: int = 1024,
                tier: str | None = None, **task: Any) -> Any:
    """A JobConfiguration as Aurora's client builds it (resources as a set, Thermos JSON)."""
    thermos = json.dumps({"name": name, "role": ROLE, "environment": ENV,
                          "task": {"name": name, "processes": [
                              {"name": "hello", "cmdline": "echo hello"}]}})
    fields: dict[str, Any] = {
        "job": thrift_key(name), "owner": api.Identity(user=ROLE), "isService": True,
        "priority": 0, "maxTaskFailures": 1, "tier": tier, "production": False,
        "resources": {api.Resource(numCpus=cpu), api.Resource(ramMb=ram),
                      api.Resource(diskMb=1024), api.Resource(namedPort="http")},
        "constraints": set(), "metadata": set(),
        "executorConfig": api.ExecutorConfig(name="AuroraExecutor", data=thermos)}
    config = api.TaskConfig(**{**fields, **task})
    return api.JobConfiguration(key=thrift_key(name), owner=api.Identity(user=ROLE),
                                taskConfig=config, instanceCount=instances)


def statuses(tasks: list[Any]) -> list[int]:
    return sorted(t.status for t in tasks)


# ------------------------------------------------------------------------------ job life


def test_create_list_schedule_and_kill(tmp_path: Path, impl: str) -> None:
    async def scenario(env: Env) -> None:
        await env.ok("createJob", description=description())
        jobs = (await env.ok("getJobs", ownerRole=ROLE)).result.getJobsResult.configs
        assert [(j.key.name, j.instanceCount) for j in jobs] == [("hello", 3)]
        assert json.loads(jobs[0].taskConfig.executorConfig.data)["task"]["name"] == "hello"
        assert (await env.ok("getJobs", ownerRole="nobody")).result.getJobsResult.configs == []

        pending = await env.tasks(jobKeys={thrift_key()})
        assert statuses(pending) == [int(S.PENDING)] * 3
        assert sorted(t.assignedTask.instanceId for t in pending) == [0, 1, 2]
        assert all(t.assignedTask.slaveHost is None for t in pending)

        assert env.sched.schedule_once() == 3
        await env.settle()
        assigned = await env.tasks(role=ROLE, environment=ENV, jobName="hello")
        assert statuses(assigned) == [int(S.ASSIGNED)] * 3
        assert all(t.assignedTask.slaveHost.startswith("host") for t in assigned)
        assert all(t.assignedTask.slaveId.startswith("agent") for t in assigned)
        assert all(set(t.assignedTask.assignedPorts) == {"http"} for t in assigned)
        assert [e.status for e in assigned[0].taskEvents] == [int(S.PENDING), int(S.ASSIGNED)]

        bare = (await env.ok("getTasksWithoutConfigs", query=api.TaskQuery(
            role=ROLE))).result.scheduleStatusResult.tasks
        assert len(bare) == 3
        assert all(t.assignedTask.task.executorConfig.data is None for t in bare)
        assert bare[0].assignedTask.task.executorConfig.name == "AuroraExecutor"

        one = await env.tasks(taskIds={assigned[1].assignedTask.taskId})
        assert [t.assignedTask.taskId for t in one] == [assigned[1].assignedTask.taskId]
        host = assigned[0].assignedTask.slaveHost
        on_host = await env.tasks(slaveHosts={host}, statuses={int(S.ASSIGNED)})
        assert {t.assignedTask.slaveHost for t in on_host} == {host}
        paged = await env.tasks(jobKeys={thrift_key()}, offset=1, limit=1)
        assert [t.assignedTask.instanceId for t in paged] == [1]
        assert await env.tasks(instanceIds={2}, statuses={int(S.RUNNING)}) == []

        summary = (await env.ok("getJobSummary", role=ROLE)).result.jobSummaryResult
        (job,) = summary.summaries
        assert (job.stats.activeTaskCount, job.stats.pendingTaskCount) == (3, 0)
        roles = (await env.ok("getRoleSummary")).result.roleSummaryResult.summaries
        assert [(r.role, r.jobCount, r.cronJobCount) for r in roles] == [(ROLE, 1, 0)]
        config = (await env.ok("getConfigSummary", job=thrift_key())).result
        (group,) = config.configSummaryResult.summary.groups
        assert [(r.first, r.last) for r in group.instances] == [(0, 2)]

        await env.ok("restartShards", job=thrift_key(), shardIds={0})
        await env.ok("addInstances", key=api.InstanceKey(jobKey=thrift_key(), instanceId=1),
                     count=2)
        now = await env.tasks(jobKeys={thrift_key()}, statuses={int(S.PENDING)})
        assert sorted(t.assignedTask.instanceId for t in now) == [3, 4]

        seq = env.sched.storage.last_seq
        response = await env.ok("killTasks", job=thrift_key(), instances={1, 3},
                                message="bye")
        assert response.details == []
        await env.settle()
        assert env.sched.storage.last_seq > seq
        left = await env.tasks(jobKeys={thrift_key()})
        by_instance = {t.assignedTask.instanceId: t for t in left}
        assert 3 not in by_instance  # a PENDING task killed is deleted outright
        assert by_instance[1].status == int(S.KILLING)
        assert by_instance[1].taskEvents[-1].message == "Killed by UNSECURE.\nbye"
        assert by_instance[1].assignedTask.taskId in env.backend.killed

        await env.ok("killTasks", job=thrift_key())
        again = await env.ok("killTasks", job=thrift_key(), instances={1})
        assert [d.message for d in again.details] == ["No tasks to kill."]

    run(tmp_path, impl, scenario)


def test_create_again_after_the_job_ended(tmp_path: Path, impl: str) -> None:
    async def scenario(env: Env) -> None:
        await env.ok("createJob", description=description(instances=1))
        env.sched.schedule_once()
        await env.settle()
        (task,) = await env.tasks(role=ROLE)
        env.sched.status_updates([StatusUpdate(task.assignedTask.taskId, int(S.RUNNING),
                                               env.sched.clock_ms())])
        await env.ok("killTasks", job=thrift_key())
        env.sched.status_updates([StatusUpdate(task.assignedTask.taskId, int(S.KILLED),
                                               env.sched.clock_ms())])
        await env.settle()
        assert (await env.ok("getJobs")).result.getJobsResult.configs == []
        await env.ok("createJob", description=description(instances=2))
        assert len(await env.tasks(role=ROLE, statuses={int(S.PENDING)})) == 2

    run(tmp_path, impl, scenario)


def test_pending_reason_and_populate_and_tiers(tmp_path: Path, impl: str) -> None:
    async def scenario(env: Env) -> None:
        await env.ok("createJob", description=description("huge", instances=2, cpu=64.0))
        assert env.sched.schedule_once() == 0
        response = await env.ok("getPendingReason", query=api.TaskQuery(
            jobKeys={thrift_key("huge")}))
        reasons = response.result.getPendingReasonResult.reasons
        assert len(reasons) == 2
        assert {r.reason for r in reasons} == {"Insufficient: CPU (4 hosts)"}
        bad = await env.call("getPendingReason", query=api.TaskQuery(statuses={0}))
        assert bad.responseCode == INVALID and "Statuses" in bad.details[0].message

        populated = await env.ok("populateJobConfig", description=description())
        config = populated.result.populateJobResult.taskConfig
        assert config.tier == "preemptible" and config.production is False
        tiers = (await env.ok("getTierConfigs")).result.getTierConfigResult
        assert tiers.defaultTierName == "preemptible"
        assert {t.name: t.settings["preemptible"] for t in tiers.tiers} == {
            "preemptible": "true", "preferred": "false", "revocable": "true"}

    run(tmp_path, impl, scenario)


# ----------------------------------------------------------------------------------- quota


def test_quota_set_get_and_enforced(tmp_path: Path, impl: str) -> None:
    async def scenario(env: Env) -> None:
        empty = (await env.ok("getQuota", ownerRole=ROLE)).result.getQuotaResult
        assert (empty.quota.numCpus, empty.quota.ramMb) == (0.0, 0)
        refused = await env.call("createJob", description=description(tier="preferred"))
        assert refused.responseCode == INVALID
        assert refused.details[0].message.startswith(
            "Insufficient resource quota: CPU quota exceeded by 3.00 core(s); RAM quota "
            "exceeded by 3072.00 MB")
        await env.ok("createJob", description=description("batch"))  # preemptible: no quota

        quota = api.ResourceAggregate(resources={api.Resource(numCpus=4.0),
                                                 api.Resource(ramMb=4096),
                                                 api.Resource(diskMb=8192)})
        await env.ok("setQuota", ownerRole=ROLE, quota=quota)
        await env.ok("createJob", description=description(tier="preferred"))
        got = (await env.ok("getQuota", ownerRole=ROLE)).result.getQuotaResult
        assert (got.quota.numCpus, got.quota.ramMb, got.quota.diskMb) == (4.0, 4096, 8192)
        assert (got.prodSharedConsumption.numCpus, got.prodSharedConsumption.ramMb) == (3.0,
                                                                                       3072)
        assert got.nonProdSharedConsumption.numCpus == 3.0
        more = await env.call("addInstances", key=api.InstanceKey(jobKey=thrift_key(),
                                                                  instanceId=0), count=2)
        assert more.responseCode == INVALID
        assert "CPU quota exceeded by 1.00 core(s)" in more.details[0].message
        await env.ok("addInstances", key=api.InstanceKey(jobKey=thrift_key(), instanceId=0),
                     count=1)
        low = await env.call("setQuota", ownerRole=ROLE, quota=api.ResourceAggregate(
            numCpus=1.0, ramMb=1024, diskMb=1024))
        assert low.responseCode == INVALID and "less then current prod" in low.details[0].message
        config = env.sched.jobs.configs[0]
        assert quota_problem(env.sched, config, 1) is None  # what the job actions check

    run(tmp_path, impl, scenario)

    async def reboot() -> None:
        env = await boot(tmp_path, impl)
        got = (await env.ok("getQuota", ownerRole=ROLE)).result.getQuotaResult
        assert (got.quota.numCpus, got.prodSharedConsumption.numCpus) == (4.0, 4.0)
        env.sched.storage.close()

    asyncio.run(reboot())


# ----------------------------------------------------------------------------- maintenance


def test_maintenance_start_drain_status_end(tmp_path: Path, impl: str) -> None:
    async def scenario(env: Env) -> None:
        await env.ok("createJob", description=description(instances=8, cpu=1.0, ram=512))
        assert env.sched.schedule_once() == 8
        await env.settle()
        cluster = env.sched.cluster

        def hosts(*names: str) -> Any:
            return api.Hosts(hostNames=set(names))

        started = await env.ok("startMaintenance", hosts=hosts("host0", "nowhere"))
        assert [(s.host, s.mode) for s in
                started.result.startMaintenanceResult.statuses] == [("host0", SCHEDULED)]
        assert cluster.maint[cluster.host_id("host0")] == SCHEDULED

        busy = [t for t in await env.tasks(slaveHosts={"host1"})]
        assert busy
        drained = await env.ok("drainHosts", hosts=hosts("host1"))
        assert [(s.host, s.mode) for s in
                drained.result.drainHostsResult.statuses] == [("host1", DRAINING)]
        await env.settle()
        now = await env.tasks(slaveHosts={"host1"})
        assert statuses(now) == [int(S.DRAINING)] * len(busy)
        assert {t.assignedTask.taskId for t in busy} <= set(env.backend.killed)
        assert cluster.maint[cluster.host_id("host1")] == DRAINING

        env.sched.status_updates([StatusUpdate(t.assignedTask.taskId, int(S.KILLED),
                                               env.sched.clock_ms()) for t in busy])
        await env.settle()
        # Their replacements were placed at once (the kills freed room), none on host1.
        active = await env.tasks(jobKeys={thrift_key()}, statuses=set(ACTIVE))
        assert len(active) == 8
        assert not {t.assignedTask.taskId for t in busy} & {t.assignedTask.taskId for t in active}
        assert all(t.assignedTask.slaveHost != "host1" for t in active)
        status = await env.ok("maintenanceStatus", hosts=hosts("host0", "host1", "nowhere"))
        assert [(s.host, s.mode) for s in status.result.maintenanceStatusResult.statuses] == [
            ("host0", SCHEDULED), ("host1", DRAINED)]
        env.sched.schedule_once()
        await env.settle()
        assert await env.tasks(slaveHosts={"host1"}, statuses={int(S.ASSIGNED)}) == []

        ended = await env.ok("endMaintenance", hosts=hosts("host0", "host1"))
        assert {s.mode for s in ended.result.endMaintenanceResult.statuses} == {NONE}
        assert cluster.maint[cluster.host_id("host1")] == NONE

        assert await env.tasks(slaveHosts={"host1"}, statuses=set(ACTIVE)) == []
        empty = await env.ok("drainHosts", hosts=hosts("host1"))  # no active task: DRAINED
        assert [(s.host, s.mode) for s in
                empty.result.drainHostsResult.statuses] == [("host1", DRAINED)]

    run(tmp_path, impl, scenario)

    async def reboot() -> None:
        env = await boot(tmp_path, impl)
        cluster = env.sched.cluster
        assert cluster.maint[cluster.host_id("host0")] == NONE
        assert cluster.maint[cluster.host_id("host1")] == DRAINED
        status = await env.ok("maintenanceStatus", hosts=api.Hosts(hostNames={"host1"}))
        assert status.result.maintenanceStatusResult.statuses[0].mode == DRAINED
        env.sched.storage.close()

    asyncio.run(reboot())


# ------------------------------------------------------------------- storage and the backend


def test_snapshot_backup_and_list(tmp_path: Path, impl: str) -> None:
    async def scenario(env: Env) -> None:
        await env.ok("createJob", description=description())
        await env.ok("snapshot")
        assert env.sched.storage.snapshots()
        assert (await env.ok("listBackups")).result.listBackupsResult.backups == []
        await env.ok("performBackup")
        (name,) = (await env.ok("listBackups")).result.listBackupsResult.backups
        assert name.startswith("scheduler-backup-2023-11-14-")

    run(tmp_path, impl, scenario)


def test_reconciliation_and_pruning(tmp_path: Path, impl: str) -> None:
    async def scenario(env: Env) -> None:
        await env.ok("createJob", description=description(instances=5))
        env.sched.schedule_once()
        await env.settle()
        await env.ok("triggerExplicitTaskReconciliation",
                     settings=api.ExplicitReconciliationSettings(batchSize=2))
        assert [len(b or []) for b in env.backend.reconciled] == [2, 2, 1]
        await env.ok("triggerImplicitTaskReconciliation")
        assert env.backend.reconciled[-1] is None
        zero = await env.call("triggerExplicitTaskReconciliation",
                              settings=api.ExplicitReconciliationSettings(batchSize=0))
        assert zero.responseCode == INVALID

        ids = [t.assignedTask.taskId for t in await env.tasks(role=ROLE)]
        env.sched.status_updates([StatusUpdate(i, int(S.FAILED), env.sched.clock_ms())
                                  for i in ids[:2]])
        await env.settle()
        refused = await env.call("pruneTasks", query=api.TaskQuery(statuses={int(S.RUNNING)}))
        assert refused.responseCode == INVALID
        await env.ok("pruneTasks", query=api.TaskQuery(role=ROLE, limit=1))
        await env.settle()
        assert len(await env.tasks(statuses={int(S.FAILED)})) == 1
        await env.ok("pruneTasks", query=api.TaskQuery(jobKeys={thrift_key()}))
        await env.settle()
        assert await env.tasks(statuses={int(S.FAILED)}) == []
        stored = {t.id for t in env.sched.storage.tasks()}
        assert not stored & set(ids[:2])

    run(tmp_path, impl, scenario)


class TableSpy:
    """The state table, noting which of its indexes a query walks."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.walked: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if name.startswith("tasks_"):
            self.walked.append(name)
        return getattr(self.table, name)


def test_queries_walk_only_the_index_they_name(tmp_path: Path, impl: str) -> None:
    async def scenario(env: Env) -> None:
        for name in ("a", "b", "c"):
            await env.ok("createJob", description=description(name, instances=4))
        spy = TableSpy(env.sched.table)
        sched = SimpleNamespace(table=spy)
        index = TableIndex(spy)
        ids = [t.assignedTask.taskId for t in await env.tasks(jobKeys={thrift_key("b")})]

        def walk(query: Query) -> tuple[int, list[str]]:
            spy.walked.clear()
            return len(select(sched, index, query)), list(spy.walked)  # type: ignore[arg-type]

        assert walk(Query(task_ids=frozenset(ids[:2]))) == (2, [])
        assert walk(Query(job_keys=frozenset({(ROLE, ENV, "b")}))) == (4, ["tasks_of_job"])
        assert walk(Query(role=ROLE, environment=ENV, job_name="c", instances=frozenset({1}))
                    ) == (1, ["tasks_of_job"])
        assert walk(Query(role=ROLE)) == (12, ["tasks_of_job"] * 3)
        assert walk(Query(statuses=frozenset({0}))) == (12, ["tasks_in_state"])
        assert walk(Query(job_keys=frozenset({(ROLE, ENV, "nope")}))) == (0, [])

    run(tmp_path, impl, scenario)


# ------------------------------------------------------------------------------ bad input


def test_bad_input_is_invalid_and_changes_nothing(tmp_path: Path, impl: str) -> None:
    async def scenario(env: Env) -> None:
        await env.ok("createJob", description=description())
        seq, size = env.sched.storage.last_seq, len(env.sched.table)

        async def invalid(method: str, text: str, **kw: Any) -> None:
            response = await env.call(method, **kw)
            assert response.responseCode == INVALID, (method, response.details)
            assert response.serverInfo.clusterName == "test-cluster"
            assert any(text in d.message for d in response.details), response.details
            await env.settle()
            assert env.sched.storage.last_seq == seq and len(env.sched.table) == size

        ghost = thrift_key("ghost")
        await invalid("killTasks", "job www-data/prod/ghost does not exist", job=ghost)
        await invalid("restartShards", "does not exist", job=ghost, shardIds={0})
        await invalid("addInstances", "does not exist",
                      key=api.InstanceKey(jobKey=ghost, instanceId=0), count=1)
        await invalid("createJob", "Job www-data/prod/hello already exists",
                      description=description())
        await invalid("addInstances", "count: expected i32, got str '2'",
                      key=api.InstanceKey(jobKey=thrift_key(), instanceId=0), count="2")
        await invalid("getJobs", "ownerRole: expected string, got int", ownerRole=5)
        await invalid("getTasksStatus", "query.statuses[0]: 99 is not a ScheduleStatus",
                      query=api.TaskQuery(statuses=[99]))
        await invalid("killTasks", "job: expected JobKey", job="www-data/prod/hello")
        await invalid("createJob", "invalid job key", description=description("bad name"))
        await invalid("createJob", "instanceCount", description=description(instances=0))
        await invalid("createJob", "Instance count must be between 1 and 4000",
                      description=description("big", instances=4001))
        await invalid("createJob", "Configuration may not be null",
                      description=description("noexec", executorConfig=None))
        await invalid("restartShards", "Not all requested shards are active",
                      job=thrift_key(), shardIds={0, 7})
        await invalid("addInstances", "No active task found for a given instance ID",
                      key=api.InstanceKey(jobKey=thrift_key(), instanceId=9), count=1)
        await invalid("addInstances", "Instance count must be positive",
                      key=api.InstanceKey(jobKey=thrift_key(), instanceId=0), count=0)
        await invalid("setQuota", "ram_mb must be >= 0", ownerRole=ROLE,
                      quota=api.ResourceAggregate(numCpus=1.0, ramMb=-1, diskMb=1))
        await invalid("getQuota", "ownerRole must not be blank", ownerRole=" ")
        await invalid("drainHosts", "hosts is missing")
        await invalid("populateJobConfig", "Invalid configuration",
                      description=description("x", instances=-1))

    run(tmp_path, impl, scenario)


@pytest.mark.parametrize("method", ["startJobUpdate", "scheduleCronJob", "forceTaskState",
                                    "stageRecovery", "getJobUpdateSummaries", "slaDrainHosts"])
def test_unsupported_methods_answer_error(tmp_path: Path, impl: str, method: str) -> None:
    async def scenario(env: Env) -> None:
        seq = env.sched.storage.last_seq
        response = await env.call(method)
        assert response.responseCode == ERROR
        assert [d.message for d in response.details] == [
            f"{method} is not supported by this scheduler yet"]
        assert response.serverInfo.clusterName == "test-cluster"
        assert method not in env.api.supported and env.sched.storage.last_seq == seq

    run(tmp_path, impl, scenario)


def test_every_method_is_either_handled_or_refused(tmp_path: Path, impl: str) -> None:
    async def scenario(env: Env) -> None:
        assert env.api.supported <= codec.METHODS
        assert len(env.api.supported) == 25

    run(tmp_path, impl, scenario)


# ---------------------------------------------------------------------------- on the wire


@pytest.mark.parametrize("protocol", ["binary", "json"])
def test_round_trip_through_the_codec(tmp_path: Path, impl: str, protocol: Any) -> None:
    async def scenario(env: Env) -> None:
        async def over_the_wire(method: str, seqid: int, **kw: Any) -> Any:
            body = codec.encode_call(method, kw, seqid, protocol)
            call = codec.decode_call(body, protocol)
            response = await env.api.call(call.method, call.args)
            reply = codec.encode_reply(call.method, response, call.seqid, protocol)
            return codec.decode_reply(reply, method, protocol)

        created = await over_the_wire("createJob", 1, description=description())
        assert created.responseCode == OK and created.serverInfo.clusterName == "test-cluster"
        got = await over_the_wire("getTasksStatus", 2, query=api.TaskQuery(
            jobKeys={thrift_key()}, statuses={int(S.PENDING)}))
        tasks = got.result.scheduleStatusResult.tasks
        assert len(tasks) == 3
        data = json.loads(tasks[0].assignedTask.task.executorConfig.data)
        assert data["task"]["processes"][0]["cmdline"] == "echo hello"
        ghost = await over_the_wire("killTasks", 3, job=thrift_key("ghost"))
        assert ghost.responseCode == INVALID and ghost.details[0].message
        unsupported = await over_the_wire("startCronJob", 4, job=thrift_key())
        assert unsupported.responseCode == ERROR

    run(tmp_path, impl, scenario)
