# cython: language_level=3
"""The cluster model, compiled: the columns the matcher reads through C pointers.

Twin: ``_cluster_py.py`` (same behaviour; its docstring describes the layout). The columns are
``array.array`` objects in both, so the compiled matcher reaches their buffers without copying;
here the class is a cdef class whose per-task updates (consume, release, task_started) are typed.
"""

from cpython cimport array

import array as pyarray
from collections.abc import Iterable, Mapping
from itertools import pairwise

NONE, SCHEDULED, DRAINING, DRAINED = 1, 2, 3, 4  # Aurora's MaintenanceMode numbers
RESOURCE_NAMES = ("cpu", "ram", "disk", "gpus", "ports")
MAINTENANCE_MODES = (NONE, SCHEDULED, DRAINING, DRAINED)
DEDICATED = "dedicated"
INT32_MAX = 0x7FFFFFFF


def _check_amount(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= INT32_MAX:
        raise ValueError(f"{name} must be an integer in 0..{INT32_MAX}, got {value!r}")
    return value


def _port_ranges(hostname: str, ports: int,
                 ranges: Iterable[tuple[int, int]] | None) -> tuple[tuple[int, int], ...]:
    """Validated, sorted, non-overlapping inclusive port ranges for a host."""
    _check_amount("ports", ports)
    if ranges is None:
        return ((1, ports),) if ports else ()
    out = sorted((int(b), int(e)) for b, e in ranges)
    for b, e in out:
        if not 1 <= b <= e <= 65535:
            raise ValueError(f"host {hostname!r}: port range {b}-{e} must lie within 1-65535 "
                             "with begin <= end")
    for (_, e1), (b2, e2) in pairwise(out):
        if b2 <= e1:
            raise ValueError(f"host {hostname!r}: port ranges overlap at {b2}-{e2}")
    total = sum(e - b + 1 for b, e in out)
    if ports and ports != total:
        raise ValueError(f"host {hostname!r}: {ports} ports given but the ranges hold {total}")
    return tuple(out)


cdef class LimitCounts:
    """Active tasks of one job per value of one attribute."""

    def __init__(self, int job, int attr):
        self.job = job
        self.attr = attr
        self.counts = pyarray.array("i")

    cpdef ensure(self, Py_ssize_t nvalues):
        if len(self.counts) < nvalues:
            self.counts.extend(pyarray.array("i", [0]) * (nvalues - len(self.counts)))

    cpdef int get(self, Py_ssize_t value):
        return self.counts.data.as_ints[value] if 0 <= value < len(self.counts) else 0


cdef class Cluster:
    """The hosts, their resources and attributes, and per-job counts for limit constraints."""

    def __init__(self, unique_attributes: Iterable[str] = ("host",)) -> None:
        self._unique_names = frozenset(unique_attributes)
        self.hostnames = []
        self._host_ids = {}
        self.cpu_total = pyarray.array("i")
        self.ram_total = pyarray.array("i")
        self.disk_total = pyarray.array("i")
        self.gpu_total = pyarray.array("i")
        self.port_total = pyarray.array("i")
        self.cpu_free = pyarray.array("i")
        self.ram_free = pyarray.array("i")
        self.disk_free = pyarray.array("i")
        self.gpu_free = pyarray.array("i")
        self.port_free = pyarray.array("i")
        self.maint = pyarray.array("B")
        self.offer = pyarray.array("B")
        self.dedicated = pyarray.array("B")
        self.multi = pyarray.array("B")
        # host_class << 2 | multi << 1 | offer: all the matcher's scan reads per host but
        # its resources, in one load.
        self.hkey = pyarray.array("i")
        self.host_class = pyarray.array("i")
        self.attr_names = []
        self._attr_ids = {}
        self.attr_unique = pyarray.array("B")
        self.attr_cols = []
        self._values = []
        self._value_ids = []
        self._multi = {}
        self._classes = {}
        self._trackers = {}
        self._ports = []
        self._taken = {}
        self._dedicated_attr = self.intern_attr(DEDICATED)

    # ------------------------------------------------------------ interning
    def intern_attr(self, name: str) -> int:
        a = self._attr_ids.get(name)
        if a is None:
            if not name:
                raise ValueError("attribute name must not be empty")
            a = len(self.attr_names)
            self.attr_names.append(name)
            self._attr_ids[name] = a
            self.attr_unique.append(1 if name in self._unique_names else 0)
            self.attr_cols.append(pyarray.array("i", [-1]) * len(self.hostnames))
            self._values.append([])
            self._value_ids.append({})
        return a

    def attr_id(self, name: str) -> int:
        """Id of an attribute, or -1 when no host ever had it."""
        return self._attr_ids.get(name, -1)

    def intern_value(self, attr: int, value: str) -> int:
        ids = self._value_ids[attr]
        v = ids.get(value)
        if v is None:
            v = len(self._values[attr])
            self._values[attr].append(value)
            ids[value] = v
        return v

    def value_id(self, attr: int, value: str) -> int:
        return self._value_ids[attr].get(value, -1)

    def value_name(self, attr: int, value: int) -> str:
        return self._values[attr][value]

    def value_count(self, attr: int) -> int:
        return len(self._values[attr])

    @property
    def attr_count(self) -> int:
        return len(self.attr_names)

    # ------------------------------------------------------------ hosts
    @property
    def host_count(self) -> int:
        return len(self.hostnames)

    @property
    def class_count(self) -> int:
        return len(self._classes)

    def host_id(self, hostname: str) -> int:
        return self._host_ids.get(hostname, -1)

    def add_host(self, hostname: str, cpu_milli: int, ram_mb: int, disk_mb: int, gpus: int = 0,
                 ports: int = 0, attributes: Mapping[str, str | Iterable[str]] | None = None,
                 maintenance: int = NONE, offer: bool = True,
                 port_ranges: Iterable[tuple[int, int]] | None = None) -> int:
        """Register a host with its total resources (all free); returns its id.

        PORT_RANGES are the host's ports as inclusive (begin, end) ranges (as Mesos offers
        them); without them a host with PORTS ports has ports 1..PORTS.
        """
        if not hostname:
            raise ValueError("host name must not be empty")
        if hostname in self._host_ids:
            raise ValueError(f"host {hostname!r} is already registered")
        ranges = _port_ranges(hostname, ports, port_ranges)
        ports = sum(e - b + 1 for b, e in ranges)
        amounts = [_check_amount(n, v) for n, v in (
            ("cpu_milli", cpu_milli), ("ram_mb", ram_mb), ("disk_mb", disk_mb), ("gpus", gpus),
            ("ports", ports))]
        self._check_mode(maintenance)
        h = len(self.hostnames)
        self.hostnames.append(hostname)
        self._host_ids[hostname] = h
        for col, v in zip((self.cpu_total, self.ram_total, self.disk_total, self.gpu_total,
                           self.port_total), amounts, strict=True):
            col.append(v)
        for col, v in zip((self.cpu_free, self.ram_free, self.disk_free, self.gpu_free,
                           self.port_free), amounts, strict=True):
            col.append(v)
        self.maint.append(maintenance)
        self.offer.append(1 if offer else 0)
        self.dedicated.append(0)
        self.multi.append(0)
        self.hkey.append(0)
        self.host_class.append(-1)
        for col in self.attr_cols:
            col.append(-1)
        self._ports.append(ranges)
        self.set_attributes(h, attributes or {})
        return h

    @staticmethod
    def _check_mode(mode: int) -> None:
        if mode not in MAINTENANCE_MODES:
            raise ValueError(
                f"unknown maintenance mode {mode!r}: expected NONE=1, SCHEDULED=2, DRAINING=3, "
                "DRAINED=4")

    def set_attributes(self, host: int, attributes: Mapping[str, str | Iterable[str]]) -> None:
        """Replace a host's attributes (name -> value or values)."""
        self._check_host(host)
        parsed: list[tuple[int, tuple[int, ...]]] = []
        for name, raw in attributes.items():
            values = (raw,) if isinstance(raw, str) else tuple(raw)
            if not values or any(not isinstance(v, str) for v in values):
                raise ValueError(f"attribute {name!r} of host {self.hostnames[host]!r} needs "
                                 f"one or more string values, got {raw!r}")
            a = self.intern_attr(name)
            parsed.append((a, tuple(sorted({self.intern_value(a, v) for v in values}))))
        for col in self.attr_cols:
            col[host] = -1
        for key in [k for k in self._multi if k[0] == host]:
            del self._multi[key]
        multi = 0
        for a, vids in parsed:
            self.attr_cols[a][host] = vids[0]
            if len(vids) > 1:
                self._multi[(host, a)] = vids
                multi = 1
        self.multi[host] = multi
        self.dedicated[host] = 1 if self.attr_cols[self._dedicated_attr][host] >= 0 else 0
        self._reclassify(host)

    def attributes(self, host: int) -> dict[str, tuple[str, ...]]:
        self._check_host(host)
        out = {}
        for a, col in enumerate(self.attr_cols):
            if col[host] >= 0:
                out[self.attr_names[a]] = tuple(self._values[a][v] for v in self.values_of(host, a))
        return out

    cpdef tuple values_of(self, int host, int attr):
        """Value ids a host has for an attribute (empty when it lacks it)."""
        vids = self._multi.get((host, attr))
        if vids is not None:
            return vids
        v = self.attr_cols[attr][host]
        return (v,) if v >= 0 else ()

    def set_maintenance(self, host: int, mode: int) -> None:
        self._check_host(host)
        self._check_mode(mode)
        self.maint[host] = mode
        self._reclassify(host)

    def set_offer(self, host: int, present: bool) -> None:
        self._check_host(host)
        self.offer[host] = 1 if present else 0
        self._rekey(host)

    def _reclassify(self, host: int) -> None:
        shared = tuple(
            (a, self.values_of(host, a)) for a in range(len(self.attr_cols))
            if not self.attr_unique[a] and self.attr_cols[a][host] >= 0
        )
        key = (self.maint[host], shared)
        c = self._classes.get(key)
        if c is None:
            c = len(self._classes)
            self._classes[key] = c
        self.host_class[host] = c
        self._rekey(host)

    def _rekey(self, host: int) -> None:
        self.hkey[host] = (self.host_class[host] << 2) | (self.multi[host] << 1) \
            | self.offer[host]

    def _check_host(self, host: int) -> None:
        if not 0 <= host < len(self.hostnames):
            raise IndexError(f"unknown host id {host}")

    # ------------------------------------------------------------ resources
    def free(self, host: int) -> tuple[int, int, int, int, int]:
        self._check_host(host)
        return (self.cpu_free[host], self.ram_free[host], self.disk_free[host],
                self.gpu_free[host], self.port_free[host])

    def total(self, host: int) -> tuple[int, int, int, int, int]:
        self._check_host(host)
        return (self.cpu_total[host], self.ram_total[host], self.disk_total[host],
                self.gpu_total[host], self.port_total[host])

    def consume(self, host: int, cpu_milli: int, ram_mb: int, disk_mb: int, gpus: int = 0,
                ports: int = 0) -> None:
        """Take resources on a host (a task placed outside the matcher); all or nothing."""
        self._adjust(host, -cpu_milli, -ram_mb, -disk_mb, -gpus, -ports)

    def release(self, host: int, cpu_milli: int, ram_mb: int, disk_mb: int, gpus: int = 0,
                ports: int = 0) -> None:
        """Give resources back to a host (a task ended)."""
        self._adjust(host, cpu_milli, ram_mb, disk_mb, gpus, ports)

    cdef int _adjust(self, int host, int cpu, int ram, int disk, int gpus, int ports) except -1:
        # Typed column access: this runs for every task that ends (its resources go back).
        if not 0 <= host < len(self.hostnames):
            raise IndexError(f"unknown host id {host}")
        cdef int* free[5]
        cdef int* total[5]
        cdef int delta[5]
        cdef int k
        free[0], total[0], delta[0] = self.cpu_free.data.as_ints, self.cpu_total.data.as_ints, cpu
        free[1], total[1], delta[1] = self.ram_free.data.as_ints, self.ram_total.data.as_ints, ram
        free[2], total[2], delta[2] = (self.disk_free.data.as_ints, self.disk_total.data.as_ints,
                                       disk)
        free[3], total[3], delta[3] = self.gpu_free.data.as_ints, self.gpu_total.data.as_ints, gpus
        free[4], total[4], delta[4] = (self.port_free.data.as_ints, self.port_total.data.as_ints,
                                       ports)
        for k in range(5):
            if not 0 <= <long long>free[k][host] + delta[k] <= total[k][host]:
                raise ValueError(
                    f"host {self.hostnames[host]!r}: {RESOURCE_NAMES[k]} would become "
                    f"{free[k][host] + delta[k]} (free {free[k][host]}, total {total[k][host]})")
        for k in range(5):
            free[k][host] += delta[k]
        return 0

    def resize(self, host: int, cpu_milli: int, ram_mb: int, disk_mb: int, gpus: int = 0,
               port_ranges: Iterable[tuple[int, int]] | None = None) -> None:
        """New totals for a host (an agent that re-registered, or one known only from stored
        tasks until now); what its tasks use stays used. ValueError if they no longer fit."""
        self._check_host(host)
        name = self.hostnames[host]
        ranges = _port_ranges(name, 0, port_ranges) if port_ranges is not None \
            else self._ports[host]
        totals = [_check_amount(n, v) for n, v in (
            ("cpu_milli", cpu_milli), ("ram_mb", ram_mb), ("disk_mb", disk_mb), ("gpus", gpus),
            ("ports", sum(e - b + 1 for b, e in ranges)))]
        cols = ((self.cpu_free, self.cpu_total), (self.ram_free, self.ram_total),
                (self.disk_free, self.disk_total), (self.gpu_free, self.gpu_total),
                (self.port_free, self.port_total))
        for (free, total), new, label in zip(cols, totals, RESOURCE_NAMES, strict=True):
            used = total[host] - free[host]
            if used > new:
                raise ValueError(f"host {name!r}: its tasks use {used} {label}, more than "
                                 f"the new total {new}")
        for (free, total), new in zip(cols, totals, strict=True):
            free[host] = new - (total[host] - free[host])
            total[host] = new
        self._ports[host] = ranges

    def port_ranges(self, host: int) -> tuple[tuple[int, int], ...]:
        self._check_host(host)
        return self._ports[host]

    def pick_ports(self, host: int, n: int) -> tuple[int, ...]:
        """Hand out N of the host's port numbers, lowest free first.

        Placement reserves port *counts* (``port_free``); this turns a reservation into numbers
        and leaves the count alone. ValueError when fewer than N are left.
        """
        self._check_host(host)
        if n <= 0:
            return ()
        taken = self._taken.setdefault(host, set())
        out: list[int] = []
        for begin, end in self._ports[host]:
            port = begin
            while port <= end and len(out) < n:
                if port not in taken:
                    out.append(port)
                port += 1
            if len(out) == n:
                break
        if len(out) < n:
            raise ValueError(f"host {self.hostnames[host]!r} has {len(out)} free ports, "
                             f"{n} asked")
        taken.update(out)
        return tuple(out)

    def claim_ports(self, host: int, ports: Iterable[int]) -> None:
        """Mark given port numbers handed out (a restored task keeps the ports it had)."""
        self._check_host(host)
        wanted = list(ports)
        taken = self._taken.setdefault(host, set())
        for port in wanted:
            if port in taken or not any(b <= port <= e for b, e in self._ports[host]):
                raise ValueError(f"port {port} of host {self.hostnames[host]!r} is not free")
        taken.update(wanted)

    def return_ports(self, host: int, ports: Iterable[int]) -> None:
        """Take back port numbers from pick_ports (the count is released with release())."""
        self._check_host(host)
        taken = self._taken.get(host, set())
        for port in ports:
            if port not in taken:
                raise ValueError(f"port {port} of host {self.hostnames[host]!r} was not handed "
                                 "out")
            taken.discard(port)

    # ------------------------------------------------------------ limit counts
    def track(self, job: int, attr: int, hosts: Iterable[int] = ()) -> LimitCounts:
        """Counts of JOB's active tasks per value of ATTR, started from the hosts they run on."""
        for t in self._trackers.get(job, ()):
            if t.attr == attr:
                return t
        t = LimitCounts(job, attr)
        t.ensure(self.value_count(attr))
        for h in hosts:
            self._check_host(h)
            for v in self.values_of(h, attr):
                t.counts[v] += 1
        self._trackers.setdefault(job, []).append(t)
        return t

    def trackers(self, job: int) -> list[LimitCounts]:
        return self._trackers.get(job, [])

    def task_started(self, job: int, host: int, n: int = 1) -> None:
        """N tasks of JOB now run on HOST (placed outside the matcher)."""
        self._check_host(host)
        for t in self._trackers.get(job, ()):
            t.ensure(self.value_count(t.attr))
            for v in self.values_of(host, t.attr):
                t.counts[v] += n

    def task_stopped(self, job: int, host: int, n: int = 1) -> None:
        self.task_started(job, host, -n)

    def limit_count(self, job: int, attr: int, value: int) -> int:
        for t in self._trackers.get(job, ()):
            if t.attr == attr:
                return t.get(value)
        return 0
