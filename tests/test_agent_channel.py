"""The scheduler <-> local agent ZeroMQ channel, over real tcp://127.0.0.1 sockets."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import pytest
import zmq
import zmq.asyncio
from channel_helpers import as_status_updates

from aurora.agent.channel import AckToken, AgentEndpoint, SchedulerEndpoint
from aurora.agent.protocol import (
    Ack,
    Heartbeat,
    Register,
    StatusBatch,
    Update,
    decode_or_none,
    encode,
    seq_ranges,
)
from aurora.scheduler.backend import Launch, StatusUpdate


def run(coro: Coroutine[Any, Any, None], timeout: float = 5.0) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout))


async def until(cond: Callable[[], bool], timeout: float = 1.5) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


def reg(agent_id: str = "agent-1") -> Register:
    return Register(
        agent_id, f"{agent_id}.example", 4000, 8192, 100_000,
        port_ranges=((31000, 32000),), attributes={"rack": ("r1",)},
    )  # fmt: skip


def updates(n: int, start: int = 0) -> list[Update]:
    return [Update(f"task-{i}", 2, 1_700_000_000_000 + i) for i in range(start, start + n)]


class Sched:
    """A SchedulerEndpoint that records what it receives and optionally acks at once."""

    def __init__(self, address: str, *, auto_ack: bool = True, **kw: Any) -> None:
        self.registered: list[Register] = []
        self.received: list[StatusUpdate] = []
        self.heartbeats: list[tuple[str, Heartbeat]] = []
        self.auto_ack = auto_ack
        self.ep = SchedulerEndpoint(
            address,
            on_register=self.registered.append,
            on_status=self._status,
            on_heartbeat=lambda a, hb: self.heartbeats.append((a, hb)),
            **kw,
        )

    def _status(self, ups: Sequence[Update], tokens: Sequence[AckToken]) -> None:
        self.received.extend(as_status_updates(self.ep, ups, tokens))
        if self.auto_ack:
            self.ep.ack(tokens)

    def seqs(self) -> list[int]:
        """The seqs delivered: each contiguous run ends with a token naming its range."""
        out = []
        for u in self.received:
            if u.ack is not None:
                assert isinstance(u.ack, AckToken)
                out.extend(range(u.ack.lo, u.ack.hi + 1))
        assert len(out) == len(self.received)
        return out


async def pair(
    auto_ack: bool = True, **agent_kw: Any
) -> tuple[Sched, AgentEndpoint, Callable[[], Awaitable[None]]]:
    s = Sched("tcp://127.0.0.1:*", auto_ack=auto_ack)
    await s.ep.start()
    a = AgentEndpoint(f"tcp://127.0.0.1:{s.ep.port}", reg(), reconnect_ivl_ms=20, **agent_kw)
    await a.start()

    async def close() -> None:
        await a.close()
        await s.ep.close()

    return s, a, close


def test_protocol_roundtrip_and_garbage() -> None:
    b = StatusBatch(7, 5, tuple(updates(3)), low=5)
    assert decode_or_none(encode(b)) == b
    r = reg()
    assert decode_or_none(encode(r)) == r
    assert r.host_info().port_ranges == ((31000, 32000),)
    for junk in (b"", b"\x00", b"\xff" * 10, encode(Update("t", 1, 2)), b"\x92\xa3zzz\x01", None):
        assert decode_or_none(junk) is None
    assert seq_ranges([5, 1, 2, 3, 9, 8]) == ((1, 3), (5, 5), (8, 9))


def test_register_then_status_batch_is_acked() -> None:
    async def main() -> None:
        s, a, close = await pair()
        try:
            last = a.report(updates(5))
            assert last == 5 and len(a.unacked) == 5
            await until(lambda: len(s.received) == 5 and not a.unacked)
            assert [r.agent_id for r in s.registered] == ["agent-1"]
            assert s.registered[0].epoch == a.epoch
            assert s.seqs() == [1, 2, 3, 4, 5]
            assert [u.task_id for u in s.received] == [f"task-{i}" for i in range(5)]
            assert all(u.hostname == "agent-1.example" for u in s.received)
            assert s.ep.stats.malformed == 0 and s.ep.stats.duplicates == 0
        finally:
            await close()

    run(main())


def test_acks_drop_updates_from_agent_buffer() -> None:
    async def main() -> None:
        s, a, close = await pair(auto_ack=False)
        try:
            a.report(updates(10))
            await until(lambda: len(s.received) == 10)
            assert len(a.unacked) == 10
            # Persisted out of order: acks of 3..5 and 8 only.
            peer, epoch = a.register.agent_id.encode(), a.epoch
            s.ep.ack([AckToken(peer, epoch, 3, 5), AckToken(peer, epoch, 8, 8)])
            await until(lambda: len(a.unacked) == 6)
            assert sorted(a.unacked) == [1, 2, 6, 7, 9, 10]
            s.ep.ack([u.ack for u in s.received])
            await until(lambda: not a.unacked)
            # An Ack for another agent epoch changes nothing.
            a.report(updates(2, 10))
            await until(lambda: len(s.received) == 12)
            a._handle(Ack(a.epoch + 1, upto_seq=100))
            assert sorted(a.unacked) == [11, 12]
            a._handle(Ack(a.epoch, upto_seq=11))
            assert sorted(a.unacked) == [12]
        finally:
            await close()

    run(main())


def test_scheduler_restart_agent_resends_everything_unacked() -> None:
    async def main() -> None:
        s1 = Sched("tcp://127.0.0.1:*", auto_ack=False)
        await s1.ep.start()
        addr = s1.ep.endpoint  # the new scheduler binds the very same port
        a = AgentEndpoint(addr, reg(), reconnect_ivl_ms=20, heartbeat_interval=0.05)
        await a.start()
        s2: Sched | None = None
        try:
            a.report(updates(100))
            await until(lambda: len(s1.received) == 100)
            s1.ep.ack([AckToken(b"agent-1", a.epoch, 1, 40)])  # 1..40 persisted
            await until(lambda: len(a.unacked) == 60)
            await s1.ep.close()  # the scheduler dies: 41..100 were never persisted
            a.report(updates(20, 100))  # 101..120 sent while it is down
            s2 = Sched(addr, auto_ack=True, heartbeat_interval=0.05)
            await s2.ep.start()
            await until(lambda: not a.unacked)
            assert a.stats.reregistered >= 1
            assert [r.agent_id for r in s2.registered][:1] == ["agent-1"]
            seqs = s2.seqs()
            # Nothing lost: every unacknowledged seq reached the new scheduler, once, in order.
            assert seqs == list(range(41, 121))
            assert [u.task_id for u in s2.received] == [f"task-{i}" for i in range(40, 120)]
            # A resend of what was already persisted is recognised by seq and not re-delivered.
            dups = s2.ep.stats.duplicates
            a.unacked.update({s: Update(f"task-{s - 1}", 2, 0) for s in (50, 51)})
            a.resend_unacked()
            await until(lambda: not a.unacked)  # re-acked
            assert s2.ep.stats.duplicates == dups + 2 and len(s2.received) == 80
        finally:
            await a.close()
            if s2 is not None:
                await s2.ep.close()

    run(main())


def test_resend_after_timeout_without_ack() -> None:
    async def main() -> None:
        s, a, close = await pair(auto_ack=False, heartbeat_interval=0.02, resend_timeout=0.1)
        try:
            a.report(updates(3))
            await until(lambda: len(s.received) == 3)
            await until(lambda: a.stats.resent >= 3)
            # The resends were duplicates of pending updates: filtered, not delivered twice.
            await until(lambda: s.ep.stats.duplicates >= 3)
            assert s.seqs() == [1, 2, 3]
            s.ep.ack([u.ack for u in s.received])
            await until(lambda: not a.unacked)
        finally:
            await close()

    run(main())


def test_status_batch_callback_gets_the_wire_updates_and_one_token_per_run() -> None:
    """on_status: the fresh updates as sent (no copy per update), duplicates filtered,
    one token per contiguous run; acknowledging the tokens empties the agent's buffer."""

    async def main() -> None:
        got: list[tuple[list[Update], list[AckToken]]] = []
        ep = SchedulerEndpoint("tcp://127.0.0.1:*", on_register=lambda r: None,
                               on_status=lambda ups, toks: got.append(
                                   (list(ups), list(toks))))
        await ep.start()
        a = AgentEndpoint(f"tcp://127.0.0.1:{ep.port}", reg(), reconnect_ivl_ms=20,
                          heartbeat_interval=0.02, resend_timeout=0.1)
        await a.start()
        try:
            sent = updates(3)
            a.report(sent)
            await until(lambda: len(got) == 1)
            assert got[0][0] == sent
            assert [(t.lo, t.hi) for t in got[0][1]] == [(1, 3)]
            await until(lambda: ep.stats.duplicates >= 3)  # resent unacked: filtered
            a.report(updates(2, start=3))
            await until(lambda: sum(len(u) for u, _ in got) == 5)
            fresh = [u for ups, _ in got[1:] for u in ups]
            assert [u.task_id for u in fresh] == ["task-3", "task-4"]
            ep.ack([t for _, toks in got for t in toks], hold=False)
            await until(lambda: not a.unacked)
            assert ep.stats.updates == 5
        finally:
            await a.close()
            await ep.close()

    run(main())


