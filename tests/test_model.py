"""Tests of the domain model: validation, parsing, serialisation, hashing, task ids, statuses."""

from __future__ import annotations

import re

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from msgspec.structs import replace

from aurora.model import (
    AssignedTask,
    Constraint,
    CoordinatorSlaPolicy,
    CountSlaPolicy,
    DockerContainer,
    DockerParameter,
    ExecutorConfig,
    Identity,
    InvalidConstraintError,
    InvalidJobKeyError,
    InvalidResourcesError,
    JobKey,
    LimitConstraint,
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
    ValueConstraint,
    new_task_id,
    parse_cluster_key,
    parse_size,
    task_id_for,
)
from aurora.model.jobkey import allowed_environments, set_allowed_environments
from aurora.model.resources import GB, MB
from aurora.model.task import DockerImage, Volume, VolumeMode

KEY = JobKey("www-data", "prod", "hello")
PATTERN = r"^[\w\-\.]+$"
RES = Resources(1.0, 128, 256)


def config(**overrides: object) -> TaskConfig:
    fields: dict[str, object] = {"job": KEY, "owner": Identity("alice"), "resources": RES}
    fields.update(overrides)
    return TaskConfig(**fields)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------- job keys


def test_job_key_valid_and_str() -> None:
    key = JobKey.of("www-data", "staging12", "hello.world_2")
    assert str(key) == "www-data/staging12/hello.world_2"
    assert key.path == str(key)
    assert key.with_cluster("west") == "west/www-data/staging12/hello.world_2"
    assert JobKey.parse(str(key)) == key
    assert key.validate() is key


@pytest.mark.parametrize("env", ["prod", "devel", "test", "staging", "staging0", "staging123"])
def test_default_environments_allowed(env: str) -> None:
    # Aurora's default is ^(prod|devel|test|staging\d*)$, so a bare "staging" is allowed too.
    assert JobKey("r", env, "n").environment == env


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("a b", "prod", "n"), "invalid job key 'a b/prod/n': role 'a b' must match " + PATTERN),
        (("r", "b c", "n"),
         "invalid job key 'r/b c/n': environment 'b c' must match " + PATTERN),
        (("r", "prod", "n/x"), "name 'n/x' must match"),
        (("", "prod", "n"), "invalid job key '/prod/n': role must not be empty"),
        (("r", "", "n"), "environment must not be empty"),
        (("r", "prod", ""), "name must not be empty"),
        (("r", "foo", "n"),
         "invalid job key 'r/foo/n': environment 'foo' is not allowed: expected prod, devel, "
         "test or staging<N>"),
        (("r", "Prod", "n"), "environment 'Prod' is not allowed"),
        (("r", "stagingx", "n"), "environment 'stagingx' is not allowed"),
        (("r", "prod", "x" * 256), "name '" + "x" * 256 + "' is longer than 255 characters"),
        (("rôle", "prod", "n"), "role 'rôle' must match"),  # Java's \w is ASCII-only
        (("r", "prod", "n\n"), "name 'n\n' must match"),  # $ may not stop before a newline
        ((1, "prod", "n"), "role must be a string, got int"),
    ],
)
def test_job_key_errors_name_the_part(args: tuple[object, object, object], message: str) -> None:
    with pytest.raises(InvalidJobKeyError) as err:
        JobKey(*args)  # type: ignore[arg-type]
    assert message in str(err.value)


def test_job_key_max_length_ok() -> None:
    assert JobKey("r" * 255, "prod", "n").role == "r" * 255


@pytest.mark.parametrize(("text", "parts"), [("a/prod", 2), ("a/prod/b/c", 4), ("", 1)])
def test_job_key_parse_wrong_parts(text: str, parts: int) -> None:
    with pytest.raises(InvalidJobKeyError) as err:
        JobKey.parse(text)
    assert str(err.value) == (
        f"invalid job key '{text}': expected role/environment/name, got {parts} parts"
    )


def test_job_key_parse_bad_part() -> None:
    with pytest.raises(InvalidJobKeyError, match="environment 'b c' must match"):
        JobKey.parse("a/b c/d")
    with pytest.raises(InvalidJobKeyError, match="expected a string"):
        JobKey.parse(None)  # type: ignore[arg-type]


def test_job_key_frozen_hashable_ordered() -> None:
    with pytest.raises(AttributeError):
        KEY.role = "x"  # type: ignore[misc]
    assert len({KEY, JobKey("www-data", "prod", "hello")}) == 1
    assert sorted([JobKey("b", "prod", "a"), JobKey("a", "test", "z")])[0].role == "a"


