# cython: language_level=3
"""The running tasks preemption may evict, and the slot search, compiled.

Twin: ``_preempt_py.py`` (same rows, lists, orders and results; read its docstring for the layout
and Aurora's rules). ``find_slots`` checks its arguments in Python once per call, then searches in
C: buffers are read through typed memoryviews, never copied, and no Python object is touched per
victim. A host's eligible victims are copied into a small array of sort keys, sorted by insertion
sort (or qsort when a host holds many), and added largest first until the request fits.
"""

from cpython cimport array
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, qsort
from libc.string cimport memcpy

from aurora._fastpath.common cimport _grow, rowhash_del, rowhash_free, rowhash_get
from aurora._fastpath.common cimport rowhash_put, rowhash_reserve

import array as pyarray

cdef enum:
    INSERTION_SORT_MAX = 24

INT32_MIN = -0x80000000
INT32_MAX = 0x7FFFFFFF
INT64_MAX = 0x7FFFFFFFFFFFFFFF

_INT32_FORMATS = frozenset({"i", "@i", "=i", "<i"})
_INT64_FORMATS = frozenset({"q", "@q", "=q", "<q"})
_UINT8_FORMATS = frozenset({"B", "@B", "=B", "<B"})
cdef array.array _Q_TEMPLATE = pyarray.array("q")


# ----------------------------------------------------------------- argument checks (as the twin)
cdef object _field(object task, str name, object value, object lo, object hi):
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"task {task}: {name} must be an integer in {lo}..{hi}, got {value!r}")
    return value


cdef int _flag(object task, str name, object value) except -1:
    if value is True or value is False or (isinstance(value, int) and value in (0, 1)):
        return 1 if value else 0
    raise ValueError(f"task {task}: {name} must be a bool, got {value!r}")


cdef object _request(str name, object value, object lo, object hi):
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer in {lo}..{hi}, got {value!r}")
    return value


cdef int _request_flag(object value) except -1:
    if value is True or value is False or (isinstance(value, int) and value in (0, 1)):
        return 1 if value else 0
    raise ValueError(f"preemptible must be a bool, got {value!r}")


cdef inline bint _is_handle(object task):
    return isinstance(task, int) and not isinstance(task, bool)


cdef object _check_task(object task):
    """TASK as an int, or ValueError when it is not a task handle (an int in 0..2**63-1)."""
    if isinstance(task, bool) or not isinstance(task, int) or not 0 <= task <= INT64_MAX:
        raise ValueError(f"task {task!r}: not a task handle (an integer in 0..{INT64_MAX})")
    return task


cdef object _buffer_view(str name, object obj, object formats, Py_ssize_t itemsize):
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


# ----------------------------------------------------------------- C helpers
cdef inline int _key_cmp(const VKey* a, const VKey* b) noexcept nogil:
    # < 0 when A goes first: larger resources first (CPU, RAM, disk, ports, GPUs), then lower task.
    if a.cpu != b.cpu:
        return -1 if a.cpu > b.cpu else 1
    if a.ram != b.ram:
        return -1 if a.ram > b.ram else 1
    if a.disk != b.disk:
        return -1 if a.disk > b.disk else 1
    if a.ports != b.ports:
        return -1 if a.ports > b.ports else 1
    if a.gpus != b.gpus:
        return -1 if a.gpus > b.gpus else 1
    if a.task != b.task:
        return -1 if a.task < b.task else 1
    return 0


cdef int _qsort_cmp(const void* a, const void* b) noexcept nogil:
    return _key_cmp(<const VKey*>a, <const VKey*>b)


cdef void _sort_keys(VKey* keys, Py_ssize_t k) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef VKey x
    if k > INSERTION_SORT_MAX:
        qsort(keys, k, sizeof(VKey), _qsort_cmp)
        return
    for i in range(1, k):
        x = keys[i]
        j = i - 1
        while j >= 0 and _key_cmp(&x, &keys[j]) < 0:
            keys[j + 1] = keys[j]
            j -= 1
        keys[j + 1] = x


