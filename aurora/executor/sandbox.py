"""Where a task's files live.

The sandbox is the processes' working directory (and ``HOME``). The runner's own files go under
the checkpoint root, ``<sandbox>/.thermos`` unless the agent chooses another directory:

* ``runner.ckpt``: the append-only checkpoint (:mod:`aurora.executor.checkpoint`);
* ``task.json``: the executor data as launched, so a recovering runner needs only this directory;
* ``coordinators/<process>.<run>``: each run's coordinator status stream.

Process logs go to ``<log_dir>/<process>/<run>/stdout`` and ``stderr``, ``log_dir`` defaulting to
``<sandbox>/.logs`` as in Thermos.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["SandboxLayout"]


@dataclass(frozen=True, slots=True)
class SandboxLayout:
    sandbox: str
    checkpoint_root: str
    log_dir: str

    @classmethod
    def create(
        cls, sandbox: str, checkpoint_root: str | None = None, log_dir: str | None = None
    ) -> SandboxLayout:
        sandbox = os.path.abspath(sandbox)
        return cls(
            sandbox=sandbox,
            checkpoint_root=os.path.abspath(checkpoint_root or os.path.join(sandbox, ".thermos")),
            log_dir=os.path.abspath(log_dir or os.path.join(sandbox, ".logs")),
        )

    @property
    def checkpoint_path(self) -> str:
        return os.path.join(self.checkpoint_root, "runner.ckpt")

    @property
    def task_path(self) -> str:
        return os.path.join(self.checkpoint_root, "task.json")

    def coordinator_path(self, process: str, run: int) -> str:
        return os.path.join(self.checkpoint_root, "coordinators", f"{process}.{run}")

    def process_log_dir(self, process: str, run: int) -> str:
        return os.path.join(self.log_dir, process, str(run))

    def log_path(self, process: str, run: int, stream: str) -> str:
        return os.path.join(self.process_log_dir(process, run), stream)

    def make_dirs(self) -> None:
        coordinators = os.path.join(self.checkpoint_root, "coordinators")
        for path in (self.sandbox, self.log_dir, coordinators):
            os.makedirs(path, exist_ok=True)