def test_job_key_replace_and_decode_validate() -> None:
    with pytest.raises(InvalidJobKeyError, match="environment 'nope' is not allowed"):
        replace(KEY, environment="nope")
    with pytest.raises(msgspec.ValidationError, match="environment 'b c' must match"):
        msgspec.json.decode(b'{"role":"a","environment":"b c","name":"d"}', type=JobKey)


def test_custom_environment_rule() -> None:
    set_allowed_environments(r"qa|prod")
    try:
        assert allowed_environments() == "qa|prod"
        assert JobKey("r", "qa", "n").environment == "qa"
        with pytest.raises(InvalidJobKeyError, match="'devel' is not allowed: expected a match"):
            JobKey("r", "devel", "n")
    finally:
        set_allowed_environments(None)
    assert JobKey("r", "devel", "n").environment == "devel"
    with pytest.raises(InvalidJobKeyError):
        JobKey("r", "qa", "n")


def test_parse_cluster_key() -> None:
    assert parse_cluster_key("west/www-data/prod/hello") == ("west", KEY)
    with pytest.raises(InvalidJobKeyError) as err:
        parse_cluster_key("we st/www-data/prod/hello")
    assert str(err.value) == (
        "invalid job key 'we st/www-data/prod/hello': cluster 'we st' must match ^[\\w\\-\\.]+$"
    )
    with pytest.raises(InvalidJobKeyError, match="expected cluster/role/environment/name, got 3"):
        parse_cluster_key("www-data/prod/hello")
    with pytest.raises(InvalidJobKeyError, match="cluster must not be empty"):
        parse_cluster_key("/www-data/prod/hello")
    with pytest.raises(
        InvalidJobKeyError, match="'west/www-data/foo/hello': environment 'foo' is not allowed"
    ):
        parse_cluster_key("west/www-data/foo/hello")
    with pytest.raises(InvalidJobKeyError, match="name 'h!' must match"):
        parse_cluster_key("west/www-data/prod/h!")


_IDENT = st.from_regex(re.compile(r"[A-Za-z0-9_.\-]{1,20}", re.ASCII), fullmatch=True)


@given(_IDENT, st.sampled_from(["prod", "devel", "test", "staging7"]), _IDENT)
def test_job_key_parse_round_trip(role: str, env: str, name: str) -> None:
    key = JobKey(role, env, name)
    assert JobKey.parse(str(key)) == key
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(key), type=JobKey) == key


# ------------------------------------------------------------------------------------ resources


def test_resources_normalise() -> None:
    res = Resources(2, 10, 20, gpus=1, ports=("http", "admin", "http"))
    assert res.cpu == 2.0 and type(res.cpu) is float
    assert res.ports == ("admin", "http")
    assert res.port_count == 2
    assert Resources(1.0, 1, 1, ports=["b", "a"]).ports == ("a", "b")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"cpu": -0.5}, "cpu"),
        ({"cpu": float("nan")}, "cpu"),
        ({"cpu": float("inf")}, "cpu"),
        ({"cpu": "1"}, "cpu"),
        ({"ram_mb": -1}, "ram_mb"),
        ({"ram_mb": 1.5}, "ram_mb"),
        ({"disk_mb": -1}, "disk_mb"),
        ({"gpus": -1}, "gpus"),
        ({"gpus": True}, "gpus"),
        ({"ports": ("ok", "")}, "ports"),
        ({"ports": ("bad name",)}, "ports"),
    ],
)
def test_resources_errors_name_the_field(kwargs: dict[str, object], field: str) -> None:
    fields: dict[str, object] = {"cpu": 1.0, "ram_mb": 1, "disk_mb": 1}
    fields.update(kwargs)
    with pytest.raises(InvalidResourcesError) as err:
        Resources(**fields)  # type: ignore[arg-type]
    assert str(err.value).startswith(field)


def test_zero_resources_are_fine_but_not_for_a_task() -> None:
    zero = Resources.zero()
    assert zero == Resources(0, 0, 0)
    assert "cpu must be greater than 0" in (zero.task_problem() or "")
    assert Resources(1, 0, 1).task_problem() == "ram_mb must be greater than 0, got 0"
    assert Resources(1, 1, 0).task_problem() == "disk_mb must be greater than 0, got 0"
    assert RES.task_problem() is None
    with pytest.raises(InvalidResourcesError, match="cpu must be greater than 0"):
        zero.validate_task()


