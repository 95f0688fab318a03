"""Simulated agents for `status-storm`: real ZeroMQ DEALER sockets, the agent's own channel code
(:class:`aurora.agent.channel.AgentEndpoint`), no processes.

    python -m bench.storm_agents --address tcp://127.0.0.1:PORT --agents K --tasks N --out FILE

Each agent registers with ample resources and keeps the task ids the scheduler launches on it.
Once N launches have arrived, every agent reports STARTING for all its tasks, then RUNNING, then
FINISHED (numbered, batched by at most 1,000 per message, as a real agent sends them); the clock
runs from the first update sent until every agent holds no unacknowledged update, i.e. until the
scheduler has applied, persisted and acknowledged them all. The result (JSON) goes to FILE.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from aurora.agent.channel import AgentEndpoint
from aurora.agent.protocol import Register, Update
from aurora.model.status import ScheduleStatus as S
from aurora.scheduler.backend import Launch

PHASES = (int(S.STARTING), int(S.RUNNING), int(S.FINISHED))


async def storm(address: str, agents: int, tasks: int, timeout: float) -> dict[str, object]:
    launched: list[list[str]] = [[] for _ in range(agents)]
    count = 0
    all_in = asyncio.Event()

    def on_launch(i: int, launches: tuple[Launch, ...] | list[Launch]) -> None:
        nonlocal count
        launched[i].extend(launch.task_id for launch in launches)
        count += len(launches)
        if count >= tasks:
            all_in.set()

    endpoints = []
    for i in range(agents):
        reg = Register(f"storm-{i}", f"storm-{i}", 10_000_000, 100_000_000, 100_000_000,
                       attributes={"zone": (f"z{i % 3}",)})
        ep = AgentEndpoint(address, reg, on_launch=lambda ls, i=i: on_launch(i, ls),
                           heartbeat_interval=1.0, resend_timeout=timeout)
        await ep.start()
        endpoints.append(ep)
    await asyncio.wait_for(all_in.wait(), timeout)
    now = int(time.time() * 1000)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    sent = 0
    for status in PHASES:
        for ep, ids in zip(endpoints, launched, strict=True):
            ep.report(Update(tid, status, now) for tid in ids)
            sent += len(ids)
        await asyncio.sleep(0)  # let acks in between phases
    while any(ep.unacked for ep in endpoints):
        await asyncio.sleep(0.002)
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"{sum(len(ep.unacked) for ep in endpoints)} updates unacked")
    seconds = time.perf_counter() - t0
    out = {"seconds": seconds, "updates": sent, "agents": agents,
           "agent_cpu_s": time.process_time() - cpu0,
           "resent": sum(ep.stats.resent for ep in endpoints),
           "send_dropped": sum(ep.stats.send_dropped for ep in endpoints)}
    for ep in endpoints:
        await ep.close()
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--address", required=True)
    p.add_argument("--agents", type=int, required=True)
    p.add_argument("--tasks", type=int, required=True)
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    import uvloop

    result = uvloop.run(storm(args.address, args.agents, args.tasks, args.timeout))
    with open(args.out, "w") as fp:
        json.dump(result, fp)


if __name__ == "__main__":
    main()
