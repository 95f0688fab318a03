"""The config loader against Aurora's client, one ``tests/config/*.aurora`` fixture at a time.

Each fixture is loaded, and its TaskConfig, instance count, cron fields, update settings and
executor data are compared field by field with what Aurora 0.22's client sends for the same
file. The expected values are written by hand from Aurora's source: the schema
(``config/schema/base.py``, thermos ``schema_base.py``/``schema_helpers.py``), the conversion
(``config/thrift.py`` ``convert``, ``config/__init__.py`` ``AuroraConfig.ports``/``job``), the
client's checks and tier backfill (``client/config.py``, ``client/cli/context.py``) and the
update settings (``client/api/updater_util.py``). Where Aurora's output order is arbitrary
(Python 2 sets and dicts) the comparison ignores order.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from aurora.api.convert import (
    CronCollisionPolicy,
    job_configuration_from_thrift,
    job_configuration_to_thrift,
)
from aurora.config import (
    BatchStrategy,
    ConfigError,
    LoadedJob,
    QueueStrategy,
    UpdateSettings,
    VariableBatchStrategy,
    list_jobs,
    load,
    schema,
)
from aurora.model import JobKey
from aurora.model.resources import Resources
from aurora.model.task import (
    AppcImage,
    Constraint,
    CoordinatorSlaPolicy,
    CountSlaPolicy,
    DockerContainer,
    DockerImage,
    DockerParameter,
    ExecutorConfig,
    Identity,
    LimitConstraint,
    MesosContainer,
    Metadata,
    PartitionPolicy,
    PercentageSlaPolicy,
    TaskConfig,
    ValueConstraint,
    Volume,
    VolumeMode,
)

CONFIGS = Path(__file__).parent / "config"
MB = 1024 * 1024
GB = 1024 * MB
TB = 1024 * GB
OWNER = getpass.getuser()  # Aurora's client sends the local user as the owner


# ------------------------------------------------------------- expected values, by hand
# Aurora's schema defaults, as its executor data spells them out (every Default field).


def process(name: str, cmdline: str, **overrides: Any) -> dict[str, Any]:
    return {"cmdline": cmdline, "name": name, "max_failures": 1, "daemon": False,
            "ephemeral": False, "min_duration": 5, "final": False, **overrides}


def resources(cpu: float, ram: int, disk: int, gpu: int = 0) -> dict[str, Any]:
    return {"cpu": float(cpu), "ram": ram, "disk": disk, "gpu": gpu}


def task(name: str, processes: list[dict[str, Any]], res: dict[str, Any],
         orders: tuple[tuple[str, ...], ...] = (), **overrides: Any) -> dict[str, Any]:
    return {"name": name, "processes": processes,
            "constraints": [{"order": list(o)} for o in orders], "resources": res,
            "max_failures": 1, "max_concurrency": 0, "finalization_wait": 30, **overrides}


def health(**overrides: Any) -> dict[str, Any]:
    return {"health_checker": {"http": {"endpoint": "/health", "expected_response": "ok",
                                        "expected_response_code": 0}},
            "initial_interval_secs": 15.0, "interval_secs": 10.0,
            "max_consecutive_failures": 0, "min_consecutive_successes": 1,
            "timeout_secs": 1.0, **overrides}


def lifecycle(**overrides: Any) -> dict[str, Any]:
    return {"http": {"port": "health", "graceful_shutdown_endpoint": "/quitquitquit",
                     "shutdown_endpoint": "/abortabortabort", "graceful_shutdown_wait_secs": 5,
                     "shutdown_wait_secs": 5, **overrides}}


def job_data(cluster: str, role: str, environment: str, name: str, task_data: dict[str, Any],
             **overrides: Any) -> dict[str, Any]:
    """The executor data: the job minus update_config and instances, tier backfilled."""
    return {"cluster": cluster, "role": role, "environment": environment, "name": name,
            "task": task_data, "cron_collision_policy": "KILL_EXISTING", "enable_hooks": False,
            "executor_config": {"data": "", "name": "AuroraExecutor"},
            "health_check_config": health(), "lifecycle": lifecycle(),
            "max_task_failures": 1, "metadata": [], "priority": 0, "production": False,
            "service": False, "tier": "preemptible", **overrides}


def task_config(key: str, res: Resources, **overrides: Any) -> dict[str, Any]:
    """TaskConfig fields as Aurora's ``convert`` fills them, executor config aside."""
    return {"job": JobKey.parse(key), "owner": Identity(OWNER), "resources": res,
            "is_service": False, "priority": 0, "max_task_failures": 1, "tier": "preemptible",
            "constraints": (), "metadata": (), "container": MesosContainer(),
            "contact_email": None, "task_links": (), "partition_policy": None,
            "sla_policy": None, **overrides}


def value(name: str, *values: str, negated: bool = False) -> Constraint:
    return Constraint(name, value=ValueConstraint(negated, frozenset(values)))


def limit(name: str, n: int) -> Constraint:
    return Constraint(name, limit=LimitConstraint(n))


def plain(value: Any) -> Any:
    """pystachio's frozendicts and tuples as plain JSON values."""
    return json.loads(json.dumps(value))


