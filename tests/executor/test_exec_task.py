"""The task description: parsing executorConfig.data, templates, ports and validation."""

from __future__ import annotations

import json

import pytest
from exec_helpers import job, launch_info, proc

from aurora.executor.config import ConfigError, parse_executor_data
from aurora.executor.task import InvalidTask, resolve_task
from aurora.executor.template import TemplateError, render

# What Aurora 0.22's client puts in executorConfig.data (cf. test_inspect.py), abridged.
CLIENT_JSON = {
    "environment": "test", "role": "bozo", "cluster": "west", "name": "the_job",
    "service": False, "max_task_failures": 1, "priority": 0, "production": False,
    "health_check_config": {
        "initial_interval_secs": 15.0, "interval_secs": 10.0, "timeout_secs": 1.0,
        "max_consecutive_failures": 0, "min_consecutive_successes": 1,
        "health_checker": {"http": {"expected_response_code": 0, "endpoint": "/health",
                                    "expected_response": "ok"}}},
    "task": {
        "processes": [{"daemon": False, "name": "process", "ephemeral": False,
                       "max_failures": 1, "min_duration": 5,
                       "cmdline": "serve --port={{thermos.ports[http]}} --shard={{mesos.instance}}",
                       "final": False}],
        "name": "task", "finalization_wait": 30, "max_failures": 1, "max_concurrency": 0,
        "resources": {"gpu": 0, "disk": 1073741824, "ram": 1073741824, "cpu": 1.0},
        "constraints": []},
    "lifecycle": {"http": {"graceful_shutdown_endpoint": "/quitquitquit", "port": "health",
                           "shutdown_endpoint": "/abortabortabort",
                           "graceful_shutdown_wait_secs": 5, "shutdown_wait_secs": 5}},
    "executor_config": {"name": "AuroraExecutor", "data": ""},
    "metadata": [], "cron_collision_policy": "KILL_EXISTING", "enable_hooks": False,
}


def test_client_json_is_parsed_and_resolved_at_launch() -> None:
    data = json.dumps(CLIENT_JSON).encode()
    task = resolve_task(data, launch_info(instance=7, ports={"http": 31000, "health": 31001}))
    assert task.processes[0].cmdline == "serve --port=31000 --shard=7"
    assert task.finalization_wait == 30 and task.processes[0].min_duration == 5
    assert task.health is not None and task.health.kind == "http" and task.health.port == 31001
    assert task.lifecycle is not None and task.lifecycle.port == 31001
    assert task.lifecycle.endpoints == (("/quitquitquit", 5.0), ("/abortabortabort", 5.0))


def test_no_health_port_means_no_health_check_and_no_http_lifecycle() -> None:
    task = resolve_task(json.dumps(CLIENT_JSON).encode(), launch_info(ports={"http": 1}))
    assert task.health is None and task.lifecycle is None


def test_templates_mesos_and_thermos_names() -> None:
    data = job(proc("p", "echo {{mesos.instance}} {{mesos.hostname}} {{thermos.task_id}} "
                         "{{ thermos.ports[http] }} {{thermos.ports.admin}}"))
    task = resolve_task(data, launch_info(instance=3, ports={"http": 8080, "admin": 9090}))
    assert task.processes[0].cmdline == "echo 3 host1 www-test-job-0-abc 8080 9090"


def test_unbound_port_is_a_clear_error() -> None:
    data = job(proc("web", "serve {{thermos.ports[http]}}"))
    with pytest.raises(InvalidTask) as e:
        resolve_task(data, launch_info(ports={"admin": 1}))
    message = str(e.value)
    assert "{{thermos.ports[http]}}" in message and "process 'web' cmdline" in message
    assert "thermos.ports has no 'http'" in message and "thermos.ports[admin]" in message


def test_unbound_top_level_name() -> None:
    with pytest.raises(TemplateError, match=r"'nosuch' is not bound"):
        render("x {{nosuch.thing}}", {"mesos": {"instance": 1}})


def test_nested_templates_and_indexing() -> None:
    ns = {"thermos": {"ports": {"http": 80}}, "which": "http", "processes": [{"name": "a"}]}
    assert render("{{thermos.ports[{{which}}]}}", ns) == "80"
    assert render("{{processes[0].name}}", ns) == "a"
    with pytest.raises(TemplateError, match="out of range"):
        render("{{processes[3].name}}", ns)


def test_announcer_portmap_aliases() -> None:
    blob = json.loads(job(proc("p", "echo {{thermos.ports[aurora]}} {{thermos.ports[web]}}")))
    blob["announce"] = {"primary_port": "http", "portmap": {"aurora": "{{primary_port}}",
                                                           "web": "aurora", "static": "8000"}}
    task = resolve_task(json.dumps(blob).encode(), launch_info(ports={"http": 31000}))
    assert task.processes[0].cmdline == "echo 31000 31000"
    assert task.ports == {"http": 31000, "aurora": 31000, "web": 31000, "static": 8000}


def test_bare_thermos_task_and_mesos_task_instance_forms() -> None:
    bare = parse_executor_data(b'{"processes": [{"name": "a", "cmdline": "true"}]}')
    assert bare.task.processes[0].max_failures == 1 and bare.task.processes[0].min_duration == 5
    instance = parse_executor_data(json.dumps(
        {"instance": 2, "role": "r", "environment": "prod",
         "task": {"processes": [{"name": "a", "cmdline": "true"}]}}))
    assert instance.instance == 2


@pytest.mark.parametrize("data, match", [
    (b"", "did not have a thermos config"),
    (b"{not json", "Could not deserialize"),
    (b'{"task": {"processes": [{"name": "a"}]}}', "cmdline"),
    (b'{"something": 1}', "expected a job"),
])
def test_bad_executor_data(data: bytes, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_executor_data(data)


@pytest.mark.parametrize("data, match", [
    (job(), "no processes"),
    (job(proc("a", "x"), proc("a", "y")), "duplicate process name"),
    (job(proc(".hidden", "x")), "Invalid process name"),
    (job(proc("a", "x"), proc("b", "y"), order=[["a", "b"], ["b", "a"]]), "Cycles"),
    (job(proc("d", "x", daemon=True), proc("b", "y"), order=[["d", "b"]]), "daemon"),
    (job(proc("e", "x", ephemeral=True), proc("b", "y"), order=[["e", "b"]]), "ephemeral"),
    (job(proc("a", "x"), proc("f", "y", final=True), order=[["a", "f"]]), "final"),
    (job(proc("a", "x"), order=[["a", "zzz"]]), "unknown process"),
])
def test_invalid_tasks(data: bytes, match: str) -> None:
    with pytest.raises(InvalidTask, match=match):
        resolve_task(data, launch_info())


def test_shell_health_command_is_templated() -> None:
    data = job(proc("a", "x"), health={"interval_secs": 1, "health_checker": {
        "shell": {"shell_command": "curl localhost:{{thermos.ports[http]}}"}}})
    task = resolve_task(data, launch_info(ports={"http": 5}))
    assert task.health is not None and task.health.shell_command == "curl localhost:5"
