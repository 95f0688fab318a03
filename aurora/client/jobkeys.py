"""Job keys as the client writes them: ``cluster/role/env/name``, optionally with instances
(``cluster/role/env/name/0-3,7``), and the ``cluster[/role[/env]]`` paths of ``job list``."""

from __future__ import annotations

from aurora.client import ClientError
from aurora.model.jobkey import InvalidJobKeyError, JobKey, identifier_problem, parse_cluster_key

__all__ = ["parse_instance_key", "parse_instances", "parse_job_key", "parse_job_path"]

MAX_INSTANCE = 2**31 - 1


def parse_instances(text: str) -> frozenset[int]:
    """``0-3,7`` -> {0, 1, 2, 3, 7}."""
    out: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        lo_text, dash, hi_text = part.partition("-")
        try:
            lo = int(lo_text)
            hi = int(hi_text) if dash else lo
        except ValueError:
            raise ClientError(f"invalid instance range '{text}': expected numbers like 0-3,7") \
                from None
        if lo < 0 or hi < lo or hi > MAX_INSTANCE:
            raise ClientError(f"invalid instance range '{text}': '{part}' is not a range")
        if hi - lo > 100_000:
            raise ClientError(f"invalid instance range '{text}': '{part}' is too large")
        out.update(range(lo, hi + 1))
    return frozenset(out)


def parse_job_key(text: str) -> tuple[str, JobKey]:
    """``(cluster, JobKey)`` from ``cluster/role/env/name``; ClientError when malformed."""
    try:
        return parse_cluster_key(text)
    except InvalidJobKeyError as err:
        raise ClientError(str(err)) from None


def parse_instance_key(text: str, *, required: bool = False
                       ) -> tuple[str, JobKey, frozenset[int] | None]:
    """``cluster/role/env/name[/instances]``; instances are None when absent."""
    parts = text.split("/")
    if len(parts) == 5:
        cluster, key = parse_job_key("/".join(parts[:4]))
        return cluster, key, parse_instances(parts[4])
    if required:
        raise ClientError(f"invalid instance key '{text}': expected "
                          "cluster/role/env/name/instances (e.g. .../name/0-3,7)")
    cluster, key = parse_job_key(text)
    return cluster, key, None


def parse_job_path(text: str) -> tuple[str, str | None, str | None]:
    """``cluster[/role[/env]]`` of ``job list``."""
    parts = text.split("/")
    if not 1 <= len(parts) <= 3:
        raise ClientError(f"invalid job path '{text}': expected cluster[/role[/env]]")
    for field, value in zip(("cluster", "role", "environment"), parts, strict=False):
        problem = identifier_problem(field, value)
        if problem:
            raise ClientError(f"invalid job path '{text}': {problem}")
    return parts[0], (parts[1] if len(parts) > 1 else None), \
        (parts[2] if len(parts) > 2 else None)
