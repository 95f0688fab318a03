"""Tests of the Thrift API codec: the IDL, content types, calls in, replies out, bad bodies."""

from __future__ import annotations

import io
import json
import struct
from typing import Any

import pytest
import thriftpy2
from thriftpy2.protocol import TApacheJSONProtocol, TBinaryProtocol
from thriftpy2.thrift import TApplicationException, TMessageType
from thriftpy2.transport import TMemoryBuffer

from aurora.api import codec
from aurora.api.codec import (
    MAX_BODY_BYTES,
    BadRequest,
    BodyTooLarge,
    ResponseCode,
    UnsupportedMediaType,
    api,
)

SERVICE = api.AuroraAdmin

# ------------------------------------------------------------------ a client, as Aurora's is


def client_bytes(method: str, protocol: str, seqid: int = 0, service: Any = SERVICE,
                 **args: Any) -> bytes:
    """A call written the way Apache Thrift's generated client writes it (send_<method>)."""
    buffer = TMemoryBuffer()
    proto = TBinaryProtocol(buffer) if protocol == "binary" else TApacheJSONProtocol(buffer)
    proto.write_message_begin(method, TMessageType.CALL, seqid)
    getattr(service, method + "_args")(**args).write(proto)
    proto.write_message_end()
    return buffer.getvalue()


def client_reply(body: bytes, method: str, protocol: str) -> Any:
    """What a client reads from a reply: the Response, or the TApplicationException."""
    proto: Any
    if protocol == "binary":
        proto = TBinaryProtocol(TMemoryBuffer(body))
    else:
        proto = TApacheJSONProtocol(TMemoryBuffer(body))
    name, mtype, _ = proto.read_message_begin()
    assert name == method
    if mtype == TMessageType.EXCEPTION:
        exc = TApplicationException()
        exc.read(proto)
        return exc
    result = getattr(SERVICE, method + "_result")()
    result.read(proto)
    return result.success


THERMOS_JOB = json.dumps({
    "cluster": "devcluster", "role": "www-data", "environment": "prod", "name": "hello",
    "service": True, "max_task_failures": 1, "priority": 0, "production": False,
    "task": {"name": "hello", "max_failures": 1, "max_concurrency": 0, "finalization_wait": 30,
             "resources": {"cpu": 1.0, "ram": 134217728, "disk": 268435456, "gpu": 0},
             "processes": [{"name": "hello", "cmdline": "echo 'h\u00e9llo \u2603'",
                            "max_failures": 1, "daemon": False, "ephemeral": False,
                            "min_duration": 5, "final": False}],
             "constraints": []},
    "health_check_config": {"initial_interval_secs": 15.0, "interval_secs": 10.0},
})


def aurora_job() -> Any:
    """A JobConfiguration built as Aurora's client builds it (config/thrift.py ``convert``)."""
    key = api.JobKey(role="www-data", environment="prod", name="hello")
    task = api.TaskConfig(
        job=key, owner=api.Identity(user="alice"), production=False, isService=True,
        maxTaskFailures=1, priority=0, contactEmail=None, tier="preemptible",
        metadata=frozenset({api.Metadata(key="team", value="web")}),
        resources=frozenset({api.Resource(numCpus=1.0), api.Resource(ramMb=128),
                             api.Resource(diskMb=256), api.Resource(namedPort="http")}),
        taskLinks={},
        constraints={api.Constraint(name="host", constraint=api.TaskConstraint(
            limit=api.LimitConstraint(limit=1)))},
        container=api.Container(mesos=api.MesosContainer()),
        executorConfig=api.ExecutorConfig(name="AuroraExecutor", data=THERMOS_JOB),
    )
    return api.JobConfiguration(key=key, owner=api.Identity(user="alice"), cronSchedule=None,
                                cronCollisionPolicy=0, taskConfig=task, instanceCount=3)


def normalized(value: Any) -> Any:
    """A thrift value with containers as sorted lists (sets decode as lists), for comparing."""
    if isinstance(value, (set, frozenset, list)):
        return sorted((normalized(v) for v in value), key=repr)
    if isinstance(value, dict):
        return {k: normalized(v) for k, v in value.items()}
    if hasattr(value, "thrift_spec"):
        return (type(value).__name__,
                {spec[1]: normalized(getattr(value, spec[1])) for spec in
                 value.thrift_spec.values()})
    return value


