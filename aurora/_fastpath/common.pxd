# C helpers shared by the compiled modules (statetable.pyx, preempt.pyx), cimported from here:
#     from aurora._fastpath.common cimport RowHash, _grow, rowhash_get, ...
# Everything is `cdef inline`, so each module compiles its own copy; there is no .pyx (and no
# pure twin: the twins use Python dicts and lists where these are used).

from libc.stdint cimport int32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc

cdef enum:
    H_EMPTY = -1
    H_TOMB = -2


cdef inline uint64_t _mix(uint64_t x) noexcept nogil:
    # splitmix64's finalizer: spreads sequential keys over the table.
    x ^= x >> 30
    x *= 0xbf58476d1ce4e5b9ULL
    x ^= x >> 27
    x *= 0x94d049bb133111ebULL
    x ^= x >> 31
    return x


cdef inline int _grow(void** ptr, Py_ssize_t count, size_t itemsize) except -1:
    # realloc *PTR to COUNT items (at least one byte); MemoryError leaves *PTR as it was.
    cdef void* p = realloc(ptr[0], count * itemsize if count else 1)
    if p == NULL:
        raise MemoryError()
    ptr[0] = p
    return 0


cdef struct RowHash:
    # key -> row, open addressing with linear probing. The table holds rows only (H_EMPTY,
    # H_TOMB or a row >= 0); a row's key is read from the owner's key column, passed to each call.
    int32_t* tab
    Py_ssize_t cap  # a power of two, or 0 before the first rowhash_reserve
    Py_ssize_t used  # entries + tombstones


cdef inline void rowhash_put(RowHash* h, uint64_t key, int32_t row) noexcept nogil:
    # Add ROW under KEY (not present); room must have been reserved.
    cdef Py_ssize_t mask = h.cap - 1
    cdef Py_ssize_t i = <Py_ssize_t>(_mix(key) & mask)
    while h.tab[i] >= 0:
        i = (i + 1) & mask
    if h.tab[i] == H_EMPTY:
        h.used += 1
    h.tab[i] = row


cdef inline int rowhash_reserve(RowHash* h, Py_ssize_t n, Py_ssize_t live,
                                const uint64_t* keys) except -1:
    # Room for N entries in all, LIVE of them present now: keep (entries + tombstones) at most
    # half the table, else rebuild it (dropping the tombstones) at the smallest fitting size.
    if (h.used + n - live) * 2 <= h.cap and n * 2 <= h.cap:
        return 0
    cdef Py_ssize_t cap = 16
    while cap < 2 * n:
        cap *= 2
    cdef int32_t* old = h.tab
    cdef Py_ssize_t oldcap = h.cap
    cdef int32_t* tab = <int32_t*>malloc(cap * sizeof(int32_t))
    if tab == NULL:
        raise MemoryError()
    cdef Py_ssize_t i
    for i in range(cap):
        tab[i] = H_EMPTY
    h.tab = tab
    h.cap = cap
    h.used = 0
    for i in range(oldcap):
        if old[i] >= 0:
            rowhash_put(h, keys[old[i]], old[i])
    free(old)
    return 0


cdef inline Py_ssize_t rowhash_find(const RowHash* h, const uint64_t* keys,
                                    uint64_t key) noexcept nogil:
    # The table position holding KEY's row, or -1.
    cdef Py_ssize_t mask = h.cap - 1
    cdef Py_ssize_t i = <Py_ssize_t>(_mix(key) & mask)
    cdef int32_t r
    while True:
        r = h.tab[i]
        if r == H_EMPTY:
            return -1
        if r >= 0 and keys[r] == key:
            return i
        i = (i + 1) & mask


cdef inline int32_t rowhash_get(const RowHash* h, const uint64_t* keys,
                                uint64_t key) noexcept nogil:
    # The row under KEY, or -1.
    cdef Py_ssize_t i = rowhash_find(h, keys, key)
    return h.tab[i] if i >= 0 else -1


cdef inline void rowhash_del(RowHash* h, const uint64_t* keys, uint64_t key) noexcept nogil:
    # Forget KEY (its entry becomes a tombstone); nothing when it is absent.
    cdef Py_ssize_t i = rowhash_find(h, keys, key)
    if i >= 0:
        h.tab[i] = H_TOMB


cdef inline void rowhash_free(RowHash* h) noexcept nogil:
    free(h.tab)
    h.tab = NULL
    h.cap = 0
    h.used = 0


cdef inline int decimal(char* out, uint64_t v) noexcept nogil:
    """Write V in decimal at OUT (room for 20 chars); returns how many were written."""
    cdef char digits[20]
    cdef int nd = 0, i
    while True:
        digits[nd] = <char>(48 + v % 10)
        nd += 1
        v //= 10
        if v == 0:
            break
    for i in range(nd):
        out[i] = digits[nd - 1 - i]
    return nd
