# cython: language_level=3
"""Feasibility, placement and host orders, compiled.

Twin: ``_matcher_py.py``; its docstring describes the feasibility chain (offer, class-cached
static checks, escaped static checks, limits, resources) and the placement rule. This module
gathers the cluster's column pointers once per call and runs the host loop in C; only hosts with
a multi-valued attribute take a slower path through Python objects.
"""

from cpython cimport array
from libc.stdint cimport uint8_t, uint64_t
from libc.stdlib cimport free, malloc, qsort

import array as pyarray

from aurora._fastpath.cluster cimport Cluster, LimitCounts

cdef enum:
    NONE = 1
    DRAINING = 3
    DRAINED = 4
    OK = 1
    V_DEDICATED = 0
    V_DRAINING = 1
    V_DRAINED = 2
    V_CONSTRAINT = 3
    INT32_MAX = 0x7FFFFFFF

RESOURCES = ("CPU", "RAM", "disk", "GPU", "ports")
cdef array.array _Q = pyarray.array("q")
cdef uint64_t MASK64 = 0xFFFFFFFFFFFFFFFFULL


cdef class Request:
    """What one task group asks of a host, compiled against a cluster's interned ids.

    ``constraints``: ``("value", name, values, negated)`` or ``("limit", name, limit)`` tuples.
    Value constraints are checked before limit constraints, each kind in the order given.
    """

    def __init__(self, Cluster cluster, int job, cpu_milli, ram_mb, disk_mb, gpus=0, ports=0,
                 constraints=()):
        for name, v in (("cpu_milli", cpu_milli), ("ram_mb", ram_mb), ("disk_mb", disk_mb),
                        ("gpus", gpus), ("ports", ports)):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= INT32_MAX:
                raise ValueError(f"{name} must be an integer in 0..2147483647, got {v!r}")
        self.job = job
        self.res = (cpu_milli, ram_mb, disk_mb, gpus, ports)
        cdef int i
        for i in range(5):
            self.r[i] = self.res[i]
        values = [c for c in constraints if c[0] == "value"]
        limits = [c for c in constraints if c[0] == "limit"]
        if len(values) + len(limits) != len(constraints):
            bad = [c for c in constraints if c[0] not in ("value", "limit")]
            raise ValueError(f"unknown constraint kind in {bad[0]!r}: expected 'value' or 'limit'")
        self.names = [c[1] for c in values] + [c[1] for c in limits]
        self.dedicated = any(c[1] == "dedicated" for c in values)
        self.v_attr = pyarray.array("i")
        self.v_neg = pyarray.array("B")
        self.v_unique = pyarray.array("B")
        self.v_allowed = []
        self.v_bits = []
        for _, name, vals, negated in values:
            a = cluster.intern_attr(name)
            self.v_attr.append(a)
            self.v_neg.append(1 if negated else 0)
            self.v_unique.append(cluster.attr_unique[a])
            allowed = frozenset(cluster.intern_value(a, str(v)) for v in vals)
            self.v_allowed.append(allowed)
            nbits = max(allowed) + 1 if allowed else 0
            bits = pyarray.array("Q", [0]) * ((nbits + 63) // 64 or 1)
            for v in allowed:
                bits[v >> 6] |= 1 << (v & 63)
            self.v_bits.append(bits)
        self.l_attr = pyarray.array("i")
        self.l_limit = pyarray.array("i")
        self.l_unique = pyarray.array("B")
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
        self.v_limit0 = V_CONSTRAINT + self.nc
        self.v_res0 = self.v_limit0 + len(limits)
        self.ncodes = self.v_res0 + len(RESOURCES)
        self.class_cache = pyarray.array("B")

    def labels(self):
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


cdef int _ctx_open(Ctx* c, Cluster cl, Request req, list counts) except -1:
    cdef int i
    cdef int nl = req.nc - req.nv
    cdef array.array col
    c.offer = cl.offer.data.as_uchars
    c.maint = cl.maint.data.as_uchars
    c.dedicated = cl.dedicated.data.as_uchars
    c.multi = cl.multi.data.as_uchars
    c.host_class = cl.host_class.data.as_ints
    c.free[0] = cl.cpu_free.data.as_ints
    c.free[1] = cl.ram_free.data.as_ints
    c.free[2] = cl.disk_free.data.as_ints
    c.free[3] = cl.gpu_free.data.as_ints
    c.free[4] = cl.port_free.data.as_ints
    c.v_col = <int**>malloc((req.nv + 1) * sizeof(int*))
    c.v_bits = <uint64_t**>malloc((req.nv + 1) * sizeof(uint64_t*))
    c.v_nbits = <int*>malloc((req.nv + 1) * sizeof(int))
    c.l_col = <int**>malloc((nl + 1) * sizeof(int*))
    c.l_cnt = <int**>malloc((nl + 1) * sizeof(int*))
    c.l_ncnt = <int*>malloc((nl + 1) * sizeof(int))
    trackers = cl.trackers(req.job)
    c.ntrack = len(trackers)
    c.t_col = <int**>malloc((c.ntrack + 1) * sizeof(int*))
    c.t_cnt = <int**>malloc((c.ntrack + 1) * sizeof(int*))
    if (c.v_col == NULL or c.v_bits == NULL or c.v_nbits == NULL or c.l_col == NULL
            or c.l_cnt == NULL or c.l_ncnt == NULL or c.t_col == NULL or c.t_cnt == NULL):
        raise MemoryError()
    for i in range(req.nv):
        col = cl.attr_cols[req.v_attr.data.as_ints[i]]
        c.v_col[i] = col.data.as_ints
        bits = <array.array>req.v_bits[i]
        c.v_bits[i] = <uint64_t*>bits.data.as_voidptr
        c.v_nbits[i] = len(bits) * 64
    for i in range(nl):
        col = cl.attr_cols[req.l_attr.data.as_ints[i]]
        c.l_col[i] = col.data.as_ints
        cnt = <array.array>counts[i]
        c.l_cnt[i] = cnt.data.as_ints
        c.l_ncnt[i] = len(cnt)
    cdef LimitCounts t
    for i in range(c.ntrack):
        t = trackers[i]
        col = cl.attr_cols[t.attr]
        c.t_col[i] = col.data.as_ints
        c.t_cnt[i] = t.counts.data.as_ints
    return 0


cdef void _ctx_close(Ctx* c) noexcept:
    free(c.v_col)
    free(c.v_bits)
    free(c.v_nbits)
    free(c.l_col)
    free(c.l_cnt)
    free(c.l_ncnt)
    free(c.t_col)
    free(c.t_cnt)


cdef inline bint _in_bits(Ctx* c, int i, int v) noexcept nogil:
    return v >= 0 and v < c.v_nbits[i] and ((c.v_bits[i][v >> 6] >> (v & 63)) & 1) != 0


cdef bint _value_ok(Ctx* c, Cluster cl, Request req, int i, int h) except -1:
    cdef bint matched = False
    if c.multi[h]:
        for v in cl.values_of(h, req.v_attr.data.as_ints[i]):
            if _in_bits(c, i, v):
                matched = True
                break
    else:
        matched = _in_bits(c, i, c.v_col[i][h])
    return matched != (req.v_neg.data.as_uchars[i] != 0)


cdef int _class_veto(Ctx* c, Cluster cl, Request req, int h) except -1:
    cdef int i, j
    if c.dedicated[h] and not req.dedicated:
        return V_DEDICATED + 2
    if c.maint[h] == DRAINING:
        return V_DRAINING + 2
    if c.maint[h] == DRAINED:
        return V_DRAINED + 2
    for i in range(req.nv):
        if not req.v_unique.data.as_uchars[i] and not _value_ok(c, cl, req, i, h):
            return V_CONSTRAINT + i + 2
    for j in range(req.nc - req.nv):
        if not req.l_unique.data.as_uchars[j] and c.l_col[j][h] < 0:
            return V_CONSTRAINT + req.nv + j + 2
    return OK


cdef int _escaped_veto(Ctx* c, Cluster cl, Request req, int h, int before) except -2:
    cdef int i, j
    for i in range(req.nv):
        if V_CONSTRAINT + i >= before:
            return -1
        if req.v_unique.data.as_uchars[i] and not _value_ok(c, cl, req, i, h):
            return V_CONSTRAINT + i
    for j in range(req.nc - req.nv):
        if V_CONSTRAINT + req.nv + j >= before:
            return -1
        if req.l_unique.data.as_uchars[j] and c.l_col[j][h] < 0:
            return V_CONSTRAINT + req.nv + j
    return -1


cdef inline int _static_veto(Ctx* c, Cluster cl, Request req, uint8_t* cache, int h,
                             bint escapes) except -2:
    cdef int k = c.host_class[h]
    cdef int v = cache[k]
    cdef int code, esc
    if v == 0:
        v = _class_veto(c, cl, req, h)
        cache[k] = <uint8_t>v
    if v != OK:
        code = v - 2
        if escapes and code >= V_CONSTRAINT:
            esc = _escaped_veto(c, cl, req, h, code)
            if esc >= 0:
                return esc
        return code
    if escapes:
        return _escaped_veto(c, cl, req, h, req.ncodes)
    return -1


cdef int _limit_room(Ctx* c, Cluster cl, Request req, int h, long long* room) except -2:
    cdef int j
    cdef int v, used, limit
    room[0] = INT32_MAX
    for j in range(req.nc - req.nv):
        limit = req.l_limit.data.as_ints[j]
        if c.multi[h]:
            for v in cl.values_of(h, req.l_attr.data.as_ints[j]):
                used = c.l_cnt[j][v] if v < c.l_ncnt[j] else 0
                if used >= limit:
                    return req.v_limit0 + j
                if limit - used < room[0]:
                    room[0] = limit - used
        else:
            v = c.l_col[j][h]
            used = c.l_cnt[j][v] if v < c.l_ncnt[j] else 0
            if used >= limit:
                return req.v_limit0 + j
            if limit - used < room[0]:
                room[0] = limit - used
    return -1


cdef list _prepare(Cluster cl, Request req):
    """Make sure trackers exist and cover every value; grow the class cache. Returns counts."""
    for t in cl.trackers(req.job):
        (<LimitCounts>t).ensure(cl.value_count((<LimitCounts>t).attr))
    counts = [cl.track(req.job, a).counts for a in req.l_attr]
    for t in cl.trackers(req.job):
        (<LimitCounts>t).ensure(cl.value_count((<LimitCounts>t).attr))
    cdef Py_ssize_t n = cl.class_count
    cdef Py_ssize_t old = len(req.class_cache)
    cdef Py_ssize_t i
    if old < n:
        array.resize(req.class_cache, n)
        for i in range(old, n):
            req.class_cache.data.as_uchars[i] = 0
    return counts


cdef bint _has_escapes(Request req):
    cdef int i
    for i in range(req.nv):
        if req.v_unique.data.as_uchars[i]:
            return True
    for i in range(req.nc - req.nv):
        if req.l_unique.data.as_uchars[i]:
            return True
    return False


cdef Py_ssize_t _scan_ids(Py_ssize_t i, Py_ssize_t n, const int* hkey, const uint8_t* cache,
                          const int* f0, const int* f1, const int* f2, const int* f3,
                          const int* f4, const int* req_r, long long* vc,
                          Scan* st) noexcept nogil:
    """``_scan`` for the commonest call: every host in id order, a request whose constraints are
    all cached per class (no unique attribute, no limit). Same counts, fewer branches."""
    cdef long long run = st.run
    cdef long long n0 = st.n[0], n1 = st.n[1], n2 = st.n[2], n3 = st.n[3], n4 = st.n[4]
    cdef int v, key, run_code = st.run_code, s0, s1, s2, s3, s4
    cdef int r0 = req_r[0], r1 = req_r[1], r2 = req_r[2], r3 = req_r[3], r4 = req_r[4]
    while i < n:
        key = hkey[i]
        if (key & 3) == 1:  # an offer, no multi-valued attribute
            v = cache[key >> 2]
            if v >= 2:
                if v - 2 != run_code:
                    vc[run_code] += run
                    run_code = v - 2
                    run = 0
                run += 1
            elif v == OK:
                s0 = f0[i] < r0
                s1 = f1[i] < r1
                s2 = f2[i] < r2
                s3 = f3[i] < r3
                s4 = f4[i] < r4
                if (s0 | s1 | s2 | s3 | s4) == 0:
                    break
                n0 += s0
                n1 += s1
                n2 += s2
                n3 += s3
                n4 += s4
            else:
                break
        elif (key & 3) == 3:
            break
        i += 1
    st.run = run
    st.run_code = run_code
    st.n[0] = n0
    st.n[1] = n1
    st.n[2] = n2
    st.n[3] = n3
    st.n[4] = n4
    return i


cdef int _visit(Ctx* c, Cluster cluster, Request req, uint8_t* cache, long long h,
                bint escapes, int max_per_host, long long* vc, long long* out,
                Py_ssize_t* nplaced, Py_ssize_t* remaining) except -1:
    """The whole chain for one host: count its veto, or place instances on it."""
    cdef long long k, room, here = 0
    cdef int code, r, t
    cdef bint short
    cdef int v
    while True:
        code = _static_veto(c, cluster, req, cache, <int>h, escapes)
        room = INT32_MAX
        if code < 0 and req.nc > req.nv:
            code = _limit_room(c, cluster, req, <int>h, &room)
        if code >= 0:
            vc[code] += 1
            return 0
        short = False
        for r in range(5):
            if c.free[r][h] < req.r[r]:
                vc[req.v_res0 + r] += 1
                short = True
        if short:
            return 0
        k = remaining[0] if remaining[0] < room else room
        if max_per_host > 0 and max_per_host - here < k:
            k = max_per_host - here
        for r in range(5):
            if req.r[r] > 0 and c.free[r][h] // req.r[r] < k:
                k = c.free[r][h] // req.r[r]
        if k <= 0:  # cannot happen after the checks above; never loop on it
            return 0
        for r in range(5):
            c.free[r][h] -= <int>(k * req.r[r])
        for t in range(c.ntrack):
            if c.multi[h]:
                for v in cluster.values_of(<int>h, (<LimitCounts>cluster.trackers(
                        req.job)[t]).attr):
                    c.t_cnt[t][v] += k
            else:
                v = c.t_col[t][h]
                if v >= 0:
                    c.t_cnt[t][v] += k
        while k > 0:
            out[nplaced[0]] = h
            nplaced[0] += 1
            k -= 1
            here += 1
            remaining[0] -= 1
        if remaining[0] == 0 or (max_per_host > 0 and here >= max_per_host):
            return 0


cdef struct Scan:
    # Veto counts the inline scan keeps in registers: a run of one class veto, and resources.
    long long run
    int run_code
    long long n[5]


cdef Py_ssize_t _scan(const long long* hosts, Py_ssize_t i, Py_ssize_t n,
                      const int* hkey,
                      const uint8_t* cache, const int* f0, const int* f1, const int* f2,
                      const int* f3, const int* f4, const int* req_r, bint escapes,
                      bint simple, long long* vc, Scan* st) noexcept nogil:
    """Skip hosts that are vetoed by their class, or pass it but lack a resource, counting
    their vetoes; return the index of the first host that needs the whole chain (or N)."""
    cdef long long h, run = st.run
    cdef long long n0 = st.n[0], n1 = st.n[1], n2 = st.n[2], n3 = st.n[3], n4 = st.n[4]
    cdef int v, run_code = st.run_code, s0, s1, s2, s3, s4
    cdef int r0 = req_r[0], r1 = req_r[1], r2 = req_r[2], r3 = req_r[3], r4 = req_r[4]
    cdef int key, fl
    while i < n:
        h = hosts[i] if hosts != NULL else i  # NULL: every host, in id order
        key = hkey[h]
        fl = key & 3  # bit 0: has an offer; bit 1: has a multi-valued attribute
        if fl == 1:
            v = cache[key >> 2]
            if v >= 2 and not escapes:
                if v - 2 == run_code:
                    run += 1
                else:  # another veto code: flush the run, start a new one
                    vc[run_code] += run
                    run_code = v - 2
                    run = 1
            elif v == OK and simple:
                s0 = f0[h] < r0
                s1 = f1[h] < r1
                s2 = f2[h] < r2
                s3 = r3 > 0 and f3[h] < r3  # most tasks ask no GPU and no port:
                s4 = r4 > 0 and f4[h] < r4  # skip those loads
                if (s0 | s1 | s2 | s3 | s4) == 0:
                    break
                n0 += s0
                n1 += s1
                n2 += s2
                n3 += s3
                n4 += s4
            else:
                break
        elif fl == 3:
            break  # a multi-valued host with an offer: the whole chain
        i += 1
    st.run = run
    st.run_code = run_code
    st.n[0] = n0
    st.n[1] = n1
    st.n[2] = n2
    st.n[3] = n3
    st.n[4] = n4
    return i


def place(Cluster cluster, Request req, order, Py_ssize_t count, int max_per_host=0):
    """Place up to COUNT instances of REQ, visiting hosts in ORDER (None: in id order).

    Returns (host of each placed instance, veto counts by code). The veto counts are complete
    only when fewer than COUNT were placed (the whole order was visited).

    ``_scan`` handles the two common cases in a tight C loop -- a host whose class is vetoed,
    and a host that passes its class but is short of a resource -- and stops at every other
    host, which ``_visit`` takes through the whole chain. Both count the same vetoes; the scan
    only keeps its counters in registers (a run-length counter for class vetoes).
    """
    cdef array.array placed = pyarray.array("q")
    cdef array.array vetoes = pyarray.array("q", [0]) * req.ncodes
    if count <= 0:
        return placed, vetoes
    array.resize(placed, count)
    cdef long long[::1] hosts
    cdef const long long* hp = NULL
    cdef Py_ssize_t n = cluster.host_count
    if order is not None:
        hosts = order
        n = hosts.shape[0]
        if n:
            hp = &hosts[0]
    cdef int* hkey = cluster.hkey.data.as_ints
    cdef list counts = _prepare(cluster, req)
    cdef Ctx c
    cdef long long* vc = vetoes.data.as_longlongs
    cdef long long* out = placed.data.as_longlongs
    cdef uint8_t* cache = req.class_cache.data.as_uchars
    cdef bint escapes = _has_escapes(req)
    cdef bint simple = not escapes and req.nc == req.nv
    cdef Py_ssize_t i, remaining = count, nplaced = 0
    cdef long long h
    cdef int v, k
    cdef Scan st
    st.run = 0
    st.run_code = 0
    for k in range(5):
        st.n[k] = 0
    _ctx_open(&c, cluster, req, counts)
    try:
        i = 0
        while i < n:
            if hp == NULL and simple:
                i = _scan_ids(i, n, hkey, cache, c.free[0], c.free[1],
                              c.free[2], c.free[3], c.free[4], req.r, vc, &st)
            else:
                i = _scan(hp, i, n, hkey, cache, c.free[0], c.free[1],
                          c.free[2], c.free[3], c.free[4], req.r, escapes, simple, vc, &st)
            if i >= n:
                break
            h = hp[i] if hp != NULL else i
            _visit(&c, cluster, req, cache, h, escapes, max_per_host, vc, out, &nplaced,
                   &remaining)
            if remaining == 0:
                break
            i += 1
    finally:
        _ctx_close(&c)
    vc[st.run_code] += st.run
    for k in range(5):
        vc[req.v_res0 + k] += st.n[k]
    array.resize(placed, nplaced)
    return placed, vetoes


def eligible(Cluster cluster, Request req):
    """1 per host that passes every check but resources and offers (for preemption)."""
    cdef Py_ssize_t n = cluster.host_count
    cdef array.array out = pyarray.array("B", [0]) * n
    cdef list counts = _prepare(cluster, req)
    cdef Ctx c
    cdef uint8_t* cache = req.class_cache.data.as_uchars
    cdef bint escapes = _has_escapes(req)
    cdef long long room
    cdef Py_ssize_t h
    _ctx_open(&c, cluster, req, counts)
    try:
        for h in range(n):
            if _static_veto(&c, cluster, req, cache, <int>h, escapes) < 0 and \
                    _limit_room(&c, cluster, req, <int>h, &room) < 0:
                out.data.as_uchars[h] = 1
    finally:
        _ctx_close(&c)
    return out


cdef inline uint64_t _splitmix(uint64_t* state) noexcept nogil:
    state[0] += 0x9E3779B97F4A7C15ULL
    cdef uint64_t z = state[0]
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef array.array _maintenance_last(Cluster cl, array.array hosts):
    cdef Py_ssize_t n = len(hosts), i, j = 0
    cdef array.array out = pyarray.array("q", [0]) * n
    cdef long long* src = hosts.data.as_longlongs
    cdef long long* dst = out.data.as_longlongs
    cdef uint8_t* maint = cl.maint.data.as_uchars
    for i in range(n):
        if maint[src[i]] == NONE:
            dst[j] = src[i]
            j += 1
    for i in range(n):
        if maint[src[i]] != NONE:
            dst[j] = src[i]
            j += 1
    return out


def order_random(Cluster cluster, seed):
    """Hosts in a seeded random order (Aurora's default), hosts in maintenance last."""
    cdef Py_ssize_t n = cluster.host_count, i
    cdef array.array hosts = array.clone(_Q, n, False)
    cdef long long* p = hosts.data.as_longlongs
    for i in range(n):
        p[i] = i
    cdef uint64_t state = seed & MASK64
    cdef uint64_t j
    cdef long long tmp
    for i in range(n - 1, 0, -1):
        j = _splitmix(&state) % <uint64_t>(i + 1)
        tmp = p[i]
        p[i] = p[j]
        p[j] = tmp
    return _maintenance_last(cluster, hosts)


cdef int _cmp_u64(const void* a, const void* b) noexcept nogil:
    cdef uint64_t x = (<uint64_t*>a)[0]
    cdef uint64_t y = (<uint64_t*>b)[0]
    return (x > y) - (x < y)


cdef array.array _sorted_by(Cluster cl, int* amount, bint descending):
    # Key: maintenance flag, then free (or its complement), then host id; one qsort.
    cdef Py_ssize_t n = cl.host_count, i
    cdef uint64_t* keys = <uint64_t*>malloc((n + 1) * sizeof(uint64_t))
    if keys == NULL:
        raise MemoryError()
    cdef uint8_t* maint = cl.maint.data.as_uchars
    cdef uint64_t f
    cdef array.array out = pyarray.array("q", [0]) * n
    try:
        for i in range(n):
            f = <uint64_t>amount[i]
            if descending:
                f = <uint64_t>INT32_MAX - f
            keys[i] = ((<uint64_t>(maint[i] != NONE)) << 63) | (f << 32) | <uint64_t>i
        qsort(keys, n, sizeof(uint64_t), _cmp_u64)
        for i in range(n):
            out.data.as_longlongs[i] = <long long>(keys[i] & 0xFFFFFFFFULL)
    finally:
        free(keys)
    return out


def order_binpack(Cluster cluster, str resource="cpu"):
    """Ascending free RESOURCE (cpu, ram or disk): fill the fullest hosts first."""
    if resource == "cpu":
        return _sorted_by(cluster, cluster.cpu_free.data.as_ints, False)
    if resource == "ram":
        return _sorted_by(cluster, cluster.ram_free.data.as_ints, False)
    if resource == "disk":
        return _sorted_by(cluster, cluster.disk_free.data.as_ints, False)
    raise ValueError(f"unknown bin-packing resource {resource!r}: expected cpu, ram or disk")


def order_spread(Cluster cluster):
    """Descending free CPU: the emptiest hosts first."""
    return _sorted_by(cluster, cluster.cpu_free.data.as_ints, True)
