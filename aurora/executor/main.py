"""``aurora-executor``: run one task in a sandbox to completion, printing its status updates.

    aurora-executor --sandbox DIR --task-json FILE --task-id ID [--instance N] [--hostname H]
                    [--port NAME:NUMBER ...] [--checkpoint-root DIR] [--log-dir DIR]
                    [--fsync always|task|never] [--kill-wait SECS] [--preserve-env]
                    [--process-logger-destination file|console|both|none]
                    [--process-logger-mode standard|rotate]
                    [--rotate-log-size-mb MB] [--rotate-log-backups N]
    aurora-executor --recover --checkpoint-root DIR   (or --sandbox DIR for <sandbox>/.thermos)

``--task-json`` holds ``executorConfig.data`` (a MesosJob as Aurora's client sends it) or a bare
Thermos task. Each status update is printed on stdout as one JSON line. SIGTERM/SIGINT start the
kill sequence, SIGUSR2 kills at once and reports LOST. The exit status is 0 when the task
FINISHED, 1 otherwise (2 for bad arguments or an unrecoverable checkpoint).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from aurora.executor.checkpoint import CheckpointError
from aurora.executor.executor import ExecutorOptions, recover_task, run_task
from aurora.executor.logs import LogSettings
from aurora.executor.runner import RunnerOptions
from aurora.executor.status import StatusUpdate
from aurora.executor.task import LaunchInfo
from aurora.model.status import ScheduleStatus

__all__ = ["main"]


def _port(text: str) -> tuple[str, int]:
    name, sep, number = text.rpartition(":")
    if not sep or not name or not number.isdigit():
        raise argparse.ArgumentTypeError(f"expected NAME:NUMBER, got {text!r}")
    return name, int(number)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aurora-executor", description=__doc__.split("\n")[0])
    p.add_argument("--sandbox", help="the task's sandbox directory (its processes' cwd)")
    p.add_argument("--task-json", help="file with executorConfig.data (or a Thermos task)")
    p.add_argument("--task-id", help="the task id (default: the task name)")
    p.add_argument("--instance", type=int, default=0)
    p.add_argument("--hostname", default=None)
    p.add_argument("--port", type=_port, action="append", default=[], metavar="NAME:NUMBER")
    p.add_argument("--checkpoint-root", default=None)
    p.add_argument("--log-dir", default=None)
    p.add_argument("--recover", action="store_true", help="take over an existing checkpoint")
    p.add_argument("--fsync", choices=("always", "task", "never"), default="always")
    p.add_argument("--kill-wait", type=float, default=None,
                   help="seconds between SIGTERM and SIGKILL on a kill "
                        "(default: the task's finalization_wait)")
    p.add_argument("--preserve-env", action="store_true")
    p.add_argument("--process-logger-destination", choices=("file", "console", "both", "none"),
                   default="file")
    p.add_argument("--process-logger-mode", choices=("standard", "rotate"), default="standard")
    p.add_argument("--rotate-log-size-mb", type=int, default=100)
    p.add_argument("--rotate-log-backups", type=int, default=5)
    return p


def _print(update: StatusUpdate) -> None:
    sys.stdout.buffer.write(update.to_json() + b"\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    runner_options = RunnerOptions(
        fsync=args.fsync,
        preserve_env=args.preserve_env,
        log_defaults=LogSettings(destination=args.process_logger_destination,
                                 mode=args.process_logger_mode,
                                 max_bytes=args.rotate_log_size_mb * 1024 * 1024,
                                 backups=args.rotate_log_backups),
    )
    options = ExecutorOptions(runner=runner_options, checkpoint_root=args.checkpoint_root,
                              log_dir=args.log_dir, kill_wait=args.kill_wait,
                              install_signal_handlers=True)
    if args.recover:
        root = args.checkpoint_root or (
            os.path.join(args.sandbox, ".thermos") if args.sandbox else None)
        if root is None:
            print("aurora-executor: --recover needs --checkpoint-root or --sandbox",
                  file=sys.stderr)
            return 2
        try:
            update = recover_task(root, _print, options=options)
        except CheckpointError as e:
            print(f"aurora-executor: {e}", file=sys.stderr)
            return 2
    else:
        if not args.sandbox or not args.task_json:
            print("aurora-executor: --sandbox and --task-json are required", file=sys.stderr)
            return 2
        with open(args.task_json, "rb") as fp:
            data = fp.read()
        task_id = args.task_id or os.path.basename(os.path.abspath(args.sandbox))
        launch_fields: dict[str, object] = {"task_id": task_id, "instance": args.instance,
                                            "ports": dict(args.port)}
        if args.hostname:
            launch_fields["hostname"] = args.hostname
        launch = LaunchInfo(**launch_fields)  # type: ignore[arg-type]
        try:
            update = run_task(data, launch, args.sandbox, _print, options=options)
        except CheckpointError as e:
            print(f"aurora-executor: {e}", file=sys.stderr)
            return 2
    return 0 if update.state == ScheduleStatus.FINISHED else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
