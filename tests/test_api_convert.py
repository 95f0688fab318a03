"""Tests of the conversions between the domain model and the API's Thrift structs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from msgspec.structs import replace

from aurora.api import codec
from aurora.api import convert as cv
from aurora.api.codec import api
from aurora.api.convert import CronCollisionPolicy, JobConfiguration
from aurora.model import (
    AssignedTask,
    Constraint,
    CoordinatorSlaPolicy,
    CountSlaPolicy,
    DockerContainer,
    DockerParameter,
    ExecutorConfig,
    Identity,
    InvalidJobKeyError,
    InvalidResourcesError,
    JobKey,
    MesosContainer,
    Metadata,
    PartitionPolicy,
    PercentageSlaPolicy,
    Resources,
    ScheduledTask,
    ScheduleStatus,
    TaskConfig,
    TaskDescriptionError,
    TaskEvent,
    UnknownStatusError,
)
from aurora.model.status import WIRE_STATUSES
from aurora.model.task import AppcImage, DockerImage, Volume, VolumeMode

KEY = JobKey("www-data", "prod", "hello")
THERMOS_JOB = json.dumps({
    "role": "www-data", "environment": "prod", "name": "hello", "cluster": "devcluster",
    "task": {"name": "hello", "processes": [{"name": "hello", "cmdline": "echo h\u00e9llo"}],
             "resources": {"cpu": 0.5, "ram": 134217728, "disk": 268435456, "gpu": 0}},
})


def full_task(**overrides: Any) -> TaskConfig:
    fields: dict[str, Any] = {
        "job": KEY, "owner": Identity("alice"),
        "resources": Resources(0.5, 128, 256, 1, ("health", "http")),
        "is_service": True, "priority": 5, "max_task_failures": -1, "tier": "preferred",
        "constraints": {"host": "limit:1", "rack": "!r1,r2", "dedicated": "www-data/web"},
        "metadata": [Metadata("team", "web"), Metadata("owner", "alice")],
        "container": MesosContainer(DockerImage("debian", "12"),
                                    (Volume("/data", "/srv/data", VolumeMode.RW),)),
        "executor_config": ExecutorConfig("AuroraExecutor", THERMOS_JOB),
        "contact_email": "web@example.com",
        "task_links": {"http": "http://%host%:%port:http%"},
        "partition_policy": PartitionPolicy(True, 60),
        "sla_policy": CountSlaPolicy(1, 600),
    }
    fields.update(overrides)
    return TaskConfig(**fields)


def full_scheduled_task(status: ScheduleStatus = ScheduleStatus.RUNNING) -> ScheduledTask:
    assigned = AssignedTask(task_id="www-data-prod-hello-0-abc", task=full_task(), instance_id=0,
                            slave_id="agent-1", slave_host="host1",
                            assigned_ports={"http": 31000, "health": 31001})
    events = (TaskEvent(1_000, ScheduleStatus.PENDING, "created", "sched1"),
              TaskEvent(2_000, ScheduleStatus.ASSIGNED),
              TaskEvent(3_000, status, None, "sched1"))
    return ScheduledTask(assigned_task=assigned, status=status, failure_count=2,
                         times_partitioned=1, task_events=events, ancestor_id="old-id")


def over_the_wire(method: str, args: dict[str, Any], protocol: Any) -> Any:
    """Encode a call as a client would and decode it as the scheduler does."""
    return codec.decode_call(codec.encode_call(method, args, 1, protocol), protocol).args


# ------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("value", [
    KEY,
    Constraint.parse("host", "limit:2"),
    Constraint.parse("rack", "!r1,r2,r3"),
    Constraint.parse("zone", "us-east-1a"),
    MesosContainer(),
    MesosContainer(AppcImage("app", "sha512-abc"), (Volume("/a", "/b"),)),
    MesosContainer(DockerImage("debian", "latest"), ()),
    DockerContainer("nginx:1.25", (DockerParameter("env", "A=1"), DockerParameter("env", "B=2"))),
    PercentageSlaPolicy(95.0, 1800),
    CountSlaPolicy(2, 900),
    CoordinatorSlaPolicy("http://coord/", "ok"),
    full_task(),
    full_task(container=DockerContainer("nginx"), executor_config=None, sla_policy=None,
              partition_policy=None, contact_email=None, tier="preemptible",
              resources=Resources(2, 1024, 2048)),
    full_task(sla_policy=PercentageSlaPolicy(50, 60)),
    TaskEvent(5, ScheduleStatus.KILLED, "killed by alice", "sched1"),
    full_scheduled_task(),
    full_scheduled_task().assigned_task,
    JobConfiguration(task_config=full_task(is_service=False), instance_count=3,
                     cron_schedule="*/5 * * * *",
                     cron_collision_policy=CronCollisionPolicy.CANCEL_NEW),
], ids=lambda v: type(v).__name__)
def test_round_trip(value: Any) -> None:
    thrift = cv.to_thrift(value)
    assert cv.from_thrift(thrift) == value


@pytest.mark.parametrize("protocol", ["binary", "json"])
def test_round_trip_over_the_wire(protocol: Any) -> None:
    job = JobConfiguration(task_config=full_task(), instance_count=4)
    args = over_the_wire("createJob", {"description": cv.to_thrift(job)}, protocol)
    back = cv.job_configuration_from_thrift(args.description)
    assert back == job
    assert json.loads(back.task_config.executor_config.data)["task"]["processes"][0][
        "cmdline"] == "echo h\u00e9llo"

    tasks = [full_scheduled_task(s) for s in (ScheduleStatus.PENDING, ScheduleStatus.PARTITIONED)]
    reply = codec.ok(api.ScheduleStatusResult(tasks=[cv.to_thrift(t) for t in tasks]),
                     method="getTasksStatus")
    body = codec.encode_reply("getTasksStatus", reply, 1, protocol)
    got = codec.decode_reply(body, "getTasksStatus", protocol)
    assert [cv.from_thrift(t) for t in got.result.scheduleStatusResult.tasks] == tasks


def test_every_wire_status_round_trips() -> None:
    for status in WIRE_STATUSES:
        assert cv.schedule_status_to_thrift(status) == api.ScheduleStatus._NAMES_TO_VALUES[
            status.name]
        assert cv.schedule_status_from_thrift(int(status)) is status
    with pytest.raises(UnknownStatusError, match="DELETED"):
        cv.schedule_status_to_thrift(ScheduleStatus.DELETED)
    with pytest.raises(UnknownStatusError, match="status: unknown task status number 8"):
        cv.schedule_status_from_thrift(8)
    with pytest.raises(UnknownStatusError, match="status: unknown task status number 31"):
        cv.schedule_status_from_thrift(31)


def test_resource_aggregate_round_trip() -> None:
    quota = Resources(10.5, 4096, 8192)
    thrift = cv.resource_aggregate_to_thrift(quota)
    assert (thrift.numCpus, thrift.ramMb, thrift.diskMb) == (10.5, 4096, 8192)
    assert cv.resource_aggregate_from_thrift(thrift) == quota
    bare = cv.resource_aggregate_to_thrift(quota, legacy_resources=False)
    assert bare.numCpus is None and cv.from_thrift(bare) == quota
    legacy_only = api.ResourceAggregate(numCpus=1.0, ramMb=2, diskMb=3)
    assert cv.resource_aggregate_from_thrift(legacy_only) == Resources(1.0, 2, 3)
    with pytest.raises(InvalidResourcesError, match="quota: a resource aggregate has no ports"):
        cv.resource_aggregate_from_thrift(api.ResourceAggregate(
            resources=[api.Resource(namedPort="http")]))


# --------------------------------------------------------------------------- thrift details


def test_task_config_fields_on_the_wire() -> None:
    thrift = cv.task_config_to_thrift(full_task())
    assert thrift.job == api.JobKey(role="www-data", environment="prod", name="hello")
    assert thrift.owner == api.Identity(user="alice")
    assert (thrift.isService, thrift.priority, thrift.maxTaskFailures) == (True, 5, -1)
    assert (thrift.tier, thrift.production) == ("preferred", True)
    assert thrift.resources == [
        api.Resource(numCpus=0.5), api.Resource(ramMb=128), api.Resource(diskMb=256),
        api.Resource(namedPort="health"), api.Resource(namedPort="http"),
        api.Resource(numGpus=1)]
    # Aurora 0.19's fields, for older clients.
    assert (thrift.numCpus, thrift.ramMb, thrift.diskMb) == (0.5, 128, 256)
    assert thrift.requestedPorts == ["health", "http"]
    assert [c.name for c in thrift.constraints] == ["dedicated", "host", "rack"]
    rack = thrift.constraints[2].constraint
    assert rack.value == api.ValueConstraint(negated=True, values=["r1", "r2"])
    assert thrift.constraints[1].constraint.limit == api.LimitConstraint(limit=1)
    assert thrift.metadata == [api.Metadata(key="owner", value="alice"),
                               api.Metadata(key="team", value="web")]
    assert thrift.container.mesos.image.docker == api.DockerImage(name="debian", tag="12")
    assert thrift.container.mesos.volumes == [
        api.Volume(containerPath="/data", hostPath="/srv/data", mode=api.Mode.RW)]
    assert thrift.executorConfig == api.ExecutorConfig(name="AuroraExecutor", data=THERMOS_JOB)
    assert thrift.taskLinks == {"http": "http://%host%:%port:http%"}
    assert thrift.partitionPolicy == api.PartitionPolicy(reschedule=True, delaySecs=60)
    assert thrift.slaPolicy.countSlaPolicy == api.CountSlaPolicy(count=1, durationSecs=600)
    assert thrift.mesosFetcherUris is None

    preemptible = cv.task_config_to_thrift(full_task(tier="preemptible"), legacy_resources=False)
    assert preemptible.production is False
    assert preemptible.numCpus is None and preemptible.requestedPorts is None


def test_without_executor_data_for_get_tasks_without_configs() -> None:
    thrift = cv.scheduled_task_to_thrift(full_scheduled_task(), with_executor_data=False)
    executor = thrift.assignedTask.task.executorConfig
    assert executor.name == "AuroraExecutor" and executor.data is None


def aurora_client_task(**overrides: Any) -> Any:
    """A TaskConfig as Aurora's Python client sends it (config/thrift.py)."""
    fields: dict[str, Any] = {
        "job": api.JobKey(role="www-data", environment="prod", name="hello"),
        "owner": api.Identity(user="alice"), "production": False, "isService": False,
        "maxTaskFailures": 1, "priority": 0, "contactEmail": None, "tier": None,
        "metadata": frozenset(), "taskLinks": {},
        "resources": frozenset({api.Resource(numCpus=1.0), api.Resource(ramMb=64),
                                api.Resource(diskMb=64)}),
        "constraints": set(), "container": api.Container(mesos=api.MesosContainer()),
        "executorConfig": api.ExecutorConfig(name="AuroraExecutor", data=THERMOS_JOB),
    }
    fields.update(overrides)
    return api.TaskConfig(**fields)


