"""The scheduler's HTTP server: Aurora's Thrift API at /api and the operator endpoints.

/health, /leaderhealth, /vars, /vars.json, /metrics (Prometheus text, served here rather than by
prometheus-client's own server), /pendingtasks, /agents, /state, and POST /api with TJSON or
TBinary chosen by Content-Type as Aurora's servlet does. A body that is not Thrift at all gets a
4xx; a Thrift call with bad arguments gets a Response with INVALID_REQUEST and details.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from aurora.api import codec
from aurora.model.status import TERMINAL_STATES, ScheduleStatus
from aurora.scheduler.service import Scheduler

log = logging.getLogger(__name__)
VarsFn = Callable[[], dict[str, Any]]


def scheduler_vars(sched: Scheduler, started: float) -> dict[str, Any]:
    """Aurora-style /vars: flat names, numbers."""
    out: dict[str, Any] = {
        "jvm_uptime_secs": int(time.time() - started),  # the name Aurora's tools read
        "scheduler_uptime_secs": int(time.time() - started),
        "task_store_tasks": len(sched.table),
        "jobs": len(sched.jobs.jobs),
        "hosts": sched.cluster.host_count,
        "pending_task_groups": len(sched.groups),
        "scheduler_illegal_task_state_transitions": sched.table.illegal_transitions,
        "scheduling_cycles": sched.stats.scheduling_cycles,
        "tasks_launched": sched.stats.launched,
        "status_updates": sched.stats.status_updates,
        "kills_sent": sched.stats.kills_sent,
        "storage_last_seq": sched.storage.last_seq,
        "storage_commits": sched.storage.commits,
        "storage_transactions": sched.storage.transactions,
    }
    for status in ScheduleStatus:
        if status is not ScheduleStatus.DELETED:
            out[f"task_store_{status.name}"] = sched.table.count_in_state(int(status))
    for status in TERMINAL_STATES:  # since start-up, pruned or not
        out[f"tasks_ended_{status.name}"] = sched.stats.ended.get(int(status), 0)
    backend_vars = getattr(sched.backend, "vars", None)
    if callable(backend_vars):
        out.update(backend_vars())
    return out


class _Collector:
    def __init__(self, vars_fn: VarsFn) -> None:
        self.vars_fn = vars_fn

    def collect(self) -> Any:
        for name, value in sorted(self.vars_fn().items()):
            if isinstance(value, int | float) and not isinstance(value, bool):
                yield GaugeMetricFamily(f"aurora_{name}", name, value=value)


def make_app(sched: Scheduler, api: Any, *, started: float | None = None) -> web.Application:
    """The aiohttp application. API is the Thrift handler object (``call(method, args)``)."""
    started = started or time.time()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(lambda: scheduler_vars(sched, started)))
    app = web.Application(client_max_size=codec.MAX_BODY_BYTES)

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="OK")

    async def leaderhealth(_: web.Request) -> web.Response:
        return web.Response(text="OK")  # one scheduler, always the leader (no ZooKeeper yet)

    async def vars_text(_: web.Request) -> web.Response:
        lines = [f"{k} {v}" for k, v in sorted(scheduler_vars(sched, started).items())]
        return web.Response(text="\n".join(lines) + "\n")

    async def vars_json(_: web.Request) -> web.Response:
        return web.json_response(scheduler_vars(sched, started))

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry),
                            content_type="text/plain", charset="utf-8")

    async def pendingtasks(_: web.Request) -> web.Response:
        out = []
        for group in list(sched.groups._groups.values()):
            config = sched.jobs.configs[group.key]
            out.append({"job": str(config.job), "pending": len(group),
                        "taskIds": [sched.table.task_id(s) for s in list(group.tasks)[:20]],
                        "reason": sched.stats.pending_reasons.get(group.key, ""),
                        "penaltyMs": group.backoff_ms})
        return web.json_response(out)

    async def agents(_: web.Request) -> web.Response:
        cl = sched.cluster
        out = [{"host": cl.hostnames[h], "offer": bool(cl.offer[h]),
                "maintenance": int(cl.maint[h]), "free": list(cl.free(h)),
                "total": list(cl.total(h)), "attributes": cl.attributes(h)}
               for h in range(cl.host_count)]
        return web.json_response(out)

    async def state(_: web.Request) -> web.Response:
        return web.json_response({
            "cluster": sched.settings.cluster,
            "jobs": sorted(sched.jobs.jobs),
            "tasks": {s.name: sched.table.count_in_state(int(s)) for s in ScheduleStatus
                      if s is not ScheduleStatus.DELETED},
            "storage": {"last_seq": sched.storage.last_seq},
        })

    async def api_post(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > codec.MAX_BODY_BYTES:
            return web.Response(status=413, text="request body too large")
        try:
            protocol = codec.protocol_for(request.headers.get("Content-Type"))
        except codec.UnsupportedMediaType as exc:
            return web.Response(status=415, text=str(exc))
        try:
            body = await request.read()
            codec.check_body_size(len(body))
        except (codec.BodyTooLarge, web.HTTPRequestEntityTooLarge):
            return web.Response(status=413, text="request body too large")
        reply = codec.reply_protocol_for(request.headers.get("Accept"))
        try:
            call = codec.decode_call(body, protocol)
        except codec.BadRequest as exc:
            if exc.method in codec.METHODS and exc.seqid is not None:
                # A real call with bad arguments: Aurora's answer is a Response, not a fault.
                data = codec.encode_reply(exc.method, codec.invalid_request(str(exc)),
                                          exc.seqid, reply)
            else:
                data = codec.encode_error(exc, reply)
            if data is None:
                return web.Response(status=400, text=f"not a Thrift call: {exc}")
            return web.Response(body=data, content_type=codec.content_type_for(reply))
        result = await api.call(call.method, call.args)
        data = codec.encode_reply(call.method, result, call.seqid, reply)
        return web.Response(body=data, content_type=codec.content_type_for(reply))

    app.router.add_get("/health", health)
    app.router.add_get("/leaderhealth", leaderhealth)
    app.router.add_get("/vars", vars_text)
    app.router.add_get("/vars.json", vars_json)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/pendingtasks", pendingtasks)
    app.router.add_get("/agents", agents)
    app.router.add_get("/state", state)
    app.router.add_post("/api", api_post)
    return app


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