def unordered(data: dict[str, Any]) -> dict[str, Any]:
    """A task's merged processes and constraints, in a canonical order (Aurora's is a set's)."""
    result = dict(data)
    result["processes"] = sorted(data["processes"], key=lambda p: p["name"])
    result["constraints"] = sorted(data["constraints"], key=lambda c: c["order"])
    return result


def check(loaded: LoadedJob, fields: dict[str, Any], executor: dict[str, Any] | str, *,
          instances: int = 1, cron: str | None = None,
          policy: CronCollisionPolicy = CronCollisionPolicy.KILL_EXISTING) -> None:
    actual = loaded.task_config
    for field in msgspec.structs.fields(TaskConfig):
        if field.name != "executor_config":
            assert getattr(actual, field.name) == fields[field.name], field.name
    assert loaded.instances == instances
    assert loaded.cron_schedule == cron
    assert loaded.cron_collision_policy is policy
    if isinstance(executor, str):
        assert actual.executor_config != ExecutorConfig("AuroraExecutor")
        assert loaded.executor_data == executor
        return
    assert actual.executor_config is not None
    assert actual.executor_config.name == "AuroraExecutor"
    assert json.loads(loaded.executor_data) == executor
    # What goes on the wire reads back the same: the job is ready for a Java scheduler.
    wire = job_configuration_to_thrift(loaded.job_configuration)
    assert job_configuration_from_thrift(wire) == loaded.job_configuration


def load_fixture(name: str, key: str | None = None, bindings: Any = None) -> LoadedJob:
    return load(CONFIGS / name, key, bindings)


# ----------------------------------------------------------------------- the fixtures


def test_hello_world_tutorial() -> None:
    loaded = load_fixture("hello_world.aurora", "devcluster/www-data/devel/hello_world")
    assert loaded.name == "devcluster/www-data/devel/hello_world"
    run = ("python -u hello_world.py --port={{thermos.ports[http]}} "
           "--shard={{mesos.instance}}")
    check(loaded,
          task_config("www-data/devel/hello_world", Resources(1.0, 1, 8, 0, ("http",)),
                      is_service=True),
          job_data("devcluster", "www-data", "devel", "hello_world", task(
              "fetch_package",
              [process("fetch_package", "cp /vagrant/hello_world.py . && chmod +x hello_world.py"),
               process("hello_world", run)],
              resources(1, 1 * MB, 8 * MB), (("fetch_package", "hello_world"),)),
              service=True))
    assert loaded.update_settings == UpdateSettings()
    assert loaded.warnings == ()


def test_web_service() -> None:
    loaded = load_fixture("web_service.aurora", "us-east/www-data/prod/frontend")
    package = "web-frontend-2.4.1.tar.gz"
    server = ("./bin/server --http-port={{thermos.ports[http]}} "
              "--admin-port={{thermos.ports[health]}} --host={{mesos.hostname}} --env=prod")
    processes = [
        process("fetch", f"curl -sSf https://artifacts.example.com/web/{package} | tar xz"),
        process("server", server, max_failures=3, min_duration=15,
                logger={"destination": "file", "mode": "rotate",
                        "rotate": {"log_size": 256 * MB, "backups": 5}}),
        process("log_shipper", "./bin/ship-logs --task={{thermos.task_id}}", daemon=True,
                ephemeral=True, max_failures=0),
    ]
    constraints = {"host": "limit:1", "rack": "limit:20", "zone": "us-east-1a,us-east-1b",
                   "os": "!windows,freebsd", "dedicated": "www-data/frontend"}
    check(loaded,
          task_config(
              "www-data/prod/frontend",
              # {{thermos.ports[...]}} of the processes, plus the portmap's target 'http'
              Resources(2.5, 3 * 1024, 10 * 1024, 0, ("health", "http")),
              is_service=True, priority=10, max_task_failures=-1, tier="preferred",
              constraints=(value("dedicated", "www-data/frontend"), limit("host", 1),
                           value("os", "windows", "freebsd", negated=True), limit("rack", 20),
                           value("zone", "us-east-1a", "us-east-1b")),
              metadata=(Metadata("package", package), Metadata("team", "web")),
              contact_email="web-team@example.com",
              partition_policy=PartitionPolicy(reschedule=False, delay_secs=120),
              sla_policy=CountSlaPolicy(55, 600)),
          job_data(
              "us-east", "www-data", "prod", "frontend",
              task("web", processes, resources(2.5, 3 * GB, 10 * GB), (("fetch", "server"),),
                   finalization_wait=45),
              contact="web-team@example.com", service=True, priority=10,
              max_task_failures=-1, tier="preferred",
              production=True,  # backfilled from the 'preferred' tier
              announce={"primary_port": "http", "portmap": {"aurora": "http"}},
              health_check_config=health(
                  health_checker={"http": {"endpoint": "/status",
                                           "expected_response": "healthy",
                                           "expected_response_code": 200}},
                  initial_interval_secs=30.0, interval_secs=5.0, max_consecutive_failures=3,
                  min_consecutive_successes=2, timeout_secs=2.0),
              lifecycle=lifecycle(graceful_shutdown_wait_secs=10),
              constraints=constraints,
              metadata=[{"key": "team", "value": "web"}, {"key": "package", "value": package}],
              partition_policy={"reschedule": False, "delay_secs": 120},
              sla_policy={"count": 55, "duration_secs": 600},
              task_links={"dashboard": "https://dash.example.com/www-data/frontend"}),
          instances=60)
    assert loaded.update_settings == UpdateSettings(
        update_group_size=5, max_per_instance_failures=2, max_failed_instances=3,
        min_wait_in_instance_running_ms=60_000, rollback_on_failure=False, sla_aware=True,
        update_strategy=QueueStrategy(5))
    assert loaded.warnings == ()


