"""`python -m bench list` and `python -m bench run [SCENARIO ...] [--quick] [--impl ...]
[--profile] [--out FILE]`.

Exit status: 0 all ran; 1 a scenario failed (the others' rows are still written); 2 a usage error
(unknown scenario, impl unavailable, scenario module that does not import, py-spy missing);
130 interrupted (rows so far are written).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import traceback
from pathlib import Path
from typing import TextIO

from bench.machine import CHECKOUT, describe
from bench.profile import ProfileError, find_py_spy, profile_run
from bench.registry import ProgressFn, RunContext, Scenario, all_scenarios, get
from bench.report import Reporter
from bench.result import C_REFERENCE, COMPILED, PURE, Report, Result, write_report
from bench.scenarios import ScenarioImportError, load_all
from bench.settle import NOTE as SETTLED
from bench.settle import settle_machine

DEFAULT_OUT = CHECKOUT / "bench" / "results" / "latest.json"
NO_EXTENSIONS_ENV = "AURORA_NO_EXTENSIONS"

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """A command line that cannot run; reported as one line, exit 2."""


class ScenarioFailure(Exception):
    """A scenario raised, or returned rows that break the contract."""


def no_extensions() -> bool:
    """AURORA_NO_EXTENSIONS as aurora._fastpath reads it, but read now (not at import)."""
    return os.environ.get(NO_EXTENSIONS_ENV, "") not in ("", "0")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="{list,run}")
    commands.add_parser("list", help="name and describe the registered scenarios")
    run = commands.add_parser("run", help="run scenarios and write the JSON report")
    run.add_argument(
        "scenarios",
        nargs="*",
        metavar="SCENARIO",
        help="scenarios to run (default: all but the opt-in ones)",
    )
    run.add_argument("--quick", action="store_true", help="small sizes (the CI suite)")
    run.add_argument(
        "--impl",
        choices=("compiled", "pure", "both"),
        default=None,
        help=f"default: both (pure only when {NO_EXTENSIONS_ENV}=1)",
    )
    run.add_argument(
        "--profile",
        action="store_true",
        help="re-run each scenario under py-spy; flame graphs go beside --out",
    )
    run.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="JSON report (default: bench/results/latest.json)",
    )
    return parser


def resolve_impls(asked: str | None) -> list[str]:
    """The implementations to run, in order; UsageError when compiled is asked without it."""
    if no_extensions():
        if asked in (None, PURE):
            return [PURE]
        raise UsageError(
            f"{NO_EXTENSIONS_ENV}=1 is set, so only the pure implementation can run "
            f"(asked for --impl {asked}); use --impl pure or unset {NO_EXTENSIONS_ENV}"
        )
    if asked in (None, "both"):
        return [COMPILED, PURE]
    return [asked]


def select(names: list[str], registered: list[Scenario]) -> list[Scenario]:
    """The scenarios NAMES (deduplicated, in order), or all but opt-in ones when none named."""
    if not names:
        return [scenario for scenario in registered if not scenario.opt_in]
    known = [scenario.name for scenario in registered]
    unknown = [name for name in dict.fromkeys(names) if name not in known]
    if unknown:
        raise UsageError(
            f"unknown scenario{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"known: {', '.join(known) or '(none registered)'}"
        )
    return [get(name) for name in dict.fromkeys(names)]


def plan_impls(scenario: Scenario, impls: list[str]) -> list[str]:
    """The implementations SCENARIO runs under: those asked for that it means something under,
    or just the first asked for when it means something under none of them (a peer system)."""
    if scenario.impls is None:
        return impls
    return [i for i in impls if i in scenario.impls] or impls[:1]


def run_in_process(
    scenario: Scenario, impl: str, quick: bool, progress: ProgressFn
) -> list[Result]:
    """SCENARIO.run under IMPL here, its rows checked against the contract."""
    ctx = RunContext(impl=impl, quick=quick, scenario=scenario.name, on_progress=progress)
    gc.collect()
    rows = scenario.run(ctx)
    if not isinstance(rows, list) or not all(isinstance(row, Result) for row in rows):
        raise ScenarioFailure(f"run() returned {type(rows).__name__}, not a list of Result")
    if not rows:
        raise ScenarioFailure("run() returned no rows")
    for row in rows:
        if row.impl not in (impl, C_REFERENCE):
            raise ScenarioFailure(f"a row says impl {row.impl!r} in a run of impl {impl!r}")
        if row.quick != quick:
            raise ScenarioFailure(f"a row says quick={row.quick} in a run with quick={quick}")
    return rows


def cmd_list(out: TextIO) -> int:
    scenarios = all_scenarios()
    if not scenarios:
        print("no scenarios registered", file=out)
    width = max((len(scenario.name) for scenario in scenarios), default=0)
    for scenario in scenarios:
        flag = "  [opt-in]" if scenario.opt_in else ""
        print(f"{scenario.name:<{width}}  {scenario.description}{flag}", file=out)
    return EXIT_OK


def cmd_run(args: argparse.Namespace, reporter: Reporter) -> int:
    impls = resolve_impls(args.impl)
    scenarios = select(args.scenarios, all_scenarios())
    if args.profile:
        try:
            find_py_spy()
        except ProfileError as exc:
            raise UsageError(str(exc)) from exc
    out: Path = args.out
    results: list[Result] = []
    failed: list[str] = []
    status = EXIT_OK
    plan = [(scenario, impl) for scenario in scenarios for impl in plan_impls(scenario, impls)]
    try:
        with reporter:
            for index, (scenario, impl) in enumerate(plan, start=1):
                how = "under py-spy" if args.profile else ""
                progress = reporter.start(scenario.name, impl, index, len(plan), how)
                started = time.perf_counter()
                try:
                    if args.profile:
                        profiled = profile_run(scenario.name, impl, args.quick, out.parent)
                        rows = profiled.results
                        reporter.info(f"flame graph: {profiled.svg}")
                    else:
                        settled = not args.quick and settle_machine()
                        rows = run_in_process(scenario, impl, args.quick, progress)
                        if settled:
                            for row in rows:
                                row.notes = f"{row.notes}; {SETTLED}" if row.notes else SETTLED
                except ProfileError as exc:
                    failed.append(f"{scenario.name} ({impl})")
                    reporter.fail(scenario.name, impl, str(exc), exc.detail)
                    continue
                except Exception as exc:
                    failed.append(f"{scenario.name} ({impl})")
                    detail = "".join(traceback.format_exception(exc))
                    reporter.fail(scenario.name, impl, f"{type(exc).__name__}: {exc}", detail)
                    continue
                results.extend(rows)
                reporter.finish(scenario.name, impl, rows, time.perf_counter() - started)
    except KeyboardInterrupt:
        reporter.error("interrupted; writing the rows measured so far")
        status = EXIT_INTERRUPTED
    write_report(out, Report(machine=describe(), results=results))
    reporter.summary(results)
    reporter.info(f"wrote {out}")
    if failed:
        reporter.error(f"{len(failed)} run(s) failed: {', '.join(failed)}")
        status = status or EXIT_FAILED
    return status


def main(
    argv: list[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """The `python -m bench` command; returns the exit status."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed usage (or --help)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    reporter = Reporter(out=out, err=stderr)
    try:
        load_all()
    except ScenarioImportError as exc:
        for detail in exc.failures.values():
            print(detail.rstrip(), file=err)
        print(f"error: {exc}", file=err)
        return EXIT_USAGE
    try:
        if args.command == "list":
            return cmd_list(out)
        return cmd_run(args, reporter)
    except UsageError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_USAGE
