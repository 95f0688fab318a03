# cython: language_level=3
# A minimal MessagePack writer into a growable C buffer, emitting exactly the bytes msgspec
# emits for the same values (smallest int/str/array/map forms), so compiled code can encode rows
# that read back, and compare equal, as msgspec's own. Inline: no .pyx of its own.

from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.stdint cimport int64_t, uint8_t, uint64_t
from libc.stdlib cimport free, realloc
from libc.string cimport memcpy


cdef struct Buf:
    char* p
    Py_ssize_t n
    Py_ssize_t cap


cdef inline int buf_reserve(Buf* b, Py_ssize_t extra) except -1:
    cdef Py_ssize_t cap
    cdef char* p
    if b.n + extra <= b.cap:
        return 0
    cap = b.cap * 2 if b.cap else 256
    while cap < b.n + extra:
        cap *= 2
    p = <char*>realloc(b.p, cap)
    if p == NULL:
        raise MemoryError()
    b.p = p
    b.cap = cap
    return 0


cdef inline void buf_free(Buf* b):
    free(b.p)
    b.p = NULL
    b.n = 0
    b.cap = 0


cdef inline bytes buf_take(Buf* b, Py_ssize_t start):
    """The bytes written since START; the buffer is rewound to START."""
    cdef bytes out = PyBytes_FromStringAndSize(b.p + start, b.n - start)
    b.n = start
    return out


cdef inline void _be(Buf* b, uint64_t v, int nbytes):
    cdef int i
    for i in range(nbytes):
        b.p[b.n + i] = <char>((v >> (8 * (nbytes - 1 - i))) & 0xFF)
    b.n += nbytes


cdef inline int put_nil(Buf* b) except -1:
    buf_reserve(b, 1)
    b.p[b.n] = <char>0xC0
    b.n += 1
    return 0


cdef inline int put_int(Buf* b, int64_t v) except -1:
    buf_reserve(b, 9)
    if v >= 0:
        if v < 128:
            b.p[b.n] = <char>v
            b.n += 1
        elif v < 0x100:
            b.p[b.n] = <char>0xCC
            b.n += 1
            _be(b, <uint64_t>v, 1)
        elif v < 0x10000:
            b.p[b.n] = <char>0xCD
            b.n += 1
            _be(b, <uint64_t>v, 2)
        elif v < 0x100000000:
            b.p[b.n] = <char>0xCE
            b.n += 1
            _be(b, <uint64_t>v, 4)
        else:
            b.p[b.n] = <char>0xCF
            b.n += 1
            _be(b, <uint64_t>v, 8)
    elif v >= -32:
        b.p[b.n] = <char>(<uint8_t>(0xE0 | (v + 32)))
        b.n += 1
    elif v >= -128:
        b.p[b.n] = <char>0xD0
        b.n += 1
        _be(b, <uint64_t>v, 1)
    elif v >= -32768:
        b.p[b.n] = <char>0xD1
        b.n += 1
        _be(b, <uint64_t>v, 2)
    elif v >= -2147483648:
        b.p[b.n] = <char>0xD2
        b.n += 1
        _be(b, <uint64_t>v, 4)
    else:
        b.p[b.n] = <char>0xD3
        b.n += 1
        _be(b, <uint64_t>v, 8)
    return 0


cdef inline int put_str(Buf* b, const char* s, Py_ssize_t n) except -1:
    buf_reserve(b, n + 5)
    if n < 32:
        b.p[b.n] = <char>(0xA0 | n)
        b.n += 1
    elif n < 0x100:
        b.p[b.n] = <char>0xD9
        b.n += 1
        _be(b, <uint64_t>n, 1)
    elif n < 0x10000:
        b.p[b.n] = <char>0xDA
        b.n += 1
        _be(b, <uint64_t>n, 2)
    else:
        b.p[b.n] = <char>0xDB
        b.n += 1
        _be(b, <uint64_t>n, 4)
    memcpy(b.p + b.n, s, n)
    b.n += n
    return 0


cdef inline int put_pystr(Buf* b, str s) except -1:
    cdef Py_ssize_t n
    cdef const char* p = PyUnicode_AsUTF8AndSize(s, &n)
    return put_str(b, p, n)


cdef inline int put_header(Buf* b, Py_ssize_t n, int fix, int c16, int c32) except -1:
    buf_reserve(b, 5)
    if n < 16:
        b.p[b.n] = <char>(fix | n)
        b.n += 1
    elif n < 0x10000:
        b.p[b.n] = <char>c16
        b.n += 1
        _be(b, <uint64_t>n, 2)
    else:
        b.p[b.n] = <char>c32
        b.n += 1
        _be(b, <uint64_t>n, 4)
    return 0


cdef inline int put_array(Buf* b, Py_ssize_t n) except -1:
    return put_header(b, n, 0x90, 0xDC, 0xDD)


cdef inline int put_map(Buf* b, Py_ssize_t n) except -1:
    return put_header(b, n, 0x80, 0xDE, 0xDF)
