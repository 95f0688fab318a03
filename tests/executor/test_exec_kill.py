"""Health checks and the kill sequence against real processes (and one run on a fake clock)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from exec_helpers import FAST, Recorder, free_port, job, make_execution, proc, read, runs

from aurora.executor.checkpoint import ProcessState, TaskState, TaskStatus, read_records
from aurora.executor.clock import FakeClock
from aurora.executor.executor import ExecutorOptions
from aurora.executor.runner import RunnerOptions
from aurora.executor.signaler import HttpResponse
from aurora.model.status import ScheduleStatus

SERVER = """
import http.server, os, sys, threading
QUIT = sys.argv[2] == "quit"

class Handler(http.server.BaseHTTPRequestHandler):
    def reply(self, body):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.reply(b"ok" if self.path == "/health" else b"nope")

    def do_POST(self):
        with open("posts", "a") as fp:
            fp.write(self.path + "\\n")
        self.reply(b"")
        if QUIT and self.path == "/quitquitquit":
            threading.Timer(0.05, os._exit, (0,)).start()

    def log_message(self, *args):
        pass

http.server.HTTPServer(("", int(sys.argv[1])), Handler).serve_forever()
"""

# Every test here runs with coordinators and with direct runs.
pytestmark = pytest.mark.usefixtures("run_mode")


def server_task(sandbox: Path, mode: str, **lifecycle: float) -> bytes:
    (sandbox / "server.py").write_text(SERVER)
    return job(proc("server", f"{sys.executable} server.py {{{{thermos.ports[health]}}}} {mode}"),
               health={"interval_secs": 0.05, "initial_interval_secs": 10},
               lifecycle={"http": {"port": "health", **lifecycle}} if lifecycle else None,
               finalization_wait=5)


def test_http_health_check_then_quitquitquit_ends_the_task(sandbox: Path) -> None:
    rec = Recorder()
    execution = make_execution(sandbox, server_task(sandbox, "quit"),
                               ports={"health": free_port()}, options=FAST, recorder=rec)
    rec.when(ScheduleStatus.RUNNING, execution.request_kill)
    update = execution.run()
    assert rec.states == ["STARTING", "RUNNING", "KILLED"]
    assert rec.updates[1].message == "Task is healthy."
    assert update.message == "Instructed to kill task."
    assert read(sandbox / "posts") == "/quitquitquit\n"  # it left before /abortabortabort
    assert execution.lifecycle is not None
    assert [(e, handled) for e, _, handled in execution.lifecycle.calls] == [
        ("/quitquitquit", True)]
    (run,) = runs(sandbox, "server")
    assert run.state == ProcessState.SUCCESS and run.return_code == 0  # exited on its own


def test_ignored_lifecycle_posts_escalate_to_sigterm(sandbox: Path) -> None:
    rec = Recorder()
    data = server_task(sandbox, "stay", graceful_shutdown_wait_secs=0.15,
                       shutdown_wait_secs=0.15)
    execution = make_execution(sandbox, data, ports={"health": free_port()}, options=FAST,
                               recorder=rec)
    rec.when(ScheduleStatus.RUNNING, execution.request_kill)
    update = execution.run()
    assert update.state == ScheduleStatus.KILLED
    assert read(sandbox / "posts") == "/quitquitquit\n/abortabortabort\n"
    (run,) = runs(sandbox, "server")
    assert run.state == ProcessState.KILLED and run.message == "killed by signal SIGTERM"
    assert execution.lifecycle is not None
    quit_at, abort_at = (t for _, t, _ in execution.lifecycle.calls)
    assert abort_at - quit_at >= 0.14
    assert run.stop_time is not None and run.stop_time - abort_at >= 0.14


def test_failing_health_check_fails_the_task(sandbox: Path) -> None:
    data = job(proc("main", "sleep 30"),
               health={"interval_secs": 0.05, "initial_interval_secs": 0,
                       "health_checker": {"shell": {"shell_command": "echo down; exit 1"}}})
    rec = Recorder()
    update = make_execution(sandbox, data, options=FAST, recorder=rec).run()
    assert rec.states == ["STARTING", "FAILED"]
    assert update.message == ("Failed health check! Command 'echo down; exit 1' returned "
                              "non-zero exit status 1 with output 'down'")
    (run,) = runs(sandbox, "main")
    assert run.state == ProcessState.KILLED


def test_task_that_turns_unhealthy_after_running_fails(sandbox: Path) -> None:
    data = job(proc("main", "sleep 0.2; touch sick; sleep 30"),
               health={"interval_secs": 0.03, "initial_interval_secs": 0,
                       "max_consecutive_failures": 1,
                       "health_checker": {"shell": {"shell_command": "test ! -f sick"}}})
    rec = Recorder()
    update = make_execution(sandbox, data, options=FAST, recorder=rec).run()
    assert rec.states == ["STARTING", "RUNNING", "FAILED"]
    assert update.message is not None and update.message.startswith("Failed health check!")


def test_kill_sequence_on_a_fake_clock(sandbox: Path) -> None:
    """quitquitquit, 5 s, abortabortabort, 5 s, SIGTERM, finalization_wait (30 s), SIGKILL."""
    clock = FakeClock(start=1000.0)
    posts: list[tuple[str, float]] = []

    def request(method: str, host: str, port: int, path: str, timeout: float) -> HttpResponse:
        posts.append((path, clock.time()))
        return HttpResponse(200, b"")

    data = job(proc("stubborn", "trap '' TERM; touch ready; while :; do sleep 0.05; done"),
               health={"interval_secs": 1, "initial_interval_secs": 1e6,
                       "health_checker": {"shell": {"shell_command": "test -f ready"}}},
               finalization_wait=30)
    options = ExecutorOptions(runner=RunnerOptions(fsync="never", lost_timeout=1e9),
                              http_request=request)
    rec = Recorder()
    execution = make_execution(sandbox, data, ports={"health": 1}, clock=clock,
                               options=options, recorder=rec)
    kill_at: list[float] = []

    def kill() -> None:
        kill_at.append(clock.time())
        execution.request_kill()

    rec.when(ScheduleStatus.RUNNING, kill)
    update = execution.run()
    assert update.state == ScheduleStatus.KILLED
    t0 = kill_at[0]
    assert posts == [("/quitquitquit", pytest.approx(t0)),
                     ("/abortabortabort", pytest.approx(t0 + 5))]
    records, _ = read_records(str(sandbox / ".thermos/runner.ckpt"))
    cleaning = next(r for r in records if isinstance(r, TaskStatus)
                    and r.state == TaskState.CLEANING)
    assert cleaning.timestamp == pytest.approx(t0 + 10)  # SIGTERM after both waits
    assert cleaning.deadline == pytest.approx(t0 + 40)
    assert cleaning.terminal == TaskState.KILLED
    (run,) = runs(sandbox, "stubborn")
    assert run.state == ProcessState.KILLED and run.return_code == -9
    assert run.timestamp == pytest.approx(t0 + 40)  # SIGKILL when finalization_wait ran out
