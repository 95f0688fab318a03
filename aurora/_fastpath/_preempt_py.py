"""Pure-Python twin of ``preempt.pyx``: the running tasks preemption may evict, and the slot search.

Same rows, lists, orders and results as the compiled module; it is the reference the Hypothesis
tests compare against and the benchmark's baseline.

Layout (struct of arrays, one entry per row; a row is a victim, reused after removal): task handle
(the state-table slot), host id, CPU in milli-cores, RAM MB, disk MB, GPUs, port count, priority,
preemptible and revocable flags, role id. A doubly linked list per host threads its rows (newest
first), and a map from task to row makes ``add`` and ``remove`` O(1).

The search follows Aurora's ``PreemptionVictimFilter``: a victim is eligible when the pending task
is production (not preemptible) and the victim preemptible, or when both have the same
preemptibility, the same role and the pending priority is strictly higher. A host's eligible
victims are taken largest first, ordering by (CPU, RAM, disk, ports, GPUs) descending (Aurora's
ResourceType order) and then by ascending task id; a revocable victim's CPU frees nothing (CPU is
compressible) and so counts as zero, in that order too. Starting from the host's free resources,
victims are added until all five requested resources fit; that prefix is the slot.
"""

from __future__ import annotations

from array import array
from typing import Any

INT32_MIN = -0x80000000
INT32_MAX = 0x7FFFFFFF
INT64_MAX = 0x7FFFFFFFFFFFFFFF

_INT32_FORMATS = frozenset({"i", "@i", "=i", "<i"})
_INT64_FORMATS = frozenset({"q", "@q", "=q", "<q"})
_UINT8_FORMATS = frozenset({"B", "@B", "=B", "<B"})


def _field(task: int, name: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"task {task}: {name} must be an integer in {lo}..{hi}, got {value!r}")
    return value


def _flag(task: int, name: str, value: Any) -> int:
    if value is True or value is False or (isinstance(value, int) and value in (0, 1)):
        return int(value)
    raise ValueError(f"task {task}: {name} must be a bool, got {value!r}")


