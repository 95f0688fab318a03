"""``aurora-agent``: local agents that run tasks on this machine for ``--backend local``.

    aurora-agent --scheduler tcp://127.0.0.1:7810 --work-dir DIR [--name agent] [--agents N]
                 [--cpus C] [--ram-mb M] [--disk-mb D] [--ports 31000-32000]
                 [--attribute NAME=VALUE ...] [--heartbeat SECS] [--fsync always|task|never]
                 [--curve-secret FILE --scheduler-key FILE]

One process hosts N agents named ``<name>`` (N = 1) or ``<name>-1`` ... ``<name>-N``, each with its
own host name, the given resources (per agent; by default this machine's, shared evenly), an
equal share of the port range, and the attributes. Their tasks live under ``DIR/agents/<id>/``.
SIGTERM/SIGINT stop the agents and leave their tasks running: an agent started again on the
same work dir re-attaches to them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

from aurora.agent.host import AgentHost, AgentSpec, HostOptions
from aurora.agent.workers import PoolOptions

__all__ = ["main", "specs_from_args"]


def _range(text: str) -> tuple[int, int]:
    lo, sep, hi = text.partition("-")
    if not sep or not lo.isdigit() or not hi.isdigit() or int(lo) > int(hi) or int(hi) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port range LOW-HIGH, got {text!r}")
    return int(lo), int(hi)


def ephemeral_overlap(lo: int, hi: int,
                      path: str = "/proc/sys/net/ipv4/ip_local_port_range") -> str | None:
    """Why LO-HI is a risky range for task ports, or None: the kernel picks the local port of
    outgoing connections from its ephemeral range, and a task cannot bind a port that an
    outgoing connection holds (a server that then fails with "Address already in use")."""
    try:
        with open(path) as fp:
            first, last = (int(x) for x in fp.read().split()[:2])
    except (OSError, ValueError):
        return None
    if hi < first or lo > last:
        return None
    return (f"--ports {lo}-{hi} overlaps the kernel's ephemeral port range {first}-{last} "
            f"(net.ipv4.ip_local_port_range): a task may find its port taken by an outgoing "
            f"connection; choose ports below {first} or above {last}")


def _attribute(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value.strip()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aurora-agent", description=__doc__.split("\n")[0])
    p.add_argument("--scheduler", required=True, help="the scheduler's agent address (ZeroMQ)")
    p.add_argument("--work-dir", required=True, help="where tasks' sandboxes and state live")
    p.add_argument("--name", default="agent", help="agent id and host name (prefix if N > 1)")
    p.add_argument("--agents", type=int, default=1, help="agents hosted by this process")
    p.add_argument("--cpus", type=float, default=None, help="CPUs per agent")
    p.add_argument("--ram-mb", type=int, default=None, help="RAM per agent, MB")
    p.add_argument("--disk-mb", type=int, default=None, help="disk per agent, MB")
    p.add_argument("--ports", type=_range, default=(31000, 32000),
                   help="port range shared evenly by the agents (Mesos' default; keep it "
                        "outside the kernel's ephemeral range, net.ipv4.ip_local_port_range)")
    p.add_argument("--attribute", type=_attribute, action="append", default=[],
                   metavar="NAME=VALUE", help="an attribute of every agent (repeatable)")
    p.add_argument("--heartbeat", type=float, default=5.0, help="heartbeat interval, seconds")
    p.add_argument("--max-starting", type=int, default=4 * (os.cpu_count() or 1),
                   help="executors starting at once (the rest of a burst waits its turn)")
    p.add_argument("--fsync", choices=("always", "task", "never"), default="never",
                   help="executor checkpoint fsync policy. Default never, as Thermos: each "
                        "record reaches the OS at once, so it outlives the executor and the "
                        "agent; only a machine crash can cut it short, and the scheduler's "
                        "acknowledged write is the durable record. 'task' fsyncs the records "
                        "that end a process or the task, 'always' every record")
    p.add_argument("--status-delay-ms", type=float, default=200.0, metavar="MS",
                   help="statuses wait half this to all of it to go to the scheduler together: "
                        "a short task's STARTING, RUNNING and FINISHED in one message, the "
                        "agents of this process at the same moments (see aurora/agent/outbox.py)")
    p.add_argument("--sandbox-gc-hours", type=float, default=168.0, metavar="H",
                   help="a finished task's directory (sandbox and logs) is removed this many "
                        "hours after the scheduler acknowledged its end (Mesos' --gc_delay: "
                        "one week); 0 keeps them")
    p.add_argument("--executor-pool", type=int, default=PoolOptions.max_idle, metavar="N",
                   help="executors kept, once through with a task, to run later ones (a fork "
                        "and its page copies saved per task); 0: a new executor per task")
    p.add_argument("--executor-reuse", type=int, default=PoolOptions.max_tasks, metavar="N",
                   help="tasks an executor runs, one after another, before it exits")
    p.add_argument("--curve-secret", help="this agent's CURVE secret key file")
    p.add_argument("--scheduler-key", help="the scheduler's CURVE public key file")
    p.add_argument("--log-level", default="INFO")
    return p


def _machine() -> tuple[int, int, int]:
    cpus = os.cpu_count() or 1
    try:
        ram_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20)
    except (ValueError, OSError):
        ram_mb = 1024
    st = os.statvfs("/")
    disk_mb = st.f_bavail * st.f_frsize // (1 << 20)
    return cpus * 1000, ram_mb, disk_mb


def specs_from_args(args: argparse.Namespace) -> list[AgentSpec]:
    n = args.agents
    if n < 1:
        raise ValueError("--agents must be at least 1")
    cpu_m, ram, disk = _machine()
    cpu_milli = round(args.cpus * 1000) if args.cpus is not None else max(1, cpu_m // n)
    ram_mb = args.ram_mb if args.ram_mb is not None else max(1, ram // n)
    disk_mb = args.disk_mb if args.disk_mb is not None else max(1, disk // n)
    lo, hi = args.ports
    per = (hi - lo + 1) // n
    if per < 1:
        raise ValueError(f"--ports {lo}-{hi} is too small for {n} agents")
    attrs: dict[str, tuple[str, ...]] = {}
    for name, value in args.attribute:
        attrs[name] = (*attrs.get(name, ()), value)
    specs = []
    for i in range(n):
        name = args.name if n == 1 else f"{args.name}-{i + 1}"
        start = lo + i * per
        specs.append(AgentSpec(name, name, cpu_milli, ram_mb, disk_mb,
                               ((start, start + per - 1),), attrs))
    return specs


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        specs = specs_from_args(args)
        overlap = ephemeral_overlap(*args.ports)
        if overlap is not None:
            logging.getLogger("aurora.agent").warning("%s", overlap)
        if args.sandbox_gc_hours < 0:
            raise ValueError(f"--sandbox-gc-hours {args.sandbox_gc_hours}: must be 0 or more")
        if args.status_delay_ms < 0:
            raise ValueError(f"--status-delay-ms {args.status_delay_ms}: must be 0 or more")
        if args.executor_pool < 0:
            raise ValueError(f"--executor-pool {args.executor_pool}: must be 0 or more")
        if args.executor_reuse < 1:
            raise ValueError(f"--executor-reuse {args.executor_reuse}: must be 1 or more")
        curve = None
        if args.curve_secret or args.scheduler_key:
            if not (args.curve_secret and args.scheduler_key):
                raise ValueError("--curve-secret and --scheduler-key go together")
            from aurora.agent.security import CurveClient

            curve = CurveClient.from_files(args.curve_secret, args.scheduler_key)
        host = AgentHost(args.work_dir, args.scheduler, specs,
                         HostOptions(heartbeat_interval=args.heartbeat, fsync=args.fsync,
                                     curve=curve, max_starting=max(1, args.max_starting),
                                     pool=PoolOptions(max_idle=args.executor_pool,
                                                      max_tasks=args.executor_reuse),
                                     report_delay=args.status_delay_ms / 1000,
                                     sandbox_gc_s=args.sandbox_gc_hours * 3600))
        host.prepare()
    except (ValueError, RuntimeError, OSError) as e:
        print(f"aurora-agent: {e}", file=sys.stderr)
        return 2

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        logging.getLogger("aurora.agent").info(
            "%d agent(s) serving %s, scheduler %s", len(specs), host.work_dir, args.scheduler)
        await host.run(stop)

    try:
        import uvloop

        uvloop.run(serve())
    except ValueError as e:  # e.g. plaintext to a non-loopback scheduler
        print(f"aurora-agent: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
