"""The crash test: SIGKILL the scheduler at random moments while jobs are being created, restart
it every time, and check that nothing acknowledged was lost.

    python -m aurora.scheduler.crashtest --tasks 100000 --kills 20

A client creates jobs through the real Thrift API (TBinary over HTTP, as Aurora's client does)
while the scheduler runs on the sim backend. At random moments the scheduler is killed with
SIGKILL and started again on the same data dir. At the end it is stopped cleanly and the data
dir is checked offline:

* every job whose createJob was answered OK exists, and every instance of every job has exactly
  one active task;
* no task id was ever used twice: in the whole log, an id is created once and never comes back
  after its deletion;
* the materialised state equals what replaying the log (from the oldest snapshot) gives.

Exit status 0 when every check holds; the failures are printed otherwise.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

from aurora.api import codec
from aurora.api.convert import JobConfiguration, job_configuration_to_thrift
from aurora.model.jobkey import JobKey
from aurora.model.resources import Resources
from aurora.model.status import ACTIVE_STATES
from aurora.model.task import ExecutorConfig, Identity, TaskConfig
from aurora.scheduler.records import DeleteTasks, SaveTasks, TaskRecord
from aurora.scheduler.storage import Storage, materialised_state, replay

ACTIVE = frozenset(int(s) for s in ACTIVE_STATES)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    def __init__(self, data: Path, hosts: int, log: Path) -> None:
        self.data, self.hosts, self.log = data, hosts, log
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "aurora.scheduler.main", "--cluster", "crash",
                 "--data-dir", str(self.data), "--http-port", str(self.port), "--backend",
                 "sim", "--sim-hosts", str(self.hosts), "--log-format", "text"],
                stdout=out, stderr=out)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"scheduler exited with {self.proc.returncode}; see {self.log}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health",
                                            timeout=2):
                    return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("scheduler did not come up within 60 s")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=120)


def create_job(port: int, name: str, instances: int) -> bool:
    """createJob through /api in TBinary; True when the job is known to be durable: answered
    OK, or "already exists" for a retry whose first attempt committed before the kill."""
    key = JobKey("crash", "prod", name)
    config = TaskConfig(job=key, owner=Identity("crash"), resources=Resources(0.1, 16, 16),
                        is_service=True,
                        executor_config=ExecutorConfig("AuroraExecutor", '{"processes": []}'))
    description = job_configuration_to_thrift(JobConfiguration(task_config=config,
                                                                instance_count=instances))
    body = codec.encode_call("createJob", {"description": description}, 1, "binary")
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api", data=body, headers={
        "Content-Type": codec.BINARY_CONTENT_TYPE, "Accept": codec.BINARY_CONTENT_TYPE})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            reply = codec.decode_reply(r.read(), "createJob", "binary")
    except (OSError, urllib.error.URLError, codec.ApiCodecError):
        return False  # killed mid-call: not acknowledged
    response = reply
    if response.responseCode == codec.ResponseCode.OK:
        return True
    return any("already exists" in (d.message or "") for d in response.details or ())


def check(data: Path, acknowledged: dict[str, int]) -> list[str]:
    problems: list[str] = []
    with Storage(data) as st:
        snaps = st.snapshots()
        base_seq = int(snaps[0].name) if snaps else 0
        base = materialised_state(snaps[0]) if snaps else {
            "tasks": {}, "configs": {}, "jobs": {}, "hosts": {}, "quotas": {}, "meta": {}}
        rebuilt = replay(base, st.log(base_seq), base_seq)
        log_ops = [(t.seq, op) for t in st.log(base_seq) for op in t.ops]
        tasks = list(st.tasks())
    live = materialised_state(data / "db")
    if rebuilt != live:
        diff = [f for f in live if rebuilt.get(f) != live[f]]
        problems.append(f"replaying the log does not give the stored state (families {diff})")
    created: Counter[str] = Counter()
    deleted: set[str] = set()
    for seq, op in log_ops:
        if isinstance(op, SaveTasks):
            for t in op.tasks:
                tid = t.id if isinstance(t, TaskRecord) else t[0]
                if tid in deleted:
                    problems.append(f"task id {tid} came back at transaction {seq}")
        if isinstance(op, DeleteTasks):
            deleted.update(op.ids)
    for t in tasks:
        created[t.id] += 1
    active: Counter[tuple[str, int]] = Counter()
    for t in tasks:
        if t.status in ACTIVE:
            active[(t.job, t.instance)] += 1
    for name, count in acknowledged.items():
        job = f"crash/prod/{name}"
        for i in range(count):
            n = active.get((job, i), 0)
            if n != 1:
                problems.append(f"{job} instance {i} has {n} active tasks")
    for (job, inst), n in active.items():
        if n > 1:
            problems.append(f"{job} instance {inst} has {n} active tasks")
    return problems[:50]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="crash-test", description=__doc__.split("\n")[0])
    p.add_argument("--tasks", type=int, default=100_000)
    p.add_argument("--per-job", type=int, default=1000)
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--hosts", type=int, default=2000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--keep", action="store_true", help="keep the data dir")
    args = p.parse_args(argv)
    rng = random.Random(args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="aurora-crash-"))
    daemon = Daemon(workdir / "data", args.hosts, workdir / "scheduler.log")
    acknowledged: dict[str, int] = {}
    jobs = (args.tasks + args.per_job - 1) // args.per_job
    kill_points = sorted(rng.sample(range(jobs * 3), min(args.kills, jobs * 3)))
    t0 = time.time()
    try:
        return _run(args, rng, workdir, daemon, acknowledged, jobs, kill_points, t0)
    finally:  # whatever happened, leave no scheduler behind
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait()


def _run(args: argparse.Namespace, rng: random.Random, workdir: Path, daemon: Daemon,
         acknowledged: dict[str, int], jobs: int, kill_points: list[int], t0: float) -> int:
    daemon.start()
    kills, step, j = 0, 0, 0
    while j < jobs or kills < args.kills:
        step += 1
        if kill_points and step >= kill_points[0]:
            kill_points.pop(0)
            time.sleep(rng.uniform(0, 0.3))  # land the kill at a random moment
            daemon.kill9()
            kills += 1
            daemon.start()
            continue
        if j < jobs:
            name = f"job{j:05d}"
            if create_job(daemon.port, name, min(args.per_job, args.tasks - j * args.per_job)):
                acknowledged[name] = min(args.per_job, args.tasks - j * args.per_job)
                j += 1
            elif daemon.proc is not None and daemon.proc.poll() is not None:
                daemon.start()
        else:
            time.sleep(0.05)
    time.sleep(2)  # let the last placements and updates land
    code = daemon.stop()
    problems = check(daemon.data, acknowledged) if code == 0 else [f"stop exited {code}"]
    summary = {"tasks": sum(acknowledged.values()), "jobs": len(acknowledged),
               "kills": kills, "starts": daemon.starts, "seconds": round(time.time() - t0, 1),
               "problems": len(problems)}
    print(json.dumps(summary))
    for line in problems:
        print("PROBLEM:", line)
    if not args.keep and not problems:
        subprocess.run(["rm", "-rf", str(workdir)], check=False)
    else:
        print(f"data kept in {workdir}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