# ------------------------------------------------------------------------------------ the IDL


def test_idl_has_every_method_of_the_three_services() -> None:
    read_only = {"getRoleSummary", "getJobSummary", "getTasksStatus", "getTasksWithoutConfigs",
                 "getPendingReason", "getConfigSummary", "getJobs", "getQuota",
                 "populateJobConfig", "getJobUpdateSummaries", "getJobUpdateDetails",
                 "getJobUpdateDiff", "getTierConfigs"}
    manager = {"createJob", "scheduleCronJob", "descheduleCronJob", "startCronJob",
               "restartShards", "killTasks", "addInstances", "replaceCronTemplate",
               "startJobUpdate", "pauseJobUpdate", "resumeJobUpdate", "abortJobUpdate",
               "rollbackJobUpdate", "pulseJobUpdate"}
    admin = {"setQuota", "forceTaskState", "performBackup", "listBackups", "stageRecovery",
             "queryRecovery", "deleteRecoveryTasks", "commitRecovery", "unloadRecovery",
             "startMaintenance", "drainHosts", "maintenanceStatus", "endMaintenance",
             "slaDrainHosts", "snapshot", "triggerExplicitTaskReconciliation",
             "triggerImplicitTaskReconciliation", "pruneTasks"}
    assert set(api.ReadOnlyScheduler.thrift_services) == read_only
    assert set(api.AuroraSchedulerManager.thrift_services) == read_only | manager
    assert codec.METHODS == read_only | manager | admin
    assert set(codec.RESULT_FIELDS) <= codec.METHODS
    for method in codec.METHODS:
        result_spec = getattr(SERVICE, method + "_result").thrift_spec
        assert result_spec == {0: (12, "success", api.Response, False)}


@pytest.mark.parametrize(("struct_name", "fid", "name", "ttype"), [
    ("TaskConfig", 28, "job", 12), ("TaskConfig", 17, "owner", 12),
    ("TaskConfig", 7, "isService", 2), ("TaskConfig", 13, "maxTaskFailures", 8),
    ("TaskConfig", 30, "tier", 11), ("TaskConfig", 32, "resources", 14),
    ("TaskConfig", 20, "constraints", 14), ("TaskConfig", 29, "container", 12),
    ("TaskConfig", 25, "executorConfig", 12), ("TaskConfig", 35, "slaPolicy", 12),
    ("JobConfiguration", 9, "key", 12), ("JobConfiguration", 6, "taskConfig", 12),
    ("JobConfiguration", 8, "instanceCount", 8), ("JobConfiguration", 5,
                                                  "cronCollisionPolicy", 8),
    ("ScheduledTask", 6, "timesPartitioned", 8), ("ScheduledTask", 4, "taskEvents", 15),
    ("AssignedTask", 6, "instanceId", 8), ("TaskQuery", 14, "role", 11),
    ("Response", 1, "responseCode", 8), ("Response", 5, "serverInfo", 12),
    ("Response", 3, "result", 12), ("Response", 6, "details", 15),
    ("Result", 3, "scheduleStatusResult", 12), ("Result", 27, "getTierConfigResult", 12),
    ("Identity", 2, "user", 11), ("ServerInfo", 3, "statsUrlPrefix", 11),
])
def test_idl_field_ids_and_types_are_aurora_s(struct_name: str, fid: int, name: str,
                                              ttype: int) -> None:
    spec = getattr(api, struct_name).thrift_spec[fid]
    assert spec[:2] == (ttype, name)


