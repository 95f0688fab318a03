"""Periodic duties of the scheduler, each a small pass over the state table's indexes.

* transient timeouts: a task held in ASSIGNED, PREEMPTING, RESTARTING, KILLING or DRAINING for
  longer than 5 min goes LOST (and so is replaced when the state machine says so);
* kill retries: a task we are killing gets its kill again, backing off from 15 s;
* pruning: terminal tasks older than 2 days go, and at most 100 terminal tasks stay per job;
* reconciliation (implicit, hourly), snapshots and backups (hourly);
* lost agents: a host without its agent for ``agent_lost_ms`` has its tasks marked LOST.

Every change goes through the state machine and the group commit like any other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from aurora.model.status import TERMINAL_STATES, TRANSIENT_STATES
from aurora.model.status import ScheduleStatus as S
from aurora.scheduler.service import Scheduler

log = logging.getLogger(__name__)
MIN = 60_000
HOUR = 60 * MIN
KILLING_LIKE = (S.KILLING, S.PREEMPTING, S.RESTARTING, S.DRAINING)


@dataclass
class Settings:
    transient_timeout_ms: int = 5 * MIN
    kill_retry_initial_ms: int = 15_000
    kill_retry_max_ms: int = 5 * MIN
    prune_after_ms: int = 2 * 24 * HOUR
    keep_terminal_per_job: int = 100
    reconcile_every_ms: int = HOUR
    snapshot_every_ms: int = HOUR
    agent_lost_ms: int = 75_000  # an agent-less host this long: its tasks are LOST


@dataclass
class Periodic:
    every_ms: int
    run: Callable[[], None]
    next_ms: int = 0


@dataclass
class Housekeeping:
    sched: Scheduler
    settings: Settings = field(default_factory=Settings)
    _kill_retry: dict[int, tuple[int, int]] = field(default_factory=dict)  # slot -> (due, wait)

    def duties(self) -> list[Periodic]:
        s = self.settings
        return [Periodic(10_000, self.timeouts), Periodic(5_000, self.kill_retries),
                Periodic(10 * MIN, self.prune), Periodic(s.reconcile_every_ms, self.reconcile),
                Periodic(s.snapshot_every_ms, self.snapshot),
                Periodic(min(1_000, s.agent_lost_ms), self.lost_agents)]

    def lost_agents(self) -> None:
        """Hosts whose agent has been gone for agent_lost_ms: their tasks are LOST."""
        now = self.sched.clock_ms()
        late = [h for h, since in self.sched.down_since.items()
                if now - since >= self.settings.agent_lost_ms]
        for host in late:
            secs = (now - self.sched.down_since[host]) / 1000
            n = self.sched.hosts_lost([host], f"Agent {host} lost: no contact for {secs:.0f} s.")
            if n:
                log.warning("agent %s lost: %d tasks LOST", host, n)

    def timeouts(self) -> None:
        now = self.sched.clock_ms()
        table = self.sched.table
        for status in sorted(TRANSIENT_STATES):
            stale = [slot for slot in table.tasks_in_state(int(status))
                     if now - table.row(slot)[9] >= self.settings.transient_timeout_ms]
            if stale:
                log.warning("%d tasks timed out in %s", len(stale), status.name)
                eff = table.transition(stale, int(S.LOST), now,
                                       f"Task timed out in state {status.name}",
                                       expect=int(status))
                self.sched.apply(eff)

    def kill_retries(self) -> None:
        now = self.sched.clock_ms()
        table = self.sched.table
        due: list[str] = []
        live: set[int] = set()
        for status in KILLING_LIKE:
            for slot in table.tasks_in_state(int(status)):
                live.add(slot)
                entered = table.row(slot)[9]
                when, wait = self._kill_retry.get(
                    slot, (entered + self.settings.kill_retry_initial_ms,
                           self.settings.kill_retry_initial_ms))
                if now >= when:
                    due.append(table.task_id(slot))
                    wait = min(wait * 2, self.settings.kill_retry_max_ms)
                    when = now + wait
                self._kill_retry[slot] = (when, wait)
        for slot in [s for s in self._kill_retry if s not in live]:
            del self._kill_retry[slot]
        if due:
            self.sched.backend.kill(due)
            self.sched.stats.kills_sent += len(due)

    def prune(self) -> None:
        """Terminal tasks past their time, and the oldest past 100 per job, are deleted."""
        now = self.sched.clock_ms()
        table = self.sched.table
        per_job: dict[int, list[tuple[int, int]]] = {}
        for status in TERMINAL_STATES:
            for slot in table.tasks_in_state(int(status)):
                row = table.row(slot)
                per_job.setdefault(row[1], []).append((row[9], slot))
        doomed: list[int] = []
        for tasks in per_job.values():
            tasks.sort(reverse=True)  # newest first
            for i, (ended, slot) in enumerate(tasks):
                if i >= self.settings.keep_terminal_per_job or \
                        now - ended >= self.settings.prune_after_ms:
                    doomed.append(slot)
        if doomed:
            self.sched.apply(table.transition(doomed, int(S.DELETED), now))

    def reconcile(self) -> None:
        self.sched.backend.reconcile(None)

    def snapshot(self) -> None:
        self.sched.committer.submit([], after=self._snapshot_now)

    def _snapshot_now(self) -> None:
        self.sched.storage.snapshot()
        self.sched.storage.backup(self.sched.clock_ms() / 1000)
