from libc.stdint cimport int32_t, int64_t, uint8_t

from aurora._fastpath.common cimport RowHash


cdef struct VKey:
    # One eligible victim of the host being searched: what preempting it frees (CPU already zero
    # for a revocable victim), and its task for ties and the answer.
    int32_t cpu
    int32_t ram
    int32_t disk
    int32_t ports
    int32_t gpus
    int64_t task


cdef struct Request:
    # The pending task's side of the search.
    int64_t need[5]  # cpu, ram, disk, ports, gpus (ResourceType order)
    int32_t priority
    int32_t role
    uint8_t preemptible


cdef class VictimIndex:
    # Per row (capacity _cap, used _n); _next also chains free rows.
    cdef Py_ssize_t _n
    cdef Py_ssize_t _cap
    cdef Py_ssize_t _live
    cdef int64_t* _task
    cdef int32_t* _host
    cdef int32_t* _cpu
    cdef int32_t* _ram
    cdef int32_t* _disk
    cdef int32_t* _gpus
    cdef int32_t* _ports
    cdef int32_t* _prio
    cdef uint8_t* _pre
    cdef uint8_t* _rev
    cdef int32_t* _role
    cdef int32_t* _prev
    cdef int32_t* _next
    cdef int32_t _free

    # Per host (capacity _hosts_cap): head of its row list (-1 empty) and its row count.
    cdef Py_ssize_t _hosts_cap
    cdef int32_t* _host_head
    cdef int32_t* _host_count

    # task -> row (keyed through _task, read as uint64: the same bits).
    cdef RowHash _hash

    # Sort scratch, at least as long as the fullest host's list has ever been.
    cdef VKey* _keys
    cdef Py_ssize_t _keys_cap

    cdef int _reserve_rows(self, Py_ssize_t n) except -1
    cdef int _reserve_hosts(self, Py_ssize_t n) except -1
    cdef int _reserve_keys(self, Py_ssize_t n) except -1
    cdef Py_ssize_t _search(self, const int32_t** slack, const uint8_t* eligible,
                            Py_ssize_t nhosts, const int64_t* order, Py_ssize_t nvisit,
                            Request* req, Py_ssize_t max_slots, uint8_t* used,
                            int32_t* out_host, int32_t* out_count,
                            int64_t* out_victims) noexcept nogil