def test_idl_enums_and_argument_ids() -> None:
    assert {c.name: c.value for c in ResponseCode} == {
        name: value for value, name in api.ResponseCode._VALUES_TO_NAMES.items()}
    assert api.ScheduleStatus.PARTITIONED == 18 and api.ScheduleStatus.ASSIGNED == 9
    assert api.CronCollisionPolicy.RUN_OVERLAP == 2 and api.MaintenanceMode.NONE == 1
    assert api.JobUpdateStatus.ROLL_BACK_AWAITING_PULSE == 10
    assert SERVICE.killTasks_args.thrift_spec[4][1] == "job"
    assert SERVICE.killTasks_args.thrift_spec[6][1] == "message"
    assert SERVICE.restartShards_args.thrift_spec[3][:2] == (14, "shardIds")
    assert SERVICE.addInstances_args.thrift_spec[3][1] == "key"
    assert SERVICE.rollbackJobUpdate_args.thrift_spec[2][1] == "message"
    assert api.AURORA_EXECUTOR_NAME == "AuroraExecutor"
    assert api.TERMINAL_STATES == {3, 4, 5, 7}
    assert api.TaskConfig().container == api.Container(mesos=api.MesosContainer())


# ------------------------------------------------------------------------------ content types


@pytest.mark.parametrize(("content_type", "protocol"), [
    (None, "json"), ("", "json"), ("application/x-thrift", "json"),
    ("application/json", "json"), ("application/vnd.apache.thrift.json", "json"),
    ("application/vnd.apache.thrift.json; charset=UTF-8", "json"),
    ("Application/JSON", "json"), ("application/vnd.apache.thrift.binary", "binary"),
])
def test_protocol_for_content_type(content_type: str | None, protocol: str) -> None:
    assert codec.protocol_for(content_type) == protocol


@pytest.mark.parametrize("content_type", [
    "text/plain", "application/octet-stream", "application/x-www-form-urlencoded",
    "application/vnd.apache.thrift.compact", "application/json; charset=latin-1",
    "application/vnd.apache.thrift.binary; charset=utf-8", "nonsense",
])
def test_unknown_content_type_is_unsupported(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaType, match="Unsupported Content-Type"):
        codec.protocol_for(content_type)


def test_reply_protocol_follows_accept_like_aurora() -> None:
    assert codec.reply_protocol_for("application/vnd.apache.thrift.binary") == "binary"
    for accept in (None, "", "*/*", "application/json", "application/x-thrift",
                   "application/vnd.apache.thrift.binary, */*"):
        assert codec.reply_protocol_for(accept) == "json"
    assert codec.content_type_for("binary") == "application/vnd.apache.thrift.binary"
    assert codec.content_type_for("json") == "application/vnd.apache.thrift.json"


def test_body_size_limit() -> None:
    codec.check_body_size(MAX_BODY_BYTES)
    codec.check_body_size(None)
    with pytest.raises(BodyTooLarge, match="larger than the limit"):
        codec.check_body_size(MAX_BODY_BYTES + 1)
    with pytest.raises(BodyTooLarge):
        codec.decode_call(b"\0" * (MAX_BODY_BYTES + 1), "binary")


# ---------------------------------------------------------------------------------- decoding


def test_decode_create_job_from_aurora_s_python_client_binary() -> None:
    job = aurora_job()
    body = client_bytes("createJob", "binary", seqid=5, description=job)
    # Strict binary header: version|CALL, the name, the seqid; then field 1 (a struct).
    assert body.startswith(b"\x80\x01\x00\x01" + struct.pack("!i", 9) + b"createJob"
                           + struct.pack("!i", 5) + b"\x0c\x00\x01")
    call = codec.decode_call(body, "binary")
    assert (call.method, call.seqid) == ("createJob", 5)
    assert normalized(call.args.description) == normalized(job)
    assert call.args.description.taskConfig.executorConfig.data == THERMOS_JOB


def test_decode_create_job_tjson() -> None:
    job = aurora_job()
    body = client_bytes("createJob", "json", seqid=0, description=job)
    assert body.startswith(b'[1,"createJob",1,0,{"1":{"rec":{')
    doc = json.loads(body)
    task = doc[4]["1"]["rec"]["6"]["rec"]
    assert task["32"]["set"][:2] == ["rec", 4]
    assert task["7"] == {"tf": 1}
    assert task["25"]["rec"]["1"] == {"str": "AuroraExecutor"}
    call = codec.decode_call(body, "json")
    assert (call.method, call.seqid) == ("createJob", 0)
    assert normalized(call.args.description) == normalized(job)