def test_aurora_client_task_config() -> None:
    task = cv.task_config_from_thrift(aurora_client_task(production=True))
    # No tier: the default tier; the production flag is derived from the tier, not read.
    assert task.tier == "preemptible" and not task.is_production
    assert task.resources == Resources(1.0, 64, 64)
    assert task.container == MesosContainer() and task.metadata == ()
    assert task.executor_config == ExecutorConfig("AuroraExecutor", THERMOS_JOB)


def test_unset_fields_read_as_aurora_reads_them() -> None:
    bare = api.TaskConfig(job=api.JobKey(role="r", environment="devel", name="n"),
                          resources=[api.Resource(numCpus=1), api.Resource(ramMb=1),
                                     api.Resource(diskMb=1)], container=None)
    task = cv.task_config_from_thrift(bare)
    assert (task.is_service, task.priority, task.max_task_failures) == (False, 0, 0)
    assert task.owner == Identity("r")  # no owner: the role
    assert task.container == MesosContainer() and task.executor_config is None
    assert task.constraints == () and task.task_links == ()
    job = cv.job_configuration_from_thrift(api.JobConfiguration(
        key=bare.job, taskConfig=bare, instanceCount=1))
    assert job.cron_collision_policy is CronCollisionPolicy.KILL_EXISTING
    assert job.cron_schedule is None


