"""Removing finished tasks' directories (sandbox, logs, checkpoint) once they are old enough.

A task directory is collectable once its ``done`` marker (the scheduler acknowledged the task's
terminal status) is older than the delay, as a Mesos agent's ``--gc_delay``. Removal runs on a
thread (a big sandbox takes a while), the marker goes last so that a removal cut short is taken
up again, and the directories of unfinished tasks are never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import Callable, Iterable

__all__ = ["SandboxCollector", "expired_task_dirs", "remove_task_dir"]


def expired_task_dirs(tasks_dir: str, now: float, delay_s: float) -> list[str]:
    """Directories under TASKS_DIR whose ``done`` marker is older than DELAY_S seconds."""
    out: list[str] = []
    try:
        entries = os.scandir(tasks_dir)
    except OSError:
        return out
    with entries:
        for entry in entries:
            try:
                done = os.stat(os.path.join(entry.path, "done"))
            except OSError:
                continue  # not done (or not a task directory): never collected
            if now - done.st_mtime >= delay_s:
                out.append(entry.path)
    return out


def remove_task_dir(path: str) -> bool:
    """Delete a finished task's directory, its ``done`` marker last. True once it is gone."""
    done = os.path.join(path, "done")
    for entry in os.listdir(path) if os.path.isdir(path) else ():
        full = os.path.join(path, entry)
        if full == done:
            continue
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(full)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(done)
    with contextlib.suppress(FileNotFoundError):
        os.rmdir(path)
    return not os.path.exists(path)


class SandboxCollector:
    """Looks at most every ``delay / 10`` (1 s to 60 s) and removes what expired, off the
    loop; ``on_removed`` is called on the loop for each directory gone."""

    def __init__(self, delay_s: float, on_removed: Callable[[str], None]) -> None:
        self.delay_s = delay_s
        self._on_removed = on_removed
        self._next = 0.0
        self._removing: set[str] = set()

    def collect(self, loop: asyncio.AbstractEventLoop, tasks_dirs: Iterable[str],
                now: float | None = None) -> None:
        now = time.time() if now is None else now
        if self.delay_s <= 0 or now < self._next:
            return
        self._next = now + min(60.0, max(1.0, self.delay_s / 10))
        for tasks_dir in tasks_dirs:
            for path in expired_task_dirs(tasks_dir, now, self.delay_s):
                if path not in self._removing:
                    self._removing.add(path)
                    fut = loop.run_in_executor(None, remove_task_dir, path)
                    fut.add_done_callback(lambda f, path=path: self._done(path, f))

    def _done(self, path: str, fut: asyncio.Future[bool]) -> None:
        self._removing.discard(path)
        if not fut.cancelled() and fut.exception() is None and fut.result():
            self._on_removed(path)