def test_decode_tjson_as_apache_thrift_writes_it() -> None:
    # As Java's or JavaScript's TJSONProtocol writes getTasksStatus(TaskQuery{role, statuses});
    # field 99 is unknown to us and is skipped, as Thrift skips it.
    body = (b'[1,"getTasksStatus",1,42,{"1":{"rec":{"14":{"str":"www-data"},'
            b'"5":{"set":["i32",2,2,18]},"11":{"set":["rec",1,{"1":{"str":"www-data"},'
            b'"2":{"str":"prod"},"3":{"str":"hello"}}]},"13":{"i32":10},'
            b'"99":{"map":["str","dbl",1,{"x":"NaN"}]}}}}]')
    call = codec.decode_call(body, "json")
    query = call.args.query
    assert (call.method, call.seqid, query.role, query.statuses) == (
        "getTasksStatus", 42, "www-data", [2, 18], )
    assert query.jobKeys == [api.JobKey(role="www-data", environment="prod", name="hello")]
    assert query.limit == 10 and query.offset is None


def test_decode_maps_bools_doubles_and_unions_in_tjson() -> None:
    body = (b'[1,"slaDrainHosts",1,1,{"1":{"rec":{"1":{"set":["str",1,"h1"]}}},'
            b'"2":{"rec":{"1":{"rec":{"1":{"dbl":95},"2":{"i64":1800}}}}},'
            b'"3":{"i64":600}}]')
    call = codec.decode_call(body, "json")
    assert call.args.hosts.hostNames == ["h1"]
    policy = call.args.defaultSlaPolicy.percentageSlaPolicy
    assert policy.percentage == 95.0 and isinstance(policy.percentage, float)
    assert call.args.timeoutSecs == 600


def test_decode_old_unversioned_binary_header() -> None:
    buffer = TMemoryBuffer()
    proto = TBinaryProtocol(buffer, strict_write=False)
    proto.write_message_begin("getJobs", TMessageType.CALL, 9)
    SERVICE.getJobs_args(ownerRole="www-data").write(proto)
    call = codec.decode_call(buffer.getvalue(), "binary")
    assert (call.method, call.seqid, call.args.ownerRole) == ("getJobs", 9, "www-data")


def test_decode_call_without_arguments() -> None:
    for protocol in ("binary", "json"):
        call = codec.decode_call(client_bytes("getTierConfigs", protocol), protocol)  # type: ignore[arg-type]
        assert call.method == "getTierConfigs"


def test_unknown_fields_are_skipped_in_binary() -> None:
    extended = thriftpy2.load_fp(io.StringIO("""
        struct JobKey { 1: string role 2: string environment 3: string name
                        7: list<map<string, set<i64>>> future 8: double later }
        service S { void getConfigSummary(1: JobKey job, 2: string extra) }
    """), module_name="extended_thrift")
    key = extended.JobKey(role="r", environment="prod", name="n", future=[{"a": {1, 2}}],
                          later=1.5)
    body = client_bytes("getConfigSummary", "binary", service=extended.S, job=key, extra="x")
    call = codec.decode_call(body, "binary")
    assert call.args.job == api.JobKey(role="r", environment="prod", name="n")


# ---------------------------------------------------------------------------------- bad bodies


@pytest.mark.parametrize("protocol", ["binary", "json"])
@pytest.mark.parametrize("body", [b"", b"hello world", b"GET / HTTP/1.1\r\n\r\n", b"{}",
                                  b'{"method": "createJob"}', b"\xff\xfe\x00", b"[1,2,3]",
                                  b"\x80\x02\x00\x01garbage"])
def test_a_body_that_is_not_a_thrift_message(protocol: Any, body: bytes) -> None:
    with pytest.raises(BadRequest, match="not a Thrift") as caught:
        codec.decode_call(body, protocol)
    assert caught.value.method is None
    assert codec.encode_error(caught.value, protocol) is None


