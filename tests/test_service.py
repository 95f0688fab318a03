"""The scheduler service end to end on a fake backend: create, place, launch, run, kill,
persist before acting, and come back from storage with the same state."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from aurora.model.jobkey import JobKey
from aurora.model.resources import Resources
from aurora.model.status import ScheduleStatus as S
from aurora.model.task import Constraint, ExecutorConfig, Identity, TaskConfig
from aurora.scheduler import actions
from aurora.scheduler.backend import BackendSink, HostInfo, Launch, StatusUpdate
from aurora.scheduler.records import decode_task
from aurora.scheduler.recovery import restore
from aurora.scheduler.service import Scheduler, Settings
from aurora.scheduler.storage import Storage

KEY = JobKey("www-data", "prod", "hello")


class FakeBackend:
    name = "fake"

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.launched: list[Launch] = []
        self.killed: list[str] = []
        self.acked: list[object] = []
        self.reconciled: list[list[str]] = []
        self.seq_at_launch: list[int] = []

    async def start(self, sink: BackendSink) -> None:
        sink.hosts_up([HostInfo(f"host{i}", f"agent{i}", 4000, 8192, 65536,
                                port_ranges=((31000, 31009),),
                                attributes={"rack": (f"r{i // 2}",), "zone": ("abc"[i % 3],)})
                       for i in range(4)])
        sink.connected()

    async def stop(self) -> None:
        pass

    def launch(self, launches: Sequence[Launch]) -> None:
        self.seq_at_launch.append(self.storage.last_seq)
        self.launched += launches

    def kill(self, task_ids: Sequence[str]) -> None:
        self.killed += task_ids

    def ack(self, tokens: Sequence[object]) -> None:
        self.acked += tokens

    def reconcile(self, task_ids: Sequence[str] | None) -> None:
        self.reconciled.append(list(task_ids or []))


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def __call__(self) -> int:
        return self.now


def config(key: JobKey = KEY, **kw: Any) -> TaskConfig:
    return TaskConfig(job=key, owner=Identity("www-data"),
                      resources=Resources(1.0, 1024, 1024, ports=("http",)),
                      executor_config=ExecutorConfig("AuroraExecutor", '{"task": {}}'), **kw)


async def boot(path: Path, impl: str, clock: Clock) -> tuple[Scheduler, FakeBackend]:
    storage = Storage(path)
    backend = FakeBackend(storage)
    sched = Scheduler(storage, backend, clock, Settings(impl=impl, seed=7))
    restore(sched)
    await backend.start(sched)
    return sched, backend


def test_create_place_run_kill_and_recover(tmp_path: Path, impl: str) -> None:
    async def scenario() -> None:
        clock = Clock()
        sched, backend = await boot(tmp_path, impl, clock)
        ids = await actions.create_job(sched, config(constraints=(
            Constraint.parse("host", "limit:1"),)), 3)
        assert len(ids) == 3 and sched.storage.last_seq >= 1
        assert sched.schedule_once() == 3
        await sched.committer.commit([])  # the group commit is durable, then the launch
        assert sorted(launch.task_id for launch in backend.launched) == sorted(ids)
        assert backend.seq_at_launch == [sched.storage.last_seq]  # persisted before launched
        assert len({launch.hostname for launch in backend.launched}) == 3  # host limit:1
        assert all(set(launch.ports) == {"http"} for launch in backend.launched)
        sched.status_updates([StatusUpdate(i, int(S.RUNNING), clock(), None, None, ack=n)
                              for n, i in enumerate(ids)])
        assert backend.acked == []  # not before the commit
        await sched.committer.commit([])
        assert backend.acked == [0, 1, 2]
        slots = sched.table.lookup(ids)
        assert {sched.table.state(s) for s in slots} == {int(S.RUNNING)}
        # A duplicate changes nothing; a report for a task we never had gets a kill.
        seq = sched.storage.last_seq
        sched.status_updates([StatusUpdate(ids[0], int(S.RUNNING), clock()),
                              StatusUpdate("www-data-prod-hello-9-nope", int(S.RUNNING),
                                           clock())])
        await sched.committer.commit([])
        assert backend.killed == ["www-data-prod-hello-9-nope"]
        assert sched.storage.last_seq == seq  # nothing changed, nothing written
        # A one-off task that fails (max_task_failures=1) is not retried and frees its host.
        sched.status_updates([StatusUpdate(ids[1], int(S.FAILED), clock(), "exit 1")])
        await sched.committer.commit([])
        assert sched.table.state(slots[1]) == int(S.FAILED)
        busy = {sched.table.row(s)[4] for s in slots if sched.table.state(s) == int(S.RUNNING)}
        assert len(busy) == 2
        sched.storage.close()

        clock.now += 1000
        again, backend2 = await boot(tmp_path, impl, clock)
        assert len(again.table) == len(sched.table)
        for tid in ids:
            (a,), (b,) = sched.table.lookup([tid]), again.table.lookup([tid])
            assert again.table.row(b)[:1] == sched.table.row(a)[:1]
            assert again.table.events(b) == sched.table.events(a)
        assert again.jobs.get(KEY) is not None
        # Restored RUNNING tasks hold their hosts' resources, and their ports, again.
        running = [s for s in again.table.lookup(ids) if again.table.state(s) == int(S.RUNNING)]
        before = {sched.table.task_id(s): sched.held[s].ports
                  for s in sched.table.lookup(ids) if s in sched.held}
        assert {again.table.task_id(s): again.held[s].ports for s in running} == before
        assert sum(again.cluster.free(h)[0] for h in range(4)) == 4 * 4000 - 2 * 1000
        killed = await actions.kill_tasks(again, KEY)
        await sched.committer.commit([])
        assert killed >= 2 and set(backend2.killed) >= {ids[0], ids[2]}
        again.storage.close()

    asyncio.run(scenario())


def test_bad_requests_change_nothing(tmp_path: Path, impl: str) -> None:
    async def scenario() -> None:
        sched, _ = await boot(tmp_path, impl, Clock())
        await actions.create_job(sched, config(), 1)
        seq = sched.storage.last_seq
        with pytest.raises(actions.ActionError, match="already exists"):
            await actions.create_job(sched, config(), 1)
        with pytest.raises(actions.ActionError, match="between 1 and 4000"):
            await actions.create_job(sched, config(JobKey("www-data", "prod", "other")), 0)
        with pytest.raises(actions.ActionError, match="does not exist"):
            await actions.add_instances(sched, JobKey("x", "prod", "y"), [1])
        assert sched.storage.last_seq == seq and len(sched.table) == 1
        sched.storage.close()

    asyncio.run(scenario())


def test_job_actions_enforce_quota_themselves(tmp_path: Path, impl: str) -> None:
    from aurora.model.resources import Resources as R
    from aurora.scheduler.quota import quotas

    async def scenario() -> None:
        sched, _ = await boot(tmp_path, impl, Clock())
        await quotas(sched).set("www-data", R(2.0, 4096, 4096))
        prod = config(tier="preferred")
        with pytest.raises(actions.ActionError, match="Insufficient resource quota: CPU quota"):
            await actions.create_job(sched, prod, 3)
        await actions.create_job(sched, prod, 2)
        with pytest.raises(actions.ActionError, match="Insufficient resource quota"):
            await actions.add_instances(sched, KEY, [2])
        assert len(sched.table) == 2
        sched.storage.close()

    asyncio.run(scenario())


def test_each_update_keeps_its_own_message_in_one_batch(tmp_path: Path, impl: str) -> None:
    """One batch of FAILED updates with different reasons: every task keeps its own."""
    async def scenario() -> None:
        clock = Clock()
        sched, _backend = await boot(tmp_path, impl, clock)
        ids = await actions.create_job(sched, config(), 3)
        assert sched.schedule_once() == 3
        await sched.committer.commit([])
        reasons = ["exit 1", "command not found (exit status 127): x", "exit 1"]
        sched.status_updates([StatusUpdate(i, int(S.FAILED), clock(), r)
                              for i, r in zip(ids, reasons, strict=True)])
        await sched.committer.commit([])
        slots = sched.table.lookup(ids)
        assert [sched.table.events(s)[-1][2] for s in slots] == reasons
        sched.storage.close()

    asyncio.run(scenario())



def test_interleaved_updates_of_many_tasks_apply_in_each_tasks_order(tmp_path: Path,
                                                                       impl: str) -> None:
    """One batch holding several tasks' STARTING, RUNNING and FINISHED, interleaved: each task
    goes through its own updates in order (its history says so), with its own messages."""
    async def scenario() -> None:
        clock = Clock()
        sched, backend = await boot(tmp_path, impl, clock)
        a, b, c = await actions.create_job(sched, config(), 3)
        assert sched.schedule_once() == 3
        await sched.committer.commit([])
        up = [(a, S.STARTING, None), (b, S.STARTING, None), (a, S.RUNNING, "healthy"),
              (a, S.FINISHED, "done a"), (c, S.RUNNING, "healthy"), (b, S.RUNNING, "healthy"),
              (c, S.FINISHED, "done c"), (b, S.FAILED, "exit 1")]
        sched.status_updates([StatusUpdate(t, int(st), clock(), m, None, ack=n)
                              for n, (t, st, m) in enumerate(up)])
        await sched.committer.commit([])
        sa, sb, sc = sched.table.lookup([a, b, c])
        history = {t: [(e[1], e[2]) for e in sched.table.events(s)][2:]
                   for t, s in ((a, sa), (b, sb), (c, sc))}
        assert history[a] == [(int(S.STARTING), None), (int(S.RUNNING), "healthy"),
                              (int(S.FINISHED), "done a")]
        assert history[b] == [(int(S.STARTING), None), (int(S.RUNNING), "healthy"),
                              (int(S.FAILED), "exit 1")]
        assert history[c] == [(int(S.RUNNING), "healthy"), (int(S.FINISHED), "done c")]
        assert sorted(backend.acked) == list(range(len(up)))
        sched.storage.close()

    asyncio.run(scenario())

def test_a_task_that_ends_makes_room_for_a_waiting_one_in_the_same_write(tmp_path: Path,
                                                                           impl: str) -> None:
    """No scheduling cycle in between: the update that frees a host places the task waiting
    for one, and both are written together before the launch goes out."""
    async def scenario() -> None:
        clock = Clock()
        sched, backend = await boot(tmp_path, impl, clock)
        big = TaskConfig(job=KEY, owner=Identity("www-data"), resources=Resources(4.0, 1024, 1024))
        ids = await actions.create_job(sched, big, 5)  # four hosts of 4 CPUs: one waits
        assert sched.schedule_once() == 4
        await sched.committer.commit([])
        first = [launch.task_id for launch in backend.launched]
        [waiting] = set(ids) - set(first)
        seq, commits = sched.storage.last_seq, sched.storage.commits
        sched.status_updates([StatusUpdate(first[0], int(S.FINISHED), clock())])
        await sched.committer.commit([])
        assert [launch.task_id for launch in backend.launched][4:] == [waiting]
        assert sched.storage.last_seq == seq + 2  # the update and the placement ...
        assert sched.storage.commits == commits + 1  # ... in one write
        assert backend.seq_at_launch[-1] == sched.storage.last_seq
        sched.storage.close()

    asyncio.run(scenario())


def test_the_run_loop_places_new_tasks_without_waiting_for_its_cycle(tmp_path: Path,
                                                                    impl: str) -> None:
    """New tasks wake the loop's next cycle (after the minimum gap), not the cycle's timer."""
    async def scenario() -> None:
        clock = Clock()
        storage = Storage(tmp_path)
        backend = FakeBackend(storage)
        sched = Scheduler(storage, backend, clock, Settings(impl=impl, seed=7))
        restore(sched)
        stop = asyncio.Event()
        runner = asyncio.create_task(sched.run(stop, cycle_ms=60_000, min_gap_ms=50))
        await asyncio.sleep(0.1)  # the first cycle ran: the next is a minute away
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        ids = await actions.create_job(sched, config(), 2)
        while len(backend.launched) < 2:
            assert loop.time() - t0 < 5.0, "the new tasks waited for the cycle's timer"
            await asyncio.sleep(0.005)
        assert sorted(launch.task_id for launch in backend.launched) == sorted(ids)
        stop.set()
        sched.wake_cycle()  # ends the minute-long wait: the loop sees STOP and returns
        await asyncio.wait_for(runner, 2.0)

    asyncio.run(scenario())


def test_an_ended_task_keeps_its_assigned_ports(tmp_path: Path, impl: str) -> None:
    """As Aurora's assignedPorts: the stored row of a FAILED task still names its ports, and
    so does the row after a restart; the port itself goes back to the host."""
    async def scenario() -> None:
        clock = Clock()
        sched, _backend = await boot(tmp_path, impl, clock)
        ids = await actions.create_job(sched, config(), 1)
        assert sched.schedule_once() == 1
        await sched.committer.commit([])
        [slot] = sched.table.lookup(ids)
        given = sched.rows([slot])[0][13]
        assert set(given) == {"http"}
        sched.status_updates([StatusUpdate(ids[0], int(S.FAILED), clock(), "exit 1")])
        await sched.committer.commit([])
        assert sched.table.state(slot) == int(S.FAILED)
        assert sched.rows([slot])[0][13] == given
        assert decode_task(sched.storage.get("tasks", ids[0].encode())).ports == given
        assert slot not in sched.held
        sched.storage.close()
        sched2, _ = await boot(tmp_path, impl, clock)
        [slot2] = sched2.table.lookup(ids)
        assert sched2.rows([slot2])[0][13] == given
        sched2.storage.close()

    asyncio.run(scenario())


def test_a_bad_status_number_drops_that_update_only(tmp_path: Path, impl: str,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    """An update with a status number Aurora does not have is dropped with a warning naming
    it; the rest of its batch applies in order, an unknown task gets a kill, and every
    acknowledgement goes out once the batch is written."""
    async def scenario() -> None:
        clock = Clock()
        sched, backend = await boot(tmp_path, impl, clock)
        a, b = await actions.create_job(sched, config(), 2)
        assert sched.schedule_once() == 2
        await sched.committer.commit([])
        up = [(a, int(S.STARTING)), (b, 99), (a, int(S.RUNNING)), ("no-such-task", int(S.RUNNING)),
              (b, int(S.STARTING))]
        with caplog.at_level("WARNING", logger="aurora.scheduler.service"):
            sched.status_updates([StatusUpdate(t, st, clock(), None, None, ack=n)
                                  for n, (t, st) in enumerate(up)])
        await sched.committer.commit([])
        assert "unknown task status number 99" in caplog.text and b in caplog.text
        sa, sb = sched.table.lookup([a, b])
        assert (sched.table.state(sa), sched.table.state(sb)) == (S.RUNNING, S.STARTING)
        assert backend.killed == ["no-such-task"]
        assert sorted(backend.acked) == list(range(len(up)))
        sched.storage.close()

    asyncio.run(scenario())
