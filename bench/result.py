"""One measured figure (`Result`) and the JSON file a bench run writes (`Report`).

The shape is fixed by /work/shared/bench-scenarios.md::

    {"machine": {"cpu": str, "cores": int, "python": str, "commit": str, "date": str},
     "results": [{"scenario": str, "impl": str, "hosts": int, "tasks": int, "placed": int,
                  "seconds": float, "rate": float, "unit": str, "quick": bool, "notes": str}]}

`impl` is one of `IMPLS`; `unit` one of `UNITS`. Units in `LOWER_IS_BETTER` are costs (smaller
is faster); all the others are rates (larger is faster). For unit "s" the figure is `seconds`; for
every other unit it is `rate` (see `Result.figure`). To add a unit, add it to `HIGHER_IS_BETTER` or
`LOWER_IS_BETTER` here: nothing else needs to change.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import msgspec

from bench.machine import Machine

COMPILED = "compiled"
PURE = "pure"
C_REFERENCE = "c-reference"
IMPLS: frozenset[str] = frozenset({COMPILED, PURE, C_REFERENCE})

HIGHER_IS_BETTER: frozenset[str] = frozenset(
    {"tasks/s", "attempts/s", "updates/s", "passes/s", "transitions/s"}
)
LOWER_IS_BETTER: frozenset[str] = frozenset({"ns/check", "s", "bytes/task", "cpu-s/task"})
UNITS: frozenset[str] = HIGHER_IS_BETTER | LOWER_IS_BETTER


class ResultError(ValueError):
    """A Result whose fields break the spec (wrong type, unknown unit or impl, NaN...)."""


def _check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ResultError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ResultError(f"{name} must be >= 0, got {value}")


def _as_figure(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ResultError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    figure = float(value)
    if not math.isfinite(figure) or figure < 0:
        raise ResultError(f"{name} must be finite and >= 0, got {figure}")
    return figure


class Result(msgspec.Struct, kw_only=True):
    """One row of the results table; validated on construction and on decoding."""

    scenario: str
    impl: str
    hosts: int
    tasks: int
    placed: int
    seconds: float
    rate: float
    unit: str
    quick: bool
    notes: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.scenario, str) or not self.scenario:
            raise ResultError(f"scenario must be a non-empty str, got {self.scenario!r}")
        if self.impl not in IMPLS:
            raise ResultError(f"impl {self.impl!r} is not one of {sorted(IMPLS)}")
        if self.unit not in UNITS:
            raise ResultError(f"unit {self.unit!r} is not one of {sorted(UNITS)}")
        for name in ("hosts", "tasks", "placed"):
            _check_count(name, getattr(self, name))
        self.seconds = _as_figure("seconds", self.seconds)
        self.rate = _as_figure("rate", self.rate)
        if not isinstance(self.quick, bool):
            raise ResultError(f"quick must be a bool, got {self.quick!r}")
        if not isinstance(self.notes, str):
            raise ResultError(f"notes must be a str, got {self.notes!r}")

    @property
    def figure(self) -> float:
        """The number this row reports: `seconds` for unit "s", `rate` otherwise."""
        return self.seconds if self.unit == "s" else self.rate

    @property
    def higher_is_better(self) -> bool:
        return self.unit in HIGHER_IS_BETTER

    def with_note(self, note: str) -> Result:
        """A copy with NOTE appended to `notes` ("; "-separated)."""
        notes = f"{self.notes}; {note}" if self.notes else note
        return msgspec.structs.replace(self, notes=notes)


class Report(msgspec.Struct):
    """The whole JSON file: the machine it ran on and every row, in run order."""

    machine: Machine
    results: list[Result]


def write_report(path: Path, report: Report) -> None:
    """Write REPORT as indented JSON to PATH (parents created; replaced atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = msgspec.json.format(msgspec.json.encode(report), indent=2) + b"\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def read_report(path: Path) -> Report:
    """Read and validate a file written by `write_report` (strict types)."""
    try:
        return msgspec.json.decode(path.read_bytes(), type=Report)
    except (msgspec.ValidationError, ResultError) as exc:
        raise ResultError(f"{path}: not a bench report: {exc}") from exc
