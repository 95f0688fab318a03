"""Scenario 14, `one-off-real`: 10,000 one-off tasks running `true`, submitted at once as one job
of 10,000 instances onto the `local` backend with 1,000 agents of 1 CPU each on this machine
(half carry `zone=a`); a second run constrains the job to `zone = a`.

Everything is real and separate, as an operator runs it: an ``aurora-scheduler --backend local``
process (RocksDB fsync on, its defaults but ``--max-tasks-per-job 10000``), two ``aurora-agent``
processes of 500 agents each (``zone=a`` / ``zone=b``; 1 CPU, 1 GB, 1 GB disk and 10 ports per
agent), the job created through the Thrift API (what ``aurora job create`` sends), each task run
by an executor process of its agent's pool (forked from the agent's zygote, reused one task at a
time), running the Thermos process graph (``/bin/bash -c true`` as the executor's child, in its
own process group), its checkpoint and logs in its own sandbox, statuses back over ZeroMQ. Tasks
ask 1 CPU / 16 MB / 16 MB: one at a time per agent, up to 1,000 at once.

Figures per run: seconds from createJob to the last task FINISHED (the scheduler's
``tasks_ended_FINISHED`` in /vars.json, polled every 0.1 s: finished tasks are pruned past 100
per job, as Aurora does, so the store's own count would not do), tasks/s, and the scheduler
process's own CPU seconds per task (utime + stime from /proc over the same interval). Each run
starts a fresh cluster; the first run's files are deleted after the second (the bench settles
the machine before each scenario: see :mod:`bench.settle`).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.registry import RunContext, Scenario, register
from bench.result import Result

CHECKOUT = Path(__file__).resolve().parents[2]
TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Shape:
    tasks: int
    agents: int


FULL = Shape(10_000, 1_000)
QUICK = Shape(200, 20)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fp:
        fields = fp.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class VarsPoller:
    """/vars.json over one kept-alive connection: the run polls it ten times a second, and a
    new connection per poll cost the scheduler about twice the CPU of the request itself
    (counted in the figure being measured)."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def get(self) -> dict[str, Any]:
        try:
            self.conn.request("GET", "/vars.json")
            r = self.conn.getresponse()
            body = r.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()  # reconnects on the next request
            raise
        if r.status != 200:
            raise RuntimeError(f"/vars.json answered {r.status}: {body[:200]!r}")
        return dict(json.loads(body))

    def close(self) -> None:
        self.conn.close()


CONFIG = """
task = Task(name = 'true', processes = [Process(name = 'true', cmdline = 'true')],
            resources = Resources(cpu = 1, ram = 16*MB, disk = 16*MB))
jobs = [Job(cluster = 'local', role = 'bench', environment = 'prod', name = '{name}',
            task = task, instances = {instances}{extra})]
"""


