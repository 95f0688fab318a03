# cython: language_level=3
"""The task-state table's rows as storage sees them, compiled.

Twin: ``_taskrows_py.py`` (its docstring says what a row is). ``export`` reads the table's
columns directly and builds each row in C; ``restore`` checks every row first, then writes the
columns, lists, events and indexes in one pass, so a bad row leaves the table unchanged.
"""

from cpython cimport array
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

import array as pyarray

from msgspec.structs import astuple

from aurora._fastpath.common cimport decimal, rowhash_get, rowhash_put, rowhash_reserve
from aurora._fastpath.mpack cimport (
    Buf,
    buf_free,
    buf_reserve,
    put_array,
    put_int,
    put_map,
    put_nil,
    put_pystr,
    put_str,
)
from aurora._fastpath.statetable cimport StateTable

cdef enum:
    DELETED = 31

ACTIVE = frozenset({9, 17, 6, 0, 13, 12, 2, 1, 18, 16})
NO_PORTS: dict = {}  # shared by rows without ports: encoded, never mutated
KNOWN = frozenset({0, 1, 2, 3, 4, 5, 6, 7, 9, 11, 12, 13, 16, 17, 18})


def export(StateTable table, slots, job_names, host_names, config_ids, ports=None):
    """Rows of the given live slots. JOB_NAMES, HOST_NAMES and CONFIG_IDS map the table's job,
    host and config numbers to what storage keeps. With PORTS (slot -> {name: port}) every row
    also ends with its ports ({} for a slot not in it), the full TaskRecord shape."""
    cdef list out = []
    cdef int64_t s
    cdef int32_t job, host
    cdef uint64_t anc
    for s in slots:
        if table.state(s) == DELETED:
            raise KeyError(f"no task in slot {s}")
        job = table._job[s]
        host = table._host[s]
        anc = table._anc[s]
        ancestor = None
        if anc:
            h = f"{table.namespace:016x}{anc:016x}"
            ancestor = (f"{table._job_prefix[job]}-{table._inst[s]}-"
                        f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
        row = (table.task_id(s), job_names[job], table._inst[s], config_ids[table._cfg[s]],
               table._state[s], host_names[host] if host >= 0 else None, table._fail[s],
               table._tparts[s], ancestor, table._ts[s], table._flags[s], table._flaps[s],
               tuple(table.events(s)))
        out.append(row if ports is None else (*row, ports.get(s, NO_PORTS)))
    return out


cdef const char* _HEX = b"0123456789abcdef"


cdef Py_ssize_t _task_id(char* out, bytes prefix, int32_t inst, uint64_t ns, uint64_t seq):
    """Write ``<prefix>-<instance>-<uuid of ns and seq>`` into OUT (room for prefix + 64)."""
    cdef Py_ssize_t n = len(prefix)
    cdef int i
    memcpy(out, <const char*>prefix, n)
    out[n] = b"-"
    n += 1
    n += decimal(out + n, <uint64_t>inst)
    out[n] = b"-"
    n += 1
    for i in range(32):  # 8-4-4-4-12 over the 32 hex digits of ns then seq
        if i == 8 or i == 12 or i == 16 or i == 20:
            out[n] = b"-"
            n += 1
        if i < 16:
            out[n] = _HEX[(ns >> (4 * (15 - i))) & 15]
        else:
            out[n] = _HEX[(seq >> (4 * (31 - i))) & 15]
        n += 1
    return n


def export_encoded(StateTable table, slots, job_names, host_names, config_ids, ports=None):
    """(keys, values) of the given live slots: each task id as bytes, and its row (with ports,
    the full TaskRecord) encoded as MessagePack, byte for byte what msgspec makes of
    ``export(..., ports)``'s row. The row is written straight from the columns: no tuple, no
    id string, no per-row encoder call."""
    cdef list keys = [], values = []
    cdef dict prefixes = {}, jobs_b = {}, hosts_b = {}, msgs_b = {}
    cdef Buf b
    cdef bytes prefix, name
    cdef char* idbuf = NULL
    cdef Py_ssize_t idn, idcap = 0, k, nev
    cdef int64_t s
    cdef int32_t job, host, e
    cdef uint64_t anc
    cdef int32_t evs[256]
    cdef list more
    b.p = NULL
    b.n = 0
    b.cap = 0
    try:
        for s in slots:
            if table.state(s) == DELETED:
                raise KeyError(f"no task in slot {s}")
            job = table._job[s]
            prefix = prefixes.get(job)
            if prefix is None:
                prefix = prefixes[job] = (<str>table._job_prefix[job]).encode()
            if idcap < len(prefix) + 64:
                idcap = len(prefix) + 64
                free(idbuf)
                idbuf = <char*>malloc(idcap)
                if idbuf == NULL:
                    raise MemoryError()
            idn = _task_id(idbuf, prefix, table._inst[s], table.namespace, table._seq[s])
            keys.append(PyBytes_FromStringAndSize(idbuf, idn))
            b.n = 0
            put_array(&b, 14)
            put_str(&b, idbuf, idn)
            name = jobs_b.get(job)
            if name is None:
                name = jobs_b[job] = (<str>job_names[job]).encode()
            put_str(&b, <const char*>name, len(name))
            put_int(&b, table._inst[s])
            put_int(&b, config_ids[table._cfg[s]])
            put_int(&b, table._state[s])
            host = table._host[s]
            if host >= 0:
                name = hosts_b.get(host)
                if name is None:
                    name = hosts_b[host] = (<str>host_names[host]).encode()
                put_str(&b, <const char*>name, len(name))
            else:
                put_nil(&b)
            put_int(&b, table._fail[s])
            put_int(&b, table._tparts[s])
            anc = table._anc[s]
            if anc:
                buf_reserve(&b, idcap)
                k = _task_id(idbuf, prefix, table._inst[s], table.namespace, anc)
                put_str(&b, idbuf, k)
            else:
                put_nil(&b)
            put_int(&b, table._ts[s])
            put_int(&b, table._flags[s])
            put_int(&b, table._flaps[s])
            nev = 0
            more = None
            e = table._ev_head[s]
            while e >= 0:  # newest first
                if nev < 256:
                    evs[nev] = e
                else:
                    if more is None:
                        more = []
                    more.append(e)
                nev += 1
                e = table._ev_next[e]
            put_array(&b, nev)
            if more is not None:
                for e in reversed(more):
                    _put_event(&b, table, e, msgs_b)
            for k in range(min(nev, 256) - 1, -1, -1):
                _put_event(&b, table, evs[k], msgs_b)
            p = ports.get(s) if ports else None
            if p:
                put_map(&b, len(p))
                for pn, pv in p.items():
                    put_pystr(&b, pn)
                    put_int(&b, pv)
            else:
                put_map(&b, 0)
            values.append(PyBytes_FromStringAndSize(b.p, b.n))
    finally:
        buf_free(&b)
        free(idbuf)
    return keys, values


cdef int _put_event(Buf* b, StateTable table, int32_t e, dict msgs_b) except -1:
    cdef uint32_t mid = table._ev_msg[e]
    put_array(b, 3)
    put_int(b, table._ev_ts[e])
    put_int(b, table._ev_status[e])
    msg = table._messages[mid]
    if msg is None:
        put_nil(b)
    else:
        data = msgs_b.get(mid)
        if data is None:
            data = msgs_b[mid] = (<str>msg).encode()
        put_str(b, <const char*>data, len(<bytes>data))
    return 0


def restore(StateTable table, rows, jobs, hosts, configs):
    """Put stored rows (TaskRecords or tuples in their order) back; returns their slots.

    JOBS, HOSTS and CONFIGS map stored names and ids to the table's numbers. ValueError names
    the first bad row; the table is then unchanged.
    """
    cdef list parsed = []
    cdef set seen = set()
    cdef set active = set()
    cdef long long seq
    for row in rows:
        (tid, job_name, inst, cfg_id, status, host_name, failures, tparts, ancestor, state_ts,
         flags, flaps, events) = (row if isinstance(row, tuple) else astuple(row))[:13]
        seq = table.seq_of(tid)
        if seq < 0:
            raise ValueError(f"task {tid}: not an id of this scheduler's namespace")
        if seq in seen or rowhash_get(&table._hash, table._seq, <uint64_t>seq) >= 0:
            raise ValueError(f"task {tid}: restored twice")
        seen.add(seq)
        if status not in KNOWN:
            raise ValueError(f"task {tid}: unknown status {status!r}")
        for name, value, top in (("instance", inst, 0x7FFFFFFF), ("failures", failures, 0x7FFFFFFF),
                                 ("times_partitioned", tparts, 0xFFFF), ("flags", flags, 0xFF),
                                 ("flaps", flaps, 0xFF)):
            if not isinstance(value, int) or not 0 <= value <= top:
                raise ValueError(f"task {tid}: {name} {value!r} is out of range")
        if any(ev[1] not in KNOWN for ev in events):
            raise ValueError(f"task {tid}: an event has an unknown status")
        if job_name not in jobs:
            raise ValueError(f"task {tid}: unknown job {job_name!r}")
        job = jobs[job_name]
        if not 0 <= job < table.job_count:
            raise ValueError(f"task {tid}: job {job_name!r} is not in the table")
        if not 0 <= configs.get(cfg_id, -1) < table.config_count:
            raise ValueError(f"task {tid}: unknown config {cfg_id!r}")
        cfg = configs[cfg_id]
        if table.config_job(cfg) != job:
            raise ValueError(f"task {tid}: config {cfg_id} belongs to another job")
        if host_name is not None and not 0 <= hosts.get(host_name, -1) < table.host_count:
            raise ValueError(f"task {tid}: unknown host {host_name!r}")
        if status in ACTIVE:
            if (job, inst) in active or table.active_task(job, inst) >= 0:
                raise ValueError(f"task {tid}: instance {inst} already has an active task")
            active.add((job, inst))
        anc = table.seq_of(ancestor) if ancestor else 0
        parsed.append((seq, job, inst, cfg, status, hosts[host_name] if host_name else -1,
                       failures, tparts, max(anc, 0), state_ts, flags, flaps, events))
    cdef Py_ssize_t count = len(parsed)
    cdef Py_ssize_t nevents = sum(len(p[12]) for p in parsed)
    table._reserve_slots(table._n + count)
    table._reserve_events(table._ev_n + nevents)
    rowhash_reserve(&table._hash, table._live + count, table._live, table._seq)
    cdef array.array out = pyarray.array("q")
    cdef int32_t s, host
    cdef uint8_t st
    for (seq, job, inst, cfg, status, host, failures, tparts, anc, state_ts, flags, flaps,
         events) in parsed:
        s = table._alloc()
        st = status
        table._job[s] = job
        table._inst[s] = inst
        table._cfg[s] = cfg
        table._host[s] = -1
        table._fail[s] = failures
        table._flags[s] = flags
        table._flaps[s] = flaps
        table._tparts[s] = tparts
        table._seq[s] = <uint64_t>seq
        rowhash_put(&table._hash, <uint64_t>seq, s)
        table._anc[s] = anc
        table._ts[s] = state_ts
        table._ev_head[s] = -1
        table._link_state(s, st)
        table._link_job(s, job)
        if host >= 0:
            table._link_host(s, host)
        for ts, ev_status, msg in events:
            table._add_event(s, ts, ev_status, table.intern_message(msg))
        if status in ACTIVE:
            table._set_active(job, inst, s)
        table._live += 1
        if <uint64_t>seq + 1 > table.next_seq:
            table.next_seq = <uint64_t>seq + 1
        out.append(s)
    return out