def test_batch_pipeline_combine_and_concat() -> None:
    loaded = load_fixture("batch_pipeline.aurora", "ml-west/ml/prod/nightly_ranker")
    processes = [
        process("stage_code", "hdfs dfs -get /code/ranker.pex ."),
        process("stage_data", "hdfs dfs -get /data/ranker/2024-01-31 data/"),
        process("train", "./ranker.pex train --gpus=2 data/", max_failures=2),
        process("evaluate", "./ranker.pex evaluate data/"),
        process("metrics", "./report-metrics --every=30s", daemon=True, ephemeral=True,
                max_failures=0),
        process("upload", "hdfs dfs -put -f model/ /models/ranker/", final=True),
        process("notify", 'mail -s "ranker done" ml@example.com', final=True),
    ]
    orders = (("stage_code", "stage_data"), ("train", "evaluate"),  # the tasks' own
              ("stage_code", "train"), ("stage_code", "evaluate"),  # concat: setup before train
              ("stage_data", "train"), ("stage_data", "evaluate"),
              ("upload", "notify"))
    # combine sums resources (8 + 0.25 + 0.5 CPUs...), takes the longest finalization_wait and
    # the identity (name, max_failures, max_concurrency) of its last task; concat took the
    # largest resources, summed finalization waits (10 + 20) and the identity of 'train'.
    expected_task = task("pipeline", processes,
                         resources(8.75, 32 * GB + 384 * MB, 1 * TB + 128 * MB, gpu=2), orders,
                         max_concurrency=2)
    expected = job_data("ml-west", "ml", "prod", "nightly_ranker", expected_task,
                        max_task_failures=3, constraints={"gpu_type": "v100"},
                        production=True, tier="preferred")
    actual = json.loads(loaded.executor_data)
    assert unordered(actual.pop("task")) == unordered(expected.pop("task"))
    assert actual == expected
    # Our merge keeps first appearances (Aurora's goes through a set).
    assert [p["name"] for p in json.loads(loaded.executor_data)["task"]["processes"]] == [
        p["name"] for p in processes]
    fields = task_config("ml/prod/nightly_ranker", Resources(8.75, 33152, 1048704, 2),
                         max_task_failures=3, tier="preferred",
                         constraints=(value("gpu_type", "v100"),))
    for name, want in fields.items():
        assert getattr(loaded.task_config, name) == want, name
    assert loaded.warnings == ("'production' is deprecated: set 'tier' instead",)


def test_cron_report() -> None:
    loaded = load_fixture("cron_report.aurora", "devcluster/analytics/test/daily_report")
    command = ("java -server -Xmx 2g -jar report.jar -v --date $(date +%F) "
               "--output /tmp/report.csv")
    check(loaded,
          task_config("analytics/test/daily_report", Resources(1.0, 1024, 1024),
                      tier="revocable", sla_policy=PercentageSlaPolicy(50.0, 300)),
          job_data("devcluster", "analytics", "test", "daily_report",
                   task("daily_report", [process("daily_report", command)],
                        resources(1.0, 1 * GB, 1 * GB)),
                   cron_schedule="15 3 * * *", cron_collision_policy="CANCEL_NEW",
                   tier="revocable", sla_policy={"percentage": 50.0, "duration_secs": 300}),
          cron="15 3 * * *", policy=CronCollisionPolicy.CANCEL_NEW)


API_PROFILES = {
    # key: (instances, cpu, version, flags, update settings)
    "us-east/api/prod/api": (12, 2.0, "3.2.0", "", UpdateSettings(
        update_group_size=2, max_failed_instances=1, min_wait_in_instance_running_ms=30_000,
        update_strategy=QueueStrategy(2))),
    "us-east/api/staging2/api": (2, 0.5, "3.3.0-rc1", "new_ranking",
                                 UpdateSettings(max_failed_instances=1)),
    "us-east/api/devel/api": (1, 0.5, "latest", "new_ranking,debug", UpdateSettings()),
}


@pytest.mark.parametrize("key", sorted(API_PROFILES))
def test_api_profiles_pick_by_key(key: str) -> None:
    instances, cpu, version, flags, update = API_PROFILES[key]
    loaded = load_fixture("api_profiles.aurora", key, ["build=77"])
    _, role, env, name = key.split("/")
    install = f"curl -sSfO https://artifacts.example.com/api/api-{version}.pex"
    run = f'./api-{version}.pex --port={{{{thermos.ports[http]}}}} --flags="{flags}" --build=77'
    check(loaded,
          task_config(f"{role}/{env}/{name}", Resources(cpu, 1024, 2048, 0, ("http",)),
                      is_service=True),
          job_data("us-east", role, env, name,
                   task("install", [process("install", install), process("api", run)],
                        resources(cpu, 1 * GB, 2 * GB), (("install", "api"),)),
                   service=True),
          instances=instances)
    assert loaded.update_settings == update


