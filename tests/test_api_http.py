"""The Thrift API of a live aurora-scheduler, through real Thrift clients generated from the
IDL (thriftpy2 over HTTP), in TBinary and in TJSON; bad bodies; and a bounded fuzz of /api."""

from __future__ import annotations

import io
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_daemon import free_port, get, start, wait_healthy
from thriftpy2.protocol.apache_json import TApacheJSONProtocolFactory
from thriftpy2.protocol.binary import TBinaryProtocolFactory
from thriftpy2.thrift import TClient

from aurora.api import codec
from aurora.api.convert import JobConfiguration, job_configuration_to_thrift
from aurora.model.jobkey import JobKey
from aurora.model.resources import Resources
from aurora.model.task import Constraint, ExecutorConfig, Identity, TaskConfig

api = codec.load_api()
OK = codec.ResponseCode.OK
INVALID = codec.ResponseCode.INVALID_REQUEST


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    proc = start(tmp_path_factory.mktemp("sched"), port)
    try:
        wait_healthy(proc, port)
        yield port
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


class HttpTransport:
    """What Aurora's client does (TRequestsTransport): each flushed call is one POST with the
    protocol's Content-Type and Accept; the reply body is read back from a buffer."""

    def __init__(self, url: str, content_type: str) -> None:
        self.url, self.content_type = url, content_type
        self.wbuf, self.rbuf = io.BytesIO(), io.BytesIO()

    def is_open(self) -> bool:
        return True

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def read(self, size: int) -> bytes:
        return self.rbuf.read(size)

    def write(self, data: bytes) -> None:
        self.wbuf.write(data)

    def flush(self) -> None:
        body, self.wbuf = self.wbuf.getvalue(), io.BytesIO()
        req = urllib.request.Request(self.url, data=body, headers={
            "Content-Type": self.content_type, "Accept": self.content_type})
        with urllib.request.urlopen(req, timeout=30) as r:
            self.rbuf = io.BytesIO(r.read())


class Client:
    """thriftpy2 clients of AuroraAdmin generated from our IDL, over HTTP. thriftpy2's Apache
    JSON protocol keeps the first message it parsed, so each call gets a fresh client."""

    def __init__(self, port: int, protocol: str) -> None:
        self.url = f"http://127.0.0.1:{port}/api"
        self.protocol = protocol

    def __getattr__(self, method: str) -> Any:
        if self.protocol == "binary":
            trans = HttpTransport(self.url, codec.BINARY_CONTENT_TYPE)
            proto = TBinaryProtocolFactory().get_protocol(trans)
        else:
            trans = HttpTransport(self.url, "application/x-thrift")
            proto = TApacheJSONProtocolFactory().get_protocol(trans)
        return getattr(TClient(api.AuroraAdmin, proto), method)


def job(name: str, instances: int, **constraints: str) -> Any:
    config = TaskConfig(
        job=JobKey("www-data", "prod", name), owner=Identity("www-data"),
        resources=Resources(0.5, 128, 128),
        constraints=tuple(Constraint.parse(k, v) for k, v in constraints.items()),
        executor_config=ExecutorConfig("AuroraExecutor", json.dumps({"name": name})))
    return job_configuration_to_thrift(JobConfiguration(task_config=config,
                                                        instance_count=instances))


def last_seq(port: int) -> int:
    return get(port, "/vars.json")["storage_last_seq"]


def settled_seq(port: int) -> int:
    """The last transaction once the scheduler has gone quiet (earlier tests' kills landed)."""
    seq, since = last_seq(port), time.time()
    while time.time() - since < 1.0:
        time.sleep(0.1)
        now = last_seq(port)
        if now != seq:
            seq, since = now, time.time()
    return seq


