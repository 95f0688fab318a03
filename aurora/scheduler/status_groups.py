"""How a batch of status updates is applied in few bulk transitions, each task's updates in
their order (see :func:`transition_groups`)."""

from __future__ import annotations

from collections.abc import Sequence

from aurora.scheduler.backend import StatusLike


def transition_groups(batch: Sequence[StatusLike]
                       ) -> list[tuple[int, str | None, list[int] | None]]:
    """How to apply BATCH in few transition calls, each task's updates in their order:
    (status, message, positions) per call, positions None for the whole batch.

    Runs of equal (status, message) neighbours keep the batch's order; when the batch is all
    short runs (many tasks' STARTING, RUNNING and FINISHED interleaved), updates go by waves
    instead: one call per (wave, status, message), an update being in wave k when it is its
    task's k-th in the batch."""
    n = len(batch)
    if not n:
        return []
    statuses = [u.status for u in batch]
    messages = [u.message for u in batch]
    s0, m0 = statuses[0], messages[0]
    if statuses.count(s0) == n and messages.count(m0) == n:  # one run (a storm's batches)
        return [(s0, m0, None)]
    runs = [0]  # where each run starts
    for i in range(1, n):
        if statuses[i] != statuses[i - 1] or messages[i] != messages[i - 1]:
            runs.append(i)
    if len(runs) * 8 <= n:
        ends = [*runs[1:], n]
        return [(statuses[a], messages[a], list(range(a, b)))
                for a, b in zip(runs, ends, strict=True)]
    groups: dict[tuple[int, int, str | None], list[int]] = {}
    nth: dict[str, int] = {}
    for i, u in enumerate(batch):
        k = nth.get(u.task_id, 0)
        nth[u.task_id] = k + 1
        key = (k, statuses[i], messages[i])
        group = groups.get(key)
        if group is None:
            groups[key] = [i]
        else:
            group.append(i)
    return [(key[1], key[2], groups[key]) for key in sorted(groups, key=_wave)]


def _wave(key: tuple[int, int, str | None]) -> int:
    return key[0]