def test_resources_arithmetic() -> None:
    a = Resources(0.3, 100, 200, gpus=1, ports=("http",))
    b = Resources(0.1, 50, 20, ports=("admin",))
    assert a + b == Resources(0.4, 150, 220, 1, ("admin", "http"))
    assert a - Resources(0.1, 50, 20) == Resources(0.2, 50, 180, 1, ("http",))
    assert (a + b) - b == Resources(0.3, 100, 200, 1, ("http",))
    assert a * 3 == Resources(0.9, 300, 600, 3, ("http",))
    assert 2 * b == Resources(0.2, 100, 40, 0, ("admin",))
    assert a * 0 == Resources(0, 0, 0, 0, ("http",))
    with pytest.raises(InvalidResourcesError, match="ram_mb must be >= 0"):
        Resources(1, 10, 10) - Resources(0.5, 20, 1)
    with pytest.raises(InvalidResourcesError, match="cpu must be a finite number >= 0"):
        b - a
    with pytest.raises(InvalidResourcesError, match="negative factor"):
        a * -1
    with pytest.raises(TypeError):
        a * 1.5  # type: ignore[operator]


def test_fits_in() -> None:
    task = Resources(1.0, 100, 100, ports=("http", "admin"))
    assert task.fits_in(Resources(1.0, 100, 100))
    assert not task.fits_in(Resources(0.9, 100, 100))
    assert not task.fits_in(Resources(1.0, 99, 100))
    assert not task.fits_in(Resources(1.0, 100, 99))
    assert not Resources(1, 1, 1, gpus=1).fits_in(Resources(4, 4, 4))
    assert task.fits_in(Resources(2, 200, 200), free_ports=2)
    assert not task.fits_in(Resources(2, 200, 200), free_ports=1)


@pytest.mark.parametrize(
    ("value", "mb"),
    [
        ("512MB", 512),
        ("512mb", 512),
        ("2GB", 2048),
        ("1TB", 1024 * 1024),
        ("1024KB", 1),
        ("1536 KB", 1),  # part of a MB is dropped, like the client's integer division
        ("1.5GB", 1536),
        (" 64 MB ", 64),
        ("1048576", 1),
        ("2097152B", 2),
        (512 * MB, 512),
        (2 * GB, 2048),
        (0, 0),
        (1000, 0),
    ],
)
def test_parse_size(value: str | int, mb: int) -> None:
    assert parse_size(value) == mb


@pytest.mark.parametrize("value", ["", "MB", "12XB", "1 2MB", "-1MB", "1e3MB", "1.2.3GB", True,
                                   -1, None, float("nan")])
def test_parse_size_rejects(value: object) -> None:
    with pytest.raises(InvalidResourcesError, match="invalid size"):
        parse_size(value)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------- constraints


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a", Constraint("rack", value=ValueConstraint(False, frozenset({"a"})))),
        ("a,b", Constraint("rack", value=ValueConstraint(False, frozenset({"a", "b"})))),
        ("!a", Constraint("rack", value=ValueConstraint(True, frozenset({"a"})))),
        ("!a,b", Constraint("rack", value=ValueConstraint(True, frozenset({"a", "b"})))),
        ("limit:0", Constraint("rack", limit=LimitConstraint(0))),
        ("limit:3", Constraint("rack", limit=LimitConstraint(3))),
        ("a,a", Constraint("rack", value=ValueConstraint(False, frozenset({"a"})))),
        ("!limit:3", Constraint("rack", value=ValueConstraint(True, frozenset({"limit:3"})))),
    ],
)
def test_constraint_parse(text: str, expected: Constraint) -> None:
    parsed = Constraint.parse("rack", text)
    assert parsed == expected
    assert Constraint.parse("rack", str(parsed)) == parsed


def test_constraint_str() -> None:
    assert str(Constraint.parse("rack", "b,a")) == "a,b"
    assert str(Constraint.parse("rack", "!b,a")) == "!a,b"
    assert str(Constraint.parse("host", "limit:1")) == "limit:1"


@pytest.mark.parametrize(
    "text", ["", "!", "limit:", "limit:x", "limit:-1", "limit:1.5", "limit: 1", "limit:1 ",
             "a,,b", ",a", "a,", "!,a", "limit:99999999999"],
)
def test_constraint_parse_rejects(text: str) -> None:
    with pytest.raises(InvalidConstraintError) as err:
        Constraint.parse("rack", text)
    assert "'rack'" in str(err.value) or "limit constraint" in str(err.value)


