"""Pure-Python twin of ``taskrows.pyx``: the task-state table's rows as storage sees them.

``export`` turns table slots into rows in the field order of ``records.TaskRecord`` (task id,
job key, instance, config id, status, host, failures, times partitioned, ancestor id, time the
state was entered, flags, flaps, events), with the process-local job, host and config numbers
replaced by the names and ids storage keeps. ``restore`` does the reverse in bulk at start-up:
all rows are checked first, so a bad row leaves the table unchanged.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from msgspec.structs import astuple

DELETED = 31
_encode = msgspec.msgpack.Encoder().encode
ACTIVE = frozenset({9, 17, 6, 0, 13, 12, 2, 1, 18, 16})
NO_PORTS: dict = {}  # shared by rows without ports: encoded, never mutated
KNOWN = frozenset({0, 1, 2, 3, 4, 5, 6, 7, 9, 11, 12, 13, 16, 17, 18})


def export(table: Any, slots: Sequence[int], job_names: Sequence[str],
           host_names: Sequence[str], config_ids: Sequence[int],
           ports: Mapping[int, dict[str, int]] | None = None) -> list[tuple]:
    """Rows of the given live slots. JOB_NAMES, HOST_NAMES and CONFIG_IDS map the table's job,
    host and config numbers to what storage keeps. With PORTS (slot -> {name: port}) every row
    also ends with its ports ({} for a slot not in it), the full TaskRecord shape."""
    out = []
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


def export_encoded(table: Any, slots: Sequence[int], job_names: Sequence[str],
                   host_names: Sequence[str], config_ids: Sequence[int],
                   ports: Mapping[int, dict[str, int]] | None = None
                   ) -> tuple[list[bytes], list[bytes]]:
    """(keys, values): each task id as bytes and its row (with ports: the full TaskRecord)
    encoded as MessagePack."""
    rows = export(table, slots, job_names, host_names, config_ids, ports or {})
    return [r[0].encode() for r in rows], [_encode(r) for r in rows]


def restore(table: Any, rows: Sequence[Any], jobs: Mapping[str, int], hosts: Mapping[str, int],
            configs: Mapping[int, int]) -> array:
    """Put stored rows (TaskRecords or tuples in their order) back; returns their slots.

    JOBS, HOSTS and CONFIGS map stored names and ids to the table's numbers. ValueError names
    the first bad row; the table is then unchanged.
    """
    parsed = []
    seen: set[int] = set()
    active: set[tuple[int, int]] = set()
    for row in rows:
        (tid, job_name, inst, cfg_id, status, host_name, failures, tparts, ancestor, state_ts,
         flags, flaps, events) = (row if isinstance(row, tuple) else astuple(row))[:13]
        seq = table.seq_of(tid)
        if seq < 0:
            raise ValueError(f"task {tid}: not an id of this scheduler's namespace")
        if seq in seen or table._by_seq.get(seq, -1) >= 0:
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
    out = array("q")
    for (seq, job, inst, cfg, status, host, failures, tparts, anc, state_ts, flags, flaps,
         events) in parsed:
        s = table._alloc()
        table._job[s] = job
        table._inst[s] = inst
        table._cfg[s] = cfg
        table._host[s] = -1
        table._fail[s] = failures
        table._flags[s] = flags
        table._flaps[s] = flaps
        table._tparts[s] = tparts
        table._seq[s] = seq
        table._by_seq[seq] = s
        table._anc[s] = anc
        table._ts[s] = state_ts
        table._ev_head[s] = -1
        table._link_state(s, status)
        table._link_job(s, job)
        if host >= 0:
            table._link_host(s, host)
        for ts, ev_status, msg in events:
            table._add_event(s, ts, ev_status, table.intern_message(msg))
        if status in ACTIVE:
            table._set_active(job, inst, s)
        table._live += 1
        table.next_seq = max(table.next_seq, seq + 1)
        out.append(s)
    return out
