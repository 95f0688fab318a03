# taskrows.pyx defines only Python-level functions over the table's C fields.
from aurora._fastpath.statetable cimport StateTable