cdef class VictimIndex:
    """The running tasks that could be preempted, per host; ``find_slots`` searches them."""

    def __cinit__(self):
        self._free = -1
        rowhash_reserve(&self._hash, 8, self._live, <const uint64_t*>self._task)

    def __dealloc__(self):
        free(self._task); free(self._host); free(self._cpu); free(self._ram); free(self._disk)
        free(self._gpus); free(self._ports); free(self._prio); free(self._pre); free(self._rev)
        free(self._role); free(self._prev); free(self._next)
        free(self._host_head); free(self._host_count)
        rowhash_free(&self._hash)
        free(self._keys)

    # ------------------------------------------------------------- storage growth
    cdef int _reserve_rows(self, Py_ssize_t n) except -1:
        if n <= self._cap:
            return 0
        cdef Py_ssize_t cap = max(n, self._cap + self._cap // 2, 64)
        _grow(<void**>&self._task, cap, sizeof(int64_t))
        _grow(<void**>&self._host, cap, sizeof(int32_t))
        _grow(<void**>&self._cpu, cap, sizeof(int32_t))
        _grow(<void**>&self._ram, cap, sizeof(int32_t))
        _grow(<void**>&self._disk, cap, sizeof(int32_t))
        _grow(<void**>&self._gpus, cap, sizeof(int32_t))
        _grow(<void**>&self._ports, cap, sizeof(int32_t))
        _grow(<void**>&self._prio, cap, sizeof(int32_t))
        _grow(<void**>&self._pre, cap, sizeof(uint8_t))
        _grow(<void**>&self._rev, cap, sizeof(uint8_t))
        _grow(<void**>&self._role, cap, sizeof(int32_t))
        _grow(<void**>&self._prev, cap, sizeof(int32_t))
        _grow(<void**>&self._next, cap, sizeof(int32_t))
        self._cap = cap
        return 0

    cdef int _reserve_hosts(self, Py_ssize_t n) except -1:
        if n <= self._hosts_cap:
            return 0
        cdef Py_ssize_t cap = max(n, self._hosts_cap * 2, 16)
        _grow(<void**>&self._host_head, cap, sizeof(int32_t))
        _grow(<void**>&self._host_count, cap, sizeof(int32_t))
        cdef Py_ssize_t h
        for h in range(self._hosts_cap, cap):
            self._host_head[h] = -1
            self._host_count[h] = 0
        self._hosts_cap = cap
        return 0

    cdef int _reserve_keys(self, Py_ssize_t n) except -1:
        if n <= self._keys_cap:
            return 0
        cdef Py_ssize_t cap = max(n, self._keys_cap * 2, 16)
        _grow(<void**>&self._keys, cap, sizeof(VKey))
        self._keys_cap = cap
        return 0

    # ------------------------------------------------------------- membership
    def __len__(self):
        return self._live

    def __contains__(self, task):
        if not _is_handle(task) or not 0 <= task <= INT64_MAX:
            return False
        return rowhash_get(&self._hash, <const uint64_t*>self._task, <int64_t>task) >= 0

    def add(self, task, host, cpu_milli, ram_mb, disk_mb, gpus, ports, priority, preemptible,
            revocable, role):
        """Index running task TASK on HOST with its resources, priority, tier flags and role.

        ValueError naming the task when it is already indexed or a field is out of range.
        """
        _check_task(task)
        cdef int64_t t = task
        if rowhash_get(&self._hash, <const uint64_t*>self._task, t) >= 0:
            raise ValueError(f"task {task} is already in the victim index")
        cdef int32_t h = _field(task, "host", host, 0, INT32_MAX - 1)
        cdef int32_t c = _field(task, "cpu_milli", cpu_milli, 0, INT32_MAX)
        cdef int32_t ram = _field(task, "ram_mb", ram_mb, 0, INT32_MAX)
        cdef int32_t disk = _field(task, "disk_mb", disk_mb, 0, INT32_MAX)
        cdef int32_t g = _field(task, "gpus", gpus, 0, INT32_MAX)
        cdef int32_t p = _field(task, "ports", ports, 0, INT32_MAX)
        cdef int32_t prio = _field(task, "priority", priority, INT32_MIN, INT32_MAX)
        cdef uint8_t pre = <uint8_t>_flag(task, "preemptible", preemptible)
        cdef uint8_t rev = <uint8_t>_flag(task, "revocable", revocable)
        cdef int32_t rl = _field(task, "role", role, 0, INT32_MAX)
        self._reserve_hosts(<Py_ssize_t>h + 1)
        self._reserve_keys(<Py_ssize_t>self._host_count[h] + 1)
        rowhash_reserve(&self._hash, self._live + 1, self._live, <const uint64_t*>self._task)
        cdef int32_t r = self._free
        if r >= 0:
            self._free = self._next[r]
        else:
            if self._n >= INT32_MAX:
                raise MemoryError("victim index is full")
            self._reserve_rows(self._n + 1)
            r = <int32_t>self._n
            self._n += 1
        self._task[r] = t
        self._host[r] = h
        self._cpu[r] = c
        self._ram[r] = ram
        self._disk[r] = disk
        self._gpus[r] = g
        self._ports[r] = p
        self._prio[r] = prio
        self._pre[r] = pre
        self._rev[r] = rev
        self._role[r] = rl
        cdef int32_t head = self._host_head[h]
        self._prev[r] = -1
        self._next[r] = head
        if head >= 0:
            self._prev[head] = r
        self._host_head[h] = r
        self._host_count[h] += 1
        rowhash_put(&self._hash, t, r)
        self._live += 1

    def remove(self, task):
        """Forget TASK (it stopped running). KeyError naming the task when it is not indexed."""
        cdef int32_t r = -1
        if _is_handle(task) and 0 <= task <= INT64_MAX:
            r = rowhash_get(&self._hash, <const uint64_t*>self._task, <int64_t>task)
        if r < 0:
            raise KeyError(f"task {task!r} is not in the victim index")
        cdef int32_t h = self._host[r]
        cdef int32_t p = self._prev[r]
        cdef int32_t n = self._next[r]
        if p >= 0:
            self._next[p] = n
        else:
            self._host_head[h] = n
        if n >= 0:
            self._prev[n] = p
        self._host_count[h] -= 1
        rowhash_del(&self._hash, <const uint64_t*>self._task, self._task[r])
        self._host[r] = -1
        self._next[r] = self._free
        self._free = r
        self._live -= 1

    def on_host(self, host):
        """The tasks indexed on HOST, newest first, as array('q')."""
        if isinstance(host, bool) or not isinstance(host, int) or host < 0:
            raise ValueError(f"host must be a non-negative integer, got {host!r}")
        if host >= self._hosts_cap:
            return array.clone(_Q_TEMPLATE, 0, False)
        cdef Py_ssize_t h = host
        cdef array.array out = array.clone(_Q_TEMPLATE, self._host_count[h], False)
        cdef int64_t* data = <int64_t*>out.data.as_voidptr
        cdef Py_ssize_t i = 0
        cdef int32_t r = self._host_head[h]
        while r >= 0:
            data[i] = self._task[r]
            i += 1
            r = self._next[r]
        return out

    # ------------------------------------------------------------- the search
    def find_slots(self, *, free_cpu, free_ram, free_disk, free_gpus, free_ports, eligible, order,
                   cpu, ram, disk, gpus, ports, priority, preemptible, role, max_slots):
        """Up to MAX_SLOTS preemption slots for one pending task's request, one per host.

        free_* are int32 buffers by host id (the hosts' slack), ELIGIBLE a uint8 buffer by host id
        (1 = the host passes every non-resource check), ORDER an int64 buffer of host ids to visit
        in turn (None: ascending id over every host of the buffers). A host yields a slot when it
        is eligible, its free resources alone do not fit the request, and adding its eligible
        victims largest first makes them fit; the slot is that shortest prefix. Returns
        [(host, array('q') of victim tasks in the order chosen)], hosts in visiting order.
        """
        names = ("free_cpu", "free_ram", "free_disk", "free_gpus", "free_ports")
        objs = (free_cpu, free_ram, free_disk, free_gpus, free_ports)
        lens = [len(_buffer_view(n, o, _INT32_FORMATS, 4)) for n, o in zip(names, objs)]
        cdef Py_ssize_t nhosts = len(_buffer_view("eligible", eligible, _UINT8_FORMATS, 1))
        if any(n != nhosts for n in lens):
            raise ValueError(
                "free_cpu, free_ram, free_disk, free_gpus, free_ports and eligible must have the "
                f"same length, got {lens + [nhosts]}"
            )
        cdef Request req
        req.need[0] = _request("cpu", cpu, 0, INT32_MAX)
        req.need[1] = _request("ram", ram, 0, INT32_MAX)
        req.need[2] = _request("disk", disk, 0, INT32_MAX)
        req.need[3] = _request("ports", ports, 0, INT32_MAX)
        req.need[4] = _request("gpus", gpus, 0, INT32_MAX)
        req.priority = _request("priority", priority, INT32_MIN, INT32_MAX)
        req.preemptible = <uint8_t>_request_flag(preemptible)
        req.role = _request("role", role, 0, INT32_MAX)
        cdef Py_ssize_t limit = _request("max_slots", max_slots, 0, INT64_MAX)

        cdef const int32_t[::1] fc = free_cpu
        cdef const int32_t[::1] fr = free_ram
        cdef const int32_t[::1] fd = free_disk
        cdef const int32_t[::1] fp = free_ports
        cdef const int32_t[::1] fg = free_gpus
        cdef const uint8_t[::1] el = eligible
        cdef const int64_t[::1] od
        cdef const int64_t* order_ptr = NULL
        cdef Py_ssize_t nvisit = nhosts
        cdef Py_ssize_t i
        cdef int64_t h
        if order is not None:
            _buffer_view("order", order, _INT64_FORMATS, 8)
            od = order
            nvisit = od.shape[0]
            if nvisit:
                order_ptr = &od[0]
            for i in range(nvisit):
                h = order_ptr[i]
                if h < 0 or h >= nhosts:
                    raise ValueError(f"order names host {h}, outside 0..{nhosts - 1}")
        cdef list slots = []
        if limit == 0 or nhosts == 0 or nvisit == 0 or self._live == 0:
            return slots
        cdef const int32_t* slack[5]
        slack[0] = &fc[0]
        slack[1] = &fr[0]
        slack[2] = &fd[0]
        slack[3] = &fp[0]
        slack[4] = &fg[0]
        if limit > nhosts:
            limit = nhosts
        cdef int32_t* out_host = <int32_t*>malloc(limit * sizeof(int32_t))
        cdef int32_t* out_count = <int32_t*>malloc(limit * sizeof(int32_t))
        cdef int64_t* out_victims = <int64_t*>malloc(self._live * sizeof(int64_t))
        cdef uint8_t* used = NULL
        if order_ptr != NULL:
            used = <uint8_t*>calloc(nhosts, sizeof(uint8_t))
        cdef Py_ssize_t found, off = 0
        cdef array.array victims
        try:
            if out_host == NULL or out_count == NULL or out_victims == NULL or (
                    order_ptr != NULL and used == NULL):
                raise MemoryError()
            # The GIL stays held: another thread's add() could move the rows under the search.
            found = self._search(slack, &el[0], nhosts, order_ptr, nvisit, &req, limit, used,
                                 out_host, out_count, out_victims)
            for i in range(found):
                victims = array.clone(_Q_TEMPLATE, out_count[i], False)
                memcpy(victims.data.as_voidptr, out_victims + off, out_count[i] * sizeof(int64_t))
                off += out_count[i]
                slots.append((out_host[i], victims))
            return slots
        finally:
            free(out_host)
            free(out_count)
            free(out_victims)
            free(used)

    cdef Py_ssize_t _search(self, const int32_t** slack, const uint8_t* eligible,
                            Py_ssize_t nhosts, const int64_t* order, Py_ssize_t nvisit,
                            Request* req, Py_ssize_t max_slots, uint8_t* used,
                            int32_t* out_host, int32_t* out_count,
                            int64_t* out_victims) noexcept nogil:
        # Visit hosts; write each slot's host, victim count and victims. Returns the slot count.
        cdef Py_ssize_t found = 0, off = 0, i, j, k
        cdef int64_t h
        cdef int32_t r
        cdef int64_t acc[5]
        cdef VKey* keys = self._keys
        cdef VKey* key
        cdef uint8_t pend_pre = req.preemptible
        cdef int32_t prio = req.priority, role = req.role
        cdef int64_t n0 = req.need[0], n1 = req.need[1], n2 = req.need[2]
        cdef int64_t n3 = req.need[3], n4 = req.need[4]
        for i in range(nvisit):
            h = order[i] if order != NULL else i
            if not eligible[h] or h >= self._hosts_cap or self._host_head[h] < 0:
                continue
            if used != NULL:
                if used[h]:
                    continue
            acc[0] = slack[0][h]
            acc[1] = slack[1][h]
            acc[2] = slack[2][h]
            acc[3] = slack[3][h]
            acc[4] = slack[4][h]
            if acc[0] >= n0 and acc[1] >= n1 and acc[2] >= n2 and acc[3] >= n3 and acc[4] >= n4:
                continue  # fits without preempting anything
            k = 0
            r = self._host_head[h]
            while r >= 0:
                if (not pend_pre and self._pre[r]) or (
                        pend_pre == self._pre[r] and role == self._role[r]
                        and prio > self._prio[r]):
                    key = &keys[k]
                    key.cpu = 0 if self._rev[r] else self._cpu[r]
                    key.ram = self._ram[r]
                    key.disk = self._disk[r]
                    key.ports = self._ports[r]
                    key.gpus = self._gpus[r]
                    key.task = self._task[r]
                    k += 1
                r = self._next[r]
            if k == 0:
                continue
            _sort_keys(keys, k)
            for j in range(k):
                key = &keys[j]
                acc[0] += key.cpu
                acc[1] += key.ram
                acc[2] += key.disk
                acc[3] += key.ports
                acc[4] += key.gpus
                if acc[0] >= n0 and acc[1] >= n1 and acc[2] >= n2 and acc[3] >= n3 \
                        and acc[4] >= n4:
                    out_host[found] = <int32_t>h
                    out_count[found] = <int32_t>(j + 1)
                    for k in range(j + 1):
                        out_victims[off + k] = keys[k].task
                    off += j + 1
                    found += 1
                    if used != NULL:
                        used[h] = 1
                    break
            if found == max_slots:
                break
        return found
