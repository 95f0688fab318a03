"""Pure-Python twin of ``matcher.pyx``: feasibility, placement and host orders.

The feasibility chain, applied to each host in the given order (Aurora's SchedulingFilterImpl
order; the first veto found is the host's reason, except resources, which are all reported):

1. offer     -- a host without an offer is not considered at all (not a veto);
2. class     -- cached per (request, host class): DEDICATED_CONSTRAINT_MISMATCH (a dedicated
                host takes only tasks asking for it), MAINTENANCE (DRAINING or DRAINED), then
                CONSTRAINT_MISMATCH for value constraints and for limit attributes the host
                lacks, on the attributes that hosts of a class share;
3. escaped   -- the same static checks on unique attributes (``host``), per host, never cached;
4. limits    -- LIMIT_NOT_SATISFIED: the job's active tasks on hosts with the host's value must
                be fewer than the limit (dynamic: never cached);
5. resources -- INSUFFICIENT_RESOURCES for each of CPU, RAM, disk, GPU and ports short.

A host that passes takes as many of the group's remaining instances as its resources, the limit
headroom and ``max_per_host`` allow; free resources and the job's limit counts are updated at
once, so ``rack limit:2`` holds inside one batch. The host is then checked again so its veto is
counted if instances remain unplaced.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

from aurora._fastpath._cluster_py import DRAINED, DRAINING, NONE, Cluster

MASK64 = 0xFFFFFFFFFFFFFFFF
OK = 1  # class cache: 0 = not computed yet, 1 = passes, code + 2 = vetoed with code
V_DEDICATED, V_DRAINING, V_DRAINED, V_CONSTRAINT = 0, 1, 2, 3
RESOURCES = ("CPU", "RAM", "disk", "GPU", "ports")


class Request:
    """What one task group asks of a host, compiled against a cluster's interned ids.

    ``constraints``: ``("value", name, values, negated)`` or ``("limit", name, limit)`` tuples.
    Value constraints are checked before limit constraints, each kind in the order given.
    """

    def __init__(self, cluster: Cluster, job: int, cpu_milli: int, ram_mb: int, disk_mb: int,
                 gpus: int = 0, ports: int = 0, constraints: Sequence[tuple] = ()) -> None:
        for name, v in (("cpu_milli", cpu_milli), ("ram_mb", ram_mb), ("disk_mb", disk_mb),
                        ("gpus", gpus), ("ports", ports)):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 0x7FFFFFFF:
                raise ValueError(f"{name} must be an integer in 0..2147483647, got {v!r}")
        self.job = job
        self.res = (cpu_milli, ram_mb, disk_mb, gpus, ports)
        values = [c for c in constraints if c[0] == "value"]
        limits = [c for c in constraints if c[0] == "limit"]
        if len(values) + len(limits) != len(constraints):
            bad = [c for c in constraints if c[0] not in ("value", "limit")]
            raise ValueError(f"unknown constraint kind in {bad[0]!r}: expected 'value' or 'limit'")
        self.names = [c[1] for c in values] + [c[1] for c in limits]
        self.dedicated = any(c[1] == "dedicated" for c in values)
        self.v_attr = array("i")
        self.v_neg = array("B")
        self.v_unique = array("B")
        self.v_allowed: list[frozenset[int]] = []
        for _, name, vals, negated in values:
            a = cluster.intern_attr(name)
            self.v_attr.append(a)
            self.v_neg.append(1 if negated else 0)
            self.v_unique.append(cluster.attr_unique[a])
            self.v_allowed.append(frozenset(cluster.intern_value(a, str(v)) for v in vals))
        self.l_attr = array("i")
        self.l_limit = array("i")
        self.l_unique = array("B")
        for _, name, limit in limits:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                raise ValueError(f"limit of constraint {name!r} must be an integer >= 0, "
                                 f"got {limit!r}")
            a = cluster.intern_attr(name)
            self.l_attr.append(a)
            self.l_limit.append(limit)
            self.l_unique.append(cluster.attr_unique[a])
        self.nv = len(values)
        self.nc = self.nv + len(limits)
        self.v_limit0 = V_CONSTRAINT + self.nc  # first LIMIT_NOT_SATISFIED code
        self.v_res0 = self.v_limit0 + len(limits)  # first INSUFFICIENT_RESOURCES code
        self.ncodes = self.v_res0 + len(RESOURCES)
        self.class_cache = array("B")

    def labels(self) -> list[tuple[str, str, str]]:
        """(veto type, static|dynamic, Aurora's reason text) for every veto code."""
        out = [("DEDICATED_CONSTRAINT_MISMATCH", "static", "Host is dedicated"),
               ("MAINTENANCE", "static", "Host draining for maintenance"),
               ("MAINTENANCE", "static", "Host drained for maintenance")]
        out += [("CONSTRAINT_MISMATCH", "static", f"Constraint not satisfied: {n}")
                for n in self.names]
        out += [("LIMIT_NOT_SATISFIED", "dynamic", f"Limit not satisfied: {n}")
                for n in self.names[self.nv:]]
        out += [("INSUFFICIENT_RESOURCES", "static", f"Insufficient: {r}") for r in RESOURCES]
        return out


def _value_ok(cluster: Cluster, req: Request, i: int, h: int) -> bool:
    a = req.v_attr[i]
    if cluster.multi[h]:
        matched = any(v in req.v_allowed[i] for v in cluster.values_of(h, a))
    else:
        matched = cluster.attr_cols[a][h] in req.v_allowed[i]
    return matched != bool(req.v_neg[i])


def _class_veto(cluster: Cluster, req: Request, h: int) -> int:
    """Code + 2 of the first veto shared by H's whole class, or OK."""
    if cluster.dedicated[h] and not req.dedicated:
        return V_DEDICATED + 2
    mode = cluster.maint[h]
    if mode == DRAINING:
        return V_DRAINING + 2
    if mode == DRAINED:
        return V_DRAINED + 2
    for i in range(req.nv):
        if not req.v_unique[i] and not _value_ok(cluster, req, i, h):
            return V_CONSTRAINT + i + 2
    for j in range(req.nc - req.nv):
        if not req.l_unique[j] and cluster.attr_cols[req.l_attr[j]][h] < 0:
            return V_CONSTRAINT + req.nv + j + 2
    return OK


def _escaped_veto(cluster: Cluster, req: Request, h: int, before: int) -> int:
    """First static veto on a unique attribute with a code below BEFORE, or -1."""
    for i in range(req.nv):
        if V_CONSTRAINT + i >= before:
            return -1
        if req.v_unique[i] and not _value_ok(cluster, req, i, h):
            return V_CONSTRAINT + i
    for j in range(req.nc - req.nv):
        if V_CONSTRAINT + req.nv + j >= before:
            return -1
        if req.l_unique[j] and cluster.attr_cols[req.l_attr[j]][h] < 0:
            return V_CONSTRAINT + req.nv + j
    return -1


def _static_veto(cluster: Cluster, req: Request, h: int) -> int:
    """The host's static veto code (class, then escaped), or -1."""
    c = cluster.host_class[h]
    cache = req.class_cache
    if c >= len(cache):
        cache.extend(array("B", [0]) * (cluster.class_count - len(cache)))
    v = cache[c]
    if v == 0:
        v = _class_veto(cluster, req, h)
        cache[c] = v
    if v != OK:
        code = v - 2
        if code >= V_CONSTRAINT:
            esc = _escaped_veto(cluster, req, h, code)
            if esc >= 0:
                return esc
        return code
    return _escaped_veto(cluster, req, h, req.ncodes)


def _limit_room(cluster: Cluster, req: Request, counts: list[array], h: int) -> tuple[int, int]:
    """(veto code or -1, how many more the limits allow on H)."""
    room = 0x7FFFFFFF
    for j in range(req.nc - req.nv):
        a = req.l_attr[j]
        limit = req.l_limit[j]
        cnt = counts[j]
        vals = cluster.values_of(h, a) if cluster.multi[h] else (cluster.attr_cols[a][h],)
        for v in vals:
            used = cnt[v] if v < len(cnt) else 0
            if used >= limit:
                return req.v_limit0 + j, 0
            room = min(room, limit - used)
    return -1, room


def place(cluster: Cluster, req: Request, order: Sequence[int] | None, count: int,
          max_per_host: int = 0) -> tuple[array, array]:
    """Place up to COUNT instances of REQ, visiting hosts in ORDER (None: in id order).

    Returns (host of each placed instance, veto counts by code). The veto counts are complete
    only when fewer than COUNT were placed (the whole order was visited).
    """
    placed = array("q")
    vetoes = array("q", [0]) * req.ncodes
    if count <= 0:
        return placed, vetoes
    counts = [cluster.track(req.job, a).counts for a in req.l_attr]
    trackers = cluster.trackers(req.job)  # after track(): it may have added some
    for t in trackers:
        t.ensure(cluster.value_count(t.attr))
    free = (cluster.cpu_free, cluster.ram_free, cluster.disk_free, cluster.gpu_free,
            cluster.port_free)
    res = req.res
    remaining = count
    for h in range(cluster.host_count) if order is None else order:
        if not cluster.offer[h]:
            continue
        here = 0
        while True:
            code = _static_veto(cluster, req, h)
            if code < 0:
                code, room = _limit_room(cluster, req, counts, h)
            if code >= 0:
                vetoes[code] += 1
                break
            short = False
            for r in range(5):
                if free[r][h] < res[r]:
                    vetoes[req.v_res0 + r] += 1
                    short = True
            if short:
                break
            k = min(remaining, room)
            if max_per_host > 0:
                k = min(k, max_per_host - here)
            for r in range(5):
                if res[r] > 0:
                    k = min(k, free[r][h] // res[r])
            if k <= 0:  # cannot happen after the checks above; never loop on it
                break
            for r in range(5):
                free[r][h] -= k * res[r]
            for t in trackers:
                for v in cluster.values_of(h, t.attr):
                    t.counts[v] += k
            placed.extend(array("q", [h]) * k)
            here += k
            remaining -= k
            if remaining == 0 or (max_per_host > 0 and here >= max_per_host):
                break
        if remaining == 0:
            break
    return placed, vetoes


def eligible(cluster: Cluster, req: Request) -> array:
    """1 per host that passes every check but resources and offers (for preemption)."""
    out = array("B", [0]) * cluster.host_count
    counts = [cluster.track(req.job, a).counts for a in req.l_attr]
    for t in cluster.trackers(req.job):
        t.ensure(cluster.value_count(t.attr))
    for h in range(cluster.host_count):
        if _static_veto(cluster, req, h) < 0 and _limit_room(cluster, req, counts, h)[0] < 0:
            out[h] = 1
    return out


def _splitmix(state: int) -> tuple[int, int]:
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return state, z ^ (z >> 31)


def _maintenance_last(cluster: Cluster, hosts: list[int]) -> array:
    first = [h for h in hosts if cluster.maint[h] == NONE]
    last = [h for h in hosts if cluster.maint[h] != NONE]
    return array("q", first + last)


def order_random(cluster: Cluster, seed: int) -> array:
    """Hosts in a seeded random order (Aurora's default), hosts in maintenance last."""
    hosts = list(range(cluster.host_count))
    state = seed & MASK64
    for i in range(len(hosts) - 1, 0, -1):
        state, z = _splitmix(state)
        j = z % (i + 1)
        hosts[i], hosts[j] = hosts[j], hosts[i]
    return _maintenance_last(cluster, hosts)


_FREE = {"cpu": "cpu_free", "ram": "ram_free", "disk": "disk_free"}


def order_binpack(cluster: Cluster, resource: str = "cpu") -> array:
    """Ascending free RESOURCE (cpu, ram or disk): fill the fullest hosts first."""
    if resource not in _FREE:
        raise ValueError(f"unknown bin-packing resource {resource!r}: expected cpu, ram or disk")
    free = getattr(cluster, _FREE[resource])
    hosts = sorted(range(cluster.host_count),
                   key=lambda h: (cluster.maint[h] != NONE, free[h], h))
    return array("q", hosts)


def order_spread(cluster: Cluster) -> array:
    """Descending free CPU: the emptiest hosts first."""
    free = cluster.cpu_free
    hosts = sorted(range(cluster.host_count),
                   key=lambda h: (cluster.maint[h] != NONE, -free[h], h))
    return array("q", hosts)
