# cython: language_level=3
"""The task-state table, compiled: every task the scheduler knows, as C columns.

Twin: ``_statetable_py.py`` (same columns, algorithms, slot numbers, orders and effects; read its
docstring for the layout). The rules come from ``aurora.state.machine.MATRIX``, copied into a C
array at import, so the state machine is defined once. This module knows nothing of asyncio or
storage: a bulk call changes memory and returns an ``Effects`` for the service layer.
"""

from cpython cimport array
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcmp, memcpy
from cpython.unicode cimport PyUnicode_AsUTF8AndSize

from aurora._fastpath.common cimport _grow, decimal, rowhash_del, rowhash_free, rowhash_get
from aurora._fastpath.common cimport rowhash_put, rowhash_reserve

import array as pyarray
import os
import re

from aurora.model.status import UnknownStatusError
from aurora.state.effects import Effects
from aurora.state.machine import MATRIX, Code, flapping_penalty_ms

cdef enum:
    NSTATES = 32
    DELETED = 31
    PENDING = 0
    KILLING = 6
    LOST = 7
    ASSIGNED = 9
    RESTARTING = 12
    THROTTLED = 16
    DRAINING = 17
    PARTITIONED = 18
    F_WAS_KILLING = 1
    F_INTERRUPTED = 2

cdef uint16_t C_VALID = Code.VALID
cdef uint16_t C_SAVE = Code.SAVE_STATE
cdef uint16_t C_KILL = Code.KILL
cdef uint16_t C_RESCHED = Code.RESCHEDULE
cdef uint16_t C_RESCHED_SERVICE = Code.RESCHEDULE_IF_SERVICE
cdef uint16_t C_FAILURE = Code.FAILURE
cdef uint16_t C_DELETE = Code.DELETE
cdef uint16_t C_TO_LOST = Code.TRANSITION_TO_LOST
cdef uint16_t C_RESCHED_UNLESS_KILLING = Code.RESCHEDULE_UNLESS_KILLING

cdef uint16_t _M[NSTATES * NSTATES]
for _i in range(NSTATES * NSTATES):
    _M[_i] = MATRIX[_i]

cdef uint8_t _VALID_TARGET[NSTATES]
for _i in range(NSTATES):
    _VALID_TARGET[_i] = 1 if _i in (0, 1, 2, 3, 4, 5, 6, 7, 9, 11, 12, 13, 16, 17, 18, 31) else 0

cdef uint8_t _TERMINAL[NSTATES]
for _i in range(NSTATES):
    _TERMINAL[_i] = 1 if _i in (3, 4, 5, 7) else 0

MSG_TO_LOST = "Action performed on partitioned task, marking as LOST."
MSG_RESCHEDULED = "Rescheduled"
_UNSAFE = re.compile(r"[^\w-]")
cdef array.array _Q_TEMPLATE = pyarray.array("q")


cdef int _check_status(object to) except -1:
    if isinstance(to, bool) or not isinstance(to, int) or not (0 <= to < NSTATES) \
            or not _VALID_TARGET[<int>to]:
        raise UnknownStatusError(f"unknown task status number {to!r}")
    return <int>to


cdef int _vec_push(Vec* v, int64_t x) except -1:
    cdef Py_ssize_t cap
    cdef int64_t* data
    if v.n == v.cap:
        cap = v.cap * 2 if v.cap else 64
        data = <int64_t*>realloc(v.data, cap * sizeof(int64_t))
        if data == NULL:
            raise MemoryError()
        v.data = data
        v.cap = cap
    v.data[v.n] = x
    v.n += 1
    return 0


cdef array.array _vec_array(Vec* v):
    cdef array.array out = array.clone(_Q_TEMPLATE, v.n, False)
    if v.n:
        memcpy(out.data.as_voidptr, v.data, v.n * sizeof(int64_t))
    return out


cdef void _vec_free(Vec* v) noexcept nogil:
    free(v.data)
    v.data = NULL
    v.n = 0
    v.cap = 0


cdef inline int _hexval(char c, bint lower_only):
    if 48 <= c <= 57:
        return c - 48
    if 97 <= c <= 102:
        return c - 87
    if not lower_only and 65 <= c <= 70:
        return c - 55
    return -1


