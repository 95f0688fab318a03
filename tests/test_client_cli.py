"""The ``aurora`` and ``aurora_admin`` clients against a live aurora-scheduler (sim backend):
jobs created, waited on, listed, shown and killed; quota; maintenance; snapshots; and bad
input reported as one line with the right exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_daemon import free_port, get, start, wait_healthy

from aurora.client import admin, cli
from aurora.client.jobkeys import parse_instance_key, parse_instances

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "tests" / "config"

HELLO = """
hello = Process(name = 'hello', cmdline = 'echo hello {{greeting}}; sleep 600')
jobs = [
  Service(cluster = 'test', role = 'www-data', environment = 'devel', name = 'hello',
          instances = 2,
          task = SimpleTask('hello', 'echo hello; sleep 600')(
            resources = Resources(cpu = 0.1, ram = 16*MB, disk = 16*MB))),
  Job(cluster = 'test', role = 'www-data', environment = 'devel', name = 'greet',
      task = Task(name = 'greet', processes = [hello],
                  resources = Resources(cpu = 0.1, ram = 16*MB, disk = 16*MB))),
]
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    port = free_port()
    proc = start(tmp_path_factory.mktemp("sched"), port)
    root = tmp_path_factory.mktemp("etc")
    (root / "clusters.json").write_text(json.dumps([
        {"name": "test", "scheduler_uri": f"http://127.0.0.1:{port}"},
        {"name": "down", "scheduler_uri": f"http://127.0.0.1:{free_port()}"}]))
    (root / "hello.aurora").write_text(HELLO)
    old = os.environ.get("AURORA_CONFIG_ROOT")
    os.environ["AURORA_CONFIG_ROOT"] = str(root)
    try:
        wait_healthy(proc, port)
        yield port, root
    finally:
        if old is None:
            os.environ.pop("AURORA_CONFIG_ROOT", None)
        else:
            os.environ["AURORA_CONFIG_ROOT"] = old
        proc.terminate()
        proc.communicate(timeout=30)


