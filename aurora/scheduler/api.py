"""Aurora's Thrift API on the scheduler: one handler per method, called with the decoded
``<method>_args`` struct, answering with a Response.

Facts matched (Aurora 0.22, ``SchedulerThriftInterface``):

* createJob refuses a job that has active tasks ("Job r/e/n already exists"), a cron job
  ("Cron jobs may only be created/updated by calling scheduleCronJob."), more than the per-job
  task limit ("Instance count must be between 1 and 4000 inclusive.") and production tasks over
  the role's quota; a task needs an executor config (the Thermos task as JSON in
  ``executorConfig.data`` for ``AuroraExecutor``) unless it runs a Docker container;
* killTasks moves the job's active tasks (or the given instances) to KILLING with the audit
  message "Killed by UNSECURE"; with none to kill it answers OK with "No tasks to kill.";
* restartShards needs every named instance active ("Not all requested shards are active.");
* addInstances copies the active task at ``key.instanceId`` into ``count`` new instances after
  the highest active one ("Instance count must be positive.", "No active task found for a given
  instance ID.", "Instances may not be added to cron jobs.");
* every Response carries serverInfo with the cluster's name.

Beyond Aurora: an argument of the wrong type is answered INVALID_REQUEST naming the field, and so
is a job the scheduler has never heard of; a method this scheduler does not have yet is answered
ERROR, "<method> is not supported by this scheduler yet". Nothing changes before a request has
passed its checks.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aurora.api.codec import SERVICE, api, error, invalid_request, ok
from aurora.model.jobkey import JobKey
from aurora.model.status import ScheduleStatus as S
from aurora.scheduler import actions
from aurora.scheduler.api_admin import Admin
from aurora.scheduler.api_queries import (
    ACTIVE_CODES,
    BadInput,
    Queries,
    Response,
    TableIndex,
    check_struct,
    job_configuration,
    job_key,
    required,
)
from aurora.scheduler.service import Scheduler

log = logging.getLogger(__name__)

Handler = Callable[[Any], Awaitable[Response]]

AUDIT_USER = "UNSECURE"  # Aurora's name for the caller when no authentication is configured
NO_TASKS_TO_KILL = "No tasks to kill."
KILLING = int(S.KILLING)
NO_CRON = "Cron jobs may only be created/updated by calling scheduleCronJob."


def not_supported(method: str) -> str:
    return f"{method} is not supported by this scheduler yet"


class ApiHandlers:
    """The API of one scheduler: ``await handlers.call(method, args)`` gives the Response."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.sched = scheduler
        self.index = TableIndex(scheduler.table)
        self.queries = Queries(scheduler, self.index)
        self.admin = Admin(scheduler, self.index)
        self.server_info = api.ServerInfo(clusterName=scheduler.settings.cluster)
        self._handlers: dict[str, Handler] = {
            "createJob": self.create_job, "killTasks": self.kill_tasks,
            "restartShards": self.restart_shards, "addInstances": self.add_instances,
            **self.queries.handlers(), **self.admin.handlers()}

    @property
    def supported(self) -> frozenset[str]:
        """The methods answered here; every other API method gets ERROR."""
        return frozenset(self._handlers)

    async def call(self, method: str, args: Any) -> Response:
        handler = self._handlers.get(method)
        if handler is None:
            response = error(not_supported(method))
        else:
            response = await self._run(method, handler, args)
        response.serverInfo = self.server_info
        return response

    async def _run(self, method: str, handler: Handler, args: Any) -> Response:
        try:
            check_struct(args, getattr(SERVICE, f"{method}_args"))
            return await handler(args)
        except ValueError as exc:  # BadInput, ActionError and the model's errors
            return invalid_request(str(exc))
        except Exception as exc:  # Aurora's interceptor answers ERROR too
            log.exception("API call %s failed", method)
            return error(f"{method} failed: {type(exc).__name__}: {exc}")

    # --------------------------------------------------------------------------- helpers
    def _active(self, key: JobKey) -> dict[int, int]:
        """The job's active tasks: instance -> slot."""
        jid = self.index.job(key)
        if jid < 0:
            return {}
        table = self.sched.table
        return {table.row(s)[2]: s for s in table.tasks_of_job(jid)
                if table.state(s) in ACTIVE_CODES}

    def _known(self, key: JobKey) -> None:
        """BadInput unless the scheduler has the job or a task of it."""
        jid = self.index.job(key)
        if self.sched.jobs.get(key) is None and (jid < 0 or not len(
                self.sched.table.tasks_of_job(jid))):
            raise BadInput(f"job {key} does not exist")

    def _check_limit(self, count: int) -> None:
        top = self.sched.settings.max_tasks_per_job
        if not 0 < count <= top:
            raise BadInput(f"Instance count must be between 1 and {top} inclusive.")

    # ------------------------------------------------------------------------- mutations
    async def create_job(self, args: Any) -> Response:
        job = job_configuration(args.description)
        key = job.key
        if job.cron_schedule:
            return invalid_request(NO_CRON)
        existing = self.sched.jobs.get(key)
        if self._active(key) or (existing is not None and existing.cron_schedule):
            return invalid_request(f"Job {key} already exists")
        self._check_limit(job.instance_count)
        await actions.create_job(self.sched, job.task_config, job.instance_count)
        return ok()

    async def kill_tasks(self, args: Any) -> Response:
        key = job_key(args.job)
        self._known(key)
        instances = sorted(args.instances) if args.instances else None
        active = self._active(key)
        wanted = active.values() if instances is None else (
            active[i] for i in instances if i in active)
        if all(self.sched.table.state(s) == KILLING for s in wanted):
            return ok(details=[NO_TASKS_TO_KILL])  # nothing whose state would change
        message = f"Killed by {AUDIT_USER}" + (f".\n{args.message}" if args.message else "")
        await actions.kill_tasks(self.sched, key, instances, message)
        return ok()

    async def restart_shards(self, args: Any) -> Response:
        key = job_key(args.job)
        self._known(key)
        shards = set(required(args.shardIds, "shardIds"))
        if not shards:
            raise BadInput("shardIds must name at least one instance")
        if not shards <= set(self._active(key)):
            return invalid_request("Not all requested shards are active.")
        await actions.restart_shards(self.sched, key, sorted(shards))
        return ok()

    async def add_instances(self, args: Any) -> Response:
        instance_key = required(args.key, "key")
        key = job_key(instance_key.jobKey, "key.jobKey")
        count = required(args.count, "count")
        if count <= 0:
            return invalid_request("Instance count must be positive.")
        self._known(key)
        job = self.sched.jobs.get(key)
        if job is not None and job.cron_schedule:
            return invalid_request("Instances may not be added to cron jobs.")
        active = self._active(key)
        template = active.get(required(instance_key.instanceId, "key.instanceId"))
        if template is None:
            return invalid_request("No active task found for a given instance ID.")
        self._check_limit(len(active) + count)
        last = max(active)
        await actions.add_instances(self.sched, key, range(last + 1, last + 1 + count))
        return ok()


__all__ = ["ApiHandlers", "not_supported"]