def test_api_profiles_other_key_forms() -> None:
    by_path = load_fixture("api_profiles.aurora", "api/staging2/api", {"build": 77})
    by_key = load_fixture("api_profiles.aurora", JobKey("api", "staging2", "api"), {"build": 77})
    assert by_path.task_config == by_key.task_config
    assert by_path.name == "us-east/api/staging2/api"
    assert list_jobs(CONFIGS / "api_profiles.aurora") == [
        "us-east/api/prod/api", "us-east/api/staging2/api", "us-east/api/devel/api"]


HELLO_LOOP = """
    while true; do
      echo hello world
      sleep 10
    done
  """


def container_job(name: str, **overrides: Any) -> dict[str, Any]:
    return job_data("devcluster", "www-data", "devel", name,
                    task("hello", [process("hello", HELLO_LOOP)], resources(1, 1 * MB, 8 * MB)),
                    service=True, **overrides)


def test_docker_container() -> None:
    loaded = load_fixture("containers.aurora", "devcluster/www-data/devel/hello_docker")
    params = (DockerParameter("env", "MODE=demo"), DockerParameter("label", "team=web"))
    check(loaded,
          task_config("www-data/devel/hello_docker", Resources(1.0, 1, 8), is_service=True,
                      container=DockerContainer("python:2.7", params)),
          container_job(
              "hello_docker",
              container={"image": "python:2.7",
                         "parameters": [{"name": "env", "value": "MODE=demo"},
                                        {"name": "label", "value": "team=web"}]},
              health_check_config=health(
                  health_checker={"shell": {"shell_command": 'pgrep -f "echo hello"'}},
                  interval_secs=30.0)))


def test_deprecated_container_wrapper_and_docker_binder() -> None:
    key = "devcluster/www-data/devel/hello_docker_engine_binding"
    with pytest.raises(ConfigError) as caught:
        load_fixture("containers.aurora", key)
    assert caught.value.field == "container.docker.image"
    assert "{{docker.image[library/python][2.7]}}" in str(caught.value)
    assert "bind it" in str(caught.value)
    image = "python@sha256:8f8c3e8b1d"
    loaded = load_fixture("containers.aurora", key, {"docker.image[library/python][2.7]": image})
    check(loaded,
          task_config("www-data/devel/hello_docker_engine_binding", Resources(1.0, 1, 8),
                      is_service=True, container=DockerContainer(image)),
          container_job("hello_docker_engine_binding",
                        container={"docker": {"image": image, "parameters": []}}))


def test_mesos_containers() -> None:
    loaded = load_fixture("containers.aurora", "devcluster/www-data/devel/hello_docker_image")
    volumes = (Volume("/etc/secrets", "/etc/secrets/www-data", VolumeMode.RO),
               Volume("/scratch", "/mnt/scratch", VolumeMode.RW))
    check(loaded,
          task_config("www-data/devel/hello_docker_image", Resources(1.0, 1, 8), is_service=True,
                      container=MesosContainer(DockerImage("debian", "jessie"), volumes)),
          container_job("hello_docker_image", container={
              "image": {"name": "debian", "tag": "jessie"},
              "volumes": [{"container_path": "/etc/secrets",
                           "host_path": "/etc/secrets/www-data", "mode": "RO"},
                          {"container_path": "/scratch", "host_path": "/mnt/scratch",
                           "mode": "RW"}]}))
    loaded = load_fixture("containers.aurora", "devcluster/www-data/devel/hello_appc_image")
    image_id = "sha512-ba2ed47a6ea5e4e2d4fb2ce9c8ab7e3f"
    check(loaded,
          task_config("www-data/devel/hello_appc_image", Resources(1.0, 1, 8), is_service=True,
                      container=MesosContainer(AppcImage("hello-appc", image_id))),
          container_job("hello_appc_image",
                        container={"image": {"name": "hello-appc", "image_id": image_id},
                                   "volumes": []},
                        lifecycle={}))  # DisableLifecycle


def test_custom_executor_gets_its_own_data() -> None:
    loaded = load_fixture("containers.aurora", "devcluster/www-data/devel/hello_custom_executor")
    check(loaded, task_config("www-data/devel/hello_custom_executor", Resources(1.0, 1, 8),
                              is_service=True),
          '{"command": "echo hello", "retries": 3}')
    assert loaded.task_config.executor_config == ExecutorConfig(
        "CustomExecutor", '{"command": "echo hello", "retries": 3}')


