"""Process stdout/stderr: where it goes and how it is rotated.

Thermos' logger settings per process (``Logger(destination, mode, rotate)``), with executor-wide
defaults for processes that set none (Aurora's ``--process_logger_destination``,
``--process_logger_mode``, ``--rotate_log_size_mb``, ``--rotate_log_backups``):

* destination ``file`` (the default): ``<log_dir>/<process>/<run>/stdout|stderr``;
  ``console``: the runner's own stdout/stderr; ``both``: both; ``none``: discarded.
* mode ``standard``: the process writes straight into the files (no copying, nothing to rotate);
  ``rotate``: the process's coordinator copies its output into the files and rotates each one
  when it reaches ``log_size`` bytes, keeping ``backups`` old files (``stdout.1`` the newest).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from aurora.executor.config import LoggerConfig

__all__ = ["LogSettings", "RotatingFile", "log_settings", "read_tail"]

MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class LogSettings:
    destination: str = "file"  # file | console | both | none
    mode: str = "standard"  # standard | rotate
    max_bytes: int = 100 * MB
    backups: int = 5

    @property
    def direct(self) -> bool:
        """True when the process can write its output files itself (nothing to copy)."""
        return self.destination == "file" and self.mode == "standard"

    @property
    def to_file(self) -> bool:
        return self.destination in ("file", "both")

    @property
    def to_console(self) -> bool:
        return self.destination in ("console", "both")


def log_settings(logger: LoggerConfig | None, default: LogSettings) -> LogSettings:
    """A process's effective log settings (its own logger, else the executor default)."""
    if logger is None:
        return default
    settings = LogSettings(destination=logger.destination, mode=logger.mode)
    if logger.mode == "rotate":
        rotate = logger.rotate
        settings = LogSettings(
            destination=logger.destination,
            mode="rotate",
            max_bytes=rotate.log_size if rotate else default.max_bytes,
            backups=rotate.backups if rotate else default.backups,
        )
    if settings.mode == "rotate" and (settings.max_bytes <= 0 or settings.backups <= 0):
        raise ValueError("log rotation needs log_size >= 1 byte and backups >= 1")
    return settings


class RotatingFile:
    """Append-only file that rolls over to ``path.1 .. path.N`` at ``max_bytes``."""

    def __init__(self, path: str, max_bytes: int, backups: int) -> None:
        self.path = path
        self._max = max_bytes
        self._backups = backups
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self._fd = self._open()
        self._size = os.fstat(self._fd).st_size

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            room = self._max - self._size if self._max > 0 else len(view)
            chunk = view[: max(room, 1)]
            written = os.write(self._fd, chunk)
            self._size += written
            view = view[written:]
            if self._max > 0 and self._size >= self._max:
                self._rollover()

    def _rollover(self) -> None:
        os.close(self._fd)
        for index in range(self._backups - 1, 0, -1):
            src = f"{self.path}.{index}"
            if os.path.exists(src):
                os.replace(src, f"{self.path}.{index + 1}")
        os.replace(self.path, f"{self.path}.1")
        self._fd = self._open()
        self._size = 0

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_tail(path: str, size: int = 4096) -> bytes:
    """The last ``size`` bytes of ``path`` (b"" if it does not exist)."""
    try:
        with open(path, "rb") as fp:
            fp.seek(0, os.SEEK_END)
            end = fp.tell()
            fp.seek(max(0, end - size))
            return fp.read()
    except OSError:
        return b""
