"""Recovery: a runner SIGKILLed mid-task is replaced by one rebuilt from its checkpoint."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
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
    wait_for,
)

from aurora.executor.checkpoint import (
    CheckpointLocked,
    ProcessState,
    TaskState,
    read_records,
    replay,
)
from aurora.executor.executor import TaskExecution, recover_task
from aurora.executor.runner import TaskRunner
from aurora.model.status import ScheduleStatus

RUNNING, SUCCESS, LOST = ProcessState.RUNNING, ProcessState.SUCCESS, ProcessState.LOST
GATED = "while [ ! -f go ]; do sleep 0.01; done; echo first >> out"


def gated_job() -> bytes:
    return job(proc("first", GATED), proc("second", "echo second >> out"),
               order=[["first", "second"]])


@contextlib.contextmanager
def runner_in_child(sandbox: Path, data: bytes) -> Iterator[int]:
    """Run the executor in a forked child (as the agent will); yield its pid; SIGKILL it."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            execute(sandbox, data, options=FAST)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    try:
        yield pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def ckpt(sandbox: Path) -> str:
    return str(sandbox / ".thermos" / "runner.ckpt")


def current(sandbox: Path, name: str) -> ProcessState | None:
    history = runs(sandbox, name)
    return history[-1].state if history else None


def reported(sandbox: Path) -> int | None:
    last = replay(ckpt(sandbox)).reported
    return last.state if last is not None else None


def kill_runner_mid_task(sandbox: Path) -> int:
    """Start the gated task in a child runner, SIGKILL the runner; the coordinator pid."""
    with runner_in_child(sandbox, gated_job()) as pid:
        wait_for(lambda: current(sandbox, "first") == RUNNING, what="first RUNNING")
        wait_for(lambda: reported(sandbox) == ScheduleStatus.RUNNING, what="RUNNING reported")
        os.kill(pid, signal.SIGKILL)
    coordinator = runs(sandbox, "first")[0].coordinator_pid
    assert coordinator is not None
    return coordinator


def test_replay_after_runner_sigkill_rebuilds_state_and_reattaches(sandbox: Path) -> None:
    coordinator = kill_runner_mid_task(sandbox)
    assert pid_alive(coordinator)  # the run outlived its runner
    before = replay(ckpt(sandbox))
    # A torn record at the tail (the runner died mid-write) is ignored and cut off.
    with open(ckpt(sandbox), "ab") as fp:
        fp.write(b"\x00\x00\x01\x00\x12\x34")

    runner = TaskRunner.recover(str(sandbox / ".thermos"), options=FAST.runner)
    runner.start()
    assert runner.state.header == before.header
    assert runner.state.processes == before.processes
    assert runner.state.statuses[:-1] == before.statuses
    assert runner.state.statuses[-1].runner_pid == os.getpid()
    assert runner.attached == ["first"]
    assert runner.regular_plan.running == ["first"]
    assert runner.regular_plan.runnable_at(0) == []

    rec = Recorder()
    (sandbox / "go").touch()
    update = TaskExecution(runner, rec, options=FAST).run()
    assert update.state == ScheduleStatus.FINISHED
    assert rec.states == ["FINISHED"]  # STARTING and RUNNING were sent before the crash
    assert read(sandbox / "out") == "first\nsecond\n"
    assert [r.state for r in runs(sandbox, "first")] == [SUCCESS]  # not run again
    (run,) = runs(sandbox, "first")
    assert run.coordinator_pid == coordinator and run.return_code == 0
    _, valid = read_records(ckpt(sandbox))
    assert valid == os.path.getsize(ckpt(sandbox))  # the torn tail was truncated


def test_process_that_finished_while_no_runner_watched_is_accounted_for(sandbox: Path) -> None:
    coordinator = kill_runner_mid_task(sandbox)
    (sandbox / "go").touch()
    wait_for(lambda: not pid_alive(coordinator), what="coordinator exit")
    rec = Recorder()
    update = recover_task(str(sandbox / ".thermos"), rec, options=FAST)
    assert update.state == ScheduleStatus.FINISHED
    (run,) = runs(sandbox, "first")
    assert run.state == SUCCESS and run.return_code == 0
    assert read(sandbox / "out") == "first\nsecond\n"


def test_vanished_coordinator_is_lost_and_the_process_runs_again(sandbox: Path) -> None:
    coordinator = kill_runner_mid_task(sandbox)
    os.killpg(coordinator, signal.SIGKILL)  # the whole run disappears without a record
    wait_for(lambda: not pid_alive(coordinator), what="coordinator death")
    (sandbox / "go").touch()
    update = recover_task(str(sandbox / ".thermos"), Recorder(), options=FAST)
    assert update.state == ScheduleStatus.FINISHED
    first = runs(sandbox, "first")
    assert [r.state for r in first] == [LOST, SUCCESS]
    assert first[0].message == "coordinator vanished while no runner was watching"
    assert read(sandbox / "out") == "first\nsecond\n"


def test_a_live_runner_keeps_the_checkpoint(sandbox: Path) -> None:
    with runner_in_child(sandbox, gated_job()) as pid:
        wait_for(lambda: current(sandbox, "first") == RUNNING, what="first RUNNING")
        with pytest.raises(CheckpointLocked) as e:
            recover_task(str(sandbox / ".thermos"), Recorder(), options=FAST)
        assert e.value.holder_pid == pid
    coordinator = runs(sandbox, "first")[0].coordinator_pid
    assert coordinator is not None
    os.killpg(coordinator, signal.SIGKILL)


def test_recovering_a_finished_task_reports_its_end_again(sandbox: Path) -> None:
    update, _ = execute(sandbox, job(proc("p", "true")), options=FAST)
    assert update.state == ScheduleStatus.FINISHED
    rec = Recorder()
    again = recover_task(str(sandbox / ".thermos"), rec, options=FAST)
    assert again.state == ScheduleStatus.FINISHED and rec.states == ["FINISHED"]
    assert replay(ckpt(sandbox)).task_state == TaskState.SUCCESS


def test_kill_in_progress_survives_a_runner_restart(sandbox: Path) -> None:
    data = job(proc("main", "trap '' TERM; touch started; sleep 30"),
               proc("final", "echo final > final.txt", final=True), finalization_wait=0.5)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child: start, kill, then die in CLEANING
        code = 0
        try:
            execution = make_execution(sandbox, data, options=FAST)
            execution.runner.start()
            while not (sandbox / "started").exists():
                execution.runner.step()
            execution.runner.kill(wait=0.5)
            execution.runner.step()
            os.kill(os.getpid(), signal.SIGKILL)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.waitpid(pid, 0)
    assert replay(ckpt(sandbox)).task_state == TaskState.CLEANING
    update = recover_task(str(sandbox / ".thermos"), Recorder(), options=FAST)
    assert update.state == ScheduleStatus.KILLED
    (main,) = runs(sandbox, "main")
    assert main.state == ProcessState.KILLED and main.return_code == -9
    assert not (sandbox / "final.txt").exists()  # the kill's deadline passed while cleaning