def test_constraint_needs_exactly_one_kind() -> None:
    with pytest.raises(InvalidConstraintError, match=r"'rack': exactly one .* got neither"):
        Constraint("rack")
    with pytest.raises(InvalidConstraintError, match=r"'rack': exactly one .* got both"):
        Constraint("rack", ValueConstraint(False, frozenset({"a"})), LimitConstraint(1))
    with pytest.raises(InvalidConstraintError, match="name must be a non-empty string"):
        Constraint("", limit=LimitConstraint(1))
    with pytest.raises(InvalidConstraintError, match="values must not be empty"):
        ValueConstraint(False, frozenset())
    with pytest.raises(InvalidConstraintError, match="non-empty string"):
        ValueConstraint(False, frozenset({""}))
    assert ValueConstraint(False, ["b", "a"]).values == frozenset({"a", "b"})  # type: ignore[arg-type]


def test_constraint_is_dedicated() -> None:
    assert Constraint.parse("dedicated", "www-data/x").is_dedicated
    assert not Constraint.parse("rack", "www-data/x").is_dedicated


_VALUE = st.from_regex(re.compile(r"[A-Za-z0-9_./\-]{1,10}", re.ASCII), fullmatch=True)


@given(st.booleans(), st.frozensets(_VALUE, min_size=1, max_size=5))
def test_value_constraint_text_round_trip(negated: bool, values: frozenset[str]) -> None:
    constraint = Constraint("attr", value=ValueConstraint(negated, values))
    assert Constraint.parse("attr", str(constraint)) == constraint


# ---------------------------------------------------------------------------------- task config