def test_garbage_is_dropped_and_counted_endpoint_keeps_serving() -> None:
    async def main() -> None:
        s, a, close = await pair()
        ctx = zmq.asyncio.Context.instance()
        raw = ctx.socket(zmq.DEALER)
        raw.setsockopt(zmq.LINGER, 0)
        raw.connect(f"tcp://127.0.0.1:{s.ep.port}")
        try:
            junk = [
                [b"\x00\x01garbage"],
                [b""],
                [b"\xc1"],
                [encode(Update("t", 1, 2))],  # valid msgpack, not a message
                [b"two", b"frames"],
                [encode(Register("someone-else", "h", 1, 1, 1))],  # id != routing identity
                [encode(Launch("t", "h", "a", 0, 1, 1, 1)).rjust(30, b"\x00")],
            ]
            for frames in junk:
                await raw.send_multipart(frames)
            await until(lambda: s.ep.stats.malformed == len(junk))
            # An unregistered peer's batch is counted and dropped, never delivered.
            await raw.send(encode(StatusBatch(1, 1, tuple(updates(1)))))
            await until(lambda: s.ep.stats.unknown_peers == 1)
            a.report(updates(5))
            await until(lambda: len(s.received) == 5 and not a.unacked)
            assert s.seqs() == [1, 2, 3, 4, 5]
            assert s.ep.stats.malformed == len(junk)
        finally:
            raw.close(linger=0)
            await close()

    run(main())


