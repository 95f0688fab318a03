"""Nothing is lost when a process dies: the agent (SIGKILL, then restart), the agent for good,
and the scheduler (SIGKILL while updates are in flight)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from local_harness import LocalCluster, alive, running, wait_for

RES = "resources = Resources(cpu = 0.25, ram = 32*MB, disk = 32*MB)"




def _executor_pid(cluster: LocalCluster, task_id: str) -> int:
    return int((cluster.task_dir(task_id) / "executor.pid").read_text())


def test_agent_sigkill_then_restart_reattaches_without_duplicates(tmp_path: Path) -> None:
    with running(tmp_path, agents=1, agent_timeout=10) as c:
        svc = c.create("svc", f"""
            task = Task(name = 'svc', processes = [Process(name = 'p', cmdline = 'sleep 600')],
                        {RES})
            """, instances=2, service=True)
        batch = c.create("batch", f"""
            task = Task(name = 'b', processes = [Process(name = 'p', cmdline = 'sleep 2')],
                        {RES})
            """)
        doomed = c.create("doomed", f"""
            task = Task(name = 'd', processes = [Process(name = 'p', cmdline = 'sleep 600')],
                        {RES})
            """)
        live = c.wait_tasks(svc, lambda ts: [t["status"] for t in ts] == ["RUNNING"] * 2)
        c.wait_tasks(batch, lambda ts: ts and ts[0]["status"] == "RUNNING")
        lost = c.wait_tasks(doomed, lambda ts: ts and ts[0]["status"] == "RUNNING")
        pids = {t["task_id"]: _executor_pid(c, t["task_id"]) for t in live}

        c.kill_agent(signal.SIGKILL)
        assert all(alive(pid) for pid in pids.values())  # tasks outlive their agent
        os.kill(_executor_pid(c, lost[0]["task_id"]), signal.SIGKILL)  # dies meanwhile
        time.sleep(2.2)  # the batch task finishes while no agent listens
        c.start_agent()

        c.wait_tasks(batch, lambda ts: ts[0]["status"] == "FINISHED", 15)
        c.wait_tasks(doomed, lambda ts: ts[0]["status"] == "LOST", 15)
        after = c.tasks(svc)
        assert sorted(t["task_id"] for t in after) == sorted(pids)  # the same tasks, no new
        assert [t["status"] for t in after] == ["RUNNING"] * 2
        assert all(alive(pid) for pid in pids.values())  # not started twice
        state = wait_for(lambda: c.agent_state().get("pid") == c.agent.pid and c.agent_state(), 5,
                         "the new agent's state file")  # type: ignore[union-attr]
        assert state["counters"]["reattached"] == 2
        assert state["counters"]["launched"] == 0  # the new agent process started nothing
        c.kill_job(svc)  # the re-attached executors still obey
        c.wait_tasks(svc, lambda ts: [t["status"] for t in ts] == ["KILLED"] * 2, 15)
        wait_for(lambda: not any(alive(p) for p in pids.values()), 10, "executors to exit")


def test_agent_gone_for_good_makes_its_tasks_lost(tmp_path: Path) -> None:
    with running(tmp_path, agents=1, agent_timeout=1.0) as c:
        svc = c.create("svc", f"""
            task = Task(name = 'svc', processes = [Process(name = 'p', cmdline = 'sleep 600')],
                        {RES})
            """, service=True)
        c.wait_tasks(svc, lambda ts: ts and ts[0]["status"] == "RUNNING")
        c.kill_agent(signal.SIGKILL)
        tasks = c.wait_tasks(svc, lambda ts: any(t["status"] == "LOST" for t in ts), 15,
                             "the task to be LOST")
        lost = next(t for t in tasks if t["status"] == "LOST")
        assert "agent" in lost["events"][-1]["message"].lower()
        # replaced: a new attempt waits for an agent
        c.wait_tasks(svc, lambda ts: len(ts) == 2, 10, "a replacement")
        assert c.vars()["agents_connected"] == 0


def test_scheduler_restart_loses_no_status_update(tmp_path: Path) -> None:
    with running(tmp_path, agents=2) as c:
        n = 12
        job = c.create("burst", f"""
            task = Task(name = 'b', processes = [Process(name = 'p', cmdline = 'sleep 1')],
                        {RES})
            """, instances=n)
        c.wait_tasks(job, lambda ts: len(ts) == n and all(t["status"] != "PENDING" for t in ts),
                     20, "every task launched")
        c.kill_scheduler(signal.SIGKILL)  # updates keep coming: STARTING, RUNNING, FINISHED
        time.sleep(2.0)
        state = wait_for(c.agent_state, 5, "the agent's state file")
        waiting = sum(a["unacked"] for a in state["agents"].values())
        assert waiting > 0  # reported while the scheduler was down, kept by the agents
        c.start_scheduler()
        tasks = c.wait_tasks(job, lambda ts: len(ts) == n and
                             all(t["status"] == "FINISHED" for t in ts), 30, "all FINISHED")
        for t in tasks:  # every update the executors sent arrived exactly once
            seen = [e["status"] for e in t["events"]]
            assert seen == ["PENDING", "ASSIGNED", "STARTING", "RUNNING", "FINISHED"], seen

        def all_acked() -> bool:
            agents = c.agent_state()["agents"].values()
            return all(a["unacked"] == 0 for a in agents)

        wait_for(all_acked, 10, "every sequence number acknowledged")
        agents = c.agent_state()["agents"].values()
        # 3 updates per task, numbered without gaps, all acknowledged after persistence
        assert sum(a["next_seq"] - 1 for a in agents) >= 3 * n


def test_a_burst_of_launches_starts_a_few_executors_at_a_time(tmp_path: Path) -> None:
    """--max-starting 1: the rest of a burst waits in the agent, then runs; a waiting task that
    is killed never starts."""
    with running(tmp_path, agents=1, cpus=50, agent_timeout=10,
                 agent_args=("--max-starting", "1")) as c:
        burst = c.create("burst", f"""
            task = Task(name = 'b', processes = [Process(name = 'p', cmdline = 'sleep 0.2')],
                        {RES})
            """, instances=6)
        c.wait_tasks(burst, lambda ts: len(ts) == 6 and all(t["status"] == "FINISHED"
                                                            for t in ts), 30, "all FINISHED")
        svc = c.create("svc", f"""
            task = Task(name = 's', processes = [Process(name = 'p', cmdline = 'sleep 600')],
                        {RES})
            """, instances=1, service=True, job_extra=""", health_check_config = HealthCheckConfig(
                health_checker = HealthCheckerConfig(
                  shell = ShellHealthChecker(shell_command = 'sleep 30')),
                initial_interval_secs = 30)""")
        c.wait_tasks(svc, lambda ts: ts and ts[0]["status"] == "STARTING", 20)
        late = c.create("late", f"""
            task = Task(name = 'l', processes = [Process(name = 'p', cmdline = 'touch ran')],
                        {RES})
            """)
        time.sleep(1.0)  # launched, waiting behind the STARTING service
        assert c.tasks(late)[0]["status"] == "ASSIGNED"
        assert wait_for(lambda: c.agent_state().get("queued") == 1, 5, "one queued launch")
        c.kill_job(late)
        tasks = c.wait_tasks(late, lambda ts: ts[0]["status"] == "KILLED", 15)
        assert not (c.task_dir(tasks[0]["task_id"]) / "sandbox" / "ran").exists()
        c.kill_job(svc)
