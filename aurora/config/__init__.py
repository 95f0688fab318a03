"""Job configuration files (``.aurora``): Aurora's pystachio DSL, loaded as Aurora's client does.

``load(path, job_key, bindings)`` runs the file, picks the job by its key, checks it and turns
it into what Aurora's client sends to the scheduler: a :class:`LoadedJob` with the TaskConfig
(executor data included), the instance count, the cron fields and the update settings. Any
problem is a :class:`ConfigError` whose one-line message names the file, the job and the field.

Where Aurora's documentation and its source disagree, the source is followed:

* ``Job.environment`` is required (the docs say it defaults to ``devel``);
* ``HealthCheckConfig`` intervals and timeout are Floats (docs: Integer), so the executor data
  holds ``15.0``; ``UpdateConfig.sla_aware`` defaults to False (docs: None);
* ``Tasks.combine``/``Tasks.concat`` keep the identity (name, failure limits, ...) of the LAST
  task given (docs: the first). Their merged process and constraint lists keep first
  appearances in order, where Aurora goes through a set (arbitrary order);
* the helpers are ``combine_tasks``/``concat_tasks`` (and ``Tasks.combine``/``Tasks.concat``);
  there is no bare ``combine``/``concat``;
* ``task_links`` is accepted and kept in the executor data, but ``TaskConfig.taskLinks`` is always
  empty (AURORA-739); the docs do not mention the field at all.

Where Aurora's source cannot be followed literally, its evident intent is:

* ``UpdaterConfig`` crashes on an explicit Queue or Batch ``update_strategy`` (it reads a
  ``groupSize`` attribute pystachio does not have) and never takes a variable batch's first
  size: here ``updateGroupSize`` is the strategy's (first) batch size, and a Batch strategy sets
  ``waitForBatchCompletion``;
* malformed constraints (``'limit:x'``, ``'a,,b'``, ``''``) are errors here; Aurora's client
  crashes on the first and sends the others for the scheduler to refuse;
* the executor data is sorted JSON (Aurora's dict order is Python 2's arbitrary one);
* ``instances = 0`` is reported as a bad instance count (Aurora's client blames
  ``update_config.max_total_failures``, whose check runs first);
* ``{{docker.image[name][tag]}}`` is not looked up in a Docker registry: bind it
  (``docker.image[name][tag]=image@digest``), or it is reported as unbound;
* ``.aurora`` files run as Python 3 (Aurora's client ran them under Python 2).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from aurora.config.convert import (
    BatchStrategy,
    LoadedJob,
    QueueStrategy,
    UpdateSettings,
    UpdateStrategy,
    VariableBatchStrategy,
    convert_job,
)
from aurora.config.errors import ConfigError
from aurora.config.loader import Bindings, JobKeyArg, bound_jobs, pick_job, run_file
from aurora.model.task import TierInfo

__all__ = [
    "BatchStrategy",
    "Bindings",
    "ConfigError",
    "JobKeyArg",
    "LoadedJob",
    "QueueStrategy",
    "UpdateSettings",
    "UpdateStrategy",
    "VariableBatchStrategy",
    "list_jobs",
    "load",
]


def load(path: str | os.PathLike[str], job_key: JobKeyArg = None,
         bindings: Bindings | None = None, *, owner: str | None = None,
         tiers: Mapping[str, TierInfo] | None = None,
         default_tier: str | None = None) -> LoadedJob:
    """The job ``job_key`` of the config file ``path``, as Aurora's client would submit it.

    ``job_key``: ``cluster/role/environment/name`` (or ``role/environment/name``, or a JobKey);
    may be None when the file defines one job. ``bindings``: ``{"name": value}`` or
    ``["name=value", ...]``, like the client's ``--bind``. ``owner``: the submitting user (the
    local user by default). ``tiers``/``default_tier``: the cluster's tier configuration
    (``getTierConfigs``), used to backfill the tier; Aurora's default tiers when None.
    """
    file = os.fspath(path)
    asked = None if job_key is None else str(job_key)
    namespace = run_file(file, job=asked)
    job, name = pick_job(namespace, job_key, bindings, file=file)
    return convert_job(job, file=file, job_name=name, owner=owner, tiers=tiers,
                       default_tier=default_tier)


def list_jobs(path: str | os.PathLike[str], bindings: Bindings | None = None) -> list[str]:
    """``cluster/role/environment/name`` of every job the file defines (``aurora config list``)."""
    file = os.fspath(path)
    return [name for _, name in bound_jobs(run_file(file), bindings, file=file)]
