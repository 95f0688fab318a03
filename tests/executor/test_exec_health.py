"""Health check counting, the HTTP signaler and the HTTP lifecycle, with fakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from aurora.executor.clock import FakeClock
from aurora.executor.health import HealthMonitor, shell_check
from aurora.executor.lifecycle import HttpLifecycle
from aurora.executor.signaler import HttpResponse, HttpSignaler
from aurora.executor.task import LifecycleSpec
from aurora.model.status import ScheduleStatus


def drive(monitor: HealthMonitor, results: list[bool]) -> list[ScheduleStatus]:
    it = iter(results)

    def check() -> tuple[bool, str | None]:
        ok = next(it)
        return ok, None if ok else "bad"

    monitor._check = check  # type: ignore[method-assign]
    clock = FakeClock(start=0)
    monitor.start(clock.time())
    seen = []
    for _ in results:
        assert monitor.due(clock.time())
        monitor.run_check(clock.time())
        seen.append(monitor.status[0])
        clock.advance(monitor.interval)
    return seen


def monitor(**kw: float) -> HealthMonitor:
    params = {"interval_secs": 10, "initial_interval_secs": 15, "max_consecutive_failures": 1,
              "min_consecutive_successes": 2, **kw}
    return HealthMonitor(lambda: (True, None), **params)  # type: ignore[arg-type]


S, R, F = ScheduleStatus.STARTING, ScheduleStatus.RUNNING, ScheduleStatus.FAILED


def test_grace_period_forgives_early_failures_then_successes_make_running() -> None:
    m = monitor()
    assert m.forgiving_attempts == 2 and m.max_attempts_to_running == 5
    assert drive(m, [False, False, True, True]) == [S, S, S, R]


def test_consecutive_failures_past_the_limit_fail() -> None:
    m = monitor()
    assert drive(m, [True, True, False, False]) == [S, R, R, F]
    assert m.status[1] == "Failed health check! bad"


def test_not_enough_successes_in_time() -> None:
    # Flapping never fails max_consecutive_failures, but RUNNING must come within
    # 0 forgiving + 1 failure + 2 successes = 3 attempts.
    m = monitor(initial_interval_secs=0)
    assert drive(m, [False, True, False, True, False]) == [S, S, S, S, F]
    assert m.status[1] == "Failed health check! Not enough successful health checks in time."


def test_fail_fast_when_too_few_attempts_remain() -> None:
    m = monitor(max_consecutive_failures=3, min_consecutive_successes=3, initial_interval_secs=0)
    # 6 attempts max; after 4 failed ones 2 remain but 3 successes are still needed.
    assert drive(m, [False, False, False, False])[-1] == F


def test_snooze_file_skips_checks(tmp_path: Path) -> None:
    snooze = tmp_path / ".healthchecksnooze"
    snooze.touch()
    m = HealthMonitor(lambda: (False, "down"), interval_secs=1, initial_interval_secs=0,
                      snooze_file=str(snooze))
    m.start(0)
    m.run_check(0)
    assert m.status == (R, "Task is healthy.")


def test_shell_check_results(tmp_path: Path) -> None:
    assert shell_check("exit 0", str(tmp_path), None, 2)() == (True, None)
    ok, reason = shell_check("echo sick; exit 3", str(tmp_path), None, 2)()
    assert not ok and "exit status 3" in str(reason) and "sick" in str(reason)
    assert shell_check("sleep 5", str(tmp_path), None, 0.1)() == (False,
                                                                  "Health check timed out.")


def test_http_signaler_semantics() -> None:
    calls: list[tuple[str, str]] = []

    def request(method: str, host: str, port: int, path: str, timeout: float) -> HttpResponse:
        calls.append((method, path))
        if path == "/down":
            raise ConnectionRefusedError(111, "Connection refused")
        if path == "/slow":
            raise TimeoutError()
        if path == "/missing":
            return HttpResponse(404, b"ok")
        return HttpResponse(200, b" OK\n")

    sig = HttpSignaler(8080, request=request)
    assert sig("/health", expected_response="ok") == (True, None)
    ok, reason = sig("/missing", expected_response="ok")
    assert not ok and 'got ""' in str(reason)  # a 404 body counts as empty, as in Aurora
    assert sig("/down")[0] is False and "Connection refused" in str(sig("/down")[1])
    assert sig("/slow") == (False, "Failed to signal http://localhost:8080/slow: "
                                   "Error within timeout")
    assert sig("/health", expected_response_code=201)[0] is False
    assert sig("/quitquitquit", post=True) == (True, None)
    assert calls[-1] == ("POST", "/quitquitquit")


@pytest.mark.parametrize("handled, finish_at, expected", [
    # Both POSTs handled: wait 5 s after each, then hand over to the runner.
    (True, None, [("/quitquitquit", 100.0), ("/abortabortabort", 105.0)]),
    # Nobody listening: no waiting at all.
    (False, None, [("/quitquitquit", 100.0), ("/abortabortabort", 100.0)]),
    # The task exits during the first wait: no second POST.
    (True, 102.0, [("/quitquitquit", 100.0)]),
])
def test_http_lifecycle_sequence(handled: bool, finish_at: float | None,
                                 expected: list[tuple[str, float]]) -> None:
    clock = FakeClock(start=100.0)

    def request(method: str, host: str, port: int, path: str, timeout: float) -> HttpResponse:
        assert method == "POST" and port == 9000
        if not handled:
            raise ConnectionRefusedError()
        return HttpResponse(200, b"")

    spec = LifecycleSpec(port=9000, endpoints=(("/quitquitquit", 5.0),
                                               ("/abortabortabort", 5.0)))
    life = HttpLifecycle(spec, request=request)
    done_at = None
    while True:
        finished = finish_at is not None and clock.time() >= finish_at
        wait = life.step(clock.time(), finished)
        if wait is None:
            done_at = clock.time()
            break
        clock.advance(min(wait, 1.0))
    assert [(e, t) for e, t, _ in life.calls] == expected
    assert done_at == (110.0 if handled and finish_at is None else
                       finish_at if finish_at is not None else 100.0)