cdef class StateTable:
    """Every task the scheduler knows, as columns; bulk operations return their side effects."""

    def __cinit__(self):
        cdef int i
        for i in range(NSTATES):
            self._state_head[i] = -1
            self._state_count[i] = 0
        self._free = -1
        self._ev_free = -1

    def __init__(self, *, namespace=None, str scheduler_host="",
                 int64_t flap_threshold_ms=300_000, int64_t flap_initial_ms=30_000,
                 int64_t flap_max_ms=300_000):
        self.namespace = (
            int.from_bytes(os.urandom(8), "big") if namespace is None else namespace
        ) & 0xFFFFFFFFFFFFFFFF
        self.scheduler_host = scheduler_host
        self.flap_threshold_ms = flap_threshold_ms
        self.flap_initial_ms = flap_initial_ms
        self.flap_max_ms = flap_max_ms
        self.illegal_transitions = 0
        self.next_seq = 1
        self._jobs = []
        self._job_ids = {}
        self._job_prefix = []
        self._hosts = []
        self._host_ids = {}
        self._messages = [None]
        self._message_ids = {}
        self._msg_to_lost = self.intern_message(MSG_TO_LOST)
        rowhash_reserve(&self._hash, 8, self._live, self._seq)

    def __dealloc__(self):
        cdef Py_ssize_t j
        free(self._state); free(self._flags); free(self._flaps); free(self._tparts)
        free(self._job); free(self._inst); free(self._cfg); free(self._host); free(self._fail)
        free(self._seq); free(self._anc); free(self._ts); free(self._ev_head)
        free(self._st_prev); free(self._st_next); free(self._job_prev); free(self._job_next)
        free(self._host_prev); free(self._host_next)
        free(self._ev_ts); free(self._ev_status); free(self._ev_msg); free(self._ev_next)
        rowhash_free(&self._hash)
        if self._job_inst != NULL:
            for j in range(self._njobs):
                free(self._job_inst[j])
        free(self._job_inst); free(self._job_inst_len); free(self._job_inst_cap)
        free(self._job_head)
        free(self._cfg_job); free(self._cfg_service); free(self._cfg_maxfail)
        free(self._host_head)

    # ------------------------------------------------------------- storage growth
    cdef int _reserve_slots(self, Py_ssize_t n) except -1:
        if n <= self._cap:
            return 0
        cdef Py_ssize_t cap = max(n, self._cap + self._cap // 4, 64)
        _grow(<void**>&self._state, cap, sizeof(uint8_t))
        _grow(<void**>&self._flags, cap, sizeof(uint8_t))
        _grow(<void**>&self._flaps, cap, sizeof(uint8_t))
        _grow(<void**>&self._tparts, cap, sizeof(uint16_t))
        _grow(<void**>&self._job, cap, sizeof(int32_t))
        _grow(<void**>&self._inst, cap, sizeof(int32_t))
        _grow(<void**>&self._cfg, cap, sizeof(int32_t))
        _grow(<void**>&self._host, cap, sizeof(int32_t))
        _grow(<void**>&self._fail, cap, sizeof(int32_t))
        _grow(<void**>&self._seq, cap, sizeof(uint64_t))
        _grow(<void**>&self._anc, cap, sizeof(uint64_t))
        _grow(<void**>&self._ts, cap, sizeof(int64_t))
        _grow(<void**>&self._ev_head, cap, sizeof(int32_t))
        _grow(<void**>&self._st_prev, cap, sizeof(int32_t))
        _grow(<void**>&self._st_next, cap, sizeof(int32_t))
        _grow(<void**>&self._job_prev, cap, sizeof(int32_t))
        _grow(<void**>&self._job_next, cap, sizeof(int32_t))
        _grow(<void**>&self._host_prev, cap, sizeof(int32_t))
        _grow(<void**>&self._host_next, cap, sizeof(int32_t))
        self._cap = cap
        return 0

    cdef int _reserve_events(self, Py_ssize_t n) except -1:
        if n <= self._ev_cap:
            return 0
        cdef Py_ssize_t cap = max(n, self._ev_cap + self._ev_cap // 4, 64)
        _grow(<void**>&self._ev_ts, cap, sizeof(int64_t))
        _grow(<void**>&self._ev_status, cap, sizeof(uint8_t))
        _grow(<void**>&self._ev_msg, cap, sizeof(uint32_t))
        _grow(<void**>&self._ev_next, cap, sizeof(int32_t))
        self._ev_cap = cap
        return 0

    # ------------------------------------------------------------- registries
    def add_job(self, str role, str environment, str name):
        """Id of job role/environment/name, registering it on first sight."""
        key = (role, environment, name)
        job = self._job_ids.get(key)
        if job is not None:
            return job
        cdef Py_ssize_t cap
        if self._njobs == self._jobs_cap:
            cap = max(16, self._jobs_cap * 2)
            _grow(<void**>&self._job_head, cap, sizeof(int32_t))
            _grow(<void**>&self._job_inst, cap, sizeof(int32_t*))
            _grow(<void**>&self._job_inst_len, cap, sizeof(int32_t))
            _grow(<void**>&self._job_inst_cap, cap, sizeof(int32_t))
            self._jobs_cap = cap
        j = self._njobs
        self._job_head[j] = -1
        self._job_inst[j] = NULL
        self._job_inst_len[j] = 0
        self._job_inst_cap[j] = 0
        self._njobs += 1
        self._jobs.append(key)
        self._job_ids[key] = j
        self._job_prefix.append(_UNSAFE.sub("-", f"{role}-{environment}-{name}"))
        return j

    def job_key(self, int job):
        return self._jobs[job]

    @property
    def job_count(self):
        return self._njobs

    def add_config(self, int job, is_service, int max_task_failures):
        """Register the scheduling-relevant facts of a task config; returns its id."""
        if not 0 <= job < self._njobs:
            raise ValueError(f"unknown job id {job}")
        if max_task_failures < -1:
            raise ValueError(f"max_task_failures must be >= -1, got {max_task_failures}")
        cdef Py_ssize_t cap
        if self._ncfg == self._cfg_cap:
            cap = max(16, self._cfg_cap * 2)
            _grow(<void**>&self._cfg_job, cap, sizeof(int32_t))
            _grow(<void**>&self._cfg_service, cap, sizeof(uint8_t))
            _grow(<void**>&self._cfg_maxfail, cap, sizeof(int32_t))
            self._cfg_cap = cap
        self._cfg_job[self._ncfg] = job
        self._cfg_service[self._ncfg] = 1 if is_service else 0
        self._cfg_maxfail[self._ncfg] = max_task_failures
        self._ncfg += 1
        return self._ncfg - 1

    def config_job(self, int config):
        if not 0 <= config < self._ncfg:
            raise IndexError(config)
        return self._cfg_job[config]

    @property
    def config_count(self):
        return self._ncfg

    def intern_host(self, str hostname):
        host = self._host_ids.get(hostname)
        if host is not None:
            return host
        cdef Py_ssize_t h = len(self._hosts)
        if h == self._hosts_cap:
            self._hosts_cap = max(16, self._hosts_cap * 2)
            _grow(<void**>&self._host_head, self._hosts_cap, sizeof(int32_t))
        self._host_head[h] = -1
        self._hosts.append(hostname)
        self._host_ids[hostname] = h
        return h

    def host_name(self, int host):
        return self._hosts[host] if host >= 0 else None

    @property
    def host_count(self):
        return len(self._hosts)

    def intern_message(self, message):
        if message is None:
            return 0
        mid = self._message_ids.get(message)
        if mid is None:
            mid = len(self._messages)
            self._messages.append(message)
            self._message_ids[message] = mid
        return mid

    def message(self, int mid):
        return self._messages[mid]

    # ------------------------------------------------------------- slots and lists
    cdef int32_t _alloc(self) except -2:
        cdef int32_t s = self._free
        if s >= 0:
            self._free = self._st_next[s]
            return s
        self._reserve_slots(self._n + 1)
        s = <int32_t>self._n
        self._n += 1
        return s

    cdef void _link_state(self, int32_t s, int st) noexcept nogil:
        cdef int32_t head = self._state_head[st]
        self._st_prev[s] = -1
        self._st_next[s] = head
        if head >= 0:
            self._st_prev[head] = s
        self._state_head[st] = s
        self._state_count[st] += 1
        self._state[s] = <uint8_t>st

    cdef void _unlink_state(self, int32_t s) noexcept nogil:
        cdef int st = self._state[s]
        cdef int32_t p = self._st_prev[s]
        cdef int32_t n = self._st_next[s]
        if p >= 0:
            self._st_next[p] = n
        else:
            self._state_head[st] = n
        if n >= 0:
            self._st_prev[n] = p
        self._state_count[st] -= 1

    cdef void _link_job(self, int32_t s, int32_t job) noexcept nogil:
        cdef int32_t head = self._job_head[job]
        self._job_prev[s] = -1
        self._job_next[s] = head
        if head >= 0:
            self._job_prev[head] = s
        self._job_head[job] = s

    cdef void _unlink_job(self, int32_t s) noexcept nogil:
        cdef int32_t p = self._job_prev[s]
        cdef int32_t n = self._job_next[s]
        if p >= 0:
            self._job_next[p] = n
        else:
            self._job_head[self._job[s]] = n
        if n >= 0:
            self._job_prev[n] = p

    cdef void _link_host(self, int32_t s, int32_t host) noexcept nogil:
        cdef int32_t head = self._host_head[host]
        self._host_prev[s] = -1
        self._host_next[s] = head
        if head >= 0:
            self._host_prev[head] = s
        self._host_head[host] = s
        self._host[s] = host

    cdef void _unlink_host(self, int32_t s) noexcept nogil:
        cdef int32_t host = self._host[s]
        if host < 0:
            return
        cdef int32_t p = self._host_prev[s]
        cdef int32_t n = self._host_next[s]
        if p >= 0:
            self._host_next[p] = n
        else:
            self._host_head[host] = n
        if n >= 0:
            self._host_prev[n] = p
        self._host[s] = -1

    cdef int _add_event(self, int32_t s, int64_t ts, uint8_t status, uint32_t msg) except -1:
        cdef int32_t e = self._ev_free
        if e >= 0:
            self._ev_free = self._ev_next[e]
        else:
            self._reserve_events(self._ev_n + 1)
            e = <int32_t>self._ev_n
            self._ev_n += 1
        self._ev_ts[e] = ts
        self._ev_status[e] = status
        self._ev_msg[e] = msg
        self._ev_next[e] = self._ev_head[s]
        self._ev_head[s] = e
        return 0

    cdef void _free_event(self, int32_t e) noexcept nogil:
        self._ev_next[e] = self._ev_free
        self._ev_free = e

    cdef int _set_active(self, int32_t job, int32_t inst, int32_t s) except -1:
        cdef int32_t n = self._job_inst_len[job]
        cdef int32_t cap
        cdef int32_t i
        if inst >= n:
            cap = self._job_inst_cap[job]
            if inst >= cap:
                cap = max(inst + 1, cap * 2, 8)
                _grow(<void**>&self._job_inst[job], cap, sizeof(int32_t))
                self._job_inst_cap[job] = cap
            for i in range(n, inst + 1):
                self._job_inst[job][i] = -1
            self._job_inst_len[job] = inst + 1
        self._job_inst[job][inst] = s
        return 0

    # ------------------------------------------------------------- creation
    cdef int32_t _create(self, int32_t cfg, int32_t inst, uint8_t status, int64_t ts,
                         uint32_t msg, int32_t fail, uint64_t anc, uint8_t flaps) except -2:
        rowhash_reserve(&self._hash, self._live + 1, self._live, self._seq)
        cdef int32_t s = self._alloc()
        cdef int32_t job = self._cfg_job[cfg]
        self._job[s] = job
        self._inst[s] = inst
        self._cfg[s] = cfg
        self._host[s] = -1
        self._fail[s] = fail
        self._flags[s] = 0
        self._flaps[s] = flaps
        self._tparts[s] = 0
        self._seq[s] = self.next_seq
        rowhash_put(&self._hash, self.next_seq, s)
        self.next_seq += 1
        self._anc[s] = anc
        self._ts[s] = ts
        self._ev_head[s] = -1
        self._link_state(s, status)
        self._link_job(s, job)
        self._add_event(s, ts, status, msg)
        self._set_active(job, inst, s)
        self._live += 1
        return s

    def insert(self, int config, instances, int64_t now_ms, message=None):
        """Create PENDING tasks of CONFIG for INSTANCES; all or nothing.

        ValueError names the problem (unknown config, negative or repeated instance, an instance
        that already has an active task) and leaves the table unchanged.
        """
        if not 0 <= config < self._ncfg:
            raise ValueError(f"unknown config id {config}")
        cdef int32_t job = self._cfg_job[config]
        cdef set seen = set()
        cdef int64_t inst
        for inst in instances:
            if inst < 0 or inst > 0x7FFFFFFF:
                raise ValueError(f"instance id {inst} is out of range")
            if inst in seen:
                raise ValueError(f"instance {inst} is given twice")
            seen.add(inst)
            if inst < self._job_inst_len[job] and self._job_inst[job][inst] >= 0:
                raise ValueError(
                    f"instance {inst} of job {'/'.join(self._jobs[job])} already has an active "
                    f"task {self.task_id(self._job_inst[job][inst])}"
                )
        cdef Py_ssize_t count = len(seen)
        cdef Py_ssize_t free_slots = 0
        cdef int32_t f = self._free
        while f >= 0 and free_slots < count:
            free_slots += 1
            f = self._st_next[f]
        self._reserve_slots(self._n + count - free_slots)
        self._reserve_events(self._ev_n + count)
        rowhash_reserve(&self._hash, self._live + count, self._live, self._seq)
        cdef uint32_t msg = self.intern_message(message)
        cdef Out out
        out.created.data = NULL
        out.created.n = 0
        out.created.cap = 0
        try:
            for inst in instances:
                _vec_push(&out.created, self._create(config, <int32_t>inst, PENDING, now_ms,
                                                     msg, 0, 0, 0))
            eff = Effects()
            eff.created = _vec_array(&out.created)
        finally:
            _vec_free(&out.created)
        return eff

    # ------------------------------------------------------------- transitions
    def transition(self, slots, to, int64_t now_ms, message=None, expect=-1):
        """Move every task in SLOTS to state TO through the state machine.

        With EXPECT >= 0 a task not currently in that state is left alone (counted in
        ``cas_failed``). Illegal transitions change nothing but are counted.
        """
        cdef int t = _check_status(to)
        cdef int exp = -1
        if expect != -1:
            exp = _check_status(expect)
        cdef uint32_t msg = self.intern_message(message)
        cdef Out out
        cdef list deleted = []
        cdef Py_ssize_t pos = 0
        cdef int64_t s
        cdef int64_t[::1] view
        _out_init(&out)
        try:
            self._reserve_events(self._ev_n + len(slots))
            if isinstance(slots, pyarray.array) and slots.typecode == "q":
                view = slots
                for pos in range(view.shape[0]):
                    self._apply(view[pos], t, now_ms, msg, pos, exp, &out, deleted)
            else:
                for s in slots:
                    self._apply(s, t, now_ms, msg, pos, exp, &out, deleted)
                    pos += 1
            return self._finish(&out, deleted)
        finally:
            _out_free(&out)

    def transition_each(self, slots, statuses, int64_t now_ms, messages=None):
        """Move the task in ``slots[k]`` to ``statuses[k]`` (with ``messages[k]``), for every
        k in order: what ``transition`` does for one status, for a batch whose statuses differ
        (an agent's STARTING, RUNNING and FINISHED of many tasks, interleaved), in one call.
        Every status is checked first: an unknown one raises UnknownStatusError and nothing
        changes. Positions in the effects (kill_unknown, illegal) index the batch."""
        cdef Py_ssize_t n = len(slots), pos
        if len(statuses) != n or (messages is not None and len(messages) != n):
            raise ValueError(f"{n} slots, {len(statuses)} statuses, "
                             f"{n if messages is None else len(messages)} messages")
        cdef int* tos = <int*>malloc(max(n, 1) * sizeof(int))
        cdef uint32_t* mids = <uint32_t*>malloc(max(n, 1) * sizeof(uint32_t))
        cdef Out out
        cdef list deleted = []
        cdef object m, last_m = None
        cdef uint32_t last_mid = 0
        cdef int64_t[::1] view
        _out_init(&out)
        try:
            if tos == NULL or mids == NULL:
                raise MemoryError()
            for pos in range(n):
                tos[pos] = _check_status(statuses[pos])
            for pos in range(n):
                m = None if messages is None else messages[pos]
                if m is not last_m:  # runs of one message (often None): interned once
                    last_m, last_mid = m, self.intern_message(m)
                mids[pos] = last_mid
            self._reserve_events(self._ev_n + n)
            if isinstance(slots, pyarray.array) and slots.typecode == "q":
                view = slots
                for pos in range(n):
                    self._apply(view[pos], tos[pos], now_ms, mids[pos], pos, -1, &out, deleted)
            else:
                for pos in range(n):
                    self._apply(slots[pos], tos[pos], now_ms, mids[pos], pos, -1, &out, deleted)
            return self._finish(&out, deleted)
        finally:
            _out_free(&out)
            free(tos)
            free(mids)

    def assign(self, slots, hosts, int64_t now_ms, message=None):
        """PENDING -> ASSIGNED for each slot, onto the host at the same position."""
        if len(slots) != len(hosts):
            raise ValueError(f"{len(slots)} slots but {len(hosts)} hosts")
        cdef Py_ssize_t nhosts = len(self._hosts)
        cdef int64_t h
        for h in hosts:
            if not 0 <= h < nhosts:
                raise ValueError(f"unknown host id {h}")
        cdef uint32_t msg = self.intern_message(message)
        cdef Out out
        cdef list deleted = []
        cdef Py_ssize_t pos = 0
        cdef int64_t s
        _out_init(&out)
        try:
            self._reserve_events(self._ev_n + len(slots))
            for s, h in zip(slots, hosts):
                if 0 <= s < self._n and self._state[s] == PENDING:
                    self._unlink_host(<int32_t>s)
                    self._link_host(<int32_t>s, <int32_t>h)
                self._apply(s, ASSIGNED, now_ms, msg, pos, PENDING, &out, deleted)
                pos += 1
            return self._finish(&out, deleted)
        finally:
            _out_free(&out)

    cdef int _apply(self, int64_t slot, int to, int64_t now, uint32_t msg, Py_ssize_t pos,
                    int expect, Out* out, list deleted) except -1:
        cdef int cur = self._state[slot] if 0 <= slot < self._n else DELETED
        cdef int32_t s = <int32_t>slot
        cdef uint16_t code
        cdef int32_t cfg, fails, maxf, inst, job
        cdef bint is_service, resched
        cdef int64_t prev_ts
        if expect >= 0 and cur != expect:
            out.cas_failed += 1
            return 0
        while True:
            if cur == to:
                out.noop += 1
                return 0
            code = _M[cur * NSTATES + to]
            if cur == DELETED:
                self.illegal_transitions += 1
                _vec_push(&out.illegal, pos)
                if code & C_KILL:
                    _vec_push(&out.kill_unknown, pos)
                return 0
            if not code & C_VALID:
                self.illegal_transitions += 1
                _vec_push(&out.illegal, pos)
                if code & C_KILL:
                    _vec_push(&out.killed, s)
                return 0
            cfg = self._cfg[s]
            is_service = self._cfg_service[cfg]
            resched = (
                (code & C_RESCHED) != 0
                or ((code & C_RESCHED_SERVICE) != 0 and is_service)
                or ((code & C_RESCHED_UNLESS_KILLING) != 0
                    and not (self._flags[s] & F_WAS_KILLING))
            )
            if code & C_FAILURE:
                fails = self._fail[s]
                maxf = self._cfg_maxfail[cfg]
                if is_service or maxf == -1 or fails < maxf - 1:
                    resched = True
                self._fail[s] = fails + 1
            prev_ts = self._ts[s]
            tid = self.task_id(s) if code & C_DELETE else None
            self._unlink_state(s)
            self._link_state(s, to)
            self._ts[s] = now
            if code & C_SAVE:
                if to == KILLING:
                    self._flags[s] |= F_WAS_KILLING | F_INTERRUPTED
                elif to == RESTARTING or to == DRAINING:
                    self._flags[s] |= F_INTERRUPTED
                elif to == PARTITIONED:
                    if self._tparts[s] < 0xFFFF:
                        self._tparts[s] += 1
                    self._compact_partitions(s)
                self._add_event(s, now, <uint8_t>to, msg)
                _vec_push(&out.saved, s)
            if _TERMINAL[to]:
                _vec_push(&out.ended, s)
                job = self._job[s]
                inst = self._inst[s]
                if self._job_inst[job][inst] == s:
                    self._job_inst[job][inst] = -1
            if resched:
                self._reschedule(s, now, prev_ts, out)
            if code & C_KILL:
                _vec_push(&out.killed, s)
            if code & C_DELETE:
                deleted.append(tid)
                self._remove(s)
                _vec_push(&out.pending_free, s)
                return 0
            if not code & C_TO_LOST:
                return 0
            cur = to
            to = LOST
            msg = self._msg_to_lost

    cdef void _compact_partitions(self, int32_t s) noexcept nogil:
        # RUNNING -> PARTITIONED -> RUNNING -> PARTITIONED ... keeps one cycle, not all of them.
        cdef int32_t e1 = self._ev_head[s]
        cdef int32_t e2 = self._ev_next[e1] if e1 >= 0 else -1
        cdef int32_t e3 = self._ev_next[e2] if e2 >= 0 else -1
        if e3 >= 0 and self._ev_status[e2] == PARTITIONED and \
                self._ev_status[e3] == self._ev_status[e1]:
            self._ev_head[s] = e3
            self._free_event(e1)
            self._free_event(e2)

    cdef int _reschedule(self, int32_t s, int64_t now, int64_t prev_ts, Out* out) except -1:
        cdef int32_t job = self._job[s]
        cdef int32_t inst = self._inst[s]
        if self._job_inst[job][inst] >= 0:  # another task holds the instance: never two active
            return 0
        cdef bint flapped = (not (self._flags[s] & F_INTERRUPTED)
                             and now - prev_ts < self.flap_threshold_ms)
        cdef uint8_t flaps = 0
        if flapped:
            flaps = self._flaps[s] + 1 if self._flaps[s] < 255 else 255
        cdef int64_t penalty = 0
        if flaps:
            penalty = flapping_penalty_ms(flaps, self.flap_initial_ms, self.flap_max_ms)
        cdef uint8_t status = PENDING
        cdef uint32_t msg
        if penalty > 0:
            status = THROTTLED
            msg = self.intern_message(f"Rescheduled, penalized for {penalty} ms for flapping")
        else:
            msg = self.intern_message(MSG_RESCHEDULED)
        cdef int32_t new = self._create(self._cfg[s], inst, status, now, msg, self._fail[s],
                                        self._seq[s], flaps)
        _vec_push(&out.created, new)
        return 0

    cdef void _remove(self, int32_t s) noexcept nogil:
        self._unlink_state(s)
        self._unlink_job(s)
        self._unlink_host(s)
        cdef int32_t job = self._job[s]
        cdef int32_t inst = self._inst[s]
        if inst < self._job_inst_len[job] and self._job_inst[job][inst] == s:
            self._job_inst[job][inst] = -1
        rowhash_del(&self._hash, self._seq, self._seq[s])
        cdef int32_t e = self._ev_head[s]
        cdef int32_t n
        while e >= 0:
            n = self._ev_next[e]
            self._free_event(e)
            e = n
        self._ev_head[s] = -1
        self._state[s] = DELETED
        self._live -= 1

    cdef object _finish(self, Out* out, list deleted):
        cdef Py_ssize_t i
        cdef int32_t s
        for i in range(out.pending_free.n):
            s = <int32_t>out.pending_free.data[i]
            self._st_next[s] = self._free
            self._free = s
        eff = Effects()
        eff.saved = _vec_array(&out.saved)
        eff.killed = _vec_array(&out.killed)
        eff.kill_unknown = _vec_array(&out.kill_unknown)
        eff.created = _vec_array(&out.created)
        eff.illegal = _vec_array(&out.illegal)
        eff.deleted = deleted
        eff.deleted_slots = _vec_array(&out.pending_free)
        eff.ended = _vec_array(&out.ended)
        eff.noop = out.noop
        eff.cas_failed = out.cas_failed
        return eff

    # ------------------------------------------------------------- queries
    def __len__(self):
        return self._live

    @property
    def slot_count(self):
        return self._n

    cpdef int state(self, int64_t slot):
        return self._state[slot] if 0 <= slot < self._n else DELETED

    def task_id(self, int64_t slot):
        if self.state(slot) == DELETED:
            raise KeyError(f"no task in slot {slot}")
        h = f"{self.namespace:016x}{self._seq[slot]:016x}"
        uuid = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        return f"{self._job_prefix[self._job[slot]]}-{self._inst[slot]}-{uuid}"

    def lookup(self, task_ids):
        """Slots of the given task ids; -1 for ids naming no live task."""
        cdef Vec v
        v.data = NULL
        v.n = 0
        v.cap = 0
        try:
            for tid in task_ids:
                _vec_push(&v, self._lookup_one(<str?>tid))
            return _vec_array(&v)
        finally:
            _vec_free(&v)

    cpdef long long seq_of(self, str task_id):
        """The sequence number inside an id of this table's namespace, or -1. The id ends in
        ``-`` and a canonical 8-4-4-4-12 hex uuid: the namespace's 16 digits, then the seq's."""
        cdef Py_ssize_t n
        cdef const char* p = PyUnicode_AsUTF8AndSize(task_id, &n)
        return self._seq_of(p, n, False)

    cdef long long _seq_of(self, const char* p, Py_ssize_t n, bint lower_only):
        cdef const char* u
        cdef uint64_t ns = 0, seq = 0
        cdef int i, k = 0, d
        if n < 38 or p[n - 37] != 45:  # '-'
            return -1
        u = p + n - 36
        for i in range(36):
            if i == 8 or i == 13 or i == 18 or i == 23:
                if u[i] != 45:
                    return -1
                continue
            d = _hexval(u[i], lower_only)
            if d < 0:
                return -1
            if k < 16:
                ns = (ns << 4) | <uint64_t>d
            else:
                seq = (seq << 4) | <uint64_t>d
            k += 1
        if ns != self.namespace or seq == 0 or seq >= (<uint64_t>1 << 63):
            return -1
        return <long long>seq

    cdef int32_t _lookup_one(self, str tid) except -2:
        """The slot whose id is exactly TID, or -1: the uuid names the task (its seq), the rest
        must be its job prefix and instance, byte for byte as task_id() writes them."""
        cdef Py_ssize_t n, pn
        cdef const char* p = PyUnicode_AsUTF8AndSize(tid, &n)
        cdef const char* pp
        cdef long long seq = self._seq_of(p, n, True)
        cdef int32_t s
        cdef char digits[20]
        cdef int nd
        if seq < 0:
            return -1
        s = rowhash_get(&self._hash, self._seq, <uint64_t>seq)
        if s < 0:
            return -1
        pp = PyUnicode_AsUTF8AndSize(<str>self._job_prefix[self._job[s]], &pn)
        nd = decimal(digits, <uint64_t>self._inst[s])
        if n - 37 != pn + 1 + nd or memcmp(p, pp, pn) != 0 or p[pn] != 45 or \
                memcmp(p + pn + 1, digits, nd) != 0:
            return -1
        return s

    def row(self, int64_t slot):
        """(state, job, instance, config, host, failures, times_partitioned, seq, ancestor_seq,
        state_ts, flags, flaps) of a live slot."""
        if self.state(slot) == DELETED:
            raise KeyError(f"no task in slot {slot}")
        cdef int64_t s = slot
        return (self._state[s], self._job[s], self._inst[s], self._cfg[s], self._host[s],
                self._fail[s], self._tparts[s], self._seq[s], self._anc[s], self._ts[s],
                self._flags[s], self._flaps[s])

    def events(self, int64_t slot):
        """The task's events, oldest first: (timestamp ms, status, message)."""
        if self.state(slot) == DELETED:
            raise KeyError(f"no task in slot {slot}")
        out = []
        cdef int32_t e = self._ev_head[slot]
        while e >= 0:
            out.append((self._ev_ts[e], self._ev_status[e], self._messages[self._ev_msg[e]]))
            e = self._ev_next[e]
        out.reverse()
        return out

    cdef object _walk(self, int32_t head, int32_t* nxt):
        cdef Vec v
        v.data = NULL
        v.n = 0
        v.cap = 0
        cdef int32_t s = head
        try:
            while s >= 0:
                _vec_push(&v, s)
                s = nxt[s]
            return _vec_array(&v)
        finally:
            _vec_free(&v)

    def tasks_of_job(self, int job):
        if not 0 <= job < self._njobs:
            raise IndexError(f"unknown job id {job}")
        return self._walk(self._job_head[job], self._job_next)

    def tasks_on_host(self, int host):
        if not 0 <= host < len(self._hosts):
            raise IndexError(f"unknown host id {host}")
        return self._walk(self._host_head[host], self._host_next)

    def tasks_in_state(self, status):
        return self._walk(self._state_head[_check_status(status)], self._st_next)

    def count_in_state(self, status):
        return self._state_count[_check_status(status)]

    def active_task(self, int job, int64_t instance):
        if not 0 <= job < self._njobs:
            raise IndexError(f"unknown job id {job}")
        if 0 <= instance < self._job_inst_len[job]:
            return self._job_inst[job][instance]
        return -1

    def throttled_until(self, int64_t slot):
        """When a THROTTLED task may become PENDING (ms); its penalty counts from entering."""
        penalty = flapping_penalty_ms(self._flaps[slot], self.flap_initial_ms, self.flap_max_ms)
        return self._ts[slot] + penalty

    def memory_bytes(self):
        """Bytes held by the table's columns, events and indexes (configs apart)."""
        cdef Py_ssize_t per_slot = (
            3 * sizeof(uint8_t) + sizeof(uint16_t) + 5 * sizeof(int32_t)
            + 2 * sizeof(uint64_t) + sizeof(int64_t) + 7 * sizeof(int32_t)
        )
        cdef Py_ssize_t per_event = (
            sizeof(int64_t) + sizeof(uint8_t) + sizeof(uint32_t) + sizeof(int32_t)
        )
        cdef Py_ssize_t total = self._cap * per_slot + self._ev_cap * per_event
        total += self._hash.cap * sizeof(int32_t)
        cdef Py_ssize_t j
        for j in range(self._njobs):
            total += self._job_inst_cap[j] * sizeof(int32_t)
        return total

    def dump(self):
        """The whole logical content, for comparing implementations."""
        rows = []
        cdef Py_ssize_t s
        for s in range(self._n):
            if self._state[s] != DELETED:
                rows.append((s, self.task_id(s), self.row(s), tuple(self.events(s))))
        states = sorted(i for i in range(NSTATES) if _VALID_TARGET[i] and i != DELETED)
        lists = (
            tuple(tuple(self.tasks_in_state(st)) for st in states),
            tuple(tuple(self.tasks_of_job(j)) for j in range(self._njobs)),
            tuple(tuple(self.tasks_on_host(h)) for h in range(len(self._hosts))),
            tuple(tuple(self._job_inst[j][i] for i in range(self._job_inst_len[j]))
                  for j in range(self._njobs)),
        )
        return (tuple(rows), lists, self._live, self.next_seq, self.illegal_transitions)


cdef void _out_init(Out* out) noexcept nogil:
    out.saved.data = NULL; out.saved.n = 0; out.saved.cap = 0
    out.killed.data = NULL; out.killed.n = 0; out.killed.cap = 0
    out.kill_unknown.data = NULL; out.kill_unknown.n = 0; out.kill_unknown.cap = 0
    out.created.data = NULL; out.created.n = 0; out.created.cap = 0
    out.illegal.data = NULL; out.illegal.n = 0; out.illegal.cap = 0
    out.pending_free.data = NULL; out.pending_free.n = 0; out.pending_free.cap = 0
    out.ended.data = NULL; out.ended.n = 0; out.ended.cap = 0
    out.noop = 0
    out.cas_failed = 0


cdef void _out_free(Out* out) noexcept nogil:
    _vec_free(&out.saved)
    _vec_free(&out.killed)
    _vec_free(&out.kill_unknown)
    _vec_free(&out.created)
    _vec_free(&out.illegal)
    _vec_free(&out.pending_free)
    _vec_free(&out.ended)
