"""examples/*.aurora: each loads as the client loads it, converts to the Thrift JobConfiguration
the scheduler gets, and says what examples/README.md and ci/cluster claim it says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aurora.api.convert import job_configuration_to_thrift
from aurora.config import LoadedJob, load
from aurora.executor.task import LaunchInfo, resolve_task

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# file -> the job key ci/cluster submits it as
KEYS = {
    "hello_world.aurora": "local/www-data/prod/hello",
    "batch_pipeline.aurora": "local/www-data/prod/pipeline",
    "web_constrained.aurora": "local/www-data/prod/web",
    "cron_report.aurora": "local/www-data/prod/cron_report",
}


def loaded(file: str) -> tuple[LoadedJob, Any]:
    job = load(str(EXAMPLES / file), KEYS[file], [])
    return job, job_configuration_to_thrift(job.job_configuration)


def executor_data(job: LoadedJob) -> dict[str, Any]:
    return dict(json.loads(job.executor_data))


def test_every_example_is_known() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.aurora")) == sorted(KEYS)
    assert (EXAMPLES / "README.md").is_file()


@pytest.mark.parametrize("file", sorted(KEYS))
def test_example_loads_and_converts(file: str) -> None:
    job, thrift = loaded(file)
    role, env, name = KEYS[file].split("/")[1:]
    assert job.cluster == "local"
    assert (thrift.key.role, thrift.key.environment, thrift.key.name) == (role, env, name)
    assert thrift.taskConfig.executorConfig.name == "AuroraExecutor"
    assert not job.warnings
    # small enough for the local agents ci/cluster starts (2 CPUs, 2 GB each)
    res = {k: v for r in thrift.taskConfig.resources for k, v in r.__dict__.items()
           if v is not None}
    assert res["numCpus"] <= 0.25 and res["ramMb"] <= 64 and res["diskMb"] <= 64


def test_hello_world_is_an_http_health_checked_service() -> None:
    job, thrift = loaded("hello_world.aurora")
    assert thrift.taskConfig.isService and thrift.instanceCount == 2
    assert thrift.cronSchedule is None
    assert {r.namedPort for r in thrift.taskConfig.resources if r.namedPort} == {"http"}
    data = executor_data(job)
    assert "http" in data["health_check_config"]["health_checker"]
    # On the host, 'health' is the announcer's alias of 'http': the executor GETs /health there.
    task = resolve_task(job.executor_data, LaunchInfo(task_id="t", instance=1,
                                                      ports={"http": 31234}))
    assert task.health is not None
    assert (task.health.kind, task.health.port, task.health.endpoint,
            task.health.expected_response) == ("http", 31234, "/health", "ok")
    assert task.lifecycle is not None and task.lifecycle.port == 31234
    assert [p.name for p in task.processes] == ["install", "hello"]
    assert task.process("hello").cmdline.endswith("hello_server.py 1 31234")


def test_batch_pipeline_is_three_ordered_stages() -> None:
    job, thrift = loaded("batch_pipeline.aurora")
    assert not thrift.taskConfig.isService and thrift.instanceCount == 1
    assert thrift.cronSchedule is None
    task = resolve_task(job.executor_data, LaunchInfo(task_id="t"))
    assert [p.name for p in task.processes] == ["fetch", "transform", "report"]
    assert task.health is None  # no health port: no health checks for a batch job
    data = executor_data(job)
    assert data["task"]["constraints"] == [{"order": ["fetch", "transform", "report"]}]


def test_web_constrained_has_constraints_and_update_config() -> None:
    job, thrift = loaded("web_constrained.aurora")
    assert thrift.taskConfig.isService and thrift.instanceCount == 2
    by_name = {c.name: c.constraint for c in thrift.taskConfig.constraints}
    assert by_name["zone"].value.values == ["a"] and not by_name["zone"].value.negated
    assert by_name["host"].limit.limit == 1
    settings = job.update_settings
    assert settings.update_group_size == 1
    assert settings.max_per_instance_failures == 1
    assert settings.min_wait_in_instance_running_ms == 10_000
    assert settings.rollback_on_failure
    task = resolve_task(job.executor_data, LaunchInfo(task_id="t", ports={"http": 31500}))
    assert task.health is not None and task.health.kind == "shell"
    assert "/dev/tcp/127.0.0.1/31500" in str(task.health.shell_command)


def test_cron_report_is_a_cron_job() -> None:
    job, thrift = loaded("cron_report.aurora")
    assert thrift.cronSchedule == "*/5 * * * *"
    assert job.cron_collision_policy.name == "CANCEL_NEW"
    assert thrift.cronCollisionPolicy == 1  # Aurora's wire number for CANCEL_NEW
    assert not thrift.taskConfig.isService