class Cluster:
    def __init__(self, root: Path, shape: Shape, impl: str) -> None:
        self.root, self.shape = root, shape
        self.http, self.zmq = _port(), _port()
        env = dict(os.environ)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Any] = []
        sched = [sys.executable, "-m", "aurora.scheduler.main", "--cluster", "local",
                 "--data-dir", str(root / "data"), "--http-port", str(self.http),
                 "--backend", "local", "--agent-address", f"tcp://127.0.0.1:{self.zmq}",
                 "--max-tasks-per-job", str(shape.tasks), "--impl", impl,
                 "--log-level", "WARNING"]
        self.scheduler = self._spawn(sched, "scheduler.log", env)
        half = shape.agents // 2
        per = 10
        for i, zone in enumerate(("a", "b")):
            n = half if i == 0 else shape.agents - half
            base = 20000 + i * half * per
            self._spawn([sys.executable, "-m", "aurora.agent.main", "--scheduler",
                         f"tcp://127.0.0.1:{self.zmq}", "--work-dir", str(root / f"work-{zone}"),
                         "--name", f"agent-{zone}", "--agents", str(n), "--cpus", "1",
                         "--ram-mb", "1024", "--disk-mb", "1024", "--ports",
                         f"{base}-{base + n * per - 1}", "--attribute", f"zone={zone}",
                         "--log-level", "WARNING"], f"agent-{zone}.log", env)

    def _spawn(self, cmd: list[str], log: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        fp = open(self.root / log, "wb")
        self.logs.append(fp)
        proc = subprocess.Popen(cmd, stdout=fp, stderr=fp, env=env, cwd=CHECKOUT)
        self.procs.append(proc)
        return proc

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.time() + timeout
        poller = VarsPoller(self.http)
        try:
            while time.time() < deadline:
                for p in self.procs:
                    if p.poll() is not None:
                        raise RuntimeError(f"{p.args[2]} exited: {self.tail()}")
                try:
                    if poller.get().get("agents_connected") == self.shape.agents:
                        return
                except (OSError, http.client.HTTPException):
                    pass  # not serving yet
                time.sleep(0.2)
        finally:
            poller.close()
        raise RuntimeError(f"the cluster did not come up: {self.tail()}")

    def tail(self) -> str:
        out = []
        for log in ("scheduler.log", "agent-a.log", "agent-b.log"):
            path = self.root / log
            if path.exists():
                out.append(f"{log}: " + " | ".join(path.read_text(errors="replace")
                                                   .splitlines()[-5:]))
        return "\n".join(out)

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        for fp in self.logs:
            fp.close()


def run_once(shape: Shape, impl: str, constrained: bool, progress: Any,
             trash: list[Path]) -> dict[str, Any]:
    from aurora.api.convert import job_configuration_to_thrift
    from aurora.client.api import SchedulerClient
    from aurora.config import load

    root = Path(tempfile.mkdtemp(prefix="aurora-oneoff-"))
    cluster = Cluster(root, shape, impl)
    try:
        cluster.wait_ready()
        name = "true_zone_a" if constrained else "true"
        extra = ", constraints = {'zone': 'a'}" if constrained else ""
        path = root / "job.aurora"
        path.write_text(CONFIG.format(name=name, instances=shape.tasks, extra=extra))
        desc = job_configuration_to_thrift(
            load(str(path), f"local/bench/prod/{name}", []).job_configuration)
        client = SchedulerClient(f"http://127.0.0.1:{cluster.http}/api", timeout=60)
        pid = cluster.scheduler.pid
        poller = VarsPoller(cluster.http)
        poller.get()  # connected before the clock starts
        cpu0 = _cpu_s(pid)
        t0 = time.perf_counter()
        client.call("createJob", description=desc)
        deadline = t0 + 1800
        while True:
            v = poller.get()  # counted since start-up: pruning does not hide any
            done = v.get("tasks_ended_FINISHED", 0)
            bad = sum(v.get(f"tasks_ended_{s}", 0) for s in ("FAILED", "LOST", "KILLED"))
            if done + bad >= shape.tasks:
                break
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{done} of {shape.tasks} FINISHED after 30 min")
            progress(done / shape.tasks)
            time.sleep(0.1)
        seconds = time.perf_counter() - t0
        cpu = _cpu_s(pid) - cpu0
        poller.close()
        if bad:
            raise RuntimeError(f"{bad} tasks ended other than FINISHED: {cluster.tail()}")
        return {"seconds": seconds, "cpu_s": cpu, "finished": done}
    finally:
        cluster.stop()
        trash.append(root)  # removed after both runs: see OneOffReal.run


@register
class OneOffReal(Scenario):
    name = "one-off-real"
    description = "10,000 real `true` tasks on 1,000 local agents (and again constrained to zone=a)"
    anchor = "Slurm on this machine: 43-55 tasks/s, 3.2-3.9 ms controller CPU per task"

    def run(self, ctx: RunContext) -> list[Result]:
        shape = QUICK if ctx.quick else FULL
        rows = []
        # The first run's 10,000 sandboxes are deleted only after the second run: ext4 without
        # a journal makes every new inode skip the ones freed in the last minutes (each skip a
        # lookup), so a run started right after deleting 150,000 inodes pays for the deletion.
        trash: list[Path] = []
        try:
            for i, constrained in enumerate((False, True)):
                rows += self._run_one(ctx, shape, i, constrained, trash)
        finally:
            for root in trash:
                shutil.rmtree(root, ignore_errors=True)
        return rows

    def _run_one(self, ctx: RunContext, shape: Shape, i: int, constrained: bool,
                 trash: list[Path]) -> list[Result]:
        """The run's three figures, as peer-slurm gives Slurm's: seconds, tasks/s and the
        scheduler's CPU seconds per task."""
        def progress(f: float) -> None:
            ctx.progress((i + f) / 2, "zone=a" if i else "unconstrained")

        r = run_once(shape, ctx.impl, constrained, progress, trash)
        label = (f"constrained to zone=a ({shape.agents // 2} agents)" if constrained
                 else "unconstrained")
        notes = (f"{label}; {shape.agents} agents of 1 CPU in 2 agent processes; scheduler "
                 f"CPU {1e6 * r['cpu_s'] / shape.tasks:.0f} us/task "
                 f"({r['cpu_s']:.2f} s); {r['seconds']:.2f} s to the last FINISHED")
        common = {"hosts": shape.agents, "tasks": shape.tasks, "placed": r["finished"],
                  "seconds": r["seconds"], "notes": notes}
        rate = r["finished"] / r["seconds"]
        return [ctx.result(unit="s", rate=rate, **common),
                ctx.result(unit="tasks/s", rate=rate, **common),
                ctx.result(unit="cpu-s/task", rate=r["cpu_s"] / shape.tasks, **common)]
