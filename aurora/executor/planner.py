"""Which process may run now: the process graph, retries, daemons and min_duration.

Thermos' ``TaskPlanner`` semantics (``thermos/common/planner.py``):

* ``order(a, b, c)`` constraints make b wait for a to *finish* and c for b. A constraint must name
  only regular processes or only final ones (a task has two planners, one for each); a process may
  not follow a daemon, and a non-ephemeral process may not follow an ephemeral one; cycles are
  rejected.
* A success finishes a process, except a daemon, which becomes runnable again.
* A failure makes the process runnable again until it has failed ``max_failures`` times
  (0 = retry forever); then it is failed, except an ephemeral process, which counts as finished.
* A loss (KILLED/LOST: the process did not exit on its own) re-runs it without counting a failure.
* After any termination a process waits ``min_duration`` seconds (measured from that
  termination) before it may run again.
* The plan is complete when every non-ephemeral process is finished or failed: ephemeral
  processes never hold a task open.

Time is passed in explicitly, so the planner is a pure function of the events applied to it,
which is what lets checkpoint replay rebuild it exactly.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Protocol

__all__ = ["INFINITY", "InvalidSchedule", "TaskPlanner"]

INFINITY = float("inf")


class InvalidSchedule(ValueError):
    """The process graph cannot be scheduled."""


class _Process(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def daemon(self) -> bool: ...
    @property
    def ephemeral(self) -> bool: ...
    @property
    def final(self) -> bool: ...
    @property
    def max_failures(self) -> int: ...
    @property
    def min_duration(self) -> float: ...


def _dependencies(
    processes: dict[str, _Process], constraints: Iterable[Sequence[str]]
) -> dict[str, set[str]]:
    deps: dict[str, set[str]] = {name: set() for name in processes}
    for order in constraints:
        names = set(order)
        inside = names & processes.keys()
        if not names or not inside:
            continue
        if inside != names:
            raise InvalidSchedule(
                f"order({', '.join(order)}) mixes final and non-final processes")
        for before, after in itertools.pairwise(order):
            if processes[before].daemon:
                raise InvalidSchedule(
                    f"Process {after} may not depend upon daemon process {before}")
            if processes[before].ephemeral and not processes[after].ephemeral:
                raise InvalidSchedule(
                    f"Non-ephemeral process {after} may not depend upon ephemeral process "
                    f"{before}")
            if before == after:
                raise InvalidSchedule(f"Process {after} may not depend upon itself")
            deps[after].add(before)
    # Cycle check: repeatedly remove processes with no remaining dependencies.
    remaining = {name: set(d) for name, d in deps.items()}
    while remaining:
        free = {name for name, d in remaining.items() if not d}
        if not free:
            raise InvalidSchedule(
                "Cycles detected in the task schedule: " + ", ".join(sorted(remaining)))
        for name in free:
            del remaining[name]
        for d in remaining.values():
            d -= free
    return deps


class TaskPlanner:
    """The plan for the regular processes (``final=False``) or the final ones (``final=True``)."""

    def __init__(
        self,
        processes: Iterable[_Process],
        constraints: Iterable[Sequence[str]] = (),
        *,
        final: bool = False,
    ) -> None:
        self._procs: dict[str, _Process] = {p.name: p for p in processes if p.final == final}
        self._order = list(self._procs)
        self._deps = _dependencies(self._procs, constraints)
        self._running: set[str] = set()
        self._finished: set[str] = set()
        self._failed: set[str] = set()
        self._last_terminal: dict[str, float] = {}
        self.failures: dict[str, int] = dict.fromkeys(self._procs, 0)
        self.successes: dict[str, int] = dict.fromkeys(self._procs, 0)
        self.losses: dict[str, int] = dict.fromkeys(self._procs, 0)
        self._ephemerals = {n for n, p in self._procs.items() if p.ephemeral}

    # --- queries

    def __contains__(self, name: object) -> bool:
        return name in self._procs

    @property
    def processes(self) -> list[str]:
        return list(self._order)

    @property
    def running(self) -> list[str]:
        return [n for n in self._order if n in self._running]

    @property
    def finished(self) -> list[str]:
        return [n for n in self._order if n in self._finished]

    @property
    def failed(self) -> list[str]:
        return [n for n in self._order if n in self._failed]

    def _eligible(self) -> list[str]:
        done = self._finished
        return [
            n for n in self._order
            if n not in self._running and n not in done and n not in self._failed
            and self._deps[n] <= done
        ]

    def get_wait(self, name: str, now: float) -> float:
        """Seconds until ``name`` may run again (<= 0: it may run now)."""
        last = self._last_terminal.get(name)
        if last is None:
            return 0.0
        return self._procs[name].min_duration - (now - last)

    def runnable_at(self, now: float) -> list[str]:
        return [n for n in self._eligible() if self.get_wait(n, now) <= 0]

    def waiting_at(self, now: float) -> list[str]:
        return [n for n in self._eligible() if self.get_wait(n, now) > 0]

    def min_wait(self, now: float) -> float:
        """0 if something may run now, else seconds until the next waiter may, else INFINITY."""
        waits = [self.get_wait(n, now) for n in self._eligible()]
        if not waits:
            return INFINITY
        return max(0.0, min(waits))

    def is_complete(self) -> bool:
        return (self._finished | self._failed | self._ephemerals) >= self._procs.keys()

    def deadlocked(self, now: float) -> bool:
        """Nothing running, nothing eligible, yet not complete."""
        return not self._running and not self._eligible() and not self.is_complete()

    # --- events

    def set_running(self, name: str) -> None:
        if name in self._failed or name in self._finished:
            raise InvalidSchedule(f"process {name} is already terminal in the plan")
        self._running.add(name)

    def add_success(self, name: str, when: float) -> None:
        self._terminated(name, when)
        self.successes[name] += 1
        if not self._procs[name].daemon:
            self._finished.add(name)

    def add_failure(self, name: str, when: float) -> None:
        self._terminated(name, when)
        self.failures[name] += 1
        proc = self._procs[name]
        if proc.max_failures == 0 or self.failures[name] < proc.max_failures:
            return  # runnable again after min_duration
        if proc.ephemeral:
            self._finished.add(name)
        else:
            self._failed.add(name)

    def lost(self, name: str, when: float) -> None:
        self._terminated(name, when)
        self.losses[name] += 1

    def _terminated(self, name: str, when: float) -> None:
        self._running.discard(name)
        self._last_terminal[name] = when
