"""`aurora-scheduler`: the daemon. One uvloop event loop drives everything.

    aurora-scheduler --cluster NAME --data-dir DIR --http-port PORT --backend sim|local
                     [--agent-address tcp://127.0.0.1:7810] [--agent-timeout SECS]

``--backend local`` serves ``aurora-agent`` processes on this machine (or, with CURVE keys,
others); ``--backend sim`` simulates hosts; ``mesos`` is not available yet.

SIGTERM or SIGINT shuts down cleanly: the last transactions are flushed, storage is closed, the
backend disconnects without killing anything. A second scheduler on the same data dir exits at
once with a message naming the one that holds it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from aurora.scheduler.backend import BackendStartError
from aurora.scheduler.engine import OrderPolicy
from aurora.scheduler.storage import DataDirLocked, Storage

log = logging.getLogger("aurora.scheduler")

# Under load, writes this far apart gather what arrives meanwhile into one write and one fsync;
# a lone write waits nothing. one-off-real, 10,000 tasks: 550 writes at 0 ms, 430 at 20, about
# 270 at 50 and 150 at 100, where the scheduler spent 9-12 us less CPU per task than at 50 (fsync
# thread, write overhead, fewer but larger send bursts). Under load a change then waits up to
# 100 ms more for its write: well inside what a status update's round trip takes anyway.
COMMIT_INTERVAL_MS = 100.0


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 3), "level": record.levelname,
            "logger": record.name, "msg": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out)


class StartupError(Exception):
    """The daemon cannot start (a port taken...): one line, exit 2."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aurora-scheduler", description=__doc__.split("\n")[0])
    p.add_argument("--cluster", required=True, help="cluster name, as clients call it")
    p.add_argument("--data-dir", required=True, type=Path, help="where state is kept")
    p.add_argument("--http-port", type=int, default=8081)
    p.add_argument("--http-host", default="127.0.0.1", help="address to serve on")
    p.add_argument("--backend", choices=("sim", "local", "mesos"), default="sim")
    p.add_argument("--sim-config", type=Path, help="JSON file of SimConfig fields")
    p.add_argument("--sim-hosts", type=int, help="number of simulated hosts")
    p.add_argument("--agent-address", default="tcp://127.0.0.1:7810",
                   help="--backend local: where agents connect (ZeroMQ)")
    p.add_argument("--agent-heartbeat", type=float, default=5.0,
                   help="--backend local: heartbeat interval, seconds")
    p.add_argument("--agent-timeout", type=float, default=30.0,
                   help="an agent silent this long loses its offer; as long again and its "
                        "tasks are LOST")
    p.add_argument("--agent-batch-ms", type=float, default=20.0,  # local_backend.BATCH_INTERVAL_S
                   help="--backend local: agents' messages are taken in at most every this "
                        "many ms, each time as one batch (one storage write, one "
                        "acknowledgement per agent), as Aurora batches status updates")
    p.add_argument("--agent-curve-secret", help="the scheduler's CURVE secret key file")
    p.add_argument("--agent-allow-dir", help="directory of allowed agents' CURVE public keys")
    p.add_argument("--max-tasks-per-job", type=int, default=4000)
    p.add_argument("--flapping-task-threshold", type=float, default=300.0,
                   help="seconds: a task that ran less is flapping and waits THROTTLED")
    p.add_argument("--initial-flapping-task-delay", type=float, default=30.0,
                   help="seconds a flapping task waits first (doubling, up to 5 min)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random host order")
    p.add_argument("--policy", choices=[p.value for p in OrderPolicy], default="random")
    p.add_argument("--commit-interval-ms", type=float, default=COMMIT_INTERVAL_MS,
                   help="storage writes (each ending in a fsync) start at least this many ms "
                        "apart: under load each gathers what that time brings, as one write, "
                        "one fsync; a lone change is written at once")
    p.add_argument("--no-fsync", action="store_true",
                   help="do not fsync each commit (faster; a machine crash may lose the last)")
    p.add_argument("--log-format", choices=("json", "text"), default="json")
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--impl", choices=("compiled", "pure"), default=None,
                   help=argparse.SUPPRESS)
    return p


