"""The `machine` object of a bench report: what the figures were measured on."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import msgspec

CHECKOUT = Path(__file__).resolve().parent.parent


class Machine(msgspec.Struct):
    """{"cpu": str, "cores": int, "python": str, "commit": str, "date": str}."""

    cpu: str
    cores: int
    python: str
    commit: str
    date: str


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU model name from /proc/cpuinfo; platform's guess (or "unknown") elsewhere."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        # x86 says "model name"; some ARM kernels say "Model" or "Processor" or "cpu model".
        if sep and key.strip().lower() in ("model name", "cpu model", "model", "processor"):
            value = value.strip()
            if value and not value.isdigit():
                return value
    return platform.processor() or platform.machine() or "unknown"


def git_commit(checkout: Path = CHECKOUT) -> str:
    """Short hash of HEAD, plus "-dirty" when the tree has changes; "unknown" outside git."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(checkout), *args],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    head = git("rev-parse", "--short", "HEAD")
    if not head:
        return "unknown"
    status = git("status", "--porcelain", "--untracked-files=no")
    return f"{head}-dirty" if status else head


def utc_now() -> str:
    """ISO 8601 in UTC to the second, e.g. "2025-01-31T12:00:00Z"."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe() -> Machine:
    """The machine this process runs on, now."""
    return Machine(
        cpu=cpu_model(),
        cores=os.cpu_count() or 1,
        python=platform.python_version(),
        commit=git_commit(),
        date=utc_now(),
    )