UPDATE_STRATEGIES = {
    "default_update": UpdateSettings(),
    "batch_completion": UpdateSettings(update_group_size=3, wait_for_batch_completion=True,
                                       update_strategy=BatchStrategy(3)),
    "queue": UpdateSettings(update_group_size=4, update_strategy=QueueStrategy(4)),
    "batch": UpdateSettings(update_group_size=2, max_failed_instances=2,
                            wait_for_batch_completion=True,
                            update_strategy=BatchStrategy(2, autopause_after_batch=True)),
    "variable_batch": UpdateSettings(update_strategy=VariableBatchStrategy((1, 2, 5))),
    "coordinated": UpdateSettings(min_wait_in_instance_running_ms=0,
                                  block_if_no_pulses_after_ms=300_000, sla_aware=True),
}


@pytest.mark.parametrize("name", sorted(UPDATE_STRATEGIES))
def test_update_strategies(name: str) -> None:
    loaded = load_fixture("update_strategies.aurora", f"devcluster/www-data/prod/{name}")
    assert loaded.update_settings == UPDATE_STRATEGIES[name]
    assert loaded.instances == 10
    assert loaded.task_config.tier == "preferred"
    data = json.loads(loaded.executor_data)
    assert "update_config" not in data and "instances" not in data
    if name == "coordinated":
        assert loaded.task_config.sla_policy == CoordinatorSlaPolicy(
            "http://coordinator:8080/sla", "drain")
        assert data["sla_policy"] == {"coordinator_url": "http://coordinator:8080/sla",
                                      "status_key": "drain"}


def test_update_settings_on_the_wire() -> None:
    settings = load_fixture("update_strategies.aurora",
                            "devcluster/www-data/prod/batch").update_settings
    wire = settings.to_thrift(instances=[8, 0, 1, 2, 5, 9])
    assert (wire.updateGroupSize, wire.maxFailedInstances, wire.minWaitInInstanceRunningMs,
            wire.rollbackOnFailure, wire.waitForBatchCompletion, wire.slaAware) == (
        2, 2, 45_000, True, True, False)
    assert wire.blockIfNoPulsesAfterMs is None
    assert wire.updateStrategy.batchStrategy.groupSize == 2
    assert wire.updateStrategy.batchStrategy.autopauseAfterBatch is True
    assert [(r.first, r.last) for r in wire.updateOnlyTheseInstances] == [(0, 2), (5, 5), (8, 9)]
    assert UpdateSettings().to_thrift().updateOnlyTheseInstances is None


def test_template_namespaces() -> None:
    loaded = load_fixture("namespaces.aurora", "us-west/zookeeper/prod/ensemble")
    zookeeper = ("zkServer.sh --id={{mesos.instance}} --host={{mesos.hostname}} "
                 "--client-port={{thermos.ports[client]}} --peer-port={{thermos.ports[peer]}} "
                 "--admin-port={{thermos.ports[http]}} --jmx-port={{thermos.ports[jmx]}}")
    # thermos.user and mesos.role are the role, mesos.cluster the cluster; {{name}} inside a
    # process is the process's own name (pystachio's innermost scope)
    monitor = ("monitor --task={{thermos.task_id}} --user=zookeeper "
               "--owner=zookeeper@us-west --job=zookeeper/prod --process=monitor")
    check(loaded,
          task_config(
              "zookeeper/prod/ensemble",
              # jmx maps to the static 9999; admin and aurora alias http and client
              Resources(2.0, 4096, 50 * 1024, 0, ("client", "http", "peer")),
              is_service=True, tier="preferred",
              constraints=(value("dedicated", "*/zookeeper"), limit("host", 1))),
          job_data(
              "us-west", "zookeeper", "prod", "ensemble",
              task("zk", [process("zookeeper", zookeeper, max_failures="{{mesos.instance}}"),
                          process("monitor", monitor, daemon=True, ephemeral=True)],
                   resources(2, 4 * GB, 50 * GB)),
              service=True, tier="preferred", production=True,
              announce={"primary_port": "client", "zk_path": "/services/zookeeper",
                        "portmap": {"jmx": "9999", "admin": "http", "aurora": "client"}},
              constraints={"dedicated": "*/zookeeper", "host": "limit:1"}),
          instances=5)


def test_executor_binds_what_was_left() -> None:
    """Aurora's executor reads the data back as a MesosJob and binds the host's variables."""
    loaded = load_fixture("namespaces.aurora", "us-west/zookeeper/prod/ensemble")
    job = schema.MesosJob.json_loads(loaded.executor_data)
    ports = {"client": 31001, "peer": 31002, "http": 31003}
    host = job.bind(mesos=schema.MesosContext(instance=3, hostname="zk3.example.com"),
                    thermos=schema.ThermosContext(ports={**ports, "jmx": 9999},
                                                  task_id="zk-3-abc", user="zookeeper"))
    task_data, unbound = host.task().interpolate()
    assert unbound == []
    assert task_data.check().ok()
    zookeeper = task_data.processes()[0]
    assert zookeeper.max_failures().get() == 3
    assert zookeeper.cmdline().get() == (
        "zkServer.sh --id=3 --host=zk3.example.com --client-port=31001 --peer-port=31002 "
        "--admin-port=31003 --jmx-port=9999")
    assert "--task=zk-3-abc" in task_data.processes()[1].cmdline().get()