def test_legacy_resource_fields_are_read_when_the_set_is_absent() -> None:
    legacy = aurora_client_task(resources=None, numCpus=2.0, ramMb=512, diskMb=1024,
                                requestedPorts={"http"})
    assert cv.task_config_from_thrift(legacy).resources == Resources(2.0, 512, 1024, 0, ("http",))
    both = aurora_client_task(numCpus=9.0)  # the set wins
    assert cv.task_config_from_thrift(both).resources.cpu == 1.0


# -------------------------------------------------------------------------------- bad input


def client_job(**overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "key": api.JobKey(role="www-data", environment="prod", name="hello"),
        "owner": api.Identity(user="alice"), "cronCollisionPolicy": 0,
        "taskConfig": aurora_client_task(), "instanceCount": 2}
    fields.update(overrides)
    return api.JobConfiguration(**fields)


@pytest.mark.parametrize(("job", "error", "message"), [
    (client_job(key=None), InvalidJobKeyError, "description.key: the job key is missing"),
    (client_job(key=api.JobKey(role="www data", environment="prod", name="hello")),
     InvalidJobKeyError, r"description.key: .*role 'www data' must match"),
    (client_job(key=api.JobKey(role="www-data", environment="qa", name="hello")),
     InvalidJobKeyError, "environment 'qa' is not allowed"),
    (client_job(taskConfig=aurora_client_task(job=None)), InvalidJobKeyError,
     "description.taskConfig.job: the job key is missing"),
    (client_job(taskConfig=aurora_client_task(job=api.JobKey(
        role="www-data", environment="prod", name="other"))), InvalidJobKeyError,
     "differs from the job's key"),
    (client_job(taskConfig=None), TaskDescriptionError, "description.taskConfig is missing"),
    (client_job(instanceCount=-1), TaskDescriptionError,
     "description.instanceCount: Instance count must be positive, got -1"),
    (client_job(instanceCount=None), TaskDescriptionError, "instanceCount"),
    (client_job(cronCollisionPolicy=7), TaskDescriptionError,
     "description.cronCollisionPolicy: unknown CronCollisionPolicy 7"),
    (client_job(owner=api.Identity(user="bad user")), TaskDescriptionError,
     "description.owner: user 'bad user' must match"),
    (client_job(cronSchedule="* * * * *", taskConfig=aurora_client_task(isService=True)),
     TaskDescriptionError, "service task may not be run on a cron schedule"),
    (client_job(taskConfig=aurora_client_task(tier="gold")), TaskDescriptionError,
     "description.taskConfig: tier 'gold' is unknown"),
    (client_job(taskConfig=aurora_client_task(maxTaskFailures=-2)), TaskDescriptionError,
     "description.taskConfig: max_task_failures"),
    (client_job(taskConfig=aurora_client_task(resources=[
        api.Resource(numCpus=1.0), api.Resource(numCpus=2.0), api.Resource(ramMb=1),
        api.Resource(ramMb=2), api.Resource(diskMb=1)])), InvalidResourcesError,
     "description.taskConfig.resources: Multiple resource values are not supported for CPU, "
     "RAM"),
    (client_job(taskConfig=aurora_client_task(resources=[api.Resource(ramMb=1)])),
     TaskDescriptionError, "description.taskConfig: resources: cpu must be greater than 0"),
    (client_job(taskConfig=aurora_client_task(resources=[
        api.Resource(numCpus=1.0, ramMb=2)])), InvalidResourcesError,
     r"description.taskConfig.resources\[0\]: a Resource must set exactly one"),
    (client_job(taskConfig=aurora_client_task(resources=[
        api.Resource(numCpus=1.0), api.Resource(ramMb=1), api.Resource(diskMb=-1)])),
     InvalidResourcesError, "description.taskConfig.resources: disk_mb must be >= 0"),
    (client_job(taskConfig=aurora_client_task(constraints=[api.Constraint(
        name="host", constraint=api.TaskConstraint())])), TaskDescriptionError,
     r"description.taskConfig.constraints\[0\]: constraint 'host': exactly one of value"),
    (client_job(taskConfig=aurora_client_task(constraints=[api.Constraint(
        name="rack", constraint=api.TaskConstraint(value=api.ValueConstraint(
            negated=False, values=[])))])), TaskDescriptionError,
     r"constraints\[0\].constraint.value: value constraint: values must not be empty"),
    (client_job(taskConfig=aurora_client_task(constraints=[api.Constraint(
        name="dedicated", constraint=api.TaskConstraint(value=api.ValueConstraint(
            negated=False, values=["other/x"])))])), TaskDescriptionError,
     "only role 'other' may use hosts dedicated"),
    (client_job(taskConfig=aurora_client_task(mesosFetcherUris=[
        api.MesosFetcherURI(value="http://x/y")])), TaskDescriptionError,
     "mesosFetcherUris: Mesos Fetcher for individual jobs is disabled"),
    (client_job(taskConfig=aurora_client_task(executorConfig=api.ExecutorConfig(data="{}"))),
     TaskDescriptionError, "executorConfig.name: Executor name may not be left unset"),
    (client_job(taskConfig=aurora_client_task(container=api.Container(
        docker=api.DockerContainer()))), TaskDescriptionError,
     "description.taskConfig.container.docker: container.image: a container must specify"),
    (client_job(taskConfig=aurora_client_task(container=api.Container(
        mesos=api.MesosContainer(), docker=api.DockerContainer(image="x")))),
     TaskDescriptionError, "container: set exactly one of mesos or docker"),
    (client_job(taskConfig=aurora_client_task(container=api.Container(
        mesos=api.MesosContainer(volumes=[api.Volume(containerPath="/a", hostPath="/b",
                                                     mode=9)])))),
     TaskDescriptionError, r"mesos.volumes\[0\].mode: unknown VolumeMode 9"),
    (client_job(taskConfig=aurora_client_task(slaPolicy=api.SlaPolicy(
        countSlaPolicy=api.CountSlaPolicy(count=-1, durationSecs=0)))), TaskDescriptionError,
     "description.taskConfig.slaPolicy.countSlaPolicy: sla_policy.count"),
    (client_job(taskConfig=aurora_client_task(slaPolicy=api.SlaPolicy())),
     TaskDescriptionError, "slaPolicy: set exactly one of"),
    (client_job(taskConfig=aurora_client_task(partitionPolicy=api.PartitionPolicy(
        reschedule=True, delaySecs=-5))), TaskDescriptionError,
     "description.taskConfig.partitionPolicy: partition_policy.delay_secs"),
    (client_job(taskConfig=aurora_client_task(metadata=[api.Metadata(key="k")])),
     TaskDescriptionError, r"metadata\[0\].value is missing"),
])
def test_bad_client_input_names_the_field(job: Any, error: type[Exception],
                                          message: str) -> None:
    with pytest.raises(error, match=message):
        cv.job_configuration_from_thrift(job)
    assert issubclass(error, ValueError)


