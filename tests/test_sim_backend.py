"""The ``sim`` backend against a fake sink: hosts, task lifecycles, refusals, kills,
reconciliation, delivery (batches, acks, resends), and its timer count at scale."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest

from aurora.model.status import ScheduleStatus as S
from aurora.scheduler.backend import Backend, HostInfo, Launch, StatusUpdate
from aurora.scheduler.sim import AttributeRule, SimBackend, SimConfig

FAST: dict[str, Any] = {
    "hosts": 4,
    "starting_delay_ms": [0, 2],
    "running_delay_ms": [0, 2],
    "kill_delay_ms": [0, 2],
    "slot_ms": 1,
}


class FakeSink:
    """Records what the backend reports; acknowledges every batch unless told not to."""

    def __init__(self, auto_ack: bool = True) -> None:
        self.sim: SimBackend | None = None
        self.auto_ack = auto_ack
        self.host_batches: list[list[HostInfo]] = []
        self.batches: list[list[StatusUpdate]] = []
        self.events: list[str] = []

    @property
    def hosts(self) -> list[HostInfo]:
        return [h for batch in self.host_batches for h in batch]

    @property
    def updates(self) -> list[StatusUpdate]:
        return [u for batch in self.batches for u in batch]

    def statuses(self, task_id: str) -> list[S]:
        return [S(u.status) for u in self.updates if u.task_id == task_id]

    def last(self, task_id: str) -> StatusUpdate:
        return [u for u in self.updates if u.task_id == task_id][-1]

    def hosts_up(self, hosts: Sequence[HostInfo]) -> None:
        self.host_batches.append(list(hosts))
        self.events.append("hosts_up")

    def hosts_down(self, hostnames: Sequence[str]) -> None:
        self.events.append("hosts_down")

    def status_updates(self, updates: Sequence[StatusUpdate]) -> None:
        self.batches.append(list(updates))
        if self.auto_ack and self.sim is not None:
            self.sim.ack([u.ack for u in updates])

    def connected(self) -> None:
        self.events.append("connected")


async def until(pred: Callable[[], bool], timeout: float = 2.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.002)


async def started(auto_ack: bool = True, **config: Any) -> tuple[SimBackend, FakeSink]:
    sim = SimBackend(SimConfig.from_dict({**FAST, **config}), clock_ms=lambda: 1234)
    sink = FakeSink(auto_ack)
    sink.sim = sim
    await sim.start(sink)
    return sim, sink


def launch(sim: SimBackend, task_id: str, host: int = 0, cpu: int = 1000, ram: int = 1024,
           disk: int = 1024, **kw: Any) -> Launch:
    h = sim.hosts[host] if host >= 0 else None
    return Launch(task_id=task_id, hostname=h.hostname if h else "nowhere",
                  agent_id=h.agent_id if h else "", instance=0, cpu_milli=cpu, ram_mb=ram,
                  disk_mb=disk, **kw)


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coro)


# ---------------------------------------------------------------- config and hosts


def test_hosts_rack_zone_layout_in_batches() -> None:
    async def body() -> None:
        sim, sink = await started(
            hosts=12, host_batch_size=5,
            attributes=[{"name": "dedicated", "values": ["www-data/hello"], "count": 2},
                        {"name": "pod", "values": ["a", "b"], "per": "rack", "first": 4}],
        )
        assert [len(b) for b in sink.host_batches] == [5, 5, 2]
        assert sink.events == ["hosts_up"] * 3 + ["connected"]
        hosts = sink.hosts
        assert len({h.hostname for h in hosts}) == 12
        assert len({h.agent_id for h in hosts}) == 12
        for i, h in enumerate(hosts):
            assert h.attributes["host"] == (h.hostname,)
            assert h.attributes["rack"] == (f"rack-{i // 2:05d}",)
            assert h.attributes["zone"] == (f"zone-{(i // 2) % 3}",)
            assert (h.cpu_milli, h.ram_mb, h.disk_mb, h.gpus) == (8000, 16384, 262144, 0)
            assert h.port_ranges == ((1, 1023),)
            assert ("dedicated" in h.attributes) == (i < 2)
            assert h.attributes.get("pod") == (None if i < 4 else ("ab"[(i // 2) % 2],))
        assert hosts[0].attributes["dedicated"] == ("www-data/hello",)
        # two hosts a rack, racks round-robin over three zones
        assert [hosts[i].attributes["zone"][0] for i in range(0, 12, 2)] == [
            "zone-0", "zone-1", "zone-2", "zone-0", "zone-1", "zone-2"]
        await sim.stop()

    run(body())


def test_config_from_dict_file_and_flags(tmp_path: Path) -> None:
    cfg = SimConfig.from_dict({"hosts": 3, "run_time_ms": [10, 20], "failure_rate": 0.5,
                               "attributes": [{"name": "gpu", "values": ["yes"], "every": 2}]})
    assert cfg.run_time_ms == (10, 20)
    assert cfg.attributes == (AttributeRule("gpu", ("yes",), every=2),)
    assert SimConfig.from_dict({}) == SimConfig()
    assert SimConfig().batch_size == 1000 and SimConfig().resend_after_ms == 5000
    path = tmp_path / "sim.json"
    path.write_text(json.dumps({"hosts": 7, "seed": 3, "run_time_ms": 100}))
    loaded = SimConfig.load(path, hosts=9, failure_rate=None)
    assert (loaded.hosts, loaded.seed, loaded.run_time_ms) == (9, 3, 100)
    assert SimConfig.from_dict(loaded.to_dict()) == loaded
    for bad in ({"hostz": 1}, {"failure_rate": 1.5}, {"zones": 0}, {"run_time_ms": [5, 1]},
                {"hostname_pattern": "h-{nope}"}, {"port_ranges": [[0, 10]]}):
        with pytest.raises(msgspec.ValidationError):
            SimConfig.from_dict(bad)


# ---------------------------------------------------------------- task lifecycles


def test_launch_starting_running_finished_and_resources_released() -> None:
    async def body() -> None:
        sim, sink = await started(run_time_ms=[5, 10])
        host = sim.hosts[1].hostname
        sim.launch([launch(sim, "t1", host=1, cpu=3000, ports={"http": 80})])
        assert sim.free_resources(host) == (5000, 15360, 261120, 0)
        await until(lambda: S.FINISHED in sink.statuses("t1"))
        assert sink.statuses("t1") == [S.STARTING, S.RUNNING, S.FINISHED]
        done = sink.last("t1")
        assert (done.hostname, done.timestamp_ms, done.ack is not None) == (host, 1234, True)
        assert done.message
        assert sim.free_resources(host) == (8000, 16384, 262144, 0)
        assert (sim.stats.launched, sim.stats.finished, sim.stats.running) == (1, 1, 0)
        # the port is free again: a second task may take it
        sim.launch([launch(sim, "t2", host=1, ports={"http": 80})])
        await until(lambda: S.FINISHED in sink.statuses("t2"))
        assert sim.stats.refused == 0
        await sim.stop()

    run(body())


def test_failure_rate_one_fails_with_message() -> None:
    async def body() -> None:
        sim, sink = await started(failure_rate=1.0, fail_after_ms=[1, 3])
        sim.launch([launch(sim, f"f{i}", host=i % 4) for i in range(8)])
        await until(lambda: sum(u.status == S.FAILED for u in sink.updates) == 8)
        for i in range(8):
            assert sink.statuses(f"f{i}") == [S.STARTING, S.RUNNING, S.FAILED]
            assert "failure" in (sink.last(f"f{i}").message or "")
        assert sim.stats.finished == 0 and sim.stats.running == 0
        await sim.stop()

    run(body())


def test_seed_fixes_which_tasks_fail_whatever_the_timing() -> None:
    async def failed_set(seed: int, pause: bool) -> set[str]:
        sim, sink = await started(hosts=10, failure_rate=0.5, run_time_ms=[1, 3],
                                  fail_after_ms=[1, 3], seed=seed)
        for i in range(0, 200, 20):
            sim.launch([launch(sim, f"d{j}", host=j % 10, cpu=10, ram=10, disk=10)
                        for j in range(i, i + 20)])
            if pause:
                await asyncio.sleep(0.003)
        # Wait for the updates themselves, not the counters: the last batch is counted when
        # its step runs and delivered a loop turn later.
        await until(lambda: len({u.task_id for u in sink.updates
                                 if u.status in (S.FINISHED, S.FAILED)}) == 200)
        await sim.stop()
        return {u.task_id for u in sink.updates if u.status == S.FAILED}

    async def body() -> None:
        a = await failed_set(7, pause=False)
        assert a == await failed_set(7, pause=True)
        assert a != await failed_set(8, pause=False)
        assert 60 < len(a) < 140

    run(body())


def test_service_runs_until_killed() -> None:
    async def body() -> None:
        sim, sink = await started()
        backend: Backend = sim  # SimBackend is a Backend
        assert backend.name == "sim"
        sim.launch([launch(sim, "svc")])
        await until(lambda: S.RUNNING in sink.statuses("svc"))
        await asyncio.sleep(0.02)
        assert sink.statuses("svc") == [S.STARTING, S.RUNNING]
        assert sim.stats.running == 1
        sim.kill(["svc"])
        sim.kill(["svc"])  # a second kill changes nothing
        await until(lambda: S.KILLED in sink.statuses("svc"))
        await asyncio.sleep(0.01)
        assert sink.statuses("svc") == [S.STARTING, S.RUNNING, S.KILLED]
        assert (sim.stats.killed, sim.stats.running) == (1, 0)
        assert sim.free_resources(sim.hosts[0].hostname)[0] == 8000
        await sim.stop()

    run(body())


def test_kill_before_start_and_kill_of_unknown_task() -> None:
    async def body() -> None:
        sim, sink = await started(starting_delay_ms=200, kill_delay_ms=0)
        sim.launch([launch(sim, "early")])
        sim.kill(["early", "ghost"])
        await until(lambda: bool(sink.statuses("early")) and bool(sink.statuses("ghost")))
        assert sink.statuses("early") == [S.KILLED]
        assert sink.statuses("ghost") == [S.LOST]
        assert "unknown" in (sink.last("ghost").message or "")
        await asyncio.sleep(0.25)  # the cancelled STARTING never comes
        assert sink.statuses("early") == [S.KILLED]
        await sim.stop()

    run(body())


def test_refusals_answer_lost_and_are_counted() -> None:
    async def body() -> None:
        sim, sink = await started()
        h0 = sim.hosts[0]
        sim.launch([
            launch(sim, "ok", cpu=6000),
            launch(sim, "nohost", host=-1),
            launch(sim, "ok", host=1),  # duplicate id
            launch(sim, "big", cpu=4000),  # 6000 + 4000 > 8000 on host 0
            Launch(task_id="wrongagent", hostname=h0.hostname, agent_id="other", instance=0,
                   cpu_milli=1, ram_mb=1, disk_mb=1),
            launch(sim, "p1", host=2, ports={"http": 80}),
            launch(sim, "p2", host=2, ports={"http": 80}),  # port in use
            launch(sim, "p3", host=2, ports={"http": 5000}),  # outside 1-1023
        ])
        await until(lambda: len([u for u in sink.updates if u.status == S.LOST]) == 6)
        msgs = {u.task_id: u.message or "" for u in sink.updates if u.status == S.LOST}
        assert "Unknown host" in msgs["nohost"]
        assert "already in use" in msgs["ok"]
        assert msgs["big"].startswith(f"Insufficient resources on host {h0.hostname}")
        assert "cpu_milli 4000 > 2000 free" in msgs["big"]
        assert "agent" in msgs["wrongagent"].lower()
        assert "port 80 is in use" in msgs["p2"] and "outside" in msgs["p3"]
        assert (sim.stats.refused, sim.stats.overcommits, sim.stats.lost) == (6, 3, 6)
        assert sim.stats.launched == 2
        await until(lambda: S.RUNNING in sink.statuses("ok"))
        assert S.LOST not in sink.statuses("p1")
        await sim.stop()

    run(body())


# ---------------------------------------------------------------- reconciliation


def test_reconcile_explicit_implicit_and_forgetting_acked_ends() -> None:
    async def body() -> None:
        sim, sink = await started()
        sim.launch([launch(sim, f"r{i}", host=i) for i in range(3)])
        await until(lambda: all(S.RUNNING in sink.statuses(f"r{i}") for i in range(3)))
        mark = len(sink.updates)
        sim.reconcile(["r1", "nobody"])
        await until(lambda: len(sink.updates) >= mark + 2)
        answers = {u.task_id: u.status for u in sink.updates[mark:]}
        assert answers == {"r1": S.RUNNING, "nobody": S.LOST}
        mark = len(sink.updates)
        sim.reconcile(None)
        await until(lambda: len(sink.updates) >= mark + 3)
        assert sorted((u.task_id, u.status) for u in sink.updates[mark:]) == [
            ("r0", S.RUNNING), ("r1", S.RUNNING), ("r2", S.RUNNING)]
        # once its KILLED is acknowledged the sim forgets the task, as an agent does
        sim.kill(["r0"])
        await until(lambda: S.KILLED in sink.statuses("r0"))
        assert sim.task_status("r0") is None
        mark = len(sink.updates)
        sim.reconcile(["r0"])
        await until(lambda: len(sink.updates) > mark)
        assert sink.updates[-1].status == S.LOST
        assert sim.stats.reconciled == 6
        await sim.stop()

    run(body())


def test_adopt_unknown_on_reconcile() -> None:
    async def body() -> None:
        sim, sink = await started(adopt_unknown=True)
        sim.reconcile(["survivor"])
        await until(lambda: bool(sink.statuses("survivor")))
        assert sink.statuses("survivor") == [S.RUNNING]
        assert sim.stats.adopted == 1
        sim.kill(["survivor"])
        await until(lambda: S.KILLED in sink.statuses("survivor"))
        await sim.stop()

    run(body())


# ---------------------------------------------------------------- delivery


def test_unacked_updates_are_resent_acked_ones_are_not() -> None:
    async def body() -> None:
        sim, sink = await started(auto_ack=False, resend_after_ms=40)
        sim.launch([launch(sim, "a"), launch(sim, "b", host=1)])
        sim.kill(["ghost"])
        await until(lambda: all(S.RUNNING in sink.statuses(t) for t in "ab"))
        await until(lambda: bool(sink.statuses("ghost")))
        first = len(sink.updates)
        # acknowledge everything about "a" (and the ghost's LOST); nothing about "b"
        sim.ack([u.ack for u in sink.updates if u.task_id in ("a", "ghost")])
        sim.ack([u.ack for u in sink.updates if u.task_id == "a"])  # duplicate acks: harmless
        await until(lambda: len(sink.updates) > first, timeout=1.0)
        resent = sink.updates[first:]
        # only b's latest status comes again: its STARTING was superseded by RUNNING
        assert [(u.task_id, u.status) for u in resent] == [("b", S.RUNNING)]
        b_running = [u for u in sink.updates[:first] if u.task_id == "b"][-1]
        assert resent[0] is b_running  # the same update, same ack token
        assert sim.stats.superseded >= 1
        sim.ack([resent[0].ack])
        count = len(sink.updates)
        await asyncio.sleep(0.12)
        assert len(sink.updates) == count  # acknowledged: never sent again
        assert sim.vars()["sim_unacked"] == 0
        await sim.stop()

    run(body())


def test_batches_respect_batch_size() -> None:
    async def body() -> None:
        sim, sink = await started(batch_size=7, hosts=20)
        sim.launch([launch(sim, f"t{i}", host=i) for i in range(20)])
        await until(lambda: sim.stats.acked == 40)
        assert max(len(b) for b in sink.batches) <= 7
        assert len(sink.updates) == 40 and sim.stats.acked == 40
        await sim.stop()

    run(body())


def test_stop_reports_nothing_and_start_resends_unacked() -> None:
    async def body() -> None:
        sim, sink = await started(auto_ack=False, starting_delay_ms=30)
        sim.launch([launch(sim, "x")])
        await sim.stop()
        await asyncio.sleep(0.06)
        assert sink.updates == []  # stopped: nothing reported, timers cancelled
        sink2 = FakeSink(auto_ack=True)
        sink2.sim = sim
        await sim.start(sink2)  # the task's overdue steps resume
        await until(lambda: S.RUNNING in sink2.statuses("x"))
        assert sink2.events[-1] == "connected" and sink.updates == []
        await sim.stop()

    run(body())


# ---------------------------------------------------------------- scale


def test_100k_launches_use_few_timers() -> None:
    async def body() -> None:
        sim, sink = await started(hosts=1000, cpu_milli=10**6, ram_mb=10**7, disk_mb=10**7,
                                  starting_delay_ms=[0, 20], running_delay_ms=[0, 30],
                                  slot_ms=10)
        n = 100_000
        launches = [launch(sim, f"job-{i}", host=i % 1000, cpu=10, ram=10, disk=10)
                    for i in range(n)]
        for i in range(0, n, 1000):
            sim.launch(launches[i:i + 1000])
        await until(lambda: sim.stats.acked == 2 * n, timeout=30.0)
        assert sim.stats.running == n
        assert sim.stats.timers <= 300, sim.stats.timers
        assert sim.stats.updates_sent == 2 * n and sim.stats.acked == 2 * n
        assert max(len(b) for b in sink.batches) <= 1000
        assert sim.vars()["sim_pending_slots"] == 0
        await sim.stop()

    run(body())
