"""The local backend's routing of launches to agents over the real channel."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from test_agent_channel import reg, run, until

from aurora.agent.agent_endpoint import AgentEndpoint
from aurora.model.status import ScheduleStatus as S
from aurora.scheduler.backend import HostInfo, Launch, StatusLike, StatusUpdate
from aurora.scheduler.local_backend import LocalBackend


class Sink:
    def __init__(self) -> None:
        self.up: list[str] = []
        self.updates: list[StatusUpdate] = []

    def hosts_up(self, hosts: Sequence[HostInfo]) -> None:
        self.up += [h.hostname for h in hosts]

    def hosts_down(self, hostnames: Sequence[str]) -> None:
        pass

    def status_updates(self, updates: Sequence[StatusUpdate]) -> None:
        self.updates += updates

    def status_batch(self, updates: Sequence[StatusLike], tokens: Sequence[object]) -> None:
        pass

    def connected(self) -> None:
        pass

    def task_hosts(self, task_ids: Sequence[str]) -> list[str | None]:
        return [None] * len(task_ids)

    def tasks_on_host(self, hostname: str) -> list[str]:
        return []

    def tasks_waiting(self) -> bool:
        return False


def test_launches_reach_connected_agents_and_the_rest_are_lost_with_the_reason() -> None:
    async def main() -> None:
        sink = Sink()
        backend = LocalBackend("tcp://127.0.0.1:*", batch_interval=0.0)
        await backend.start(sink)
        assert backend.endpoint is not None
        got: list[str] = []
        agent = AgentEndpoint(f"tcp://127.0.0.1:{backend.endpoint.port}", reg("agent-1"),
                              reconnect_ivl_ms=20,
                              on_launch=lambda ls: got.extend(x.task_id for x in ls))
        await agent.start()
        try:
            await until(lambda: sink.up == ["agent-1.example"])
            backend.launch([
                Launch(f"t{i}", "agent-1.example", "agent-1", i, 100, 16, 16) for i in range(3)
            ] + [Launch("g1", "ghost.example", "ghost", 0, 100, 16, 16),
                 Launch("g2", "ghost.example", "ghost", 1, 100, 16, 16)])
            await until(lambda: got == ["t0", "t1", "t2"] and len(sink.updates) == 2)
            assert [(u.task_id, u.status, u.message) for u in sink.updates] == [
                (t, int(S.LOST), "Agent ghost is not connected.") for t in ("g1", "g2")]
            await asyncio.sleep(0.05)
            assert got == ["t0", "t1", "t2"]
        finally:
            await agent.close()
            await backend.stop()

    run(main())
