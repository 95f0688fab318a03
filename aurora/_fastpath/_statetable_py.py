"""Pure-Python twin of ``statetable.pyx``: the task-state table.

Same columns, same algorithms, same results (slot numbers, orders, effects) as the compiled module;
it is the reference the Hypothesis tests compare against and the benchmark's baseline.

Layout (struct of arrays, one entry per slot; a slot is a task's row, reused after deletion):
state, flags, flaps, times_partitioned, job, instance, config, host, failure count, sequence
number (the task id's unique part), ancestor's sequence number, time the current state was
entered, and the head of the task's event list. Three doubly linked lists thread the slots by
state, by job and by host so each index answers in time proportional to its result. Events live
in their own arrays (time, status, message id, next), newest first per task.
"""

from __future__ import annotations

import os
import re
import sys
from array import array
from collections.abc import Sequence

from aurora.model.status import STATE_SLOTS, UnknownStatusError
from aurora.state.effects import Effects
from aurora.state.machine import MATRIX, Code, flapping_penalty_ms

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
DELETED = 31
PENDING, ASSIGNED, KILLING, PARTITIONED = 0, 9, 6, 18
THROTTLED, INIT, LOST = 16, 11, 7
RESTARTING, DRAINING = 12, 17
TERMINAL = frozenset({3, 4, 5, 7})
VALID_TARGETS = frozenset({0, 1, 2, 3, 4, 5, 6, 7, 9, 11, 12, 13, 16, 17, 18, 31})

F_WAS_KILLING = 1  # a KILLING event is in the task's history
F_INTERRUPTED = 2  # a RESTARTING, KILLING or DRAINING event is in the task's history

C_VALID = int(Code.VALID)
C_SAVE = int(Code.SAVE_STATE)
C_KILL = int(Code.KILL)
C_RESCHED = int(Code.RESCHEDULE)
C_RESCHED_SERVICE = int(Code.RESCHEDULE_IF_SERVICE)
C_FAILURE = int(Code.FAILURE)
C_DELETE = int(Code.DELETE)
C_TO_LOST = int(Code.TRANSITION_TO_LOST)
C_RESCHED_UNLESS_KILLING = int(Code.RESCHEDULE_UNLESS_KILLING)

MSG_TO_LOST = "Action performed on partitioned task, marking as LOST."
MSG_RESCHEDULED = "Rescheduled"
_UNSAFE = re.compile(r"[^\w-]")


def _check_status(to: int) -> int:
    if isinstance(to, bool) or not isinstance(to, int) or to not in VALID_TARGETS:
        raise UnknownStatusError(f"unknown task status number {to!r}")
    return int(to)


