"""The boundary between the scheduler and whatever runs tasks (sim, local agents, Mesos).

A backend reports hosts (Aurora's offers: one per agent) and batches of status updates to a
:class:`BackendSink` -- the scheduler -- and carries out launches, kills and reconciliation
requests. Everything crosses this boundary in batches: the scheduler persists a batch of status
updates in one transaction and only then acknowledges it (``ack``), so a backend that resends
unacknowledged updates after a crash loses nothing, and duplicates change nothing.

All methods are called on the scheduler's event loop; a backend whose library has its own
thread hands results back with ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import msgspec


class BackendStartError(RuntimeError):
    """A backend cannot start (its address is taken...): the daemon says so in one line."""


class HostInfo(msgspec.Struct, frozen=True):
    """An agent able to run tasks, with its total resources (Aurora reads them from offers)."""

    hostname: str
    agent_id: str
    cpu_milli: int
    ram_mb: int
    disk_mb: int
    gpus: int = 0
    port_ranges: tuple[tuple[int, int], ...] = ()
    attributes: Mapping[str, tuple[str, ...]] = msgspec.field(default_factory=dict)


class Launch(msgspec.Struct, frozen=True):
    """One task to start on one agent."""

    task_id: str
    hostname: str
    agent_id: str
    instance: int
    cpu_milli: int
    ram_mb: int
    disk_mb: int
    gpus: int = 0
    ports: Mapping[str, int] = msgspec.field(default_factory=dict)
    executor_data: str = ""  # the Thermos task as JSON, as Aurora's client sends it
    job: str = ""  # role/env/name


class StatusLike(Protocol):
    """What the scheduler reads of a status update."""

    @property
    def task_id(self) -> str: ...
    @property
    def status(self) -> int: ...
    @property
    def message(self) -> str | None: ...


class StatusUpdate(msgspec.Struct, frozen=True):
    """What an agent says happened to a task. ``ack`` is the backend's token for acknowledging
    it once the scheduler has persisted its effect (None: nothing to acknowledge)."""

    task_id: str
    status: int  # ScheduleStatus wire number
    timestamp_ms: int
    message: str | None = None
    hostname: str | None = None
    ack: object | None = None


class BackendSink(Protocol):
    """The scheduler, as a backend sees it."""

    def hosts_up(self, hosts: Sequence[HostInfo]) -> None:
        """Agents that registered, re-registered or changed."""

    def hosts_down(self, hostnames: Sequence[str]) -> None:
        """Agents that went away (their tasks' fate arrives as status updates)."""

    def status_updates(self, updates: Sequence[StatusUpdate]) -> None:
        """A batch of updates, in the order the backend received them."""

    def status_batch(self, updates: Sequence[StatusLike], tokens: Sequence[object]) -> None:
        """The same, as any objects with ``task_id``, ``status`` and ``message`` (the agent
        channel passes its wire structs through), and the backend's tokens to acknowledge (all
        of them) once every update's effect is persisted."""

    def connected(self) -> None:
        """The backend (re)connected: the scheduler reconciles every task it believes live."""

    def task_hosts(self, task_ids: Sequence[str]) -> list[str | None]:
        """Where the scheduler placed each task (None: nowhere, or unknown)."""

    def tasks_on_host(self, hostname: str) -> list[str]:
        """The tasks the scheduler believes are on HOSTNAME (assigned, not yet terminal)."""

    def tasks_waiting(self) -> bool:
        """Some task waits to be placed (launches are likely soon)."""


class Backend(Protocol):
    name: str

    async def start(self, sink: BackendSink) -> None:
        """Connect and start reporting to SINK."""

    async def stop(self) -> None:
        """Disconnect without killing anything (failover semantics)."""

    def launch(self, launches: Sequence[Launch]) -> None:
        """Start these tasks; their fate comes back as status updates."""

    def kill(self, task_ids: Sequence[str]) -> None:
        """Kill these tasks; unknown ids are answered with a terminal update."""

    def ack(self, tokens: Sequence[object]) -> None:
        """These updates are persisted: the backend may forget them."""

    def reconcile(self, task_ids: Sequence[str] | None) -> None:
        """Explicit (the given ids) or implicit (None: every task the backend knows):
        the backend answers with the current status of each task, LOST for unknown ones."""