@pytest.mark.parametrize("protocol", ["binary", "json"])
def test_create_list_read_reasons_kill(daemon: int, protocol: str) -> None:
    c = Client(daemon, protocol)
    name = f"hello-{protocol}"
    resp = c.createJob(job(name, 3))
    assert resp.responseCode == OK, resp.details
    assert resp.serverInfo.clusterName == "test"
    jobs = c.getJobs("www-data").result.getJobsResult.configs
    assert name in {j.key.name for j in jobs}
    key = api.JobKey(role="www-data", environment="prod", name=name)
    query = api.TaskQuery(jobKeys={key})
    tasks = c.getTasksStatus(query).result.scheduleStatusResult.tasks
    assert len(tasks) == 3 and {t.assignedTask.instanceId for t in tasks} == {0, 1, 2}
    # A job that fits nowhere is pending with Aurora's reason text.
    c.createJob(job(f"nowhere-{protocol}", 1, zone="mars"))
    pending_key = api.JobKey(role="www-data", environment="prod", name=f"nowhere-{protocol}")
    reasons: list[Any] = []
    for _ in range(100):
        reasons = c.getPendingReason(api.TaskQuery(jobKeys={pending_key})).result \
            .getPendingReasonResult.reasons
        if reasons and reasons[0].reason:
            break
        time.sleep(0.05)
    assert "Constraint not satisfied: zone" in reasons[0].reason
    resp = c.killTasks(key, None, "done")
    assert resp.responseCode == OK
    tasks = c.getTasksStatus(query).result.scheduleStatusResult.tasks
    assert all(t.status in (api.ScheduleStatus.KILLING, api.ScheduleStatus.KILLED)
               for t in tasks)


def test_bad_requests_leave_state_alone(daemon: int) -> None:
    c = Client(daemon, "binary")
    seq = settled_seq(daemon)
    unknown = api.JobKey(role="nobody", environment="prod", name="nothing")
    resp = c.killTasks(unknown, None, None)
    assert resp.responseCode == INVALID and resp.details
    bad = job("bad", 1)
    bad.instanceCount = -5
    resp = c.createJob(bad)
    assert resp.responseCode == INVALID and "instance" in resp.details[0].message.lower()

    def post(body: bytes, content_type: str) -> tuple[int, bytes]:
        req = urllib.request.Request(f"http://127.0.0.1:{daemon}/api", data=body,
                                     headers={"Content-Type": content_type})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    assert post(b"this is not thrift", codec.BINARY_CONTENT_TYPE)[0] == 400
    assert post(b'{"not": "thrift"}', "application/json")[0] == 400
    assert post(b"x", "text/plain")[0] == 415
    assert post(b"\0" * (codec.MAX_BODY_BYTES + 1), codec.BINARY_CONTENT_TYPE)[0] == 413
    # A real call with a wrong-typed argument: a Response with INVALID_REQUEST and details.
    wrong = b'[1,"killTasks",1,0,{"1":{"str":"not a struct"}}]'
    status, body = post(wrong, "application/json")
    assert status == 200
    reply = codec.decode_reply(body, "killTasks", "json")
    assert reply.responseCode == INVALID and reply.details
    assert last_seq(daemon) == seq and get(daemon, "/health") == "OK"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=300),
                      st.builds(lambda m, r: f'[1,"{m}",1,0,{r}]'.encode(),
                                st.sampled_from(sorted(codec.METHODS)),
                                st.sampled_from(["{}", '{"1":{"i32":7}}', '{"1":{"rec":{}}}',
                                                 '{"1":{"str":"x"}}', "[]", '"x"']))),
       content_type=st.sampled_from([codec.BINARY_CONTENT_TYPE, "application/json"]))
def test_fuzzing_api_never_breaks_the_daemon(daemon: int, body: bytes,
                                             content_type: str) -> None:
    req = urllib.request.Request(f"http://127.0.0.1:{daemon}/api", data=body,
                                 headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status = r.status
    except urllib.error.HTTPError as err:
        status = err.code
    assert status in (200, 400, 413, 415)
    assert get(daemon, "/health") == "OK"


def test_fuzz_changed_nothing_it_should_not(daemon: int) -> None:
    """Fuzzed calls may only have hit read methods or been refused: no job appeared."""
    names = {j for j in get(daemon, "/state")["jobs"]}
    assert all(n.startswith("www-data/prod/") for n in names)
