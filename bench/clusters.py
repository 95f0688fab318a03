"""The standard bench cluster of /work/shared/bench-scenarios.md, built in either implementation.

Hosts have 8 CPU, 16 GB RAM, 256 GB disk and ports 1-1023 (1,023 ports) unless a `Shape` says
otherwise; two hosts per rack, racks spread round-robin over 3 zones; attributes `host`, `rack`
and `zone`. Host i is named ``host-<i>``, sits in rack ``rack-<i // 2>`` and zone
``zone-<(i // 2) % 3>``. A rack holds two hosts, so `rack` is a unique attribute like `host`
(it splits no host class): the classes are maintenance mode x zone (x any extra attributes).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aurora._fastpath import load

UNIQUE_ATTRIBUTES = ("host", "rack")


@dataclass(frozen=True)
class Shape:
    """One host's resources and the cluster's layout."""

    cpu_milli: int = 8_000
    ram_mb: int = 16 * 1024
    disk_mb: int = 256 * 1024
    gpus: int = 0
    ports: int = 1_023
    hosts_per_rack: int = 2
    zones: int = 3


STANDARD = Shape()

# host id -> extra attributes of that host (e.g. {"dedicated": "role/x"}), or None for none.
ExtraAttributes = Callable[[int], Mapping[str, str] | None]


def rack_of(host: int, shape: Shape = STANDARD) -> int:
    return host // shape.hosts_per_rack


def zone_of(host: int, shape: Shape = STANDARD) -> int:
    return rack_of(host, shape) % shape.zones


def zone_name(zone: int) -> str:
    return f"zone-{zone}"


def attributes_of(host: int, shape: Shape = STANDARD) -> dict[str, str]:
    return {"host": f"host-{host:06d}", "rack": f"rack-{rack_of(host, shape):05d}",
            "zone": zone_name(zone_of(host, shape))}


def build(impl: str, hosts: int, shape: Shape = STANDARD,
          extra: ExtraAttributes | None = None) -> Any:
    """A Cluster of the given implementation with HOSTS standard hosts (ids 0..hosts-1), all
    free, with offers, maintenance NONE."""
    cluster = load("cluster", impl).Cluster(unique_attributes=UNIQUE_ATTRIBUTES)
    for h in range(hosts):
        attrs = attributes_of(h, shape)
        more = extra(h) if extra is not None else None
        if more:
            attrs.update(more)
        got = cluster.add_host(attrs["host"], shape.cpu_milli, shape.ram_mb, shape.disk_mb,
                               shape.gpus, shape.ports, attrs)
        if got != h:
            raise RuntimeError(f"host {attrs['host']} got id {got}, expected {h}")
    return cluster


def check_free(cluster: Any, used: Mapping[int, tuple[int, int, int, int, int]]) -> None:
    """Raise unless every host's free resources equal its total minus USED[host] (an
    independent tally kept by the scenario) and none is negative: no over-commit, nothing lost."""
    free = (cluster.cpu_free, cluster.ram_free, cluster.disk_free, cluster.gpu_free,
            cluster.port_free)
    total = (cluster.cpu_total, cluster.ram_total, cluster.disk_total, cluster.gpu_total,
             cluster.port_total)
    zero = (0, 0, 0, 0, 0)
    for h in range(cluster.host_count):
        taken = used.get(h, zero)
        for r in range(5):
            if free[r][h] < 0 or free[r][h] != total[r][h] - taken[r]:
                raise RuntimeError(
                    f"host {h}: resource {r} free {free[r][h]}, total {total[r][h]}, "
                    f"expected {total[r][h] - taken[r]} after the bench's own tally")


def tally(used: dict[int, tuple[int, int, int, int, int]], hosts: array | list[int],
          res: tuple[int, int, int, int, int]) -> None:
    """Add RES to USED once per entry of HOSTS (one placed instance each)."""
    for h in hosts:
        u = used.get(h, (0, 0, 0, 0, 0))
        used[h] = (u[0] + res[0], u[1] + res[1], u[2] + res[2], u[3] + res[3], u[4] + res[4])