def test_every_fixture_is_covered() -> None:
    used = {"hello_world", "web_service", "batch_pipeline", "cron_report", "api_profiles",
            "common_processes", "containers", "update_strategies", "namespaces"}
    used |= {name.removesuffix(".aurora") for name in BAD_INPUTS}
    assert {p.stem for p in CONFIGS.glob("*.aurora")} == used


# --------------------------------------------------------------------------- bad inputs

BAD_INPUTS = {
    # file: (job key, field, words of the reason, line)
    "bad_type.aurora": ("devcluster/www-data/devel/bad_type", "task.resources.ram",
                        "expected an integer, got '2GB'", None),
    "bad_missing.aurora": ("devcluster/www-data/devel/bad_missing",
                           "task.processes[0].cmdline", "is required", None),
    "bad_unbound.aurora": ("devcluster/www-data/devel/bad_unbound", "task.processes[0].cmdline",
                           "unbound variable {{profile.version}}", None),
    "bad_constraint.aurora": ("devcluster/www-data/devel/bad_constraint", "constraints[rack]",
                              "bad limit 'limit:two'", None),
    "bad_syntax.aurora": ("devcluster/www-data/devel/bad_syntax", None, "syntax error", 2),
    "bad_process_order.aurora": ("devcluster/www-data/devel/bad_order", "task.constraints",
                                 "cycles in the process order", None),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_names_file_job_and_field(name: str) -> None:
    key, field, reason, line = BAD_INPUTS[name]
    with pytest.raises(ConfigError) as caught:
        load_fixture(name, key)
    error = caught.value
    text = str(error)
    assert "\n" not in text
    assert error.file == str(CONFIGS / name) and text.startswith(str(CONFIGS / name))
    assert error.job == key and f"job {key}" in text
    assert error.field == field
    if field is not None:
        assert f"field {field}" in text
    assert reason in error.reason and reason in text
    assert error.line == line


def test_wrong_job_key_lists_the_jobs() -> None:
    with pytest.raises(ConfigError) as caught:
        load_fixture("api_profiles.aurora", "us-east/api/test/api", {"build": 1})
    text = str(caught.value)
    assert "\n" not in text
    assert "no job matches us-east/api/test/api" in text
    for key in ("us-east/api/prod/api", "us-east/api/staging2/api", "us-east/api/devel/api"):
        assert key in text
    with pytest.raises(ConfigError, match="give a job key"):
        load_fixture("api_profiles.aurora", None, {"build": 1})
    with pytest.raises(ConfigError, match="bad job key"):
        load_fixture("api_profiles.aurora", "api", {"build": 1})


def write(tmp_path: Path, body: str, name: str = "job.aurora") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


JOB = """
jobs = [Job(cluster = 'c', role = 'r', environment = 'devel', name = 'j',
            task = SimpleTask('j', 'echo hi'){extra})]
"""


def job_error(tmp_path: Path, extra: str = "", before: str = "") -> ConfigError:
    path = write(tmp_path, before + JOB.replace("{extra}", extra))
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert "\n" not in str(caught.value)
    return caught.value


@pytest.mark.parametrize(("extra", "field", "reason"), [
    (", instances = 0", "instances", "Instance count must be positive"),
    (", instances = 'three'", "instances", "expected an integer, got 'three'"),
    (", service = True, cron_schedule = '* * * * *'", "cron_schedule", "cron"),
    (", cron_collision_policy = 'RUN_TWICE'", "cron_collision_policy", "unknown policy"),
    (", tier = 'gold'", "tier", "tier 'gold' is unknown"),
    (", constraints = {'dedicated': 'other/db'}", "constraints[dedicated]", "only role 'other'"),
    (", constraints = {'rack': 'a,,b'}", "constraints[rack]", "no empty values"),
    (", priority = '{{mesos.instance}}'", "priority", "must be known when the job is submitted"),
    (", update_config = UpdateConfig(max_total_failures = 1)",
     "update_config.max_total_failures", "less than the number of instances"),
    (", health_check_config = HealthCheckConfig(interval_secs = -1)",
     "health_check_config.interval_secs", "must not be negative"),
    (", announce = Announcer(portmap = {'http': 80})", "announce.portmap[http]",
     "static ports need a dedicated job"),
    (", environment2 = 'x'", "MesosJob.environment2", "MesosJob has no field 'environment2'"),
    (", sla_policy = CountSlaPolicy(count = 1)", "sla_policy.duration_secs", "is required"),
    (", container = Docker()", "container.image", "is required"),
    (", container = Docker(image = '')", "container.image", "must specify an image"),
    (", partition_policy = PartitionPolicy(delay_secs = -5)", "partition_policy.delay_secs",
     "must be a whole number >= 0"),
    (", sla_policy = PercentageSlaPolicy(percentage = 120, duration_secs = 60)",
     "sla_policy.percentage", "must be from 0 to 100"),
    (", max_task_failures = -2", "max_task_failures", "must be -1"),
    (")(role = 'bad role'", "role", "must match"),
    (")(environment = 'qa'", "environment", "is not allowed"),
])
def test_job_field_errors(tmp_path: Path, extra: str, field: str, reason: str) -> None:
    error = job_error(tmp_path, extra)
    assert error.field == field
    assert reason in error.reason
    assert error.job is None or error.job.startswith("c/")  # None: failed before a job was chosen


@pytest.mark.parametrize(("task", "field", "reason"), [
    ("Task(processes = [Process(name = 'a', cmdline = 'x {{thermos.ports.http}}')],"
     " resources = Resources(cpu = 1, ram = MB, disk = MB))",
     "task.processes[0].cmdline", "bad port reference"),
    ("Task(processes = [Process(name = '.a', cmdline = 'x')],"
     " resources = Resources(cpu = 1, ram = MB, disk = MB))",
     "task.processes[0].name", "invalid process name"),
    ("Task(processes = [Process(name = 'a', cmdline = 'x')], constraints = order('a', 'b'),"
     " resources = Resources(cpu = 1, ram = MB, disk = MB))",
     "task.constraints[0].order", "unknown process 'b'"),
    ("Task(processes = [Process(name = 'a', cmdline = 'x', daemon = True),"
     " Process(name = 'b', cmdline = 'y')], constraints = order('a', 'b'),"
     " resources = Resources(cpu = 1, ram = MB, disk = MB))",
     "task.constraints[0].order", "may not depend upon daemon process 'a'"),
    ("Task(processes = [Process(name = 'a', cmdline = 'x')],"
     " resources = Resources(cpu = 1, ram = MB - 1, disk = MB))",
     "task.resources.ram", "must be at least 1 MB"),
    ("Task(processes = [Process(name = 'a', cmdline = 'x')],"
     " resources = Resources(cpu = 0, ram = MB, disk = MB))",
     "task.resources.cpu", "must be greater than 0"),
    ("Task(processes = [Process(name = 'a', cmdline = 'x')])",
     "task.resources", "is required"),
    ("Task(processes = [Process(name = 'a', cmdline = 'x {{shard[{{mesos.instance}}]}}')],"
     " resources = Resources(cpu = 1, ram = MB, disk = MB))",
     "task.processes[0].cmdline", "do not nest template variables"),
    ("Task(resources = Resources(cpu = 1, ram = MB, disk = MB))",
     "task.processes", "is required"),
])
def test_task_errors(tmp_path: Path, task: str, field: str, reason: str) -> None:
    path = write(tmp_path, "jobs = [Job(cluster = 'c', role = 'r', environment = 'devel', "
                           f"name = 'j', task = {task})]")
    with pytest.raises(ConfigError) as caught:
        load(path, "c/r/devel/j")
    assert caught.value.field == field
    assert reason in caught.value.reason
    assert "\n" not in str(caught.value)


def test_missing_required_job_field(tmp_path: Path) -> None:
    path = write(tmp_path, "jobs = [Job(cluster = 'c', role = 'r', name = 'j',"
                           " task = SimpleTask('j', 'echo hi'))]")
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert (caught.value.job, caught.value.field, caught.value.reason) == (
        "c/r/?/j", "environment", "is required")
    with pytest.raises(ConfigError, match=r"\? marks a part that is not set"):
        load(path, "c/r/devel/j")


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="defines no jobs"):
        load(write(tmp_path, "x = 1"))
    with pytest.raises(ConfigError, match=r"jobs\[0\] is not a Job"):
        load(write(tmp_path, "jobs = [Task()]"))
    two = JOB.replace("{extra}", "") + "jobs = jobs + jobs\n"
    with pytest.raises(ConfigError, match="2 jobs match c/r/devel/j"):
        load(write(tmp_path, two), "c/r/devel/j")
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, "\n\nx = undefined_name\n"), "c/r/devel/j")
    assert (caught.value.line, caught.value.job) == (3, "c/r/devel/j")
    assert "NameError" in caught.value.reason
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "missing.aurora")


