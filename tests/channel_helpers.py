"""What the channel tests read of a scheduler endpoint's status callback."""

from __future__ import annotations

from collections.abc import Sequence

from aurora.agent.channel import AckToken, SchedulerEndpoint
from aurora.agent.protocol import Update
from aurora.scheduler.backend import StatusUpdate


def as_status_updates(ep: SchedulerEndpoint, ups: Sequence[Update],
                      tokens: Sequence[AckToken]) -> list[StatusUpdate]:
    """One StatusUpdate per update: the host its agent registered, and each run's token on the
    run's last update (the runs are the tokens' ranges, in order)."""
    out: list[StatusUpdate] = []
    i = 0
    for tok in tokens:
        host = ep.peers[tok.peer].register.hostname
        n = tok.hi - tok.lo + 1
        for k, u in enumerate(ups[i:i + n]):
            out.append(StatusUpdate(u.task_id, u.status, u.timestamp_ms, u.message, host,
                                    tok if k == n - 1 else None))
        i += n
    assert i == len(ups), f"{len(ups)} updates, tokens for {i}"
    return out