def make_backend(args: argparse.Namespace) -> Any:
    if args.backend == "sim":
        from aurora.scheduler.sim import SimBackend, SimConfig

        flags = {"hosts": args.sim_hosts, "seed": args.seed}
        config = (SimConfig.load(args.sim_config, **flags) if args.sim_config
                  else SimConfig.from_dict({k: v for k, v in flags.items() if v is not None}))
        return SimBackend(config)
    if args.backend == "local":
        from aurora.scheduler.local_backend import LocalBackend

        curve = None
        if args.agent_curve_secret or args.agent_allow_dir:
            if not (args.agent_curve_secret and args.agent_allow_dir):
                raise SystemExit("aurora-scheduler: --agent-curve-secret and --agent-allow-dir "
                                 "go together")
            from aurora.agent.security import CurveServer

            try:
                curve = CurveServer.from_files(args.agent_curve_secret, args.agent_allow_dir)
            except ValueError as e:
                raise SystemExit(f"aurora-scheduler: {e}") from e
        from aurora.agent.security import is_loopback

        if curve is None and not is_loopback(args.agent_address):
            raise SystemExit(f"aurora-scheduler: --agent-address {args.agent_address} is not a "
                             "loopback address: plaintext is allowed on loopback only; give "
                             "--agent-curve-secret and --agent-allow-dir (keys from "
                             "`python -m aurora.agent.keygen DIR NAME`)")
        if args.agent_batch_ms < 0:
            raise SystemExit(f"aurora-scheduler: --agent-batch-ms {args.agent_batch_ms}: must "
                             "be 0 or more")
        return LocalBackend(args.agent_address, heartbeat_interval=args.agent_heartbeat,
                            agent_timeout=args.agent_timeout, curve=curve,
                            batch_interval=args.agent_batch_ms / 1000)
    raise SystemExit(f"aurora-scheduler: backend {args.backend!r} is not available yet; "
                     "use --backend sim")


async def serve(args: argparse.Namespace, storage: Storage) -> None:
    from aiohttp import web

    from aurora.scheduler.api import ApiHandlers
    from aurora.scheduler.housekeeping import Housekeeping, Periodic
    from aurora.scheduler.housekeeping import Settings as HousekeepingSettings
    from aurora.scheduler.http import make_app
    from aurora.scheduler.recovery import restore
    from aurora.scheduler.service import Scheduler, Settings, tune_gc

    backend = make_backend(args)
    settings = Settings(cluster=args.cluster, scheduler_host=socket.gethostname(),
                        seed=args.seed, policy=OrderPolicy(args.policy), impl=args.impl,
                        max_tasks_per_job=args.max_tasks_per_job,
                        flapping_threshold_ms=int(args.flapping_task_threshold * 1000),
                        flapping_initial_ms=int(args.initial_flapping_task_delay * 1000),
                        commit_interval_ms=args.commit_interval_ms)
    tune_gc()
    t0 = time.perf_counter()
    sched = Scheduler(storage, backend, lambda: int(time.time() * 1000), settings)
    restored = restore(sched)
    log.info("restored %d tasks in %.2f s", restored, time.perf_counter() - t0)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    api = ApiHandlers(sched)
    chores = HousekeepingSettings(agent_lost_ms=int(args.agent_timeout * 1000))
    sched.duties = Housekeeping(sched, chores).duties()
    poll = api.admin.maintenance.poll  # async: it waits for its own commit
    sched.duties.append(Periodic(30_000, lambda: loop.create_task(poll()) and None))
    runner = web.AppRunner(make_app(sched, api), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, args.http_host, args.http_port)
    try:
        await site.start()
    except OSError as e:
        await runner.cleanup()
        raise StartupError(f"cannot serve HTTP on {args.http_host}:{args.http_port}: "
                           f"{e.strerror or e}") from None
    log.info("serving cluster %s on http://%s:%d/ with backend %s", args.cluster,
             args.http_host, args.http_port, args.backend)
    try:
        await sched.run(stop)
    finally:
        await runner.cleanup()
        log.info("stopped cleanly at transaction %d", storage.last_seq)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.commit_interval_ms < 0:
        print(f"aurora-scheduler: --commit-interval-ms {args.commit_interval_ms}: must be 0 or "
              "more", file=sys.stderr)
        return 2
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if args.log_format == "json"
                         else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=args.log_level.upper(), handlers=[handler])
    try:
        storage = Storage(args.data_dir, sync=not args.no_fsync)
    except DataDirLocked as exc:
        print(f"aurora-scheduler: {exc}", file=sys.stderr)
        return 2
    try:
        import uvloop

        uvloop.run(serve(args, storage))
    except (StartupError, BackendStartError) as e:
        print(f"aurora-scheduler: {e}", file=sys.stderr)
        return 2
    finally:
        storage.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