def test_launch_kill_reconcile_reach_the_agent() -> None:
    async def main() -> None:
        got: list[object] = []
        s = Sched("tcp://127.0.0.1:*")
        await s.ep.start()
        a = AgentEndpoint(
            f"tcp://127.0.0.1:{s.ep.port}", reg(), reconnect_ivl_ms=20,
            on_launch=lambda ls: got.append(("launch", [x.task_id for x in ls])),
            on_kill=lambda ids: got.append(("kill", list(ids))),
            on_reconcile=lambda ids: got.append(("recon", ids)),
        )  # fmt: skip
        await a.start()
        try:
            await until(lambda: bool(s.registered))
            ln = Launch("t1", "agent-1.example", "agent-1", 0, 500, 128, 64, ports={"http": 31001})
            assert s.ep.launch("agent-1", [ln])
            assert s.ep.kill("agent-1", ["t0"])
            assert s.ep.reconcile("agent-1", None)
            await until(lambda: len(got) == 3)
            assert got == [("launch", ["t1"]), ("kill", ["t0"]), ("recon", None)]
            # Unknown peers: ROUTER_MANDATORY turns the silent drop into a counted one.
            assert not s.ep.kill("nobody", ["t"])
            assert s.ep.stats.send_dropped == 1
        finally:
            await a.close()
            await s.ep.close()

    run(main())


