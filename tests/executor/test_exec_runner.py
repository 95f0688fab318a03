"""The runner with real processes: ordering, retries, daemons, ephemerals, finals, kills, logs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from exec_helpers import (
    FAST,
    Recorder,
    execute,
    job,
    make_execution,
    pid_alive,
    proc,
    read,
    runs,
    states,
)

from aurora.executor.checkpoint import ProcessState, TaskState, replay
from aurora.executor.executor import ExecutorOptions
from aurora.executor.runner import RunnerOptions
from aurora.model.status import ScheduleStatus

SUCCESS, FAILED, KILLED = ProcessState.SUCCESS, ProcessState.FAILED, ProcessState.KILLED

# Every test here runs with coordinators and with direct runs.
pytestmark = pytest.mark.usefixtures("run_mode")


def test_ordered_three_process_task_finishes_in_order(sandbox: Path) -> None:
    data = job(*(proc(n, f"echo {n} >> order.txt; sleep 0.05") for n in ("c", "a", "b")),
               order=[["a", "b", "c"]])
    update, rec = execute(sandbox, data, options=FAST)
    assert update.state == ScheduleStatus.FINISHED and update.message == "Task finished."
    assert rec.states == ["STARTING", "RUNNING", "FINISHED"]
    assert read(sandbox / "order.txt") == "a\nb\nc\n"
    a, b, c = (runs(sandbox, n)[0] for n in "abc")
    assert a.stop_time is not None and b.start_time is not None and a.stop_time <= b.start_time
    assert b.stop_time is not None and c.start_time is not None and b.stop_time <= c.start_time
    assert (sandbox / ".logs" / "a" / "0" / "stdout").exists()


def test_failing_process_is_retried_max_failures_times_then_the_task_fails(sandbox: Path) -> None:
    data = job(proc("flaky", "echo try >> tries; exit 3", max_failures=3))
    update, _ = execute(sandbox, data, options=FAST)
    assert update.state == ScheduleStatus.FAILED
    assert update.message == "Task failed: process 'flaky' failed after 3 attempts: exit status 3"
    assert read(sandbox / "tries").count("try") == 3
    assert states(sandbox, "flaky") == [FAILED] * 3
    assert [r.return_code for r in runs(sandbox, "flaky")] == [3, 3, 3]


def test_retry_within_the_limit_recovers(sandbox: Path) -> None:
    script = 'echo x >> n; [ "$(wc -l < n)" -ge 3 ]'
    update, _ = execute(sandbox, job(proc("p", script, max_failures=3)), options=FAST)
    assert update.state == ScheduleStatus.FINISHED
    assert states(sandbox, "p") == [FAILED, FAILED, SUCCESS]


def test_task_max_failures_tolerates_failed_processes(sandbox: Path) -> None:
    data = job(proc("bad", "exit 1"), proc("good", "true"), max_failures=2)
    update, _ = execute(sandbox, data, options=FAST)
    assert update.state == ScheduleStatus.FINISHED  # 1 failed process < task max_failures 2


def test_min_duration_spaces_retries(sandbox: Path) -> None:
    data = job(proc("p", "exit 1", max_failures=2, min_duration=0.3))
    execute(sandbox, data, options=FAST)
    first, second = runs(sandbox, "p")
    assert second.fork_time is not None and first.timestamp is not None
    assert second.fork_time - first.timestamp >= 0.29


def test_daemon_process_restarts(sandbox: Path) -> None:
    wait_ticks = 'while [ "$(cat ticks 2>/dev/null | wc -l)" -lt 3 ]; do sleep 0.01; done'
    data = job(proc("ticker", "echo tick >> ticks", daemon=True, ephemeral=True),
               proc("main", wait_ticks))
    update, _ = execute(sandbox, data, options=FAST)
    assert update.state == ScheduleStatus.FINISHED
    ticker = states(sandbox, "ticker")
    assert len(ticker) >= 3 and ticker[:3] == [SUCCESS] * 3


def test_service_daemon_keeps_restarting_until_killed(sandbox: Path) -> None:
    data = job(proc("service", "echo run >> runs.txt", daemon=True),
               health={"interval_secs": 0.02, "initial_interval_secs": 10, "health_checker": {
                   "shell": {"shell_command": '[ "$(wc -l < runs.txt)" -ge 3 ]'}}})
    rec = Recorder()
    execution = make_execution(sandbox, data, options=FAST, recorder=rec)
    rec.when(ScheduleStatus.RUNNING, execution.request_kill)
    update = execution.run()
    assert update.state == ScheduleStatus.KILLED
    assert read(sandbox / "runs.txt").count("run") >= 3
    assert states(sandbox, "service")[:3] == [SUCCESS] * 3


def test_ephemeral_process_does_not_hold_the_task_open(sandbox: Path) -> None:
    data = job(proc("sidecar", "sleep 30", ephemeral=True), proc("main", "sleep 0.1"))
    started = time.monotonic()
    update, _ = execute(sandbox, data, options=FAST)
    assert update.state == ScheduleStatus.FINISHED
    assert time.monotonic() - started < 3
    (sidecar,) = runs(sandbox, "sidecar")
    assert sidecar.state == KILLED and sidecar.message == "killed by signal SIGTERM"


def test_final_process_runs_after_a_kill(sandbox: Path) -> None:
    data = job(proc("main", "touch started; sleep 30"),
               proc("cleanup", "echo cleaned >> final.txt", final=True),
               health={"interval_secs": 0.02, "initial_interval_secs": 10,
                       "health_checker": {"shell": {"shell_command": "test -f started"}}})
    rec = Recorder()
    execution = make_execution(sandbox, data, options=FAST, recorder=rec)
    rec.when(ScheduleStatus.RUNNING, execution.request_kill)
    update = execution.run()
    assert update.state == ScheduleStatus.KILLED and update.message == "Instructed to kill task."
    assert rec.states == ["STARTING", "RUNNING", "KILLED"]
    assert read(sandbox / "final.txt") == "cleaned\n"
    assert states(sandbox, "main") == [KILLED] and states(sandbox, "cleanup") == [SUCCESS]
    main, cleanup = runs(sandbox, "main")[0], runs(sandbox, "cleanup")[0]
    assert main.stop_time is not None and cleanup.start_time is not None
    assert main.stop_time <= cleanup.start_time
    task_states = [s.state for s in replay(str(sandbox / ".thermos/runner.ckpt")).statuses]
    assert task_states[-3:] == [TaskState.CLEANING, TaskState.FINALIZING, TaskState.KILLED]


def test_final_processes_run_after_success_too(sandbox: Path) -> None:
    data = job(proc("main", "echo main >> log"),
               proc("f1", "echo f1 >> log", final=True),
               proc("f2", "echo f2 >> log", final=True), order=[["f1", "f2"]])
    update, _ = execute(sandbox, data, options=FAST)
    assert update.state == ScheduleStatus.FINISHED
    assert read(sandbox / "log") == "main\nf1\nf2\n"


def test_process_ignoring_sigterm_is_sigkilled_after_the_wait(sandbox: Path) -> None:
    data = job(proc("stubborn", "trap '' TERM; touch ready; sleep 30"),
               health={"interval_secs": 0.02, "initial_interval_secs": 10,
                       "health_checker": {"shell": {"shell_command": "test -f ready"}}})
    rec = Recorder()
    options = ExecutorOptions(runner=RunnerOptions(fsync="never"), kill_wait=0.4)
    execution = make_execution(sandbox, data, options=options, recorder=rec)
    killed_at: list[float] = []

    def kill() -> None:
        killed_at.append(time.time())
        execution.request_kill()

    rec.when(ScheduleStatus.RUNNING, kill)
    update = execution.run()
    assert update.state == ScheduleStatus.KILLED
    (run,) = runs(sandbox, "stubborn")
    assert run.state == KILLED and run.return_code == -9 and run.stop_time is not None
    assert run.stop_time - killed_at[0] >= 0.39  # survived SIGTERM until the wait ran out


def test_command_that_does_not_exist_fails_the_task_with_that_reason(sandbox: Path) -> None:
    update, _ = execute(sandbox, job(proc("main", "no-such-command-xyz --help")), options=FAST)
    assert update.state == ScheduleStatus.FAILED
    assert update.message is not None
    assert "command not found" in update.message and "no-such-command-xyz" in update.message
    assert "process 'main'" in update.message
    (run,) = runs(sandbox, "main")
    assert run.return_code == 127 and run.message is not None


def test_templated_command_line_sees_ports_and_instance(sandbox: Path) -> None:
    data = job(proc("p", "echo port={{thermos.ports[http]}} shard={{mesos.instance}} "
                         "host={{mesos.hostname}} > out"))
    update, _ = execute(sandbox, data, ports={"http": 31337}, instance=4, options=FAST)
    assert update.state == ScheduleStatus.FINISHED
    assert read(sandbox / "out") == "port=31337 shard=4 host=host1\n"


def test_unbound_template_fails_the_launch(sandbox: Path) -> None:
    update, rec = execute(sandbox, job(proc("p", "echo {{thermos.ports[http]}}")), options=FAST)
    assert rec.states == ["STARTING", "FAILED"]
    assert update.message is not None and "{{thermos.ports[http]}}" in update.message


def test_max_concurrency_bounds_parallelism(sandbox: Path) -> None:
    data = job(*(proc(f"p{i}", "sleep 0.1") for i in range(4)), max_concurrency=2)
    update, _ = execute(sandbox, data, options=FAST)
    assert update.state == ScheduleStatus.FINISHED
    spans = [(r.start_time, r.stop_time) for i in range(4) for r in runs(sandbox, f"p{i}")
             if r.start_time is not None and r.stop_time is not None]
    assert len(spans) == 4
    for start, _ in spans:
        overlapping = sum(1 for s, e in spans if s <= start < e)
        assert overlapping <= 2


def test_process_environment_and_sandbox_cwd(sandbox: Path) -> None:
    update, _ = execute(sandbox, job(proc("p", 'echo "$PWD $HOME" > where')), options=FAST)
    assert update.state == ScheduleStatus.FINISHED
    assert read(sandbox / "where") == f"{sandbox} {sandbox}\n"


def test_logs_are_rotated_at_the_configured_size(sandbox: Path) -> None:
    logger = {"mode": "rotate", "rotate": {"log_size": 10_000, "backups": 3}}
    writer = "for i in $(seq 1 1000); do echo line-$i-padding-padding-padding; done; echo err >&2"
    update, _ = execute(sandbox, job(proc("chatty", writer, logger=logger)), options=FAST)
    assert update.state == ScheduleStatus.FINISHED
    logs = sandbox / ".logs" / "chatty" / "0"
    names = sorted(p.name for p in logs.iterdir())
    assert names == ["stderr", "stdout", "stdout.1", "stdout.2", "stdout.3"]
    assert all((logs / n).stat().st_size <= 10_000 for n in names)
    assert (logs / "stdout").read_text().rstrip().endswith("line-1000-padding-padding-padding")
    assert read(logs / "stderr") == "err\n"


def test_process_that_leaves_children_behind_has_them_killed(sandbox: Path) -> None:
    data = job(proc("forker", "sleep 30 & echo $! > child.pid"))
    update, _ = execute(sandbox, data, options=FAST)
    assert update.state == ScheduleStatus.FINISHED
    pid = int(read(sandbox / "child.pid"))
    deadline = time.monotonic() + 2
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not pid_alive(pid)


def test_lose_kills_at_once(sandbox: Path) -> None:
    data = job(proc("main", "sleep 30"))
    rec = Recorder()
    execution = make_execution(sandbox, data, options=FAST, recorder=rec)
    rec.when(ScheduleStatus.RUNNING, execution.request_lose)
    update = execution.run()
    assert update.state == ScheduleStatus.LOST
    assert replay(str(sandbox / ".thermos/runner.ckpt")).task_state == TaskState.LOST


def test_direct_runs_are_the_runners_children_without_a_coordinator(sandbox: Path,
                                                                    run_mode: str) -> None:
    update, _ = execute(sandbox, job(proc("p", "echo $$ > pid")), options=FAST)
    assert update.state == ScheduleStatus.FINISHED
    run = runs(sandbox, "p")[0]
    assert run.pid == int(read(sandbox / "pid"))  # the shell itself
    if run_mode == "direct":
        assert run.coordinator_pid == run.pid  # it leads its own group; nothing in between
    else:
        assert run.coordinator_pid not in (None, run.pid)
