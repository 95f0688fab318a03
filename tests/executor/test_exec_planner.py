"""The planner: order constraints, retries, daemons, ephemerals and min_duration."""

from __future__ import annotations

from dataclasses import dataclass

from aurora.executor.planner import INFINITY, TaskPlanner


@dataclass(frozen=True)
class P:
    name: str
    max_failures: int = 1
    daemon: bool = False
    ephemeral: bool = False
    min_duration: float = 0.0
    final: bool = False


def test_order_releases_processes_one_after_another() -> None:
    plan = TaskPlanner([P("a"), P("b"), P("c")], [("a", "b", "c")])
    assert plan.runnable_at(0) == ["a"]
    plan.set_running("a")
    assert plan.runnable_at(0) == []
    plan.add_success("a", 1)
    assert plan.runnable_at(1) == ["b"]
    plan.set_running("b")
    plan.add_success("b", 2)
    plan.set_running("c")
    plan.add_success("c", 3)
    assert plan.is_complete() and plan.failed == []


def test_failures_retry_until_max_failures_then_fail() -> None:
    plan = TaskPlanner([P("a", max_failures=3)])
    for attempt in range(3):
        assert plan.runnable_at(attempt) == ["a"]
        plan.set_running("a")
        plan.add_failure("a", attempt)
    assert plan.failed == ["a"] and plan.is_complete()
    assert plan.failures["a"] == 3


def test_max_failures_zero_retries_forever() -> None:
    plan = TaskPlanner([P("a", max_failures=0)])
    for t in range(50):
        plan.set_running("a")
        plan.add_failure("a", t)
    assert plan.runnable_at(100) == ["a"] and not plan.is_complete()


def test_min_duration_delays_the_next_run() -> None:
    plan = TaskPlanner([P("a", max_failures=2, min_duration=5)])
    plan.set_running("a")
    plan.add_failure("a", 10.0)
    assert plan.runnable_at(12.0) == [] and plan.waiting_at(12.0) == ["a"]
    assert plan.min_wait(12.0) == 3.0
    assert plan.runnable_at(15.0) == ["a"]


def test_daemon_success_runs_again_and_never_completes() -> None:
    plan = TaskPlanner([P("d", daemon=True)])
    plan.set_running("d")
    plan.add_success("d", 1)
    assert plan.runnable_at(1) == ["d"] and not plan.is_complete()


def test_ephemeral_does_not_hold_the_plan() -> None:
    plan = TaskPlanner([P("main"), P("side", ephemeral=True, daemon=True)])
    plan.set_running("main")
    plan.set_running("side")
    plan.add_success("main", 1)
    assert plan.is_complete()  # side still running
    assert plan.running == ["side"]


def test_ephemeral_failure_past_limit_counts_as_finished() -> None:
    plan = TaskPlanner([P("e", ephemeral=True)])
    plan.set_running("e")
    plan.add_failure("e", 0)
    assert plan.failed == [] and plan.finished == ["e"]


def test_loss_reruns_without_counting_a_failure() -> None:
    plan = TaskPlanner([P("a")])
    plan.set_running("a")
    plan.lost("a", 0)
    assert plan.failures["a"] == 0 and plan.runnable_at(0) == ["a"]


def test_final_and_regular_plans_are_separate() -> None:
    procs = [P("a"), P("b"), P("f1", final=True), P("f2", final=True)]
    regular = TaskPlanner(procs, [("a", "b"), ("f1", "f2")], final=False)
    final = TaskPlanner(procs, [("a", "b"), ("f1", "f2")], final=True)
    assert regular.processes == ["a", "b"] and final.processes == ["f1", "f2"]
    assert final.runnable_at(0) == ["f1"]


def test_deadlock_when_a_dependency_failed() -> None:
    plan = TaskPlanner([P("a"), P("b")], [("a", "b")])
    plan.set_running("a")
    plan.add_failure("a", 0)
    assert plan.deadlocked(0) and not plan.is_complete()
    assert plan.min_wait(0) == INFINITY
