"""The agent's status outbox: each agent's updates wait half to all of the delay, go together,
and the agents of one process go at the same ticks."""

from __future__ import annotations

import asyncio

import pytest

from aurora.agent.outbox import Outbox


def test_updates_wait_between_half_and_all_of_the_delay_and_travel_together() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        sent: list[tuple[str, list[int], float]] = []
        t0 = loop.time()
        box: Outbox[str, int] = Outbox(0.4, lambda k, items: sent.append(
            (k, items, loop.time())) is None, wall=lambda: loop.time() - t0)
        box.start(loop)  # ticks at t0 + 0.2, 0.4, ...

        async def at(t: float) -> None:
            await asyncio.sleep(t0 + t - loop.time())

        box.put("a", 1)
        await at(0.06)
        box.put("a", 2)  # same agent, later: goes with the first
        box.put("b", 10)
        assert len(box) == 3
        await at(0.1)
        box.put("a", 3)
        await at(0.3)  # past the first tick
        assert [(k, items) for k, items, _ in sent] == [("a", [1, 2, 3])]
        assert 0.2 - 0.01 <= sent[0][2] - t0 <= 0.3
        await at(0.5)  # b, put 0.06 s in, was not due at the first tick: it went at the second
        assert [(k, items) for k, items, _ in sent] == [("a", [1, 2, 3]), ("b", [10])]
        assert 0.2 <= sent[1][2] - (t0 + 0.06) <= 0.4 + 0.05
        assert len(box) == 0
        box.close()

    asyncio.run(scenario())


def test_agents_go_at_the_ticks_not_each_at_its_own_moment() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        sent: list[tuple[int, float]] = []
        box: Outbox[int, str] = Outbox(0.2, lambda k, _items: sent.append(
            (k, loop.time())) is None)
        box.start(loop)
        for k in range(10):  # one agent every 10 ms, over less than a tick (0.1 s)
            box.put(k, "x")
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
        assert sorted(k for k, _ in sent) == list(range(10))
        moments = sorted({round(t, 3) for _, t in sent})
        assert len(moments) <= 2, f"10 agents sent at {len(moments)} moments: {moments}"
        box.close()

    asyncio.run(scenario())


def test_undeliverable_items_are_kept_in_order_and_offered_again() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        ready = False
        got: list[list[int]] = []

        def deliver(_k: str, items: list[int]) -> bool:
            if not ready:
                return False
            got.append(items)
            return True

        box: Outbox[str, int] = Outbox(0.04, deliver)
        box.start(loop)
        box.put("a", 1)
        await asyncio.sleep(0.06)
        box.put("a", 2)
        assert got == [] and len(box) == 2
        ready = True
        await asyncio.sleep(0.1)
        assert got == [[1, 2]] and len(box) == 0
        box.close()

    asyncio.run(scenario())


def test_flush_all_sends_at_once_and_a_closed_outbox_keeps_its_items() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        got: list[tuple[str, list[int]]] = []
        box: Outbox[str, int] = Outbox(10.0, lambda k, items: got.append((k, items)) is None)
        box.put("a", 1)  # before start: kept until the loop is there
        box.start(loop)
        box.put("b", 2)
        box.flush_all()
        assert got == [("a", [1]), ("b", [2])]
        box.put("c", 3)
        box.close()
        await asyncio.sleep(0)
        assert got == [("a", [1]), ("b", [2])] and len(box) == 1

    asyncio.run(scenario())


def test_a_negative_delay_is_refused() -> None:
    with pytest.raises(ValueError, match="delay -1"):
        Outbox(-1, lambda _k, _i: True)


def test_an_urgent_item_sends_its_agent_at_the_next_tick_with_what_waits() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        sent: list[tuple[str, list[int]]] = []
        t0 = loop.time()
        box: Outbox[str, int] = Outbox(1.0, lambda k, items: sent.append((k, items)) is None,
                                       wall=lambda: loop.time() - t0)
        box.start(loop)  # ticks at 0.5, 1.0, 1.5, ... (while something waits)

        async def at(t: float) -> None:
            await asyncio.sleep(t0 + t - loop.time())

        box.put("a", 1)
        await at(0.75)  # the tick at 0.5 sent it
        assert sent == [("a", [1])]
        box.put("a", 2)
        box.put("b", 20)
        box.put("a", 3, urgent=True)  # waited nothing: a goes at the next tick all the same
        await at(1.1)
        assert sent == [("a", [1]), ("a", [2, 3])]  # b (due 1.25) waits
        box.put("a", 4)  # pending anew: the stale due entry of [2, 3] must not send it early
        await at(1.55)
        assert sent == [("a", [1]), ("a", [2, 3]), ("b", [20])]  # a's 4 is due at 1.6
        await at(2.1)
        assert sent[-1] == ("a", [4]) and len(box) == 0
        box.close()

    asyncio.run(scenario())
