"""The ``aurora`` CLI against a live local cluster (aurora-scheduler --backend local and an
aurora-agent): examples/hello_world.aurora created and waited on, its status, its sandbox logs,
killall; and bad input answered with one line and a non-zero exit."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from local_harness import LocalCluster, wait_for

from aurora.client import cli
from aurora.model.jobkey import JobKey

ROOT = Path(__file__).resolve().parent.parent.parent
HELLO = str(ROOT / "examples" / "hello_world.aurora")
KEY = "local/www-data/prod/hello"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    # A generous agent timeout: on a loaded machine a late heartbeat must not make tasks LOST.
    c = LocalCluster(tmp_path_factory.mktemp("cli"), agents=1, agent_timeout=10)
    etc = c.root / "etc"
    etc.mkdir()
    (etc / "clusters.json").write_text(json.dumps(
        [{"name": "local", "scheduler_uri": f"http://127.0.0.1:{c.http_port}"}]))
    mp = pytest.MonkeyPatch()
    mp.setenv("AURORA_CONFIG_ROOT", str(etc))
    # ~/.aurora/clusters.json wins over AURORA_CONFIG_ROOT, and `ci/cluster up` writes one
    # naming 'local': a home of our own keeps the tests on this cluster.
    mp.setenv("HOME", str(c.root))
    try:
        c.start_scheduler()
        c.start_agent()
        yield c
    finally:
        c.stop()
        mp.undo()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def status(capsys: pytest.CaptureFixture[str], key: str = KEY) -> list[dict[str, Any]]:
    code, out, err = run(capsys, "job", "status", key, "--json")
    assert code == 0, err
    return list(json.loads(out)["tasks"])


def one_line_error(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("aurora: ")
    return lines[0]


def test_hello_world_create_status_logs_killall(cluster: LocalCluster,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "job", "create", KEY, HELLO, "--wait-until", "RUNNING",
                         "--poll-interval", "0.2", "--wait-timeout", "60")
    if code != 0:
        events = [(t["instance"], [(e["status"], e["message"]) for e in t["events"]])
                  for t in cluster.tasks(JobKey("www-data", "prod", "hello"))]
        raise AssertionError(f"{err}\n{events}\n{cluster.tail('agent.log')}")
    assert "Job create succeeded" in out and f"Job {KEY} reached RUNNING" in out

    code, out, _ = run(capsys, "job", "status", KEY)
    assert code == 0
    events = [(t["instance"], [(e["status"], e["message"]) for e in t["events"]])
              for t in cluster.tasks(JobKey("www-data", "prod", "hello"))]
    assert f"Job {KEY}: 2 active, 0 inactive tasks" in out, events
    assert out.count("RUNNING") == 2

    tasks = status(capsys)
    assert sorted((t["instance"], t["status"]) for t in tasks) == [(0, "RUNNING"), (1, "RUNNING")]
    for t in tasks:
        port = t["ports"]["http"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert r.read().decode().startswith(f"Hello from instance {t['instance']} ")
        logs = cluster.task_dir(t["task_id"]) / "sandbox" / ".logs"
        for process in ("install", "hello"):
            assert (logs / process / "0" / "stdout").is_file()
            assert (logs / process / "0" / "stderr").is_file()
        stdout = (logs / "hello" / "0" / "stdout").read_text()
        assert f"hello: instance {t['instance']} serving on port {port}" in stdout

    code, out, err = run(capsys, "job", "killall", KEY)
    assert code == 0, err
    assert f"Kill of all instances of {KEY} requested" in out
    wait_for(lambda: sorted(t["status"] for t in status(capsys)) == ["KILLED", "KILLED"], 30,
             "both instances KILLED")
    code, out, _ = run(capsys, "job", "status", KEY)
    assert f"Job {KEY}: 0 active, 2 inactive tasks" in out
    # The kill went through the HTTP lifecycle: the server was asked to quit and did.
    for t in status(capsys):
        stdout = (cluster.task_dir(t["task_id"]) / "sandbox" / ".logs" / "hello" / "0" /
                  "stdout").read_text()
        assert "/quitquitquit: shutting down" in stdout


@pytest.mark.parametrize(("argv", "code", "needle"), [
    (("job", "create", "nowhere/www-data/prod/hello", HELLO), 2, "unknown cluster 'nowhere'"),
    (("job", "create", "local/www-data/hello", HELLO), 2, "local/www-data/hello"),
    (("job", "status", "local/www-data/prod/hel lo"), 2, "hel lo"),
    (("job", "create", "local/www-data/prod/typo", "BAD"), 2, "instances"),
    (("job", "create", "local/www-data/prod/other", HELLO), 2, "other"),
])
def test_bad_input_is_one_line(cluster: LocalCluster, capsys: pytest.CaptureFixture[str],
                               tmp_path: Path, argv: tuple[str, ...], code: int,
                               needle: str) -> None:
    bad = tmp_path / "typo.aurora"
    bad.write_text(
        "jobs = [Service(cluster = 'local', role = 'www-data', environment = 'prod',\n"
        "                name = 'typo', instances = 'two',\n"
        "                task = SimpleTask('typo', 'sleep 60'))]\n")
    argv = tuple(str(bad) if a == "BAD" else a for a in argv)
    got, out, err = run(capsys, *argv)
    assert got == code, (out, err)
    assert needle in one_line_error(err)


def test_cron_job_is_refused_by_create(cluster: LocalCluster,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """What ci/cluster up and examples/README.md say about cron_report: createJob refuses it."""
    code, _, err = run(capsys, "job", "create", "local/www-data/prod/cron_report",
                       str(ROOT / "examples" / "cron_report.aurora"))
    assert code == 1
    assert "Cron jobs may only be created/updated by calling scheduleCronJob." in \
        one_line_error(err)
