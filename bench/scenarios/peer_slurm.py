"""Scenario 15, `peer-slurm` (opt-in, needs root): `one-off-real`'s workload on Slurm.

Debian's Slurm (slurmctld, slurmd, slurm-client, munge; installed with apt-get when missing, the
packages' services kept from starting by policy-rc.d) is set up by `bench.slurm.SlurmCluster` in
a temp dir on 127.0.0.1: its own munged (own key and socket), one slurmctld and 1,000 emulated
nodes, one `slurmd -D -N nXXXX` process each, every one with `NodeAddr=127.0.0.1`, its own port,
spool dir, pid and log file, 1 CPU, and `Features=zoneA` (n0001-n0500) or `zoneB` (n0501-n1000).
Debian's 22.05 build runs several slurmds per host (`-N`), so no stand-in was needed. slurm.conf
declares the nodes as one NodeName line per zone (`NodeName=n[0001-0500] Port=[p-q] ...`): with
one line per node, Slurm spent about twice the CPU per task here (28 against 57 tasks/s on 3,000
tasks), so a competent admin would write the ranges.

Two runs, each one job array of 10,000 tasks: `sbatch --array=1-10000 --wrap true` (output to
/dev/null), then the same with `--constraint=zoneA` (500 nodes). Figures per run, as for
`one-off-real`:

* seconds from submission to the last task finished, from slurmctld's log (SlurmctldDebug=info,
  LogTimeFormat=iso8601_ms): the `_slurm_rpc_submit_batch_job: JobId=<J>` line to the last
  `_job_complete: JobId=<J>_<i>(<id>) done` line (see `bench.slurm.ArrayLog`); the log is tailed
  as a file, so waiting for the end sends slurmctld no RPCs;
* tasks/s: tasks finished / those seconds;
* slurmctld's own CPU seconds per task: utime+stime from /proc/<pid>/stat just before sbatch and
  once the last `done` line is seen (polled every 0.25 s), over the tasks finished.

Checked: every task has a `done` line (else the run fails after STALL_S without progress);
non-zero exit statuses (`WEXITSTATUS`) are counted in the notes; in the constrained run every
placement (`sched: Allocate` / `sched/backfill: _start_job: Started` lines) is on a zoneA node.
The throughput settings (bench/slurm.py SCHEDULER_PARAMETERS and slurm_conf) follow Slurm's High
Throughput Computing guide: `defer` plus `max_rpc_cnt=150` (without them the controller sat at
256 pending RPCs and ran 25 instead of 28 tasks/s), a main scheduling pass every second
(sched_interval=1) taking the whole queue (default_queue_depth, sched_max_job_start=0), no
accounting, jobacct_gather/none, MinJobAge=5, MaxJobCount/MaxArraySize raised, MessageTimeout=60.
The machine is CPU-bound: at 1,000 nodes the whole system spent about 35 ms CPU per task
(slurmd + slurmstepd + the job), 2 cores' worth; scheduler settings barely move it. With few
nodes (--quick: 50) the once-a-second pass caps the rate at about one task per node per second.

Everything started is stopped by PID at the end (also on error or ^C), then any process still
carrying the cluster's marker in its environment, and the temp dir is removed.

Slurm does not depend on our implementation: the scenario says so (``impls``) and the harness
runs it once, under the first implementation asked for. Rows are impl "c-reference".

Side by side: Slurm's figures are printed beside `one-off-real`'s (non-quick rows, k-th row of
each unit paired with Slurm's k-th run) read from bench/results/latest.json or the file named by
AURORA_BENCH_PEER_RESULTS; when there are none, Slurm's alone, saying so.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench import slurm
from bench.machine import CHECKOUT
from bench.registry import RunContext, Scenario, register
from bench.report import format_figure
from bench.result import Result, ResultError, read_report

FULL = (1_000, 10_000)  # nodes, tasks
QUICK = (50, 500)
RUNS = (("unconstrained", ""), ("zone a", "zoneA"))
OURS = "one-off-real"
RESULTS_ENV = "AURORA_BENCH_PEER_RESULTS"
DEFAULT_RESULTS = CHECKOUT / "bench" / "results" / "latest.json"
UNITS = ("s", "tasks/s", "cpu-s/task")
STALL_S = 300.0  # no task finished for this long: give up


@dataclass(frozen=True)
class Measured:
    label: str
    tasks: int
    done: int
    failed: int
    seconds: float
    cpu: float  # slurmctld's CPU seconds over the run


def measure(cluster: slurm.SlurmCluster, tasks: int, feature: str, ctx: RunContext,
            span: tuple[float, float], label: str) -> Measured:
    """One job array of TASKS `true` tasks (constrained to FEATURE if set), to its last task."""
    assert cluster.layout is not None and cluster.ctld is not None
    cluster.wait_idle(timeout=300)
    logfile = cluster.layout.ctld_log
    offset = logfile.stat().st_size
    cpu0 = slurm.cpu_seconds(cluster.ctld.pid)
    args = ["sbatch", "--parsable", f"--array=1-{tasks}", "--job-name=bench",
            "--output=/dev/null", "--error=/dev/null"]
    if feature:
        args.append(f"--constraint={feature}")
    out = cluster.run(*args, "--wrap", "true")
    log = slurm.ArrayLog(int(out.strip().split(";")[0]))
    last_progress = time.monotonic()
    with logfile.open() as f:
        f.seek(offset)
        pending = ""
        while len(log.done) < tasks:
            chunk = f.read()
            if chunk:
                lines = (pending + chunk).split("\n")
                pending = lines.pop()
                before = len(log.done)
                log.feed_all(lines)
                if len(log.done) > before:
                    last_progress = time.monotonic()
                    lo, hi = span
                    ctx.progress(lo + (hi - lo) * len(log.done) / tasks,
                                 f"{label}: {len(log.done):,}/{tasks:,} done")
                    continue
            if cluster.ctld.poll() is not None:
                raise slurm.SlurmError(f"slurmctld exited ({cluster.ctld.returncode}) mid-run")
            if time.monotonic() - last_progress > STALL_S:
                held = sorted(log.requeued - log.done)
                raise slurm.SlurmError(
                    f"{label}: no task finished for {STALL_S:.0f} s ({len(log.done):,}/"
                    f"{tasks:,} done; {len(held)} launch(es) failed, requeued held by Slurm: "
                    f"{held[:5]}); was the machine overloaded?")
            time.sleep(0.25)
    cpu = slurm.cpu_seconds(cluster.ctld.pid) - cpu0
    if feature:
        wrong = sorted(n for n in log.nodes
                       if slurm.zone_feature(int(n[1:]), cluster.nodes) != feature)
        if wrong:
            raise slurm.SlurmError(f"{label}: tasks placed on non-{feature} nodes {wrong[:5]}")
    return Measured(label, tasks, len(log.done), len(log.failed), log.seconds, cpu)


def rows_for(ctx: RunContext, m: Measured, nodes: int, prefix: str) -> list[Result]:
    rate = m.done / m.seconds if m.seconds > 0 else 0.0
    per_task = m.cpu / m.done if m.done else 0.0
    notes = (f"{prefix}, {m.label}: submit to last done {m.seconds:.1f} s, slurmctld CPU "
             f"{m.cpu:.2f} s" + (f", {m.failed} tasks exited non-zero" if m.failed else ""))
    common = {"impl": "c-reference", "hosts": nodes, "tasks": m.tasks, "placed": m.done,
              "seconds": m.seconds, "notes": notes}
    return [ctx.result(unit="s", rate=rate, **common),
            ctx.result(unit="tasks/s", rate=rate, **common),
            ctx.result(unit="cpu-s/task", rate=per_task, **common)]


def ours_rows(path: Path) -> list[Result]:
    """one-off-real's non-quick rows in the bench report at PATH ([] if none or unreadable)."""
    try:
        report = read_report(path)
    except (OSError, ResultError):
        return []
    return [r for r in report.results if r.scenario == OURS and not r.quick]


