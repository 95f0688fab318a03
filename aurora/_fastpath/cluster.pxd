from cpython cimport array


cdef class LimitCounts:
    cdef readonly int job
    cdef readonly int attr
    cdef public array.array counts
    cpdef ensure(self, Py_ssize_t nvalues)
    cpdef int get(self, Py_ssize_t value)


cdef class Cluster:
    cdef frozenset _unique_names
    cdef public list hostnames
    cdef dict _host_ids
    cdef public array.array cpu_total
    cdef public array.array ram_total
    cdef public array.array disk_total
    cdef public array.array gpu_total
    cdef public array.array port_total
    cdef public array.array cpu_free
    cdef public array.array ram_free
    cdef public array.array disk_free
    cdef public array.array gpu_free
    cdef public array.array port_free
    cdef public array.array maint
    cdef public array.array offer
    cdef public array.array dedicated
    cdef public array.array multi
    cdef public array.array hkey
    cdef public array.array host_class
    cdef public list attr_names
    cdef dict _attr_ids
    cdef public array.array attr_unique
    cdef public list attr_cols
    cdef list _values
    cdef list _value_ids
    cdef dict _multi
    cdef dict _classes
    cdef dict _trackers
    cdef int _dedicated_attr
    cdef list _ports
    cdef dict _taken

    cpdef tuple values_of(self, int host, int attr)
    cdef int _adjust(self, int host, int cpu, int ram, int disk, int gpus, int ports) except -1
