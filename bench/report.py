"""What a bench run shows: progress while it runs, then the results table and the ratios.

On a terminal, a rich progress bar per (scenario, impl); elsewhere (CI, a pipe) one plain line when
each starts and one when it ends. Errors go to stderr. The ratios compare implementations measured
in the same run, which is what survives a noisy shared machine.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from bench.registry import ProgressFn
from bench.result import C_REFERENCE, COMPILED, PURE, Result

PLAIN_WIDTH = 140  # rendering width for the table when stdout is not a terminal


@dataclass(frozen=True)
class Ratio:
    """How many times faster `compiled` is than `baseline` on one figure of one scenario.

    `speedup` > 1: compiled is faster; < 1: slower; None: a zero figure makes it undefined.
    For rate units it is compiled.rate / baseline.rate; for cost units ("s", "ns/check", ...)
    baseline / compiled, so the direction always reads "higher is better for compiled".
    """

    scenario: str
    unit: str
    compiled: Result
    baseline: Result
    speedup: float | None

    @property
    def same_size(self) -> bool:
        return (self.compiled.hosts, self.compiled.tasks) == (
            self.baseline.hosts,
            self.baseline.tasks,
        )


def speedup(compiled: Result, baseline: Result) -> float | None:
    """compiled's advantage over baseline on their figure, direction by unit (see Ratio)."""
    if compiled.unit != baseline.unit:
        raise ValueError(f"cannot compare {compiled.unit!r} with {baseline.unit!r}")
    num, den = (
        (compiled.figure, baseline.figure)
        if compiled.higher_is_better
        else (baseline.figure, compiled.figure)
    )
    return num / den if den > 0 else None


def compute_ratios(results: Iterable[Result]) -> list[Ratio]:
    """Pair rows of each (scenario, unit): the k-th compiled row with the k-th pure row (then
    with the k-th c-reference row), in the order the scenario returned them."""
    groups: dict[tuple[str, str], dict[str, list[Result]]] = {}
    for row in results:
        groups.setdefault((row.scenario, row.unit), {}).setdefault(row.impl, []).append(row)
    ratios: list[Ratio] = []
    for (scenario, unit), by_impl in groups.items():
        compiled_rows = by_impl.get(COMPILED, [])
        for baseline_impl in (PURE, C_REFERENCE):
            for c_row, b_row in zip(compiled_rows, by_impl.get(baseline_impl, []), strict=False):
                ratios.append(Ratio(scenario, unit, c_row, b_row, speedup(c_row, b_row)))
    return ratios


def format_figure(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.1f}"
    return f"{value:.3g}"


def format_speedup(value: float | None, unit: str = "") -> str:
    """The ratio in words: "faster"/"slower", or "smaller"/"larger" for a size per task."""
    if value is None:
        return "n/a (zero figure)"
    better, worse = ("smaller", "larger") if unit.startswith("bytes") else ("faster", "slower")
    if value >= 1:
        return f"{value:.2f}x {better}"
    return f"{1 / value:.2f}x {worse}"


def results_table(results: list[Result]) -> Table:
    table = Table(title="Results", title_justify="left")
    for name in ("scenario", "impl", "hosts", "tasks", "placed", "seconds", "figure", "notes"):
        numeric = name in ("hosts", "tasks", "placed", "seconds", "figure")
        table.add_column(name, justify="right" if numeric else "left", overflow="fold")
    for row in results:
        table.add_row(
            row.scenario,
            row.impl,
            f"{row.hosts:,}",
            f"{row.tasks:,}",
            f"{row.placed:,}",
            f"{row.seconds:.3f}",
            f"{format_figure(row.figure)} {row.unit}",
            row.notes,
        )
    return table


def ratios_table(ratios: list[Ratio]) -> Table:
    table = Table(title="Compiled against the others, measured in this run", title_justify="left")
    for name in ("scenario", "hosts", "tasks", "vs", "compiled", "other", "compiled is", "notes"):
        numeric = name in ("hosts", "tasks", "compiled", "other")
        table.add_column(name, justify="right" if numeric else "left")
    for ratio in ratios:
        note = (
            ""
            if ratio.same_size
            else (
                f"sizes differ: {ratio.baseline.impl} ran {ratio.baseline.hosts:,} hosts / "
                f"{ratio.baseline.tasks:,} tasks"
            )
        )
        table.add_row(
            ratio.scenario,
            f"{ratio.compiled.hosts:,}",
            f"{ratio.compiled.tasks:,}",
            ratio.baseline.impl,
            f"{format_figure(ratio.compiled.figure)} {ratio.unit}",
            f"{format_figure(ratio.baseline.figure)} {ratio.unit}",
            format_speedup(ratio.speedup, ratio.unit),
            note,
        )
    return table


class Reporter:
    """Progress and messages of one `bench run`; use as a context manager around the runs."""

    def __init__(
        self, out: TextIO | None = None, err: TextIO | None = None, live: bool | None = None
    ) -> None:
        out = out if out is not None else sys.stdout
        self.live = out.isatty() if live is None else live
        self.console = Console(file=out, width=None if self.live else PLAIN_WIDTH)
        # stderr=True without a file: resolved at each write, so rich's redirection while the
        # progress bar is live keeps error messages above the bar.
        self.err = Console(file=err, stderr=err is None, width=None if self.live else PLAIN_WIDTH)
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> Reporter:
        if self.live:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[label]}"),
                console=self.console,
            )
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def start(self, scenario: str, impl: str, index: int, total: int, how: str = "") -> ProgressFn:
        """Announce run INDEX of TOTAL; return the callback that moves its progress bar."""
        title = f"[{index}/{total}] {scenario} ({impl}){' ' + how if how else ''}"
        if self._progress is None:
            self.console.print(f"{title} ...", highlight=False, markup=False)
            return _ignore_progress
        progress = self._progress
        task = progress.add_task(title, total=1.0, label="")
        self._task = task

        def update(fraction: float, label: str) -> None:
            progress.update(task, completed=fraction, label=label)

        return update

    def finish(self, scenario: str, impl: str, rows: list[Result], seconds: float) -> None:
        text = f"{scenario} ({impl}) done in {seconds:.2f} s: {len(rows)} row(s)"
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=1.0, label=f"done, {len(rows)} row(s)")
        else:
            self.console.print(text, highlight=False, markup=False)

    def fail(self, scenario: str, impl: str, message: str, detail: str = "") -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, label="FAILED")
        self.error(f"scenario {scenario} ({impl}) failed: {message}", detail)

    def error(self, message: str, detail: str = "") -> None:
        self.err.print(f"error: {message}", highlight=False, markup=False, style="bold red")
        if detail:
            self.err.print(detail.rstrip(), highlight=False, markup=False)

    def info(self, message: str) -> None:
        self.console.print(message, highlight=False, markup=False)

    def summary(self, results: list[Result]) -> None:
        """The results table, and below it the ratios of implementations run side by side."""
        if not results:
            self.info("no results")
            return
        self.console.print(results_table(results))
        ratios = compute_ratios(results)
        if ratios:
            self.console.print(ratios_table(ratios))


def _ignore_progress(fraction: float, label: str) -> None:
    return None