def side_by_side(slurm_rows: list[Result], ours: list[Result]) -> Table:
    """A table: one line per (run, unit), Slurm's figure then ours per implementation."""
    impls = sorted({r.impl for r in ours}, key=lambda i: (i != "compiled", i))
    table = Table(title=f"peer-slurm: Slurm beside {OURS}", title_justify="left")
    table.add_column("run")
    table.add_column("unit")
    table.add_column("Slurm", justify="right")
    for impl in impls:
        table.add_column(f"ours ({impl})", justify="right")
    mine = {unit: [r for r in slurm_rows if r.unit == unit] for unit in UNITS}
    theirs = {(unit, i): [r for r in ours if r.unit == unit and r.impl == i]
              for unit in UNITS for i in impls}
    for k in range(max(len(rows) for rows in mine.values())):
        for unit in UNITS:
            if k >= len(mine[unit]):
                continue
            cells = [format_figure(theirs[unit, i][k].figure) if k < len(theirs[unit, i])
                     else "-" for i in impls]
            table.add_row(RUNS[k][0] if k < len(RUNS) else str(k), unit,
                          format_figure(mine[unit][k].figure), *cells)
    return table


def show(rows: list[Result]) -> None:
    source = Path(os.environ.get(RESULTS_ENV, "") or DEFAULT_RESULTS)
    console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 140)
    ours = ours_rows(source)
    console.print(side_by_side(rows, ours))
    console.print(source_note(ours, source), highlight=False, markup=False)


def source_note(ours: list[Result], source: Path) -> str:
    if ours:
        return f"ours: {OURS} rows (quick=false) from {source}"
    return f"ours: no {OURS} rows (quick=false) in {source}; Slurm's figures alone"


@register
class PeerSlurmScenario(Scenario):
    name = "peer-slurm"
    description = ("one-off-real's 10,000 `true` tasks on 1,000 nodes run by Debian's Slurm "
                   "(1,000 slurmd -N on 127.0.0.1, one job array); needs root")
    anchor = "Slurm ran 10,000 such tasks at 43-55 tasks/s, slurmctld 3.2-3.9 ms CPU per task"
    opt_in = True
    impls = ("compiled",)  # Slurm does not depend on our implementation: measured once

    def run(self, ctx: RunContext) -> list[Result]:
        nodes, tasks = QUICK if ctx.quick else FULL
        ctx.progress(0.0, "install check")
        slurm.ensure_installed()
        ver = slurm.version()
        rows: list[Result] = []
        with slurm.SlurmCluster(nodes, lambda f, label: ctx.progress(0.3 * f, label)) as cluster:
            prefix = (f"Slurm {ver} (Debian slurm-wlm), {nodes:,} slurmd -N on 127.0.0.1 "
                      f"(daemons' PSS {cluster.pss_mb() / 1024:.1f} GB), one sbatch --array")
            for k, (label, feature) in enumerate(RUNS):
                span = (0.3 + 0.35 * k, 0.3 + 0.35 * (k + 1))
                m = measure(cluster, tasks, feature, ctx, span, label)
                rows += rows_for(ctx, m, nodes, prefix)
        ctx.progress(1.0, "done")
        show(rows)
        return rows