def test_truncated_binary_bodies() -> None:
    body = client_bytes("createJob", "binary", seqid=3, description=aurora_job())
    header = 4 + 4 + len("createJob") + 4
    for cut in (1, 5, header - 1):
        with pytest.raises(BadRequest, match="not a Thrift binary message: truncated"):
            codec.decode_call(body[:cut], "binary")
    for cut in (header, header + 1, len(body) // 2, len(body) - 1):
        with pytest.raises(BadRequest, match=r"createJob: .*truncated") as caught:
            codec.decode_call(body[:cut], "binary")
        reply = codec.encode_error(caught.value, "binary")
        assert reply is not None
        exc = client_reply(reply, "createJob", "binary")
        assert exc.type == TApplicationException.PROTOCOL_ERROR
        assert "truncated" in exc.message


def test_truncated_tjson_body() -> None:
    body = client_bytes("createJob", "json", description=aurora_job())
    with pytest.raises(BadRequest, match="not a Thrift JSON message: not JSON"):
        codec.decode_call(body[:-3], "json")


def test_absurd_sizes_are_refused_without_reading() -> None:
    body = bytearray(client_bytes("getJobs", "binary", ownerRole="r"))
    body[-6:-2] = struct.pack("!i", 2**31 - 1)  # the string's length
    with pytest.raises(BadRequest, match="cannot fit"):
        codec.decode_call(bytes(body), "binary")
    body[-6:-2] = struct.pack("!i", -5)
    with pytest.raises(BadRequest, match="negative size"):
        codec.decode_call(bytes(body), "binary")


def test_deep_nesting_is_refused() -> None:
    header = b"\x80\x01\x00\x01" + struct.pack("!i", 7) + b"getJobs" + struct.pack("!i", 0)
    body = header + b"\x0c\x00\x63" * 200 + b"\x00" * 201  # unknown field 99, nested structs
    with pytest.raises(BadRequest, match="nested more than"):
        codec.decode_call(body, "binary")
    deep = '{"99":{"rec":' * 100_000 + "{}" + "}}" * 100_000
    with pytest.raises(BadRequest, match="not JSON"):
        codec.decode_call(f'[1,"getJobs",1,0,{deep}]'.encode(), "json")


WRONG = thriftpy2.load_fp(io.StringIO("""
    struct JobKey { 1: i32 role 2: string environment 3: string name }
    struct JobConfiguration { 9: JobKey key 8: string instanceCount 5: i32 cronCollisionPolicy }
    union Resource { 1: double numCpus 2: i64 ramMb }
    struct TaskConfig { 32: set<Resource> resources 20: list<string> constraints }
    struct Config { 6: TaskConfig taskConfig }
    service S {
        void createJob(1: JobConfiguration description)
        void populateJobConfig(1: Config description)
        void getJobs(1: i64 ownerRole)
        void killTasks(4: string job)
    }
"""), module_name="wrong_thrift")


@pytest.mark.parametrize("protocol", ["binary", "json"])
@pytest.mark.parametrize(("method", "args", "message"), [
    ("getJobs", {"ownerRole": 7}, "ownerRole: expected string"),
    ("killTasks", {"job": "www/prod/x"}, "job: expected struct"),
    ("createJob", {"description": WRONG.JobConfiguration(instanceCount="3")},
     "description.instanceCount: expected i32"),
    ("createJob", {"description": WRONG.JobConfiguration(key=WRONG.JobKey(role=1))},
     "description.key.role: expected string"),
    ("createJob", {"description": WRONG.JobConfiguration(cronCollisionPolicy=7)},
     "description.cronCollisionPolicy: 7 is not a CronCollisionPolicy"),
    ("populateJobConfig", {"description": WRONG.Config(taskConfig=WRONG.TaskConfig(
        constraints=["host"]))}, "description.taskConfig.constraints: expected set"),
    ("populateJobConfig", {"description": WRONG.Config(taskConfig=WRONG.TaskConfig(
        resources=[WRONG.Resource(numCpus=1.0, ramMb=5)]))},
     r"description.taskConfig.resources\[0\]: a Resource union must have exactly one member"),
])
def test_wrong_types_are_bad_requests(protocol: Any, method: str, args: dict[str, Any],
                                      message: str) -> None:
    body = client_bytes(method, protocol, seqid=11, service=WRONG.S, **args)
    with pytest.raises(BadRequest, match=message) as caught:
        codec.decode_call(body, protocol)
    assert (caught.value.method, caught.value.seqid) == (method, 11)
    reply = codec.encode_error(caught.value, protocol)
    assert reply is not None
    exc = client_reply(reply, method, protocol)
    assert exc.type == TApplicationException.PROTOCOL_ERROR and method in exc.message


@pytest.mark.parametrize(("fields", "message"), [
    (b'{"1":{"str":"x","i32":1}}', r'ownerRole: expected \{"str": value\}'),
    (b'{"1":{"i32":1}}', r'ownerRole: expected string \("str"\), got "i32"'),
    (b'{"1":"www"}', "ownerRole: expected"),
    (b'{"x":{"str":"www"}}', "field id 'x' is not a number"),
    (b'{"1":{"str":"\\ud800"}}', "not valid UTF-8"),
])
def test_malformed_tjson_fields(fields: bytes, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        codec.decode_call(b'[1,"getJobs",1,0,' + fields + b"]", "json")


@pytest.mark.parametrize(("fields", "message"), [
    (b'{"2":{"i32":2147483648}}', "does not fit in i32"),
    (b'{"2":{"i32":"2"}}', "expected i32"),
    (b'{"2":{"i32":true}}', "expected i32"),
    (b'{"1":{"str":"a"},"2":{"i32":8}}', "8 is not a ScheduleStatus"),
])
def test_malformed_tjson_values(fields: bytes, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        codec.decode_call(b'[1,"forceTaskState",1,0,' + fields + b"]", "json")


def test_tjson_envelope_and_container_shapes() -> None:
    for body, message in [
        (b'[2,"getJobs",1,0,{}]', "unsupported TJSON version"),
        (b'[1,"getJobs",1,0]', "expected a JSON array"),
        (b'[1,"getJobs",1,4294967296,{}]', "does not fit in i32"),
        (b'[1,"restartShards",1,0,{"3":{"set":["i32",3,1,2]}}]', "says 3 items and has 2"),
        (b'[1,"restartShards",1,0,{"3":{"set":["str",1,"1"]}}]', "expected a set of i32"),
        (b'[1,"setQuota",1,0,{"2":{"rec":{"4":{"set":["rec",1,{}]}}}}]',
         "exactly one member set, got none"),
    ]:
        with pytest.raises(BadRequest, match=message):
            codec.decode_call(body, "json")


def test_invalid_utf8_in_binary_string() -> None:
    body = bytearray(client_bytes("getJobs", "binary", ownerRole="abc"))
    body[-4:-1] = b"\xff\xfe\xfd"
    with pytest.raises(BadRequest, match="ownerRole: not valid UTF-8"):
        codec.decode_call(bytes(body), "binary")


@pytest.mark.parametrize("protocol", ["binary", "json"])
def test_unknown_method(protocol: Any) -> None:
    body = client_bytes("frobnicate", protocol, seqid=8,
                        service=thriftpy2.load_fp(io.StringIO("service S { void frobnicate() }"),
                                                  module_name="frob_thrift").S)
    with pytest.raises(BadRequest, match="Invalid method name: 'frobnicate'") as caught:
        codec.decode_call(body, protocol)
    assert caught.value.exception_type == TApplicationException.UNKNOWN_METHOD
    reply = codec.encode_error(caught.value, protocol)
    assert reply is not None
    exc = client_reply(reply, "frobnicate", protocol)
    assert (exc.type, exc.message) == (TApplicationException.UNKNOWN_METHOD,
                                       "Invalid method name: 'frobnicate'")


def test_a_reply_is_not_a_call() -> None:
    body = codec.encode_reply("getJobs", codec.ok(), 1, "binary")
    with pytest.raises(BadRequest, match="expected a call") as caught:
        codec.decode_call(body, "binary")
    assert caught.value.exception_type == TApplicationException.INVALID_MESSAGE_TYPE


# ---------------------------------------------------------------------------------- replies


@pytest.mark.parametrize("protocol", ["binary", "json"])
def test_reply_read_by_a_thrift_client(protocol: Any) -> None:
    task = api.ScheduledTask(
        assignedTask=api.AssignedTask(taskId="t-1", instanceId=0, slaveHost="h",
                                      assignedPorts={"http": 31000},
                                      task=aurora_job().taskConfig),
        status=api.ScheduleStatus.RUNNING, failureCount=0, timesPartitioned=0,
        taskEvents=[api.TaskEvent(timestamp=1, status=api.ScheduleStatus.PENDING)])
    info = api.ServerInfo(clusterName="devcluster", statsUrlPrefix="")
    sent = codec.ok(api.ScheduleStatusResult(tasks=[task]), ["a warning"],
                    method="getTasksStatus", server_info=info)
    body = codec.encode_reply("getTasksStatus", sent, 77, protocol)
    if protocol == "json":
        assert body.startswith(b'[1,"getTasksStatus",2,77,{"0":{"rec":{"1":{"i32":1}')
    got = client_reply(body, "getTasksStatus", protocol)
    assert normalized(got) == normalized(sent)
    assert got.result.scheduleStatusResult.tasks[0].assignedTask.assignedPorts == {"http": 31000}
    assert normalized(codec.decode_reply(body, "getTasksStatus", protocol)) == normalized(sent)


def test_response_helpers() -> None:
    resp = codec.response(ResponseCode.WARNING, None, ["careful"])
    assert resp.responseCode == 3 and resp.result is None
    assert [d.message for d in resp.details] == ["careful"]
    assert codec.ok().details == [] and codec.ok().responseCode == 1
    assert codec.invalid_request("bad").responseCode == 0
    assert codec.error("boom").responseCode == 2
    assert codec.error("later", code=ResponseCode.ERROR_TRANSIENT).responseCode == 6
    quota = api.GetQuotaResult(quota=api.ResourceAggregate(resources=[]))
    assert codec.ok(quota, method="getQuota").result == api.Result(getQuotaResult=quota)
    drained = api.DrainHostsResult(statuses=[])
    assert codec.ok(drained, method="slaDrainHosts").result.drainHostsResult is drained
    wrapped = api.Result(populateJobResult=api.PopulateJobResult())
    assert codec.ok(wrapped, method="populateJobConfig").result is wrapped
    with pytest.raises(TypeError, match="getQuota returns getQuotaResult"):
        codec.ok(drained, method="getQuota")
    with pytest.raises(TypeError, match="createJob returns no result"):
        codec.ok(drained, method="createJob")
    with pytest.raises(TypeError, match="not a member"):
        codec.ok(api.JobKey())
    with pytest.raises(ValueError, match="exactly one member"):
        codec.ok(api.Result())
    with pytest.raises(ValueError):
        codec.response(9)
    with pytest.raises(TypeError):
        codec.encode_reply("getJobs", api.JobKey(), 0, "binary")


def test_encode_call_and_unknown_names() -> None:
    body = codec.encode_call("getJobs", {"ownerRole": "r"}, 4, "json")
    assert body == b'[1,"getJobs",1,4,{"1":{"str":"r"}}]'
    with pytest.raises(ValueError, match="unknown method"):
        codec.encode_call("nope", {}, 0, "json")
    with pytest.raises(ValueError, match="unknown protocol"):
        codec.decode_call(body, "xml")  # type: ignore[arg-type]


# ------------------------------------------------- Apache Thrift's own library as the peer


def _apache_read(proto: Any, ttype: int) -> Any:
    """A value read with Apache Thrift's protocol, structs as {field id: value}."""
    from thrift.Thrift import TType as T
    if ttype == T.STRUCT:
        proto.readStructBegin()
        fields = {}
        while (field := proto.readFieldBegin())[1] != T.STOP:
            fields[field[2]] = _apache_read(proto, field[1])
            proto.readFieldEnd()
        proto.readStructEnd()
        return fields
    if ttype in (T.LIST, T.SET):
        etype, size = proto.readListBegin() if ttype == T.LIST else proto.readSetBegin()
        items = sorted((_apache_read(proto, etype) for _ in range(size)), key=repr)
        proto.readListEnd() if ttype == T.LIST else proto.readSetEnd()
        return items
    if ttype == T.MAP:
        ktype, vtype, size = proto.readMapBegin()
        entries = {_apache_read(proto, ktype): _apache_read(proto, vtype) for _ in range(size)}
        proto.readMapEnd()
        return entries
    return {T.BOOL: proto.readBool, T.I32: proto.readI32, T.I64: proto.readI64,
            T.DOUBLE: proto.readDouble, T.STRING: proto.readString}[ttype]()


def _apache_write(proto: Any, ttype: int, spec: Any, value: Any) -> None:
    """Write a thriftpy2 value with Apache Thrift's protocol, as its generated code would."""
    from thrift.Thrift import TType as T
    if ttype == T.STRUCT:
        proto.writeStructBegin(type(value).__name__)
        for fid, field in value.thrift_spec.items():
            if getattr(value, field[1]) is not None:
                proto.writeFieldBegin(field[1], field[0], fid)
                _apache_write(proto, field[0], field[2] if len(field) == 4 else None,
                              getattr(value, field[1]))
                proto.writeFieldEnd()
        proto.writeFieldStop()
        proto.writeStructEnd()
    elif ttype in (T.LIST, T.SET):
        etype, esub = spec if isinstance(spec, tuple) else (spec, None)
        (proto.writeListBegin if ttype == T.LIST else proto.writeSetBegin)(etype, len(value))
        for item in value:
            _apache_write(proto, etype, esub, item)
        proto.writeListEnd() if ttype == T.LIST else proto.writeSetEnd()
    elif ttype == T.MAP:
        (ktype, ksub), (vtype, vsub) = (s if isinstance(s, tuple) else (s, None) for s in spec)
        proto.writeMapBegin(ktype, vtype, len(value))
        for key, item in value.items():
            _apache_write(proto, ktype, ksub, key)
            _apache_write(proto, vtype, vsub, item)
        proto.writeMapEnd()
    else:
        {T.BOOL: proto.writeBool, T.I32: proto.writeI32, T.I64: proto.writeI64,
         T.DOUBLE: proto.writeDouble, T.STRING: proto.writeString}[ttype](value)


@pytest.mark.parametrize("protocol", ["binary", "json"])
def test_apache_thrift_library_as_the_peer(protocol: Any) -> None:
    """Apache Thrift's Python library (Aurora's client's) writes calls we read, reads replies."""
    apache_protocol = pytest.importorskip("thrift.protocol.TJSONProtocol")
    from thrift.protocol.TBinaryProtocol import TBinaryProtocol as ApacheBinary
    from thrift.transport.TTransport import TMemoryBuffer as ApacheBuffer
    apache_cls = ApacheBinary if protocol == "binary" else apache_protocol.TJSONProtocol

    buffer = ApacheBuffer()
    proto = apache_cls(buffer)
    proto.writeMessageBegin("createJob", TMessageType.CALL, 12)
    _apache_write(proto, 12, None, SERVICE.createJob_args(description=aurora_job()))
    proto.writeMessageEnd()
    call = codec.decode_call(buffer.getvalue(), protocol)
    assert (call.method, call.seqid) == ("createJob", 12)
    assert normalized(call.args.description) == normalized(aurora_job())

    task = api.ScheduledTask(
        assignedTask=api.AssignedTask(taskId="t", instanceId=1, assignedPorts={"http": 8080},
                                      task=aurora_job().taskConfig),
        status=2, failureCount=0, timesPartitioned=0, taskEvents=[], ancestorId=None)
    sent = codec.ok(api.ScheduleStatusResult(tasks=[task]), ["w"], method="getTasksStatus")
    trees = []
    for peer_protocol, cls in (("binary", ApacheBinary), ("json", apache_protocol.TJSONProtocol)):
        reader = cls(ApacheBuffer(codec.encode_reply("getTasksStatus", sent, 3, peer_protocol)))
        assert reader.readMessageBegin() == ("getTasksStatus", TMessageType.REPLY, 3)
        trees.append(_apache_read(reader, 12))
    assert trees[0] == trees[1]
    assert trees[0][0][1] == 1 and trees[0][0][6] == [{1: "w"}]