def test_task_config_defaults_and_tiers() -> None:
    cfg = config()
    assert cfg.tier == "preemptible"
    assert cfg.is_preemptible and not cfg.is_production and not cfg.is_revocable
    assert cfg.max_task_failures == 1 and cfg.priority == 0 and not cfg.is_service
    assert cfg.container == MesosContainer()
    preferred = config(tier="preferred")
    assert preferred.is_production and not preferred.is_preemptible
    revocable = config(tier="revocable")
    assert revocable.is_revocable and revocable.is_preemptible and not revocable.is_production


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"max_task_failures": -2}, "max_task_failures must be -1 (no limit) or a whole number"),
        ({"max_task_failures": 1.0}, "max_task_failures"),
        ({"priority": 2**31}, "priority must be a whole number from -2147483648 to 2147483647"),
        ({"priority": -(2**31) - 1}, "priority"),
        ({"tier": "gold"}, "tier 'gold' is unknown: expected one of preemptible, preferred, "
                           "revocable"),
        ({"tier": "a b"}, "tier 'a b' must match"),
        ({"tier": None}, "tier must be a string"),
        ({"resources": Resources(0, 1, 1)}, "resources: cpu must be greater than 0"),
        ({"resources": Resources(1, 0, 1)}, "resources: ram_mb must be greater than 0"),
        ({"resources": Resources(1, 1, 0)}, "resources: disk_mb must be greater than 0"),
        ({"job": "www-data/prod/hello"}, "job must be a JobKey"),
        ({"owner": "alice"}, "owner must be an Identity"),
        ({"constraints": (Constraint.parse("rack", "a"), Constraint.parse("rack", "limit:1"))},
         "constraints: more than one constraint on 'rack'"),
        ({"constraints": {"dedicated": "other/x"}},
         "constraints: dedicated 'other/x': only role 'other' may use hosts dedicated"),
        ({"constraints": {"dedicated": "limit:1"}},
         "the dedicated constraint must be a value constraint"),
        ({"constraints": {"dedicated": "www-data/a,www-data/b"}},
         "the dedicated constraint must have exactly one value"),
        ({"constraints": {"rack": "limit:x"}}, "constraint 'rack': bad limit"),
        ({"task_links": [("a", "u"), ("a", "v")]}, "task_links: link 'a' given twice"),
        ({"task_links": [("a",)]}, "task_links: expected (text, url) strings"),
        ({"metadata": ["x"]}, "metadata: expected a Metadata"),
    ],
)
def test_task_config_errors_name_the_field(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(TaskDescriptionError) as err:
        config(**overrides)
    assert message in str(err.value)


@pytest.mark.parametrize("value", ["www-data/web.multi", "*/web.multi", "www-data", "*"])
def test_dedicated_constraint_accepted(value: str) -> None:
    cfg = config(constraints={"dedicated": value})
    assert cfg.is_dedicated
    assert cfg.constraint("dedicated") == Constraint.parse("dedicated", value)
    assert cfg.constraint("rack") is None


def test_max_task_failures_bounds_accepted() -> None:
    assert config(max_task_failures=-1).max_task_failures == -1
    assert config(max_task_failures=0).max_task_failures == 0
    assert config(priority=-5).priority == -5


def test_task_config_canonical_order_hash_and_dedupe() -> None:
    a = config(
        constraints=[Constraint.parse("rack", "!a,b"), Constraint.parse("host", "limit:1")],
        metadata=[Metadata("z", "1"), Metadata("a", "2"), Metadata("a", "2")],
        task_links={"http": "http://%host%:%port:http%", "admin": "http://x"},
    )
    b = config(
        constraints={"host": "limit:1", "rack": "!b,a"},
        metadata={"a": "2", "z": "1"},
        task_links=[("admin", "http://x"), ("http", "http://%host%:%port:http%")],
    )
    assert a == b and hash(a) == hash(b)
    assert [c.name for c in a.constraints] == ["host", "rack"]
    assert a.metadata == (Metadata("a", "2"), Metadata("z", "1"))
    assert a.links == {"admin": "http://x", "http": "http://%host%:%port:http%"}
    configs = {a, b, config(), config(), config(priority=1)}
    assert len(configs) == 3
    assert {a: 1}[b] == 1
    with pytest.raises(AttributeError):
        a.priority = 3  # type: ignore[misc]


def _full_config() -> TaskConfig:
    return config(
        is_service=True,
        priority=7,
        max_task_failures=-1,
        tier="preferred",
        resources=Resources(0.5, 64, 128, gpus=1, ports=("http", "health")),
        constraints={"host": "limit:1", "rack": "!r1,r2", "dedicated": "*/pool"},
        metadata=[Metadata("team", "web")],
        container=DockerContainer("nginx:1", (DockerParameter("env", "A=1"),)),
        executor_config=ExecutorConfig("AuroraExecutor", '{"task": {}}'),
        contact_email="web@example.com",
        task_links={"http": "http://%host%:%port:http%"},
        partition_policy=PartitionPolicy(reschedule=False, delay_secs=30),
        sla_policy=PercentageSlaPolicy(percentage=66.5, duration_secs=300),
    )


def _scheduled(cfg: TaskConfig) -> ScheduledTask:
    task_id = task_id_for(cfg.job, 3, "0b5f8cd2-8b4b-4d58-9a17-5d5a1c2b3e4f")
    return ScheduledTask(
        assigned_task=AssignedTask(
            task_id=task_id, task=cfg, instance_id=3, slave_id="agent-1",
            slave_host="host1.example.com", assigned_ports={"http": 31000, "health": 31001},
        ),
        status=ScheduleStatus.RUNNING,
        failure_count=2,
        times_partitioned=1,
        task_events=(
            TaskEvent(1000, ScheduleStatus.PENDING, None, "sched1"),
            TaskEvent(2000, ScheduleStatus.ASSIGNED),
            TaskEvent(3000, ScheduleStatus.RUNNING, "started", "sched1"),
        ),
        ancestor_id="www-data-prod-hello-3-old",
    )


SAMPLES = [
    KEY,
    RES,
    Resources(1, 2, 3, 4, ("a",)),
    config(),
    _full_config(),
    config(sla_policy=CountSlaPolicy(2, 60)),
    config(sla_policy=CoordinatorSlaPolicy("http://coord/", "drain")),
    config(container=MesosContainer(DockerImage("img", "latest"),
                                    (Volume("/c", "/h", VolumeMode.RW),))),
    _scheduled(_full_config()),
    _scheduled(config()),
]


@pytest.mark.parametrize("codec", [msgspec.msgpack, msgspec.json], ids=["msgpack", "json"])
@pytest.mark.parametrize("value", SAMPLES, ids=lambda v: type(v).__name__)
def test_round_trip(codec: object, value: object) -> None:
    data = codec.encode(value)  # type: ignore[attr-defined]
    decoded = codec.decode(data, type=type(value))  # type: ignore[attr-defined]
    assert decoded == value
    assert type(decoded) is type(value)


def test_round_trip_keeps_hash_and_types() -> None:
    cfg = _full_config()
    decoded = msgspec.msgpack.decode(msgspec.msgpack.encode(cfg), type=TaskConfig)
    assert hash(decoded) == hash(cfg)
    assert isinstance(decoded.container, DockerContainer)
    assert isinstance(decoded.sla_policy, PercentageSlaPolicy)
    task = msgspec.json.decode(msgspec.json.encode(_scheduled(cfg)), type=ScheduledTask)
    assert task.status is ScheduleStatus.RUNNING
    assert all(type(e.status) is ScheduleStatus for e in task.task_events)


def test_decode_rejects_invalid_config() -> None:
    raw = msgspec.to_builtins(config())
    raw["max_task_failures"] = -3
    with pytest.raises(msgspec.ValidationError, match="max_task_failures"):
        msgspec.json.decode(msgspec.json.encode(raw), type=TaskConfig)
    raw = msgspec.to_builtins(config())
    raw["job"]["environment"] = "nope"
    with pytest.raises(msgspec.ValidationError, match="environment 'nope' is not allowed"):
        msgspec.msgpack.decode(msgspec.msgpack.encode(raw), type=TaskConfig)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: PartitionPolicy(delay_secs=-1), "partition_policy.delay_secs"),
        (lambda: PercentageSlaPolicy(101, 10), "sla_policy.percentage"),
        (lambda: PercentageSlaPolicy(50, -1), "sla_policy.duration_secs"),
        (lambda: CountSlaPolicy(-1, 10), "sla_policy.count"),
        (lambda: CoordinatorSlaPolicy(""), "sla_policy.coordinator_url"),
        (lambda: DockerContainer(""), "container.image"),
    ],
)
def test_policy_errors_name_the_field(make: object, message: str) -> None:
    with pytest.raises(TaskDescriptionError, match=re.escape(message)):
        make()  # type: ignore[operator]