def test_include_is_relative_and_errors_name_the_included_file(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    write(tmp_path, "TASK = SimpleTask('j', 'echo {{greeting}}')\n", "lib/base.aurora")
    write(tmp_path, "include('base.aurora')\nBAD = Process(nme = 'x')\n", "lib/bad.aurora")
    main = write(tmp_path, "include('lib/base.aurora')\n"
                           "jobs = [Job(cluster = 'c', role = 'r', environment = 'devel',"
                           " task = TASK)]\n")
    loaded = load(main, bindings={"greeting": "hi"})
    assert json.loads(loaded.executor_data)["task"]["processes"][0]["cmdline"] == "echo hi"
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, "include('lib/bad.aurora')\n", "uses_bad.aurora"), "c/r/devel/j")
    assert caught.value.file == str(tmp_path / "lib" / "bad.aurora")
    assert (caught.value.line, caught.value.field) == (2, "Process.nme")
    loop = write(tmp_path, "include('loop.aurora')\n", "loop.aurora")
    with pytest.raises(ConfigError, match="include cycle") as caught:
        load(loop)
    assert (caught.value.file, caught.value.line) == (str(loop), 1)


def test_update_settings_errors_wait_for_an_update(tmp_path: Path) -> None:
    """Aurora checks update settings only when updating: a create still works."""
    path = write(tmp_path, JOB.replace(
        "{extra}", ", instances = 3, update_config = UpdateConfig(pulse_interval_secs = 30)"))
    loaded = load(path)
    assert loaded.instances == 3
    with pytest.raises(ConfigError, match="at least 60 seconds") as caught:
        _ = loaded.update_settings
    assert caught.value.field == "update_config.pulse_interval_secs"
    for extra, field in [
        ("UpdateConfig(batch_size = 0)", "update_config.batch_size"),
        ("UpdateConfig(batch_size = 2, update_strategy = QueueUpdateStrategy())",
         "update_config.batch_size"),
        ("UpdateConfig(wait_for_batch_completion = True,"
         " update_strategy = BatchUpdateStrategy())", "update_config.wait_for_batch_completion"),
    ]:
        path = write(tmp_path, JOB.replace("{extra}", f", instances = 3, update_config = {extra}"))
        with pytest.raises(ConfigError) as caught:
            _ = load(path).update_settings
        assert caught.value.field == field


