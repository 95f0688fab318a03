from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t

from aurora._fastpath.common cimport RowHash


cdef struct Vec:
    int64_t* data
    Py_ssize_t n
    Py_ssize_t cap


cdef struct Out:
    # Accumulators of one bulk call; turned into an Effects object at its end.
    Vec saved
    Vec killed
    Vec kill_unknown
    Vec created
    Vec illegal
    Vec pending_free
    Vec ended
    int64_t noop
    int64_t cas_failed


cdef class StateTable:
    cdef readonly uint64_t namespace
    cdef readonly str scheduler_host
    cdef readonly int64_t flap_threshold_ms
    cdef readonly int64_t flap_initial_ms
    cdef readonly int64_t flap_max_ms
    cdef readonly int64_t illegal_transitions
    cdef readonly uint64_t next_seq
    cdef int64_t _live

    # Per slot (capacity _cap, used _n).
    cdef Py_ssize_t _n
    cdef Py_ssize_t _cap
    cdef uint8_t* _state
    cdef uint8_t* _flags
    cdef uint8_t* _flaps
    cdef uint16_t* _tparts
    cdef int32_t* _job
    cdef int32_t* _inst
    cdef int32_t* _cfg
    cdef int32_t* _host
    cdef int32_t* _fail
    cdef uint64_t* _seq
    cdef uint64_t* _anc
    cdef int64_t* _ts
    cdef int32_t* _ev_head
    cdef int32_t* _st_prev
    cdef int32_t* _st_next
    cdef int32_t* _job_prev
    cdef int32_t* _job_next
    cdef int32_t* _host_prev
    cdef int32_t* _host_next
    cdef int32_t _free

    # Events (capacity _ev_cap, used _ev_n).
    cdef Py_ssize_t _ev_n
    cdef Py_ssize_t _ev_cap
    cdef int64_t* _ev_ts
    cdef uint8_t* _ev_status
    cdef uint32_t* _ev_msg
    cdef int32_t* _ev_next
    cdef int32_t _ev_free

    # seq -> slot (keyed through _seq).
    cdef RowHash _hash

    cdef int32_t _state_head[32]
    cdef int64_t _state_count[32]

    # Jobs.
    cdef list _jobs
    cdef dict _job_ids
    cdef list _job_prefix
    cdef Py_ssize_t _njobs
    cdef Py_ssize_t _jobs_cap
    cdef int32_t* _job_head
    cdef int32_t** _job_inst
    cdef int32_t* _job_inst_len
    cdef int32_t* _job_inst_cap

    # Configs.
    cdef Py_ssize_t _ncfg
    cdef Py_ssize_t _cfg_cap
    cdef int32_t* _cfg_job
    cdef uint8_t* _cfg_service
    cdef int32_t* _cfg_maxfail

    # Hosts and messages.
    cdef list _hosts
    cdef dict _host_ids
    cdef Py_ssize_t _hosts_cap
    cdef int32_t* _host_head
    cdef list _messages
    cdef dict _message_ids
    cdef uint32_t _msg_to_lost

    cdef int _reserve_slots(self, Py_ssize_t n) except -1
    cdef int _reserve_events(self, Py_ssize_t n) except -1
    cdef int32_t _alloc(self) except -2
    cdef void _link_state(self, int32_t s, int st) noexcept nogil
    cdef void _unlink_state(self, int32_t s) noexcept nogil
    cdef void _link_job(self, int32_t s, int32_t job) noexcept nogil
    cdef void _unlink_job(self, int32_t s) noexcept nogil
    cdef void _link_host(self, int32_t s, int32_t host) noexcept nogil
    cdef void _unlink_host(self, int32_t s) noexcept nogil
    cdef int _add_event(self, int32_t s, int64_t ts, uint8_t status, uint32_t msg) except -1
    cdef void _free_event(self, int32_t e) noexcept nogil
    cdef int _set_active(self, int32_t job, int32_t inst, int32_t s) except -1
    cdef int32_t _create(self, int32_t cfg, int32_t inst, uint8_t status, int64_t ts,
                         uint32_t msg, int32_t fail, uint64_t anc, uint8_t flaps) except -2
    cdef int _apply(self, int64_t s, int to, int64_t now, uint32_t msg, Py_ssize_t pos,
                    int expect, Out* out, list deleted) except -1
    cdef void _compact_partitions(self, int32_t s) noexcept nogil
    cdef int _reschedule(self, int32_t s, int64_t now, int64_t prev_ts, Out* out) except -1
    cdef void _remove(self, int32_t s) noexcept nogil
    cdef object _finish(self, Out* out, list deleted)
    cdef object _walk(self, int32_t head, int32_t* nxt)
    cpdef int state(self, int64_t slot)
    cpdef long long seq_of(self, str task_id)
    cdef long long _seq_of(self, const char* p, Py_ssize_t n, bint lower_only)
    cdef int32_t _lookup_one(self, str tid) except -2