def test_100k_updates_arrive_complete_and_in_order() -> None:
    n = 100_000

    async def main() -> None:
        s, a, close = await pair()
        try:
            await until(lambda: bool(s.registered))
            ups = updates(n)
            t0 = time.perf_counter()
            for i in range(0, n, 5000):  # the agent reports in chunks, as it would
                a.report(ups[i : i + 5000])
                await asyncio.sleep(0)
            await until(lambda: len(s.received) == n and not a.unacked, timeout=10)
            dt = time.perf_counter() - t0
            print(f"\n100000 status updates through the channel (acked) in {dt:.3f}s: "
                  f"{n / dt:,.0f} updates/s")  # fmt: skip
            assert s.seqs() == list(range(1, n + 1))
            assert s.received[-1].task_id == f"task-{n - 1}"
            assert s.ep.stats.duplicates == 0 and a.stats.send_dropped == 0
        finally:
            await close()

    run(main(), timeout=12)


def test_heartbeats_flow_both_ways() -> None:
    async def main() -> None:
        lost: list[str] = []
        agent_hbs: list[Heartbeat] = []
        s = Sched("tcp://127.0.0.1:*", heartbeat_interval=0.02, agent_timeout=0.2)
        s.ep._on_agent_lost = lost.append
        await s.ep.start()
        a = AgentEndpoint(
            f"tcp://127.0.0.1:{s.ep.port}", reg(), reconnect_ivl_ms=20,
            heartbeat_interval=0.02, on_heartbeat=agent_hbs.append,
        )  # fmt: skip
        await a.start()
        try:
            await until(lambda: len(s.heartbeats) >= 5 and len(agent_hbs) >= 5)
            assert {aid for aid, _ in s.heartbeats} == {"agent-1"}
            assert all(hb.epoch == a.epoch for _, hb in s.heartbeats)
            assert all(hb.epoch == s.ep.epoch for hb in agent_hbs)
            assert a.scheduler_epoch == s.ep.epoch and not lost
            await a.close()  # the agent goes silent: the scheduler declares it lost
            await until(lambda: lost == ["agent-1"])
            assert b"agent-1" not in s.ep.peers
        finally:
            await a.close()
            await s.ep.close()

    run(main())


@pytest.mark.parametrize("n", [1, 3])
def test_many_agents_each_acked(n: int) -> None:
    async def main() -> None:
        s = Sched("tcp://127.0.0.1:*")
        await s.ep.start()
        agents = [
            AgentEndpoint(f"tcp://127.0.0.1:{s.ep.port}", reg(f"agent-{i}"), reconnect_ivl_ms=20)
            for i in range(n)
        ]
        for ag in agents:
            await ag.start()
        try:
            for ag in agents:
                ag.report(updates(50))
            await until(lambda: len(s.received) == 50 * n and not any(ag.unacked for ag in agents))
            assert {r.agent_id for r in s.registered} == {f"agent-{i}" for i in range(n)}
        finally:
            for ag in agents:
                await ag.close()
            await s.ep.close()

    run(main())