def _request(name: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer in {lo}..{hi}, got {value!r}")
    return value


def _request_flag(value: Any) -> int:
    if value is True or value is False or (isinstance(value, int) and value in (0, 1)):
        return int(value)
    raise ValueError(f"preemptible must be a bool, got {value!r}")


def _is_handle(task: object) -> bool:
    return isinstance(task, int) and not isinstance(task, bool)


def _check_task(task: Any) -> int:
    """TASK as an int, or ValueError when it is not a task handle (an int in 0..2**63-1)."""
    if isinstance(task, bool) or not isinstance(task, int) or not 0 <= task <= INT64_MAX:
        raise ValueError(f"task {task!r}: not a task handle (an integer in 0..{INT64_MAX})")
    return task


def _buffer_view(name: str, obj: Any, formats: frozenset[str], itemsize: int) -> memoryview:
    """OBJ as a one-dimensional contiguous memoryview of the expected item type, or TypeError."""
    try:
        view = memoryview(obj)
    except TypeError:
        raise TypeError(f"{name} must be a buffer, got {type(obj).__name__}") from None
    if view.format not in formats or view.itemsize != itemsize or view.ndim != 1 \
            or not view.c_contiguous:
        raise TypeError(
            f"{name} must be a contiguous 1-d buffer of {itemsize}-byte items "
            f"({sorted(formats)[0]!r}), got format {view.format!r} with {view.ndim} dimensions"
        )
    return view


class VictimIndex:
    """The running tasks that could be preempted, per host; ``find_slots`` searches them."""

    def __init__(self) -> None:
        self._task = array("q")
        self._host = array("i")
        self._cpu = array("i")
        self._ram = array("i")
        self._disk = array("i")
        self._gpus = array("i")
        self._ports = array("i")
        self._prio = array("i")
        self._pre = array("B")
        self._rev = array("B")
        self._role = array("i")
        self._prev = array("i")
        self._next = array("i")  # also chains free rows
        self._free = -1
        self._rows: dict[int, int] = {}
        self._host_head = array("i")
        self._host_count = array("i")

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, task: object) -> bool:
        return _is_handle(task) and task in self._rows

    def add(self, task: int, host: int, cpu_milli: int, ram_mb: int, disk_mb: int, gpus: int,
            ports: int, priority: int, preemptible: bool, revocable: bool, role: int) -> None:
        """Index running task TASK on HOST with its resources, priority, tier flags and role.

        ValueError naming the task when it is already indexed or a field is out of range.
        """
        _check_task(task)
        if task in self._rows:
            raise ValueError(f"task {task} is already in the victim index")
        host = _field(task, "host", host, 0, INT32_MAX - 1)
        cpu_milli = _field(task, "cpu_milli", cpu_milli, 0, INT32_MAX)
        ram_mb = _field(task, "ram_mb", ram_mb, 0, INT32_MAX)
        disk_mb = _field(task, "disk_mb", disk_mb, 0, INT32_MAX)
        gpus = _field(task, "gpus", gpus, 0, INT32_MAX)
        ports = _field(task, "ports", ports, 0, INT32_MAX)
        priority = _field(task, "priority", priority, INT32_MIN, INT32_MAX)
        pre = _flag(task, "preemptible", preemptible)
        rev = _flag(task, "revocable", revocable)
        role = _field(task, "role", role, 0, INT32_MAX)
        if host >= len(self._host_head):
            grow = max(host + 1, len(self._host_head) * 2, 16) - len(self._host_head)
            self._host_head.extend(array("i", [-1]) * grow)
            self._host_count.extend(array("i", [0]) * grow)
        values = (task, host, cpu_milli, ram_mb, disk_mb, gpus, ports, priority, pre, rev, role)
        columns = (self._task, self._host, self._cpu, self._ram, self._disk, self._gpus,
                   self._ports, self._prio, self._pre, self._rev, self._role)
        r = self._free
        if r >= 0:
            self._free = self._next[r]
            for col, v in zip(columns, values, strict=True):
                col[r] = v
        else:
            r = len(self._task)
            for col, v in zip(columns, values, strict=True):
                col.append(v)
            self._prev.append(-1)
            self._next.append(-1)
        head = self._host_head[host]
        self._prev[r] = -1
        self._next[r] = head
        if head >= 0:
            self._prev[head] = r
        self._host_head[host] = r
        self._host_count[host] += 1
        self._rows[task] = r

    def remove(self, task: int) -> None:
        """Forget TASK (it stopped running). KeyError naming the task when it is not indexed."""
        r = self._rows.pop(task, None) if _is_handle(task) else None
        if r is None:
            raise KeyError(f"task {task!r} is not in the victim index")
        host = self._host[r]
        p, n = self._prev[r], self._next[r]
        if p >= 0:
            self._next[p] = n
        else:
            self._host_head[host] = n
        if n >= 0:
            self._prev[n] = p
        self._host_count[host] -= 1
        self._host[r] = -1
        self._next[r] = self._free
        self._free = r

    def on_host(self, host: int) -> array:
        """The tasks indexed on HOST, newest first, as array('q')."""
        if isinstance(host, bool) or not isinstance(host, int) or host < 0:
            raise ValueError(f"host must be a non-negative integer, got {host!r}")
        out = array("q")
        r = self._host_head[host] if host < len(self._host_head) else -1
        while r >= 0:
            out.append(self._task[r])
            r = self._next[r]
        return out

    def find_slots(self, *, free_cpu: Any, free_ram: Any, free_disk: Any, free_gpus: Any,
                   free_ports: Any, eligible: Any, order: Any, cpu: int, ram: int, disk: int,
                   gpus: int, ports: int, priority: int, preemptible: bool, role: int,
                   max_slots: int) -> list[tuple[int, array]]:
        """Up to MAX_SLOTS preemption slots for one pending task's request, one per host.

        free_* are int32 buffers by host id (the hosts' slack), ELIGIBLE a uint8 buffer by host id
        (1 = the host passes every non-resource check), ORDER an int64 buffer of host ids to visit
        in turn (None: ascending id over every host of the buffers). A host yields a slot when it
        is eligible, its free resources alone do not fit the request, and adding its eligible
        victims largest first makes them fit; the slot is that shortest prefix. Returns
        [(host, array('q') of victim tasks in the order chosen)], hosts in visiting order.
        """
        bufs = [_buffer_view(name, obj, _INT32_FORMATS, 4) for name, obj in (
            ("free_cpu", free_cpu), ("free_ram", free_ram), ("free_disk", free_disk),
            ("free_gpus", free_gpus), ("free_ports", free_ports))]
        elig = _buffer_view("eligible", eligible, _UINT8_FORMATS, 1)
        nhosts = len(elig)
        if any(len(b) != nhosts for b in bufs):
            raise ValueError(
                "free_cpu, free_ram, free_disk, free_gpus, free_ports and eligible must have the "
                f"same length, got {[len(b) for b in bufs] + [nhosts]}"
            )
        need = (
            _request("cpu", cpu, 0, INT32_MAX),
            _request("ram", ram, 0, INT32_MAX),
            _request("disk", disk, 0, INT32_MAX),
            _request("ports", ports, 0, INT32_MAX),
            _request("gpus", gpus, 0, INT32_MAX),
        )
        priority = _request("priority", priority, INT32_MIN, INT32_MAX)
        pending_pre = _request_flag(preemptible)
        role = _request("role", role, 0, INT32_MAX)
        max_slots = _request("max_slots", max_slots, 0, INT64_MAX)
        if order is None:
            visit: range | memoryview = range(nhosts)
        else:
            visit = _buffer_view("order", order, _INT64_FORMATS, 8)
            for h in visit:
                if not 0 <= h < nhosts:
                    raise ValueError(f"order names host {h}, outside 0..{nhosts - 1}")
        fcpu, fram, fdisk, fgpus, fports = bufs
        slots: list[tuple[int, array]] = []
        if max_slots == 0:
            return slots
        heads, nheads = self._host_head, len(self._host_head)
        nxt, task_of = self._next, self._task
        vcpu, vram, vdisk, vgpus, vports = self._cpu, self._ram, self._disk, self._gpus, self._ports
        vprio, vpre, vrev, vrole = self._prio, self._pre, self._rev, self._role
        used: set[int] = set()
        for h in visit:
            if not elig[h] or h in used or h >= nheads or heads[h] < 0:
                continue
            free = (fcpu[h], fram[h], fdisk[h], fports[h], fgpus[h])
            if all(f >= n for f, n in zip(free, need, strict=True)):
                continue  # fits without preempting anything
            keys = []
            r = heads[h]
            while r >= 0:
                if (not pending_pre and vpre[r]) or (
                        pending_pre == vpre[r] and role == vrole[r] and priority > vprio[r]):
                    c = 0 if vrev[r] else vcpu[r]
                    keys.append((-c, -vram[r], -vdisk[r], -vports[r], -vgpus[r], task_of[r]))
                r = nxt[r]
            if not keys:
                continue
            keys.sort()
            acc = list(free)
            for j, key in enumerate(keys):
                for i in range(5):
                    acc[i] -= key[i]
                if all(a >= n for a, n in zip(acc, need, strict=True)):
                    slots.append((h, array("q", [k[5] for k in keys[:j + 1]])))
                    used.add(h)
                    break
            if len(slots) == max_slots:
                break
        return slots