def run(capsys: pytest.CaptureFixture[str], *argv: str, tool: str = "aurora"
        ) -> tuple[int, str, str]:
    main = cli.main if tool == "aurora" else admin.main
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_job_lifecycle(cluster: tuple[int, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _, root = cluster
    key = "test/www-data/devel/hello"
    code, out, err = run(capsys, "job", "create", key, str(root / "hello.aurora"),
                         "--wait-until", "RUNNING", "--poll-interval", "0.1",
                         "--wait-timeout", "15")
    assert code == 0, err
    assert "Job create succeeded" in out and "reached RUNNING" in out

    code, out, _ = run(capsys, "job", "status", key)
    assert code == 0 and out.count("RUNNING") >= 2
    code, out, _ = run(capsys, "job", "status", key, "--json")
    tasks = json.loads(out)["tasks"]
    assert code == 0 and sorted(t["instance"] for t in tasks) == [0, 1]
    assert all(t["status"] == "RUNNING" and t["host"] and t["events"] for t in tasks)

    code, out, _ = run(capsys, "job", "list", "test")
    assert code == 0 and key in out.split()
    code, out, _ = run(capsys, "job", "list", "test/www-data/devel", "--json")
    assert key in json.loads(out)
    code, out, _ = run(capsys, "job", "list", "test/www-data/prod", "--json")
    assert key not in json.loads(out)

    code, out, _ = run(capsys, "job", "diff", key, str(root / "hello.aurora"), "--json")
    assert code == 0 and json.loads(out) == []

    changed = root / "changed.aurora"
    changed.write_text(HELLO.replace("instances = 2", "instances = 3"))
    code, out, _ = run(capsys, "job", "diff", key, str(changed), "--json")
    assert code == 0 and json.loads(out) == [
        {"field": "instanceCount", "scheduler": 2, "local": 3}]
    code, out, err = run(capsys, "job", "restart", f"{key}/1")
    assert code == 0 and "instances 1 " in out, err

    code, out, err = run(capsys, "job", "add", f"{key}/0", "1")
    assert code == 0, err
    code, out, err = run(capsys, "job", "kill", f"{key}/2")
    assert code == 0, err

    code, out, err = run(capsys, "job", "killall", key)
    assert code == 0, err
    code, out, _ = run(capsys, "job", "status", key, "--json")
    statuses = {t["status"] for t in json.loads(out)["tasks"]}
    assert statuses <= {"KILLING", "KILLED"}, statuses
    code, out, _ = run(capsys, "job", "list", "test", "--json")
    # Listed only while some task is still being killed (the sim answers in a few ms).
    assert key not in json.loads(out) or "KILLING" in statuses
    # A second killall: the scheduler refuses (no active tasks), exit 1, one line.
    code, _, err = run(capsys, "job", "killall", "test/www-data/devel/never-was")
    assert code == 1 and one_line_error(err).startswith("aurora: killTasks failed")


def test_inspect_and_config_list(cluster: tuple[int, Path],
                                 capsys: pytest.CaptureFixture[str]) -> None:
    _, root = cluster
    code, out, _ = run(capsys, "config", "list", str(root / "hello.aurora"), "--json")
    assert code == 0 and sorted(json.loads(out)) == ["test/www-data/devel/greet",
                                                    "test/www-data/devel/hello"]
    code, out, _ = run(capsys, "job", "inspect", "test/www-data/devel/greet",
                       str(root / "hello.aurora"), "--bind", "greeting=world", "--json")
    info = json.loads(out)
    assert code == 0 and info["instances"] == 1
    assert info["processes"][0]["cmdline"] == "echo hello world; sleep 600"


def test_quota_and_admin(cluster: tuple[int, Path], capsys: pytest.CaptureFixture[str]) -> None:
    port, _ = cluster
    code, _, err = run(capsys, "set_quota", "test", "www-data", "4", "2GB", "8192",
                       tool="admin")
    assert code == 0, err
    code, out, _ = run(capsys, "quota", "get", "test/www-data", "--json")
    quota = json.loads(out)["quota"]
    assert code == 0 and quota == {"cpu": 4.0, "ram_mb": 2048, "disk_mb": 8192}
    code, out, _ = run(capsys, "quota", "get", "test/www-data")
    assert code == 0 and "2048" in out

    host = get(port, "/agents")[0]["host"]
    code, out, err = run(capsys, "host_drain", "test", "--hosts", host, tool="admin")
    assert code == 0 and host in out, err
    code, out, _ = run(capsys, "host_status", "test", "--hosts", host, "--json", tool="admin")
    assert json.loads(out)[0]["mode"] in ("DRAINING", "DRAINED")
    code, out, _ = run(capsys, "host_activate", "test", "--hosts", host, tool="admin")
    assert code == 0
    code, out, _ = run(capsys, "host_status", "test", "--hosts", host, "--json", tool="admin")
    assert json.loads(out)[0]["mode"] == "NONE"

    code, out, err = run(capsys, "scheduler_snapshot", "test", tool="admin")
    assert code == 0 and "Snapshot" in out, err
    code, out, err = run(capsys, "reconcile_tasks", "test", "--type", "implicit", tool="admin")
    assert code == 0, err
    code, out, err = run(capsys, "query", "test", "www-data", "hello", "--json", tool="admin")
    assert code == 0 and isinstance(json.loads(out), list), err


@pytest.mark.parametrize(("argv", "code", "text"), [
    (["job", "status", "nowhere/www-data/devel/hello"], 2, "unknown cluster 'nowhere'"),
    (["job", "status", "test/www-data/hello"], 2, "invalid job key"),
    (["job", "status", "test/www data/devel/hello"], 2, "invalid job key"),
    (["job", "kill", "test/www-data/devel/hello/3-1"], 2, "invalid instance range"),
    (["job", "kill", "test/www-data/devel/hello"], 2, "instances"),
    (["job", "inspect", "devcluster/www-data/devel/bad_type",
      str(CONFIGS / "bad_type.aurora")], 2, "ram"),
    (["job", "create", "test/www-data/devel/bad_unbound",
      str(CONFIGS / "bad_unbound.aurora")], 2, "unbound"),
    (["job", "status", "down/www-data/devel/hello"], 3, "cannot reach the scheduler"),
    (["job", "status", "test/www-data/devel/never-was"], 1, "no tasks found"),
    (["quota", "get", "test"], 2, "expected cluster/role"),
])
def test_bad_input_is_one_line(cluster: tuple[int, Path], capsys: pytest.CaptureFixture[str],
                               argv: list[str], code: int, text: str) -> None:
    got, _, err = run(capsys, *argv)
    line = one_line_error(err)
    assert got == code, line
    assert line.startswith("aurora: ") and text in line


def test_admin_bad_input(cluster: tuple[int, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "set_quota", "test", "www-data", "4", "2 furlongs", "1GB",
                       tool="admin")
    assert code == 2 and "invalid ram" in one_line_error(err)
    code, _, err = run(capsys, "host_status", "nowhere", "--hosts", "h", tool="admin")
    assert code == 2 and one_line_error(err).startswith("aurora_admin: unknown cluster")


def test_key_parsing() -> None:
    assert parse_instances("0-3,7") == {0, 1, 2, 3, 7}
    cluster, key, inst = parse_instance_key("c/r/prod/n/1,2")
    assert (cluster, str(key), inst) == ("c", "r/prod/n", {1, 2})
    assert parse_instance_key("c/r/prod/n")[2] is None


def test_help_lists_only_built_verbs() -> None:
    out = subprocess.run([sys.executable, "-m", "aurora.client.cli", "--help"],
                         capture_output=True, text=True, timeout=30, check=True, cwd=ROOT)
    for absent in ("update", "cron", "sla"):
        assert absent not in out.stdout
    assert "job" in out.stdout and "quota" in out.stdout and "config" in out.stdout
    job = subprocess.run([sys.executable, "-m", "aurora.client.cli", "job", "--help"],
                         capture_output=True, text=True, timeout=30, check=True, cwd=ROOT)
    for verb in ("create", "diff", "inspect", "add", "kill", "killall", "list", "restart",
                 "status"):
        assert verb in job.stdout