def test_a_batch_interval_gathers_what_arrives_meanwhile_into_one_delivery() -> None:
    async def main() -> None:
        batches: list[int] = []
        s = Sched("tcp://127.0.0.1:*", batch_interval=0.2)
        inner = s._status

        def counting(ups: Sequence[Update], tokens: Sequence[AckToken]) -> None:
            batches.append(len(ups))
            inner(ups, tokens)

        s.ep._on_status = counting
        await s.ep.start()
        a = AgentEndpoint(f"tcp://127.0.0.1:{s.ep.port}", reg(), reconnect_ivl_ms=20)
        await a.start()
        try:
            await until(lambda: len(s.registered) == 1)
            await asyncio.sleep(0.25)  # the registration's drain is past the interval
            for i in range(10):  # ten messages within one interval
                a.report(updates(1, start=i))
                await asyncio.sleep(0.005)
            await until(lambda: len(s.received) == 10 and not a.unacked)
            assert sum(batches) == 10 and len(batches) <= 2, batches
            assert s.seqs() == list(range(1, 11))
        finally:
            await a.close()
            await s.ep.close()

    run(main())


def test_heartbeats_only_cross_a_quiet_connection() -> None:
    async def main() -> None:
        agent_hbs: list[Heartbeat] = []
        s = Sched("tcp://127.0.0.1:*", heartbeat_interval=0.05, agent_timeout=5.0)
        await s.ep.start()
        a = AgentEndpoint(
            f"tcp://127.0.0.1:{s.ep.port}", reg(), reconnect_ivl_ms=20,
            heartbeat_interval=0.05, on_heartbeat=agent_hbs.append,
        )  # fmt: skip
        await a.start()
        try:
            await until(lambda: len(s.registered) == 1 and agent_hbs)
            busy_from = (len(s.heartbeats), len(agent_hbs))
            for i in range(40):  # traffic both ways (updates and their acks) every 10 ms
                a.report(updates(1, start=i))
                await asyncio.sleep(0.01)
            busy = (len(s.heartbeats) - busy_from[0], len(agent_hbs) - busy_from[1])
            assert busy == (0, 0), f"heartbeats despite traffic: {busy}"
            await until(lambda: len(s.heartbeats) >= busy_from[0] + 3
                        and len(agent_hbs) >= busy_from[1] + 3)  # quiet again: they resume
        finally:
            await a.close()
            await s.ep.close()

    run(main())


def test_an_acknowledgement_rides_on_the_next_launch_or_goes_alone_after_the_delay() -> None:
    async def main() -> None:
        launched: list[str] = []
        s = Sched("tcp://127.0.0.1:*", ack_delay=0.3)
        await s.ep.start()
        a = AgentEndpoint(f"tcp://127.0.0.1:{s.ep.port}", reg(), reconnect_ivl_ms=20,
                          on_launch=lambda ls: launched.extend(x.task_id for x in ls))
        await a.start()
        try:
            await until(lambda: len(s.registered) == 1)
            a.report(updates(3))
            await until(lambda: len(s.received) == 3)  # acked by the sink: held, not sent
            out = s.ep.stats.messages_out
            await asyncio.sleep(0.05)
            assert len(a.unacked) == 3
            ln = Launch("t9", "agent-1.example", "agent-1", 0, 500, 128, 64)
            assert s.ep.launch("agent-1", [ln])
            await until(lambda: launched == ["t9"] and not a.unacked)
            assert s.ep.stats.messages_out == out + 1  # the launch carried the ack
            a.report(updates(2, start=3))  # no launch follows: the ack goes alone, later
            t0 = time.monotonic()
            await until(lambda: len(s.received) == 5)
            await until(lambda: not a.unacked)
            assert time.monotonic() - t0 >= 0.2
            assert s.seqs() == [1, 2, 3, 4, 5]
        finally:
            await a.close()
            await s.ep.close()

    run(main())