def test_owner_and_tiers_can_be_given(tmp_path: Path) -> None:
    from aurora.model.task import TierInfo

    path = write(tmp_path, JOB.replace("{extra}", ""))
    loaded = load(path, owner="alice",
                  tiers={"revocable": TierInfo(preemptible=True, revocable=True),
                         "preemptible": TierInfo(preemptible=True, revocable=False)})
    assert loaded.task_config.owner == Identity("alice")
    assert loaded.task_config.tier == "preemptible"
    assert load(path).task_config.owner == Identity(OWNER)


def test_announcer_warning_for_an_unbound_primary_port(tmp_path: Path) -> None:
    path = write(tmp_path, JOB.replace(
        "{extra}", ", announce = Announcer(primary_port = 'thrift', portmap = {'aurora': 'http'})"))
    loaded = load(path)
    assert loaded.task_config.resources.ports == ("http",)
    assert loaded.warnings == ("announcer primary port 'thrift' is not bound by any process: "
                               "listen on {{thermos.ports[thrift]}}",)


# ------------------------------------------------------------------------------- the DSL


def test_dsl_namespace_has_aurora_names() -> None:
    namespace = schema.dsl_namespace()
    for name in ("Job", "Service", "Task", "Process", "Resources", "SequentialTask", "SimpleTask",
                 "order", "combine_tasks", "concat_tasks", "Tasks", "Processes", "Units",
                 "Options", "java_options", "python_options", "MB", "GB", "TB",
                 "Struct", "Required", "Default", "String", "Integer", "Float", "Boolean",
                 "List", "Map", "Choice", "Enum", "Empty", "Ref", "Environment",
                 "AURORA_EXECUTOR_NAME", "DefaultLifecycleConfig", "DisableLifecycle", "Mode"):
        assert name in namespace, name
    assert schema.Service.service().get() is True
    assert isinstance(schema.Service, schema.MesosJob)


def test_schema_defaults_match_aurora() -> None:
    job = schema.Job()
    assert job.name().get() == "{{task.name}}"
    assert (job.instances().get(), job.cron_collision_policy().get(), job.max_task_failures().get(),
            job.priority().get(), job.service().get(), job.production().get()) == (
        1, "KILL_EXISTING", 1, 0, False, False)
    assert plain(schema.UpdateConfig().get()) == {
        "batch_size": 1, "watch_secs": 45, "max_per_shard_failures": 0,
        "max_total_failures": 0, "rollback_on_failure": True,
        "wait_for_batch_completion": False, "sla_aware": False}
    assert plain(schema.HealthCheckConfig().get()) == health()
    assert plain(schema.DefaultLifecycleConfig.get()) == lifecycle()
    assert plain(schema.Announcer().portmap().get()) == {"aurora": "http"}
    assert plain(schema.PartitionPolicy().get()) == {"reschedule": True, "delay_secs": 0}
    assert plain(schema.CoordinatorSlaPolicy(coordinator_url="u").get()) == {
        "coordinator_url": "u", "status_key": "drain"}
    assert plain(schema.Process(name="p", cmdline="c").get()) == process("p", "c")
    assert schema.Resources(cpu=1, ram=1, disk=1).get()["gpu"] == 0
    assert plain(schema.Logger().get()) == {"destination": "file", "mode": "standard"}
    assert plain(schema.RotatePolicy().get()) == {"log_size": 100 * MB, "backups": 5}


def test_helpers() -> None:
    a = schema.Process(name="a", cmdline="x")
    assert schema.order(a, "b") == [schema.Constraint(order=["a", "b"])]
    with pytest.raises(ValueError, match="Unknown value for process order"):
        schema.order(1)
    simple = schema.SimpleTask("s", "echo s")
    assert plain(simple.resources().get()) == resources(1.0, 1 * GB, 1 * GB)
    assert simple.name().get() == "s"
    with pytest.raises(ValueError, match="existing constraints"):
        schema.SequentialTask(processes=[a], constraints=schema.order(a))
    assert schema.java_options("server", {"Xmx": "1g"}) == "-server -Xmx 1g"
    assert schema.python_options("v", verbose=True) == "-v --verbose True"
    assert plain(schema.Tasks.combine().get()) == plain(schema.Task().get())
    assert plain(schema.Units.resources_max([]).get()) == resources(0, 0, 0)
