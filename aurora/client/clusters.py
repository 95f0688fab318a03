"""Clusters the client knows, from ``clusters.json`` files (Aurora's ``common/clusters.py``).

Files read, later ones overriding earlier entries of the same name:
``$AURORA_CONFIG_ROOT/clusters.json`` (``/etc/aurora/clusters.json`` when the variable is unset),
then ``~/.aurora/clusters.json``. Each file holds a JSON list of objects with at least ``name``;
the client here talks to ``scheduler_uri`` (ZooKeeper discovery is not supported).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aurora.client import ClientError

__all__ = ["Cluster", "config_paths", "get_cluster", "load_clusters"]

DEFAULT_CONFIG_ROOT = "/etc/aurora"
USER_CLUSTERS = "~/.aurora/clusters.json"


@dataclass(frozen=True)
class Cluster:
    name: str
    scheduler_uri: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        """The scheduler's Thrift endpoint, ``<scheduler_uri>/api``."""
        if not self.scheduler_uri:
            raise ClientError(f"cluster '{self.name}' has no scheduler_uri in clusters.json "
                              "(ZooKeeper discovery is not supported)")
        uri = self.scheduler_uri.rstrip("/")
        if "://" not in uri:
            uri = f"http://{uri}"
        return f"{uri}/api"


def config_paths() -> list[Path]:
    """The clusters.json files to read, in order (later entries win)."""
    root = os.environ.get("AURORA_CONFIG_ROOT") or DEFAULT_CONFIG_ROOT
    return [Path(root) / "clusters.json", Path(os.path.expanduser(USER_CLUSTERS))]


def _read(path: Path) -> list[Cluster]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    except OSError as err:
        raise ClientError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        data = json.loads(text)
    except ValueError as err:
        raise ClientError(f"{path}: not valid JSON: {err}") from None
    if isinstance(data, dict):  # tolerate a single cluster object
        data = [data]
    if not isinstance(data, list):
        raise ClientError(f"{path}: expected a JSON list of clusters")
    found = []
    for i, entry in enumerate(data):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ClientError(f"{path}: cluster #{i} must be an object with a string 'name'")
        uri = entry.get("scheduler_uri")
        if uri is not None and not isinstance(uri, str):
            raise ClientError(f"{path}: cluster '{entry['name']}': scheduler_uri must be a string")
        extra = {k: v for k, v in entry.items() if k not in ("name", "scheduler_uri")}
        found.append(Cluster(entry["name"], uri, extra))
    return found


def load_clusters(paths: Iterable[Path] | None = None) -> dict[str, Cluster]:
    """Every known cluster by name."""
    clusters: dict[str, Cluster] = {}
    for path in config_paths() if paths is None else paths:
        for cluster in _read(Path(path)):
            clusters[cluster.name] = cluster
    return clusters


def get_cluster(name: str, clusters: Mapping[str, Cluster] | None = None) -> Cluster:
    """The cluster called ``name``; an unknown one is a ClientError naming the known ones."""
    known = load_clusters() if clusters is None else clusters
    if name in known:
        return known[name]
    if not known:
        where = " or ".join(str(p) for p in config_paths())
        raise ClientError(f"unknown cluster '{name}': no clusters are defined (looked in {where})")
    raise ClientError(f"unknown cluster '{name}': known clusters are {', '.join(sorted(known))}")
