"""aurora-executor: runs one Aurora task (a Thermos process graph) in its sandbox.

In-process use, e.g. by the agent after ``fork()``::

    from aurora.executor import LaunchInfo, run_task, recover_task, ExecutorOptions

    update = run_task(executor_data, LaunchInfo(task_id=..., instance=..., hostname=...,
                      ports={"http": 31000}), sandbox_dir, on_status,
                      options=ExecutorOptions(install_signal_handlers=True))
    # on_status(StatusUpdate) is called for STARTING, RUNNING and the terminal status;
    # the terminal update is also returned. SIGTERM in the child starts the kill sequence.

    update = recover_task(checkpoint_root, on_status)   # after a restart: resume the task

Modules: ``config`` (the JSON the client sends), ``task`` (binding it to the launch),
``template``, ``planner``, ``checkpoint``, ``process`` (coordinators), ``direct`` (processes
run without one, for agents' executors), ``logs``, ``runner``
(the Thermos state machine), ``health``, ``signaler``, ``lifecycle``, ``status``, ``executor``
(the loop tying them together), ``main`` (the command).
"""

from aurora.executor.checkpoint import (
    CheckpointCorrupt,
    CheckpointError,
    CheckpointLocked,
    ProcessState,
    RunnerState,
    TaskState,
    is_locked,
    replay,
)
from aurora.executor.clock import Clock, FakeClock, SystemClock
from aurora.executor.config import ConfigError, JobConfig, parse_executor_data
from aurora.executor.executor import ExecutorOptions, TaskExecution, recover_task, run_task
from aurora.executor.runner import RunnerOptions, TaskRunner
from aurora.executor.sandbox import SandboxLayout
from aurora.executor.status import StatusCallback, StatusReporter, StatusUpdate
from aurora.executor.task import InvalidTask, LaunchInfo, ResolvedTask, resolve_task
from aurora.executor.template import TemplateError

__all__ = [
    "CheckpointCorrupt",
    "CheckpointError",
    "CheckpointLocked",
    "Clock",
    "ConfigError",
    "ExecutorOptions",
    "FakeClock",
    "InvalidTask",
    "JobConfig",
    "LaunchInfo",
    "ProcessState",
    "ResolvedTask",
    "RunnerOptions",
    "RunnerState",
    "SandboxLayout",
    "StatusCallback",
    "StatusReporter",
    "StatusUpdate",
    "SystemClock",
    "TaskExecution",
    "TaskRunner",
    "TaskState",
    "TemplateError",
    "is_locked",
    "parse_executor_data",
    "recover_task",
    "replay",
    "resolve_task",
    "run_task",
]
