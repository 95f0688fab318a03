from cpython cimport array
from libc.stdint cimport int64_t, uint8_t, uint64_t

from aurora._fastpath.cluster cimport Cluster


cdef class Request:
    cdef readonly int job
    cdef readonly tuple res
    cdef int r[5]
    cdef readonly list names
    cdef readonly bint dedicated
    cdef readonly int nv
    cdef readonly int nc
    cdef readonly int v_limit0
    cdef readonly int v_res0
    cdef readonly int ncodes
    cdef array.array v_attr
    cdef array.array v_neg
    cdef array.array v_unique
    cdef list v_bits          # array('Q') bitset of allowed value ids, per value constraint
    cdef list v_allowed       # frozenset of allowed value ids, per value constraint
    cdef array.array l_attr
    cdef array.array l_limit
    cdef array.array l_unique
    cdef public array.array class_cache


cdef struct Ctx:
    # Pointers gathered once per call, so the host loop touches only C memory.
    uint8_t* offer
    uint8_t* maint
    uint8_t* dedicated
    uint8_t* multi
    int* host_class
    int* free[5]
    int** v_col
    uint64_t** v_bits
    int* v_nbits
    int** l_col
    int** l_cnt
    int* l_ncnt
    int** t_col
    int** t_cnt
    int ntrack