def test_bad_tasks_name_the_field() -> None:
    good = cv.to_thrift(full_scheduled_task())
    bad_status = cv.to_thrift(full_scheduled_task())
    bad_status.status = 10
    with pytest.raises(UnknownStatusError, match=r"task\.status: unknown task status number 10"):
        cv.scheduled_task_from_thrift(bad_status)
    good.taskEvents[1].status = None
    with pytest.raises(TaskDescriptionError, match=r"task.taskEvents\[1\].status is missing"):
        cv.scheduled_task_from_thrift(good)
    no_id = cv.to_thrift(full_scheduled_task())
    no_id.assignedTask.taskId = ""
    with pytest.raises(TaskDescriptionError, match=r"task\.assignedTask: task_id must be"):
        cv.scheduled_task_from_thrift(no_id)
    with pytest.raises(TaskDescriptionError, match=r"task\.assignedTask is missing"):
        cv.scheduled_task_from_thrift(api.ScheduledTask(status=2))


def test_model_job_configuration_rules() -> None:
    task = full_task(is_service=False)
    with pytest.raises(TaskDescriptionError, match="Instance count must be positive"):
        JobConfiguration(task_config=task, instance_count=0)
    assert JobConfiguration(task_config=task, instance_count=1, cron_schedule="").cron_schedule \
        is None
    policy = JobConfiguration(task_config=task, instance_count=1, cron_collision_policy=1)
    assert policy.cron_collision_policy is CronCollisionPolicy.CANCEL_NEW
    assert policy.key == KEY
    with pytest.raises(TaskDescriptionError, match="unknown CronCollisionPolicy 5"):
        JobConfiguration(task_config=task, instance_count=1, cron_collision_policy=5)
    with pytest.raises(TaskDescriptionError, match="cron schedule"):
        JobConfiguration(task_config=replace(task, is_service=True), instance_count=1,
                         cron_schedule="0 * * * *")


def test_dispatch_refuses_unknown_types() -> None:
    with pytest.raises(TypeError, match="no thrift form for str"):
        cv.to_thrift("x")
    with pytest.raises(TypeError, match="no model form for thrift Hosts"):
        cv.from_thrift(api.Hosts())
