"""The pure parts of the `peer-slurm` bench scenario: slurm.conf, the log reader, /proc/stat,
and the side-by-side table. Nothing here needs Slurm installed."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from bench import slurm
from bench.machine import describe
from bench.registry import RunContext
from bench.result import Report, Result, write_report
from bench.scenarios import peer_slurm


def layout(nodes: int = 4) -> slurm.Layout:
    return slurm.Layout(Path("/tmp/x"), nodes, ctld_port=20000, node_port0=20001, hostname="h")


def conf_lines(nodes: int = 4) -> list[str]:
    return slurm.slurm_conf(layout(nodes)).splitlines()


def test_conf_one_node_line_per_zone_with_a_port_per_node() -> None:
    nodes = [line for line in conf_lines(4) if line.startswith("NodeName=")]
    assert nodes == [
        "NodeName=n[0001-0002] NodeAddr=127.0.0.1 NodeHostname=127.0.0.1 Port=[20001-20002] "
        "CPUs=1 RealMemory=100 Features=zoneA State=UNKNOWN",
        "NodeName=n[0003-0004] NodeAddr=127.0.0.1 NodeHostname=127.0.0.1 Port=[20003-20004] "
        "CPUs=1 RealMemory=100 Features=zoneB State=UNKNOWN",
    ]
    one = [line for line in conf_lines(1) if line.startswith("NodeName=")]
    assert one == [line.replace("0003-0004", "0001-0001").replace("20003-20004", "20001-20001")
                   for line in nodes[1:]]


def test_conf_settings() -> None:
    conf = dict(line.split("=", 1) for line in conf_lines() if "=" in line
                and not line.startswith(("#", "NodeName=", "PartitionName=")))
    assert conf["SlurmctldHost"] == "h(127.0.0.1)"
    assert conf["SlurmctldPort"] == "20000"
    assert conf["AuthInfo"] == "socket=/tmp/x/munge/munge.socket"
    assert conf["SlurmdSpoolDir"] == "/tmp/x/spool/%n"
    assert conf["SlurmdPidFile"] == "/tmp/x/run/slurmd-%n.pid"
    assert conf["StateSaveLocation"] == "/tmp/x/state"
    assert conf["ProctrackType"] == "proctrack/linuxproc"
    assert conf["TaskPlugin"] == "task/none"
    assert conf["AccountingStorageType"] == "accounting_storage/none"
    assert conf["SlurmctldDebug"] == "info"  # the log lines read are info-level
    assert conf["LogTimeFormat"] == "iso8601_ms"
    assert int(conf["MaxArraySize"]) > 10_000
    assert int(conf["MaxJobCount"]) > 10_000
    assert conf["SchedulerParameters"].split(",") == list(slurm.SCHEDULER_PARAMETERS)
    assert conf_lines()[-1].startswith("PartitionName=bench Nodes=ALL Default=YES")


def test_zones_split_half_and_half() -> None:
    zones = [slurm.zone_feature(i, 1000) for i in range(1, 1001)]
    assert zones.count("zoneA") == zones.count("zoneB") == 500
    assert zones[499] == "zoneA" and zones[500] == "zoneB"


LOG = """\
[2026-11-25T00:39:00.500] _slurm_rpc_submit_batch_job: JobId=7 InitPrio=4294901759 usec=700
[2026-11-25T00:39:00.600] _slurm_rpc_submit_batch_job: JobId=8 InitPrio=4294901759 usec=700
[2026-11-25T00:39:01.816] sched: Allocate JobId=7_1(8) NodeList=n0001 #CPUs=1 Partition=bench
[2026-11-25T00:39:01.817] sched/backfill: _start_job: Started JobId=7_2(9) in bench on n0003
[2026-11-25T00:39:01.838] _job_complete: JobId=7_1(8) WEXITSTATUS 0
[2026-11-25T00:39:01.839] _job_complete: JobId=7_1(8) done
[2026-11-25T00:39:02.000] _job_complete: JobId=8_1(20) done
[2026-11-25T00:39:02.100] _job_complete: JobId=7_2(9) WEXITSTATUS 3
[2026-11-25T00:39:02.750] _job_complete: JobId=7_2(9) done
[2026-11-25T00:39:02.800] Requeuing JobId=7_3(10)
[2026-11-25T00:39:02.801] Requeuing JobId=8_3(22)
not a log line
[2026-11-25T00:39:02.900] Terminate signal (SIGINT or SIGTERM) received
"""


def test_array_log_reads_submit_last_done_and_failures() -> None:
    log = slurm.ArrayLog(7).feed_all(LOG.splitlines())
    assert log.done == {1, 2}
    assert log.failed == {2}
    assert log.nodes == {"n0001", "n0003"}
    assert log.requeued == {3}
    assert log.seconds == pytest.approx(2.25)


def test_array_log_without_completion_is_an_error() -> None:
    log = slurm.ArrayLog(9).feed_all(LOG.splitlines())
    with pytest.raises(slurm.SlurmError):
        _ = log.seconds


def test_proc_cpu_seconds_handles_spaces_in_comm() -> None:
    fields = ["S", *["0"] * 10, "250", "150", *["0"] * 30]  # field 3 on; utime, stime = 14, 15
    stat = "123 (slurm ctld (x)) " + " ".join(fields)
    assert slurm.proc_cpu_seconds(stat, 100) == pytest.approx(4.0)


def test_cpu_seconds_of_this_process() -> None:
    import os

    assert slurm.cpu_seconds(os.getpid()) > 0


def measured(label: str, seconds: float) -> peer_slurm.Measured:
    return peer_slurm.Measured(label, 10_000, 10_000, 0, seconds, cpu=35.0)


def slurm_rows() -> list[Result]:
    ctx = RunContext(impl="compiled", quick=False, scenario="peer-slurm")
    return [*peer_slurm.rows_for(ctx, measured("unconstrained", 200.0), 1000, "Slurm 22.05.8"),
            *peer_slurm.rows_for(ctx, measured("zone a", 250.0), 1000, "Slurm 22.05.8")]


def test_rows() -> None:
    rows = slurm_rows()
    assert [(r.unit, r.impl) for r in rows[:3]] == [
        ("s", "c-reference"), ("tasks/s", "c-reference"), ("cpu-s/task", "c-reference")]
    assert [r.figure for r in rows] == pytest.approx([200.0, 50.0, 0.0035, 250.0, 40.0, 0.0035])
    assert all(r.notes.startswith("Slurm 22.05.8") and r.placed == 10_000 for r in rows)


def render(table: object) -> str:
    out = io.StringIO()
    Console(file=out, width=200).print(table)
    return out.getvalue()


def test_side_by_side_with_and_without_ours(tmp_path: Path) -> None:
    path = tmp_path / "latest.json"
    ours = [Result(scenario="one-off-real", impl=impl, hosts=1000, tasks=10_000,
                   placed=10_000, seconds=s, rate=10_000 / s, unit="tasks/s", quick=False)
            for impl, s in (("compiled", 20.0), ("pure", 40.0), ("compiled", 25.0))]
    quick = Result(scenario="one-off-real", impl="compiled", hosts=10, tasks=10, placed=10,
                   seconds=1.0, rate=10.0, unit="tasks/s", quick=True)
    write_report(path, Report(machine=describe(), results=[*ours, quick]))
    assert peer_slurm.ours_rows(path) == ours
    text = render(peer_slurm.side_by_side(slurm_rows(), ours))
    assert "ours (compiled)" in text and "ours (pure)" in text
    line = next(x for x in text.splitlines() if "zone a" in x and "tasks/s" in x)
    assert "│     40 │" in line and "400.0" in line and line.rstrip("│ ").endswith("-")
    alone = render(peer_slurm.side_by_side(slurm_rows(), []))
    assert "ours (" not in alone and "zone a" in alone
    assert "no one-off-real rows" in peer_slurm.source_note([], tmp_path / "none.json")
    assert str(path) in peer_slurm.source_note(ours, path)
    assert peer_slurm.ours_rows(tmp_path / "none.json") == []


def test_the_peer_runs_once_whatever_implementations_are_asked() -> None:
    from bench.cli import plan_impls

    scenario = peer_slurm.PeerSlurmScenario()
    assert plan_impls(scenario, ["compiled", "pure"]) == ["compiled"]
    assert plan_impls(scenario, ["pure"]) == ["pure"]  # runs once, under what was asked
