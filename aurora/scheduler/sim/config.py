"""The simulated cluster's shape and its tasks' behaviour (``--sim-config FILE`` or flags).

Every field has a default, so ``{}`` is a valid config: 100 hosts of the bench's standard shape
(8 CPU, 16 GB RAM, 256 GB disk, ports 1-1023), two hosts per rack, racks spread over three zones,
tasks that start within a few tens of milliseconds and run until killed.

Durations are milliseconds; a duration is either a number (fixed) or ``[low, high]`` (uniform,
drawn from the config's seeded generator).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

from aurora.scheduler.backend import HostInfo

Duration = int | tuple[int, int]


class AttributeRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An extra host attribute.

    Hosts ``first <= i < first + count`` (all from ``first`` when count is None), every
    ``every``-th of them, get ``name`` = ``values[unit % len(values)]``, where ``unit`` is the
    host's index, its rack's or its zone's (``per``). A rule naming ``host``, ``rack`` or ``zone``
    replaces that attribute on the hosts it covers. Example: the first 10 hosts dedicated to
    www-data/hello is ``{"name": "dedicated", "values": ["www-data/hello"], "count": 10}``.
    """

    name: str
    values: tuple[str, ...]
    per: Literal["host", "rack", "zone"] = "host"
    first: int = 0
    count: int | None = None
    every: int = 1

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("attribute rule: name must not be empty")
        if not self.values:
            raise ValueError(f"attribute rule {self.name!r}: values must not be empty")
        if self.first < 0 or (self.count is not None and self.count < 0) or self.every < 1:
            raise ValueError(
                f"attribute rule {self.name!r}: need first >= 0, count >= 0, every >= 1"
            )


class SimConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The ``sim`` backend's configuration. See the module docstring for units."""

    # -- cluster shape
    hosts: int = 100
    cpu_milli: int = 8_000
    ram_mb: int = 16 * 1024
    disk_mb: int = 256 * 1024
    gpus: int = 0
    port_ranges: tuple[tuple[int, int], ...] = ((1, 1023),)
    hostname_pattern: str = "sim-{i:06d}"  # fields: i (host index), rack, zone
    agent_id_pattern: str = "sim-agent-{i:06d}"
    rack_pattern: str = "rack-{rack:05d}"
    zone_pattern: str = "zone-{zone}"
    hosts_per_rack: int = 2
    zones: int = 3  # racks go round-robin over the zones
    attributes: tuple[AttributeRule, ...] = ()
    host_batch_size: int = 1_000  # hosts per hosts_up call

    # -- task behaviour
    starting_delay_ms: Duration = (0, 20)  # launch -> STARTING
    running_delay_ms: Duration = (0, 30)  # STARTING -> RUNNING
    run_time_ms: Duration | None = None  # RUNNING -> FINISHED; None: runs until killed
    failure_rate: float = 0.0  # fraction of tasks that end FAILED instead
    fail_after_ms: Duration | None = None  # RUNNING -> FAILED; None: run_time_ms, else 1 s
    failure_message: str = "Process 'main' exited with status 1 (simulated failure)"
    kill_delay_ms: Duration = (0, 10)  # kill -> KILLED
    adopt_unknown: bool = False  # explicit reconcile of an unknown id: adopt it as RUNNING
    check_resources: bool = True  # refuse (LOST) launches that over-commit a host
    seed: int = 0

    # -- delivery
    batch_size: int = 1_000  # updates per status_updates call (max_status_update_batch_size)
    resend_after_ms: int = 5_000  # unacknowledged updates are sent again after this
    slot_ms: int = 10  # due times are bucketed into slots this wide: one timer per slot
    max_events_per_tick: int = 50_000  # task steps processed per loop callback
    max_batches_per_tick: int = 50  # update batches delivered per loop callback

    def __post_init__(self) -> None:
        positive = ("hosts_per_rack", "zones", "host_batch_size", "batch_size", "slot_ms",
                    "resend_after_ms", "max_events_per_tick", "max_batches_per_tick")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"sim config: {name} must be >= 1, got {getattr(self, name)}")
        for name in ("hosts", "cpu_milli", "ram_mb", "disk_mb", "gpus"):
            if getattr(self, name) < 0:
                raise ValueError(f"sim config: {name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.failure_rate <= 1.0:
            raise ValueError(f"sim config: failure_rate must be in [0, 1], got {self.failure_rate}")
        for lo, hi in self.port_ranges:
            if not 0 < lo <= hi <= 65535:
                raise ValueError(f"sim config: bad port range [{lo}, {hi}]")
        for name in ("starting_delay_ms", "running_delay_ms", "run_time_ms", "fail_after_ms",
                     "kill_delay_ms"):
            value = getattr(self, name)
            if value is not None:
                span(value, name)  # raises on a bad range
        try:
            self.hostname_pattern.format(i=0, rack=0, zone=0)
            self.agent_id_pattern.format(i=0, rack=0, zone=0, hostname="h")
            self.rack_pattern.format(i=0, rack=0, zone=0)
            self.zone_pattern.format(i=0, rack=0, zone=0)
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"sim config: bad name pattern: {e!r}") from None

    # -- construction
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SimConfig:
        """A config from plain data (a decoded JSON object); raises msgspec.ValidationError
        naming the bad field."""
        return msgspec.convert(dict(data), cls)

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: Any) -> SimConfig:
        """A config from a JSON file (``--sim-config FILE``, optional), with flag values on top:
        ``SimConfig.load("sim.json", hosts=10_000, seed=7)``. None-valued overrides are
        ignored, so unset flags can be passed through."""
        data: dict[str, Any] = {}
        if path is not None:
            loaded = json.loads(Path(path).read_text())
            if not isinstance(loaded, dict):
                raise msgspec.ValidationError(f"{path}: a sim config must be a JSON object")
            data.update(loaded)
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)

    # -- layout
    def rack_of(self, i: int) -> int:
        return i // self.hosts_per_rack

    def zone_of(self, i: int) -> int:
        return (i // self.hosts_per_rack) % self.zones


def span(value: Duration, name: str = "duration") -> tuple[float, float]:
    """A duration as (low, high) milliseconds."""
    if isinstance(value, int):
        lo = hi = value
    else:
        lo, hi = value
    if lo < 0 or hi < lo:
        raise ValueError(f"sim config: {name} must be a number >= 0 or [low, high] with "
                         f"0 <= low <= high, got {value!r}")
    return float(lo), float(hi)


def build_hosts(config: SimConfig) -> list[HostInfo]:
    """The simulated agents, in index order, with ``host``, ``rack`` and ``zone`` attributes
    plus the config's extra rules."""
    racks: dict[int, str] = {}
    zones = [config.zone_pattern.format(i=z, rack=z, zone=z) for z in range(config.zones)]
    rules = config.attributes
    hosts: list[HostInfo] = []
    for i in range(config.hosts):
        r = config.rack_of(i)
        z = r % config.zones
        rack = racks.get(r)
        if rack is None:
            rack = racks[r] = config.rack_pattern.format(i=i, rack=r, zone=z)
        hostname = config.hostname_pattern.format(i=i, rack=r, zone=z)
        attrs: dict[str, tuple[str, ...]] = {
            "host": (hostname,), "rack": (rack,), "zone": (zones[z],)
        }
        for rule in rules:
            k = i - rule.first
            if k < 0 or (rule.count is not None and k >= rule.count) or k % rule.every:
                continue
            unit = i if rule.per == "host" else r if rule.per == "rack" else z
            attrs[rule.name] = (rule.values[unit % len(rule.values)],)
        hosts.append(HostInfo(
            hostname=hostname,
            agent_id=config.agent_id_pattern.format(i=i, rack=r, zone=z, hostname=hostname),
            cpu_milli=config.cpu_milli,
            ram_mb=config.ram_mb,
            disk_mb=config.disk_mb,
            gpus=config.gpus,
            port_ranges=config.port_ranges,
            attributes=attrs,
        ))
    return hosts
