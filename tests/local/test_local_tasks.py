"""Real tasks through the local cluster: the scheduler with --backend local, an aurora-agent
process forking executors, real processes. Thermos semantics as the scheduler sees them."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from local_harness import LocalCluster, alive, by_instance, running, wait_for

RES = "resources = Resources(cpu = 0.25, ram = 32*MB, disk = 32*MB)"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running(tmp_path_factory.mktemp("local"), agents=2) as c:
        yield c


def sandbox(cluster: LocalCluster, task: dict[str, object]) -> Path:
    return cluster.task_dir(str(task["task_id"])) / "sandbox"


def test_ordered_processes_finish_in_order(cluster: LocalCluster) -> None:
    key = cluster.create("ordered", f"""
        one = Process(name = 'one', cmdline = 'sleep 0.2; echo one >> order.txt')
        two = Process(name = 'two', cmdline = 'echo two >> order.txt')
        three = Process(name = 'three',
                        cmdline = 'echo three >> order.txt; echo {{{{thermos.task_id}}}}')
        task = Task(name = 'ordered', processes = [three, one, two],
                    constraints = order(one, two, three), {RES})
        """)
    tasks = cluster.wait_tasks(key, lambda ts: ts and ts[0]["status"] == "FINISHED",
                               what="FINISHED")
    box = sandbox(cluster, tasks[0])
    assert (box / "order.txt").read_text().split() == ["one", "two", "three"]
    assert (box / ".logs" / "three" / "0" / "stdout").read_text().strip() == tasks[0]["task_id"]
    seen = [e["status"] for e in tasks[0]["events"]]
    assert seen[-3:] == ["STARTING", "RUNNING", "FINISHED"]


def test_failing_process_is_retried_then_the_scheduler_reschedules(
        cluster: LocalCluster) -> None:
    key = cluster.create("flaky", f"""
        bad = Process(name = 'bad', cmdline = 'echo try >> ../tries.txt; exit 3',
                      max_failures = 3, min_duration = 0)
        task = Task(name = 'flaky', processes = [bad], {RES})
        """, job_extra=", max_task_failures = 2")
    tasks = cluster.wait_tasks(
        key, lambda ts: len(ts) == 2 and all(t["status"] == "FAILED" for t in ts), 40,
        "two FAILED attempts")
    first, second = by_instance(tasks, 0)
    assert second["ancestor_id"] == first["task_id"]
    assert second["failure_count"] == 2
    message = first["events"][-1]["message"]
    assert "bad" in message and "exit status 3" in message
    # each attempt ran the process max_failures times
    for t in tasks:
        assert (cluster.task_dir(t["task_id"]) / "tries.txt").read_text().split() == ["try"] * 3
    time.sleep(0.5)
    assert len(cluster.tasks(key)) == 2  # no third attempt


def test_daemon_restarts_and_ephemeral_does_not_hold_the_task(cluster: LocalCluster) -> None:
    key = cluster.create("daemon", f"""
        d = Process(name = 'd', cmdline = 'echo run >> runs.txt; sleep 0.1', daemon = True,
                    max_failures = 0, min_duration = 0)
        task = Task(name = 'daemon', processes = [d], {RES})
        """, service=True)
    tasks = cluster.wait_tasks(key, lambda ts: ts and ts[0]["status"] == "RUNNING")
    runs = sandbox(cluster, tasks[0]) / "runs.txt"
    wait_for(lambda: runs.exists() and len(runs.read_text().split()) >= 3, 15,
             "the daemon to run three times")
    cluster.kill_job(key)
    cluster.wait_tasks(key, lambda ts: ts[0]["status"] == "KILLED")

    key = cluster.create("ephemeral", f"""
        main = Process(name = 'main', cmdline = 'sleep 0.3')
        side = Process(name = 'side', cmdline = 'sleep 600', ephemeral = True)
        task = Task(name = 'ephemeral', processes = [main, side], {RES})
        """)
    start = time.time()
    cluster.wait_tasks(key, lambda ts: ts and ts[0]["status"] == "FINISHED", 20)
    assert time.time() - start < 15


def test_final_process_runs_after_a_kill(cluster: LocalCluster) -> None:
    key = cluster.create("final", f"""
        main = Process(name = 'main', cmdline = 'sleep 600')
        bye = Process(name = 'bye', cmdline = 'echo cleaned > final.txt', final = True)
        task = Task(name = 'final', processes = [main, bye], finalization_wait = 5, {RES})
        """, service=True)
    tasks = cluster.wait_tasks(key, lambda ts: ts and ts[0]["status"] == "RUNNING")
    cluster.kill_job(key)
    tasks = cluster.wait_tasks(key, lambda ts: ts[0]["status"] == "KILLED")
    assert (sandbox(cluster, tasks[0]) / "final.txt").read_text().strip() == "cleaned"


def test_failing_health_check_fails_the_task(cluster: LocalCluster) -> None:
    key = cluster.create("unhealthy", f"""
        main = Process(name = 'main', cmdline = 'sleep 600')
        task = Task(name = 'unhealthy', processes = [main], {RES})
        """, service=True, job_extra="""
            , health_check_config = HealthCheckConfig(
                health_checker = HealthCheckerConfig(
                  shell = ShellHealthChecker(shell_command = 'exit 1')),
                initial_interval_secs = 0.5, interval_secs = 0.3,
                max_consecutive_failures = 1, min_consecutive_successes = 1)""")
    tasks = cluster.wait_tasks(
        key, lambda ts: any(t["status"] == "FAILED" for t in ts), 30, "a FAILED task")
    failed = next(t for t in tasks if t["status"] == "FAILED")
    assert "health check" in failed["events"][-1]["message"].lower()
    assert "RUNNING" not in [e["status"] for e in failed["events"]]
    cluster.kill_job(key)


def test_sigterm_ignoring_process_is_sigkilled_after_the_wait(cluster: LocalCluster) -> None:
    key = cluster.create("stubborn", f"""
        main = Process(name = 'main',
                       cmdline = "trap '' TERM; echo $$ > pid; while true; do sleep 0.1; done")
        task = Task(name = 'stubborn', processes = [main], finalization_wait = 1, {RES})
        """, service=True)
    tasks = cluster.wait_tasks(key, lambda ts: ts and ts[0]["status"] == "RUNNING")
    pid = read_pid(sandbox(cluster, tasks[0]) / "pid")
    start = time.time()
    cluster.kill_job(key)
    cluster.wait_tasks(key, lambda ts: ts[0]["status"] == "KILLED", 20)
    assert time.time() - start < 10
    assert not alive(pid)


def test_command_not_found_fails_with_that_reason(cluster: LocalCluster) -> None:
    key = cluster.create("typo", f"""
        main = Process(name = 'main', cmdline = 'no-such-command-xyz --now', max_failures = 1)
        task = Task(name = 'typo', processes = [main], {RES})
        """, job_extra=", max_task_failures = 1")
    tasks = cluster.wait_tasks(key, lambda ts: ts and ts[0]["status"] == "FAILED")
    message = tasks[0]["events"][-1]["message"]
    assert "command not found" in message and "no-such-command-xyz" in message


def test_executor_sigkill_makes_the_task_lost_and_it_is_replaced(cluster: LocalCluster) -> None:
    key = cluster.create("victim", f"""
        main = Process(name = 'main', cmdline = 'echo $$ > pid; sleep 600')
        task = Task(name = 'victim', processes = [main], {RES})
        """, service=True)
    tasks = cluster.wait_tasks(key, lambda ts: ts and ts[0]["status"] == "RUNNING")
    tdir = cluster.task_dir(tasks[0]["task_id"])
    sleeper = read_pid(tdir / "sandbox" / "pid")
    os.kill(int((tdir / "executor.pid").read_text()), 9)
    # The replacement waits out the flapping penalty (it ran < 5 min), then runs.
    tasks = cluster.wait_tasks(
        key, lambda ts: len(ts) == 2 and sorted(t["status"] for t in ts) == ["LOST", "RUNNING"],
        30, "LOST and a RUNNING replacement")
    lost = next(t for t in tasks if t["status"] == "LOST")
    assert "executor" in lost["events"][-1]["message"].lower()
    wait_for(lambda: not alive(sleeper), 10, "the lost task's process to be killed")
    cluster.kill_job(key)


def test_malformed_messages_are_dropped_and_counted(cluster: LocalCluster) -> None:
    import zmq

    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(f"tcp://127.0.0.1:{cluster.agent_port}")
    before = cluster.vars().get("agent_channel_malformed", 0)
    for junk in (b"\x00garbage", b"\x93\xa3bad", b"", b"\xc1" * 100):
        sock.send(junk)
    sock.send_multipart([b"a", b"b", b"c"])
    wait_for(lambda: cluster.vars().get("agent_channel_malformed", 0) >= before + 5, 10,
             "the malformed count")
    sock.close()
    ctx.term()
    key = cluster.create("after-junk", f"""
        task = Task(name = 't', processes = [Process(name = 'p', cmdline = 'true')], {RES})
        """)
    cluster.wait_tasks(key, lambda ts: ts and ts[0]["status"] == "FINISHED")


def read_pid(path: Path) -> int:
    text = wait_for(lambda: path.exists() and path.read_text().strip(), 10, f"a pid in {path}")
    return int(text)


