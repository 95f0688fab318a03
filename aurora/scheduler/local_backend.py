"""``--backend local``: agents on this machine (``aurora-agent``) over ZeroMQ.

The scheduler's ROUTER (:class:`~aurora.agent.channel.SchedulerEndpoint`) takes registrations,
heartbeats and numbered status batches; status updates go to the scheduler as they arrive and
are acknowledged (``ack``) only after their transaction is persisted. An agent that registers
(first time, or a new incarnation after a restart) becomes a host with an offer, and the tasks
the scheduler believes are on it are reconciled explicitly: the agent answers each with its
status, LOST for a task it does not know. An agent silent for ``agent_timeout`` loses its offer
(``hosts_down``); the scheduler's housekeeping marks its tasks LOST after its own grace period.

Launches and kills are routed to the agent the task is on: launches carry their agent id; for
kills and reconciliation the scheduler says where each task is (``task_hosts``). A launch or kill
for an agent that is not connected is answered at once with LOST.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import zmq

from aurora.agent.channel import SchedulerEndpoint
from aurora.agent.protocol import Heartbeat, Register
from aurora.model.status import ScheduleStatus as S
from aurora.scheduler.backend import (
    BackendSink,
    BackendStartError,
    Launch,
    StatusLike,
    StatusUpdate,
)

log = logging.getLogger(__name__)
BATCH = 1000
BATCH_INTERVAL_S = 0.020  # agents' messages are taken in as one batch at most this often
ACK_DELAY_S = 0.5  # longest an acknowledgement waits for a launch to ride on


class LocalBackend:
    name = "local"

    def __init__(self, address: str, *, heartbeat_interval: float = 5.0,
                 agent_timeout: float = 30.0, curve: Any = None,
                 clock_ms: Any = None, batch_interval: float = BATCH_INTERVAL_S) -> None:
        self.address = address
        self.batch_interval = batch_interval
        self.heartbeat_interval = heartbeat_interval
        self.agent_timeout = agent_timeout
        self.curve = curve
        self.endpoint: SchedulerEndpoint | None = None
        self.sink: BackendSink | None = None
        self.agent_host: dict[str, str] = {}  # agent id -> host name
        self.host_agent: dict[str, str] = {}  # host name -> agent id (connected agents)
        self._epochs: dict[str, int] = {}
        self._clock_ms = clock_ms

    # ------------------------------------------------------------------ lifecycle
    async def start(self, sink: BackendSink) -> None:
        self.sink = sink
        kwargs: dict[str, Any] = {}
        if self.curve is not None:
            kwargs["curve"] = self.curve
        self.endpoint = SchedulerEndpoint(
            self.address, on_register=self._registered, on_status=self._status,
            on_heartbeat=self._heartbeat, on_agent_lost=self._lost,
            heartbeat_interval=self.heartbeat_interval, agent_timeout=self.agent_timeout,
            batch_interval=self.batch_interval, ack_delay=ACK_DELAY_S, **kwargs)
        try:
            await self.endpoint.start()
        except zmq.ZMQError as e:
            self.endpoint = None
            raise BackendStartError(f"cannot serve agents on {self.address}: {e}") from None
        log.info("agents connect to %s", self.endpoint.endpoint)

    async def stop(self) -> None:
        if self.endpoint is not None:
            await self.endpoint.close()
            self.endpoint = None

    def vars(self) -> dict[str, int]:
        """/vars and /metrics: agents connected, and what the channel counted."""
        out = {"agents_connected": len(self.host_agent)}
        if self.endpoint is not None:
            for name, value in vars(self.endpoint.stats).items():
                if isinstance(value, int):
                    out[f"agent_channel_{name}"] = value
        return out

    # ------------------------------------------------------------------ agent -> scheduler
    def _registered(self, reg: Register) -> None:
        assert self.sink is not None
        new_incarnation = self._epochs.get(reg.agent_id) != reg.epoch
        self._epochs[reg.agent_id] = reg.epoch
        old = self.agent_host.get(reg.agent_id)
        if old is not None and old != reg.hostname:
            self.host_agent.pop(old, None)
        self.agent_host[reg.agent_id] = reg.hostname
        self.host_agent[reg.hostname] = reg.agent_id
        self.sink.hosts_up([reg.host_info()])
        if new_incarnation:
            ids = self.sink.tasks_on_host(reg.hostname)
            for i in range(0, len(ids), BATCH):
                self._send_reconcile(reg.agent_id, ids[i:i + BATCH])

    def _status(self, updates: Sequence[StatusLike], tokens: Sequence[object]) -> None:
        assert self.sink is not None
        self.sink.status_batch(updates, tokens)

    def _heartbeat(self, agent_id: str, hb: Heartbeat) -> None:
        pass

    def _lost(self, agent_id: str) -> None:
        host = self.agent_host.get(agent_id)
        self._epochs.pop(agent_id, None)
        if host is None:
            return
        if self.host_agent.get(host) == agent_id:
            del self.host_agent[host]
        log.warning("agent %s (%s) silent for %.0f s", agent_id, host, self.agent_timeout)
        assert self.sink is not None
        self.sink.hosts_down([host])

    # ------------------------------------------------------------------ scheduler -> agent
    def launch(self, launches: Sequence[Launch]) -> None:
        by_agent: dict[str, list[Launch]] = {}
        for launch in launches:
            batch = by_agent.get(launch.agent_id)
            if batch is None:
                by_agent[launch.agent_id] = [launch]
            else:
                batch.append(launch)
        out: list[tuple[str, Sequence[Launch]]] = []
        lost: list[str] = []
        agent_host, host_agent = self.agent_host, self.host_agent
        for agent_id, batch in by_agent.items():
            host = agent_host.get(agent_id)
            if self.endpoint is None or host is None or host_agent.get(host) != agent_id:
                lost.append(agent_id)
            elif len(batch) <= BATCH:
                out.append((agent_id, batch))
            else:
                out += [(agent_id, batch[i:i + BATCH]) for i in range(0, len(batch), BATCH)]
        if out:
            assert self.endpoint is not None
            lost += dict.fromkeys(out[i][0] for i in self.endpoint.launch_many(out))
        for agent_id in lost:  # (an agent with a batch not sent has all of its tasks LOST)
            self._answer_lost([launch.task_id for launch in by_agent[agent_id]],
                              f"Agent {agent_id} is not connected.")

    def kill(self, task_ids: Sequence[str]) -> None:
        assert self.sink is not None
        by_agent, nowhere = self._route(task_ids)
        for agent_id, ids in by_agent.items():
            for i in range(0, len(ids), BATCH):
                if not self.endpoint or not self.endpoint.kill(agent_id, ids[i:i + BATCH]):
                    nowhere.extend(ids[i:i + BATCH])
        if nowhere:
            self._answer_lost(nowhere, "Task is on no connected agent.")

    def ack(self, tokens: Sequence[object]) -> None:
        if self.endpoint is not None:
            # While tasks wait to be placed, a freed agent is likely to get a launch soon: the
            # acknowledgement may wait for it and ride along.
            waiting = self.sink is not None and self.sink.tasks_waiting()
            self.endpoint.ack(tokens, hold=waiting)

    def reconcile(self, task_ids: Sequence[str] | None) -> None:
        if self.endpoint is None:
            return
        if task_ids is None:
            for agent_id in list(self.host_agent.values()):
                self.endpoint.reconcile(agent_id, None)
            return
        by_agent, _nowhere = self._route(task_ids)  # not connected (yet): housekeeping decides
        for agent_id, ids in by_agent.items():
            self._send_reconcile(agent_id, ids)

    # ------------------------------------------------------------------ helpers
    def _send_reconcile(self, agent_id: str, ids: Sequence[str]) -> None:
        if self.endpoint is not None:
            self.endpoint.reconcile(agent_id, list(ids))

    def _route(self, task_ids: Sequence[str]) -> tuple[dict[str, list[str]], list[str]]:
        assert self.sink is not None
        by_agent: dict[str, list[str]] = {}
        nowhere: list[str] = []
        for tid, host in zip(task_ids, self.sink.task_hosts(task_ids), strict=True):
            agent_id = self.host_agent.get(host) if host else None
            if agent_id is None:
                nowhere.append(tid)
            else:
                by_agent.setdefault(agent_id, []).append(tid)
        return by_agent, nowhere

    def _answer_lost(self, task_ids: Sequence[str], message: str) -> None:
        sink = self.sink
        assert sink is not None
        now = self._clock_ms() if self._clock_ms else _now_ms()
        updates = [StatusUpdate(tid, int(S.LOST), now, message) for tid in task_ids]
        asyncio.get_running_loop().call_soon(sink.status_updates, updates)


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)
