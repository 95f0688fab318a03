from aurora._fastpath.statetable cimport StateTable


cpdef long long seq_of(StateTable table, str task_id)