# ---------------------------------------------------------------------------------------- tasks


def test_task_id_format() -> None:
    assert task_id_for(KEY, 0, "1234-abcd") == "www-data-prod-hello-0-1234-abcd"
    dotted = JobKey("svc.team", "staging2", "web.v2")
    assert task_id_for(dotted, 12, "u.u/u u") == "svc-team-staging2-web-v2-12-u-u-u-u"
    fresh = new_task_id(KEY, 7)
    assert re.fullmatch(r"www-data-prod-hello-7-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", fresh)
    assert new_task_id(KEY, 7) != fresh


def test_scheduled_task_accessors_and_status_coercion() -> None:
    task = _scheduled(config())
    assert task.task_id.startswith("www-data-prod-hello-3-")
    assert task.instance_id == 3 and task.job == KEY and task.config == config()
    moved = replace(task, status=5)
    assert moved.status is ScheduleStatus.KILLED
    assert TaskEvent(1, "running").status is ScheduleStatus.RUNNING  # type: ignore[arg-type]
    with pytest.raises(UnknownStatusError):
        TaskEvent(1, 8)  # type: ignore[arg-type]
    with pytest.raises(UnknownStatusError):
        replace(task, status=10)
    with pytest.raises(TaskDescriptionError, match=r"task\.failure_count"):
        replace(task, failure_count=-1)
    with pytest.raises(TaskDescriptionError, match="instance_id"):
        replace(task.assigned_task, instance_id=-1)
    with pytest.raises(TaskDescriptionError, match="task_id"):
        replace(task.assigned_task, task_id="")


# ------------------------------------------------------------------------------------- statuses

WIRE = {
    0: "PENDING", 1: "STARTING", 2: "RUNNING", 3: "FINISHED", 4: "FAILED", 5: "KILLED",
    6: "KILLING", 7: "LOST", 9: "ASSIGNED", 11: "INIT", 12: "RESTARTING", 13: "PREEMPTING",
    16: "THROTTLED", 17: "DRAINING", 18: "PARTITIONED",
}


@pytest.mark.parametrize(("number", "name"), sorted(WIRE.items()))
def test_status_from_wire(number: int, name: str) -> None:
    status = ScheduleStatus.from_wire(number)
    assert status.name == name and status.value == number
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(status), type=ScheduleStatus) is status


@pytest.mark.parametrize("number", [8, 10, 14, 15, 19, 31, 32, -1, 2**31])
def test_status_from_wire_unknown(number: int) -> None:
    with pytest.raises(UnknownStatusError, match=f"unknown task status number {number}"):
        ScheduleStatus.from_wire(number)


@pytest.mark.parametrize("value", [True, "2", 2.0, None])
def test_status_from_wire_not_an_int(value: object) -> None:
    with pytest.raises(UnknownStatusError):
        ScheduleStatus.from_wire(value)  # type: ignore[arg-type]