def test_an_ack_not_held_goes_at_once_and_an_older_epochs_goes_first_alone() -> None:
    async def main() -> None:
        s, a, close = await pair(auto_ack=False)
        try:
            await until(lambda: bool(s.registered))
            s.ep._ack_delay = 10.0  # held acks would wait 10 s for a launch
            a.report(updates(3))
            await until(lambda: len(s.received) == 3)
            tokens = [u.ack for u in s.received if u.ack is not None]
            s.ep.ack(tokens)  # held: nothing goes yet
            await asyncio.sleep(0.05)
            assert len(a.unacked) == 3 and b"agent-1" in s.ep._held_acks
            a.report(updates(1, start=3))
            await until(lambda: len(s.received) == 4)
            s.ep.ack([s.received[-1].ack], hold=False)  # at once, with what was held
            await until(lambda: not a.unacked, timeout=1.0)
            assert not s.ep._held_acks and s.ep._ack_timer is None
            # A held ack of an agent's older incarnation goes on its own, before the new one.
            out = s.ep.stats.messages_out
            s.ep._held_acks[b"agent-1"] = (1, [(1, 1)])
            s.ep.ack([AckToken(b"agent-1", 2, 1, 2)])
            assert s.ep.stats.messages_out == out + 1
            assert s.ep._held_acks == {b"agent-1": (2, [(1, 2)])}
        finally:
            await close()

    run(main())


def test_launches_to_many_agents_go_in_one_burst_and_a_missing_one_is_reported() -> None:
    async def main() -> None:
        got: dict[str, list[str]] = {"agent-1": [], "agent-2": []}
        s = Sched("tcp://127.0.0.1:*", ack_delay=10.0)
        await s.ep.start()
        agents = [AgentEndpoint(f"tcp://127.0.0.1:{s.ep.port}", reg(name), reconnect_ivl_ms=20,
                                on_launch=lambda ls, n=name: got[n].extend(x.task_id for x in ls))
                  for name in got]
        for a in agents:
            await a.start()
        try:
            await until(lambda: len(s.registered) == 2)
            agents[0].report(updates(2))
            await until(lambda: len(s.received) == 2)  # its ack is held for a launch
            s.ep._held_acks[b"nobody"] = (7, [(1, 1)])
            out, dropped = s.ep.stats.messages_out, s.ep.stats.send_dropped

            def ln(tid: str, agent: str) -> Launch:
                return Launch(tid, f"{agent}.example", agent, 0, 500, 128, 64)

            failed = s.ep.launch_many([("agent-1", [ln("t1", "agent-1")]),
                                       ("nobody", [ln("t2", "nobody")]),
                                       ("agent-2", [ln("t3", "agent-2"), ln("t4", "agent-2")])])
            assert failed == [1]
            assert s.ep.stats.messages_out == out + 2
            assert s.ep.stats.send_dropped == dropped + 1
            assert s.ep._held_acks == {b"nobody": (7, [(1, 1)])}  # kept: not sent
            await until(lambda: got == {"agent-1": ["t1"], "agent-2": ["t3", "t4"]})
            await until(lambda: not agents[0].unacked)  # the held ack rode on t1's launch
        finally:
            for a in agents:
                await a.close()
            await s.ep.close()

    run(main())


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policies")
def test_endpoint_io_threads_run_as_sched_batch() -> None:
    def io_threads() -> dict[int, int]:
        out = {}
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/comm") as fp:
                if fp.read().startswith("ZMQbg/IO"):
                    out[int(tid)] = os.sched_getscheduler(int(tid))
        return out

    async def main() -> None:
        before = io_threads()  # other tests' contexts may live on in this process
        ctx = zmq.asyncio.Context()
        try:
            ep = SchedulerEndpoint("tcp://127.0.0.1:*", on_register=lambda r: None,
                                   on_status=lambda u, t: None, ctx=ctx)
            await ep.start()
            try:
                def new() -> dict[int, int]:
                    return {t: p for t, p in io_threads().items() if t not in before}

                # The I/O thread sets its own policy as it starts: give it that moment.
                with contextlib.suppress(AssertionError):
                    await until(lambda: bool(new()) and all(
                        p == os.SCHED_BATCH for p in new().values()))
                assert new() and all(p == os.SCHED_BATCH for p in new().values()), new()
            finally:
                await ep.close()
        finally:
            ctx.destroy(0)

    run(main())