class StateTable:
    """Every task the scheduler knows, as columns; bulk operations return their side effects."""

    def __init__(
        self,
        *,
        namespace: int | None = None,
        scheduler_host: str = "",
        flap_threshold_ms: int = 300_000,
        flap_initial_ms: int = 30_000,
        flap_max_ms: int = 300_000,
    ) -> None:
        self.namespace = (
            int.from_bytes(os.urandom(8), "big") if namespace is None else namespace
        ) & 0xFFFFFFFFFFFFFFFF
        self.scheduler_host = scheduler_host
        self.flap_threshold_ms = flap_threshold_ms
        self.flap_initial_ms = flap_initial_ms
        self.flap_max_ms = flap_max_ms
        self.illegal_transitions = 0
        self.next_seq = 1
        self._live = 0
        # Per slot.
        self._state = array("B")
        self._flags = array("B")
        self._flaps = array("B")
        self._tparts = array("H")
        self._job = array("i")
        self._inst = array("i")
        self._cfg = array("i")
        self._host = array("i")
        self._fail = array("i")
        self._seq = array("Q")
        self._anc = array("Q")
        self._ts = array("q")
        self._ev_head = array("i")
        self._st_prev = array("i")
        self._st_next = array("i")
        self._job_prev = array("i")
        self._job_next = array("i")
        self._host_prev = array("i")
        self._host_next = array("i")
        self._free = -1  # free slots, chained through _st_next
        # Events.
        self._ev_ts = array("q")
        self._ev_status = array("B")
        self._ev_msg = array("I")
        self._ev_next = array("i")
        self._ev_free = -1
        # Indexes and registries.
        self._by_seq: dict[int, int] = {}
        self._state_head = array("i", [-1]) * STATE_SLOTS
        self._state_count = array("q", [0]) * STATE_SLOTS
        self._jobs: list[tuple[str, str, str]] = []
        self._job_ids: dict[tuple[str, str, str], int] = {}
        self._job_prefix: list[str] = []
        self._job_head = array("i")
        self._job_inst: list[array] = []
        self._cfg_job = array("i")
        self._cfg_service = array("B")
        self._cfg_maxfail = array("i")
        self._hosts: list[str] = []
        self._host_ids: dict[str, int] = {}
        self._host_head = array("i")
        self._messages: list[str | None] = [None]
        self._message_ids: dict[str, int] = {}

    # ----------------------------------------------------------------- registries
    def add_job(self, role: str, environment: str, name: str) -> int:
        """Id of job role/environment/name, registering it on first sight."""
        key = (role, environment, name)
        job = self._job_ids.get(key)
        if job is None:
            job = len(self._jobs)
            self._jobs.append(key)
            self._job_ids[key] = job
            self._job_prefix.append(_UNSAFE.sub("-", f"{role}-{environment}-{name}"))
            self._job_head.append(-1)
            self._job_inst.append(array("i"))
        return job

    def job_key(self, job: int) -> tuple[str, str, str]:
        return self._jobs[job]

    @property
    def job_count(self) -> int:
        return len(self._jobs)

    def add_config(self, job: int, is_service: bool, max_task_failures: int) -> int:
        """Register the scheduling-relevant facts of a task config; returns its id."""
        if not 0 <= job < len(self._jobs):
            raise ValueError(f"unknown job id {job}")
        if max_task_failures < -1:
            raise ValueError(f"max_task_failures must be >= -1, got {max_task_failures}")
        self._cfg_job.append(job)
        self._cfg_service.append(1 if is_service else 0)
        self._cfg_maxfail.append(max_task_failures)
        return len(self._cfg_job) - 1

    def config_job(self, config: int) -> int:
        return self._cfg_job[config]

    @property
    def config_count(self) -> int:
        return len(self._cfg_job)

    def intern_host(self, hostname: str) -> int:
        host = self._host_ids.get(hostname)
        if host is None:
            host = len(self._hosts)
            self._hosts.append(hostname)
            self._host_ids[hostname] = host
            self._host_head.append(-1)
        return host

    def host_name(self, host: int) -> str | None:
        return self._hosts[host] if host >= 0 else None

    @property
    def host_count(self) -> int:
        return len(self._hosts)

    def intern_message(self, message: str | None) -> int:
        if message is None:
            return 0
        mid = self._message_ids.get(message)
        if mid is None:
            mid = len(self._messages)
            self._messages.append(message)
            self._message_ids[message] = mid
        return mid

    def message(self, mid: int) -> str | None:
        return self._messages[mid]

    # ----------------------------------------------------------------- slots and lists
    def _alloc(self) -> int:
        s = self._free
        if s >= 0:
            self._free = self._st_next[s]
            return s
        for col in (self._state, self._flags, self._flaps, self._tparts):
            col.append(0)
        for col in (self._job, self._inst, self._cfg, self._host, self._fail, self._ev_head,
                    self._st_prev, self._st_next, self._job_prev, self._job_next,
                    self._host_prev, self._host_next):
            col.append(-1)
        self._seq.append(0)
        self._anc.append(0)
        self._ts.append(0)
        return len(self._state) - 1

    def _link_state(self, s: int, st: int) -> None:
        head = self._state_head[st]
        self._st_prev[s] = -1
        self._st_next[s] = head
        if head >= 0:
            self._st_prev[head] = s
        self._state_head[st] = s
        self._state_count[st] += 1
        self._state[s] = st

    def _unlink_state(self, s: int) -> None:
        st = self._state[s]
        p, n = self._st_prev[s], self._st_next[s]
        if p >= 0:
            self._st_next[p] = n
        else:
            self._state_head[st] = n
        if n >= 0:
            self._st_prev[n] = p
        self._state_count[st] -= 1

    def _link_job(self, s: int, job: int) -> None:
        head = self._job_head[job]
        self._job_prev[s] = -1
        self._job_next[s] = head
        if head >= 0:
            self._job_prev[head] = s
        self._job_head[job] = s

    def _unlink_job(self, s: int) -> None:
        p, n = self._job_prev[s], self._job_next[s]
        if p >= 0:
            self._job_next[p] = n
        else:
            self._job_head[self._job[s]] = n
        if n >= 0:
            self._job_prev[n] = p

    def _link_host(self, s: int, host: int) -> None:
        head = self._host_head[host]
        self._host_prev[s] = -1
        self._host_next[s] = head
        if head >= 0:
            self._host_prev[head] = s
        self._host_head[host] = s
        self._host[s] = host

    def _unlink_host(self, s: int) -> None:
        host = self._host[s]
        if host < 0:
            return
        p, n = self._host_prev[s], self._host_next[s]
        if p >= 0:
            self._host_next[p] = n
        else:
            self._host_head[host] = n
        if n >= 0:
            self._host_prev[n] = p
        self._host[s] = -1

    def _add_event(self, s: int, ts: int, status: int, msg: int) -> None:
        e = self._ev_free
        if e >= 0:
            self._ev_free = self._ev_next[e]
            self._ev_ts[e] = ts
            self._ev_status[e] = status
            self._ev_msg[e] = msg
        else:
            e = len(self._ev_ts)
            self._ev_ts.append(ts)
            self._ev_status.append(status)
            self._ev_msg.append(msg)
            self._ev_next.append(-1)
        self._ev_next[e] = self._ev_head[s]
        self._ev_head[s] = e

    def _free_event(self, e: int) -> None:
        self._ev_next[e] = self._ev_free
        self._ev_free = e

    def _set_active(self, job: int, inst: int, s: int) -> None:
        table = self._job_inst[job]
        if inst >= len(table):
            table.extend(array("i", [-1]) * (inst + 1 - len(table)))
        table[inst] = s

    # ----------------------------------------------------------------- creation
    def _create(self, cfg: int, inst: int, status: int, ts: int, msg: int, fail: int,
                anc: int, flaps: int) -> int:
        s = self._alloc()
        job = self._cfg_job[cfg]
        self._job[s] = job
        self._inst[s] = inst
        self._cfg[s] = cfg
        self._host[s] = -1
        self._fail[s] = fail
        self._flags[s] = 0
        self._flaps[s] = flaps
        self._tparts[s] = 0
        self._seq[s] = self.next_seq
        self._by_seq[self.next_seq] = s
        self.next_seq += 1
        self._anc[s] = anc
        self._ts[s] = ts
        self._ev_head[s] = -1
        self._link_state(s, status)
        self._link_job(s, job)
        self._add_event(s, ts, status, msg)
        self._set_active(job, inst, s)
        self._live += 1
        return s

    def insert(self, config: int, instances: Sequence[int], now_ms: int,
               message: str | None = None) -> Effects:
        """Create PENDING tasks of CONFIG for INSTANCES; all or nothing.

        ValueError names the problem (unknown config, negative or repeated instance, an instance
        that already has an active task) and leaves the table unchanged.
        """
        if not 0 <= config < len(self._cfg_job):
            raise ValueError(f"unknown config id {config}")
        job = self._cfg_job[config]
        table = self._job_inst[job]
        seen: set[int] = set()
        for inst in instances:
            if inst < 0 or inst > 0x7FFFFFFF:
                raise ValueError(f"instance id {inst} is out of range")
            if inst in seen:
                raise ValueError(f"instance {inst} is given twice")
            seen.add(inst)
            if inst < len(table) and table[inst] >= 0:
                raise ValueError(
                    f"instance {inst} of job {'/'.join(self._jobs[job])} already has an active "
                    f"task {self.task_id(table[inst])}"
                )
        eff = Effects()
        msg = self.intern_message(message)
        for inst in instances:
            eff.created.append(self._create(config, inst, PENDING, now_ms, msg, 0, 0, 0))
        return eff

    # ----------------------------------------------------------------- transitions
    def transition(self, slots: Sequence[int], to: int, now_ms: int,
                   message: str | None = None, expect: int = -1) -> Effects:
        """Move every task in SLOTS to state TO through the state machine.

        With EXPECT >= 0 a task not currently in that state is left alone (counted in
        ``cas_failed``). Illegal transitions change nothing but are counted.
        """
        to = _check_status(to)
        if expect != -1:
            _check_status(expect)
        eff = Effects()
        msg = self.intern_message(message)
        pending_free: list[int] = []
        for pos, s in enumerate(slots):
            self._apply(s, to, now_ms, msg, pos, expect, eff, pending_free)
        self._release(pending_free)
        eff.deleted_slots.extend(pending_free)
        return eff

    def transition_each(self, slots: Sequence[int], statuses: Sequence[int], now_ms: int,
                        messages: Sequence[str | None] | None = None) -> Effects:
        """Move the task in ``slots[k]`` to ``statuses[k]`` (with ``messages[k]``), for every
        k in order: what ``transition`` does for one status, for a batch whose statuses differ
        (an agent's STARTING, RUNNING and FINISHED of many tasks, interleaved), in one call.
        Every status is checked first: an unknown one raises UnknownStatusError and nothing
        changes. Positions in the effects (kill_unknown, illegal) index the batch."""
        n = len(slots)
        if len(statuses) != n or (messages is not None and len(messages) != n):
            raise ValueError(f"{n} slots, {len(statuses)} statuses, "
                             f"{n if messages is None else len(messages)} messages")
        tos = [_check_status(to) for to in statuses]
        mids = [0] * n if messages is None else [self.intern_message(m) for m in messages]
        eff = Effects()
        pending_free: list[int] = []
        for pos, s in enumerate(slots):
            self._apply(s, tos[pos], now_ms, mids[pos], pos, -1, eff, pending_free)
        self._release(pending_free)
        eff.deleted_slots.extend(pending_free)
        return eff

    def assign(self, slots: Sequence[int], hosts: Sequence[int], now_ms: int,
               message: str | None = None) -> Effects:
        """PENDING -> ASSIGNED for each slot, onto the host at the same position."""
        if len(slots) != len(hosts):
            raise ValueError(f"{len(slots)} slots but {len(hosts)} hosts")
        nhosts = len(self._hosts)
        for h in hosts:
            if not 0 <= h < nhosts:
                raise ValueError(f"unknown host id {h}")
        eff = Effects()
        msg = self.intern_message(message)
        pending_free: list[int] = []
        nslots = len(self._state)
        for pos, s in enumerate(slots):
            if 0 <= s < nslots and self._state[s] == PENDING:
                self._unlink_host(s)
                self._link_host(s, hosts[pos])
            self._apply(s, ASSIGNED, now_ms, msg, pos, PENDING, eff, pending_free)
        self._release(pending_free)
        eff.deleted_slots.extend(pending_free)
        return eff

    def _apply(self, s: int, to: int, now: int, msg: int, pos: int, expect: int, eff: Effects,
               pending_free: list[int]) -> None:
        cur = self._state[s] if 0 <= s < len(self._state) else DELETED
        if expect >= 0 and cur != expect:
            eff.cas_failed += 1
            return
        while True:
            if cur == to:
                eff.noop += 1
                return
            code = MATRIX[cur * STATE_SLOTS + to]
            if cur == DELETED:
                self.illegal_transitions += 1
                eff.illegal.append(pos)
                if code & C_KILL:
                    eff.kill_unknown.append(pos)
                return
            if not code & C_VALID:
                self.illegal_transitions += 1
                eff.illegal.append(pos)
                if code & C_KILL:
                    eff.killed.append(s)
                return
            cfg = self._cfg[s]
            is_service = self._cfg_service[cfg]
            resched = bool(
                code & C_RESCHED
                or (code & C_RESCHED_SERVICE and is_service)
                or (code & C_RESCHED_UNLESS_KILLING and not self._flags[s] & F_WAS_KILLING)
            )
            if code & C_FAILURE:
                fails = self._fail[s]
                maxf = self._cfg_maxfail[cfg]
                if is_service or maxf == -1 or fails < maxf - 1:
                    resched = True
                self._fail[s] = fails + 1
            prev_ts = self._ts[s]
            tid = self.task_id(s) if code & C_DELETE else None
            self._unlink_state(s)
            self._link_state(s, to)
            self._ts[s] = now
            if code & C_SAVE:
                if to == KILLING:
                    self._flags[s] |= F_WAS_KILLING | F_INTERRUPTED
                elif to == RESTARTING or to == DRAINING:
                    self._flags[s] |= F_INTERRUPTED
                elif to == PARTITIONED:
                    self._tparts[s] = min(self._tparts[s] + 1, 0xFFFF)
                    self._compact_partitions(s)
                self._add_event(s, now, to, msg)
                eff.saved.append(s)
            if to in TERMINAL:
                eff.ended.append(s)
                table = self._job_inst[self._job[s]]
                inst = self._inst[s]
                if table[inst] == s:
                    table[inst] = -1
            if resched:
                self._reschedule(s, now, prev_ts, eff)
            if code & C_KILL:
                eff.killed.append(s)
            if code & C_DELETE:
                eff.deleted.append(tid)
                self._remove(s)
                pending_free.append(s)
                return
            if not code & C_TO_LOST:
                return
            cur, to, msg = to, LOST, self.intern_message(MSG_TO_LOST)

    def _compact_partitions(self, s: int) -> None:
        # RUNNING -> PARTITIONED -> RUNNING -> PARTITIONED ... keeps one cycle, not all of them.
        e1 = self._ev_head[s]
        e2 = self._ev_next[e1] if e1 >= 0 else -1
        e3 = self._ev_next[e2] if e2 >= 0 else -1
        if e3 >= 0 and self._ev_status[e2] == PARTITIONED and (
            self._ev_status[e3] == self._ev_status[e1]
        ):
            self._ev_head[s] = e3
            self._free_event(e1)
            self._free_event(e2)

    def _reschedule(self, s: int, now: int, prev_ts: int, eff: Effects) -> None:
        job, inst = self._job[s], self._inst[s]
        table = self._job_inst[job]
        if table[inst] >= 0:  # another task already holds the instance: never two active
            return
        flapped = not self._flags[s] & F_INTERRUPTED and now - prev_ts < self.flap_threshold_ms
        flaps = min(self._flaps[s] + 1, 255) if flapped else 0
        penalty = flapping_penalty_ms(flaps, self.flap_initial_ms, self.flap_max_ms)
        if penalty > 0:
            status = THROTTLED
            text = f"Rescheduled, penalized for {penalty} ms for flapping"
        else:
            status, text = PENDING, MSG_RESCHEDULED
        new = self._create(self._cfg[s], inst, status, now, self.intern_message(text),
                           self._fail[s], self._seq[s], flaps)
        eff.created.append(new)

    def _remove(self, s: int) -> None:
        self._unlink_state(s)
        self._unlink_job(s)
        self._unlink_host(s)
        table = self._job_inst[self._job[s]]
        inst = self._inst[s]
        if inst < len(table) and table[inst] == s:
            table[inst] = -1
        del self._by_seq[self._seq[s]]
        e = self._ev_head[s]
        while e >= 0:
            n = self._ev_next[e]
            self._free_event(e)
            e = n
        self._ev_head[s] = -1
        self._state[s] = DELETED
        self._live -= 1

    def _release(self, slots: list[int]) -> None:
        for s in slots:
            self._st_next[s] = self._free
            self._free = s

    # ----------------------------------------------------------------- queries
    def __len__(self) -> int:
        return self._live

    @property
    def slot_count(self) -> int:
        return len(self._state)

    def state(self, slot: int) -> int:
        return self._state[slot] if 0 <= slot < len(self._state) else DELETED

    def task_id(self, slot: int) -> str:
        if self.state(slot) == DELETED:
            raise KeyError(f"no task in slot {slot}")
        h = f"{self.namespace:016x}{self._seq[slot]:016x}"
        uuid = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        return f"{self._job_prefix[self._job[slot]]}-{self._inst[slot]}-{uuid}"

    def lookup(self, task_ids: Sequence[str]) -> array:
        """Slots of the given task ids; -1 for ids naming no live task."""
        out = array("q")
        for tid in task_ids:
            out.append(self._lookup_one(tid))
        return out

    def seq_of(self, task_id: str) -> int:
        """The sequence number inside an id of this table's namespace, or -1. The id ends in
        ``-`` and a canonical 8-4-4-4-12 hex uuid: the namespace's 16 digits, then the seq's."""
        n = len(task_id)
        if n < 38 or task_id[-37] != "-" or not _UUID.fullmatch(task_id, n - 36):
            return -1
        hexs = task_id[-36:].replace("-", "")
        ns, seq = int(hexs[:16], 16), int(hexs[16:], 16)
        return seq if ns == self.namespace and 0 < seq < 2**63 else -1

    def _lookup_one(self, tid: str) -> int:
        seq = self.seq_of(tid)
        if seq < 0:
            return -1
        s = self._by_seq.get(seq, -1)
        if s < 0 or self.task_id(s) != tid:
            return -1
        return s

    def row(self, slot: int) -> tuple:
        """(state, job, instance, config, host, failures, times_partitioned, seq, ancestor_seq,
        state_ts, flags, flaps) of a live slot."""
        if self.state(slot) == DELETED:
            raise KeyError(f"no task in slot {slot}")
        s = slot
        return (self._state[s], self._job[s], self._inst[s], self._cfg[s], self._host[s],
                self._fail[s], self._tparts[s], self._seq[s], self._anc[s], self._ts[s],
                self._flags[s], self._flaps[s])

    def events(self, slot: int) -> list[tuple[int, int, str | None]]:
        """The task's events, oldest first: (timestamp ms, status, message)."""
        if self.state(slot) == DELETED:
            raise KeyError(f"no task in slot {slot}")
        out = []
        e = self._ev_head[slot]
        while e >= 0:
            out.append((self._ev_ts[e], self._ev_status[e], self._messages[self._ev_msg[e]]))
            e = self._ev_next[e]
        out.reverse()
        return out

    def _walk(self, head: int, nxt: array) -> array:
        out = array("q")
        s = head
        while s >= 0:
            out.append(s)
            s = nxt[s]
        return out

    def tasks_of_job(self, job: int) -> array:
        return self._walk(self._job_head[job], self._job_next)

    def tasks_on_host(self, host: int) -> array:
        return self._walk(self._host_head[host], self._host_next)

    def tasks_in_state(self, status: int) -> array:
        return self._walk(self._state_head[_check_status(status)], self._st_next)

    def count_in_state(self, status: int) -> int:
        return self._state_count[_check_status(status)]

    def active_task(self, job: int, instance: int) -> int:
        table = self._job_inst[job]
        return table[instance] if 0 <= instance < len(table) else -1

    def throttled_until(self, slot: int) -> int:
        """When a THROTTLED task may become PENDING (ms); its penalty counts from entering."""
        penalty = flapping_penalty_ms(self._flaps[slot], self.flap_initial_ms, self.flap_max_ms)
        return self._ts[slot] + penalty

    def memory_bytes(self) -> int:
        """Bytes held by the table's columns, events and indexes (configs apart)."""
        total = 0
        for col in (self._state, self._flags, self._flaps, self._tparts, self._job, self._inst,
                    self._cfg, self._host, self._fail, self._seq, self._anc, self._ts,
                    self._ev_head, self._st_prev, self._st_next, self._job_prev, self._job_next,
                    self._host_prev, self._host_next, self._ev_ts, self._ev_status, self._ev_msg,
                    self._ev_next):
            total += col.buffer_info()[1] * col.itemsize
        total += sys.getsizeof(self._by_seq) + len(self._by_seq) * 2 * 32
        total += sum(t.buffer_info()[1] * t.itemsize for t in self._job_inst)
        return total

    def dump(self) -> tuple:
        """The whole logical content, for comparing implementations."""
        rows = []
        for s in range(len(self._state)):
            if self._state[s] != DELETED:
                rows.append((s, self.task_id(s), self.row(s), tuple(self.events(s))))
        lists = (
            tuple(tuple(self.tasks_in_state(st)) for st in sorted(VALID_TARGETS - {DELETED})),
            tuple(tuple(self.tasks_of_job(j)) for j in range(len(self._jobs))),
            tuple(tuple(self.tasks_on_host(h)) for h in range(len(self._hosts))),
            tuple(tuple(t) for t in self._job_inst),
        )
        return (tuple(rows), lists, self._live, self.next_seq, self.illegal_transitions)
