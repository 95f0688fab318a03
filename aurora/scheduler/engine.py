"""The placement engine: where the stages of a scheduling decision are wired together.

One call places up to N instances of a task group (tasks with identical config). The stages, in
the order a group meets them:

1. request   -- the group's config compiled once against the cluster's interned ids
                (``matcher.Request``); cached per group key, so its static veto cache per host
                class survives between attempts.
2. order     -- hosts in the cycle's order (``OrderPolicy``): seeded random first-fit (Aurora's
                default), bin-packing by ascending free CPU / RAM / disk, or spread by
                descending free CPU; hosts in maintenance last. Computed once per cycle.
3. feasible  -- the kernel's chain per host: offer, class-cached static checks (dedicated,
                maintenance, value constraints), static checks on unique attributes, limit
                constraints from the job's live counts, resources.
4. place     -- the kernel puts as many instances on each passing host as fit, updating free
                resources and limit counts in the same pass (``rack limit:2`` holds in a batch);
                instances that ask for named ports get port numbers from the host's ranges.
5. reasons   -- for instances left unplaced, hosts per veto, typed static or dynamic, ready to be
                Aurora's pending reason.

The engine knows nothing of asyncio or storage: the service layer decides when cycles run and
persists what the placements mean.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from enum import Enum
from typing import Any

from aurora._fastpath import load
from aurora.model.task import Constraint, TaskConfig


class OrderPolicy(Enum):
    RANDOM = "random"
    BINPACK_CPU = "binpack-cpu"
    BINPACK_RAM = "binpack-ram"
    BINPACK_DISK = "binpack-disk"
    SPREAD = "spread"


@dataclass(frozen=True)
class Veto:
    """Hosts that turned a group down for one reason."""

    type: str  # Aurora's VetoType name
    group: str  # "static" (cacheable) or "dynamic" (depends on where the job's tasks are)
    reason: str  # Aurora's reason text, e.g. "Insufficient: CPU"
    hosts: int


@dataclass(frozen=True)
class Placement:
    hosts: array  # host id of each placed instance, in placement order
    requested: int
    vetoes: tuple[Veto, ...]  # complete when fewer than requested were placed
    ports: tuple[tuple[int, ...], ...] = ()  # port numbers of each placed instance, if asked

    @property
    def unplaced(self) -> int:
        return self.requested - len(self.hosts)

    def pending_reason(self) -> str:
        """Aurora-style: "Insufficient: CPU (9,000 hosts); Constraint not satisfied: zone ..."."""
        if not self.vetoes:
            return "No offers available" if self.unplaced else ""
        return "; ".join(f"{v.reason} ({v.hosts:,} host{'s' if v.hosts != 1 else ''})"
                         for v in self.vetoes)


def constraint_tuples(constraints: tuple[Constraint, ...]) -> list[tuple]:
    """Model constraints as the kernel's ("value", name, values, negated) / ("limit", ...)."""
    out: list[tuple] = []
    for c in constraints:
        if c.value is not None:
            out.append(("value", c.name, tuple(sorted(c.value.values)), c.value.negated))
        elif c.limit is not None:
            out.append(("limit", c.name, c.limit.limit))
    return out


def cpu_milli(cpu: float) -> int:
    return round(cpu * 1000)


class Engine:
    """Places task groups on a cluster; one instance per scheduler, driven by the service."""

    def __init__(self, cluster: Any, *, impl: str | None = None,
                 policy: OrderPolicy = OrderPolicy.RANDOM, seed: int = 0,
                 max_per_host: int = 0) -> None:
        self.matcher = load("matcher", impl)
        self.cluster = cluster
        self.policy = policy
        self.seed = seed
        self.max_per_host = max_per_host
        self.cycle = 0
        self._order: array | None = None
        self._requests: dict[Any, Any] = {}

    # ------------------------------------------------------------ stage 1: requests
    def request(self, key: Any, job: int, cpu_milli: int, ram_mb: int, disk_mb: int,
                gpus: int = 0, ports: int = 0, constraints: list[tuple] | None = None) -> Any:
        """The compiled request of group KEY (built on first use, then cached)."""
        req = self._requests.get(key)
        if req is None:
            req = self.matcher.Request(self.cluster, job, cpu_milli, ram_mb, disk_mb, gpus,
                                       ports, constraints or [])
            self._requests[key] = req
        return req

    def request_for(self, key: Any, job: int, config: TaskConfig) -> Any:
        r = config.resources
        return self.request(key, job, cpu_milli(r.cpu), r.ram_mb, r.disk_mb, r.gpus,
                            len(r.ports), constraint_tuples(config.constraints))

    def forget(self, key: Any) -> None:
        """Drop a group's request (its tasks are all placed or gone)."""
        self._requests.pop(key, None)

    # ------------------------------------------------------------ stage 2: order
    def begin_cycle(self) -> array:
        """Compute this cycle's host order; the same seed and cycle give the same order."""
        m, cl = self.matcher, self.cluster
        if self.policy is OrderPolicy.RANDOM:
            self._order = m.order_random(cl, self.seed * 1_000_003 + self.cycle)
        elif self.policy is OrderPolicy.SPREAD:
            self._order = m.order_spread(cl)
        else:
            self._order = m.order_binpack(cl, self.policy.value.split("-", 1)[1])
        self.cycle += 1
        return self._order

    # ------------------------------------------------------------ stages 3-5
    def place(self, request: Any, count: int) -> Placement:
        """Place up to COUNT instances of REQUEST in this cycle's order."""
        if self._order is None or len(self._order) != self.cluster.host_count:
            self.begin_cycle()
        hosts, counts = self.matcher.place(self.cluster, request, self._order, count,
                                           self.max_per_host)
        vetoes: tuple[Veto, ...] = ()
        if len(hosts) < count:
            vetoes = self.reasons(request, counts)
        nports = request.res[4]
        ports: tuple[tuple[int, ...], ...] = ()
        if nports:  # the kernel reserved counts; hand out the numbers
            ports = tuple(self.cluster.pick_ports(h, nports) for h in hosts)
        return Placement(hosts, count, vetoes, ports)

    @staticmethod
    def reasons(request: Any, counts: array) -> tuple[Veto, ...]:
        """Veto counts as typed reasons, most hosts first."""
        labels = request.labels()
        found = [Veto(labels[i][0], labels[i][1], labels[i][2], n)
                 for i, n in enumerate(counts) if n]
        return tuple(sorted(found, key=lambda v: -v.hosts))

    def eligible(self, request: Any) -> array:
        """Hosts passing every check but resources (the preemptor's candidates)."""
        return self.matcher.eligible(self.cluster, request)
