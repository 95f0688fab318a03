"""`bench run --profile`: one scenario under one implementation, re-run in a child under py-spy.

The child is `python -m bench run SCENARIO --impl IMPL [--quick] --out TMP.json` recorded by
`py-spy record --native --format flamegraph -o DIR/SCENARIO-IMPL.svg`; its JSON rows become that
scenario's results (marked as profiled: sampling costs a little time). py-spy does not pass on the
child's exit status, so a child that wrote no row for its scenario counts as failed. When py-spy
fails with --native (no unwinding support, ptrace denied for native stacks, ...), the run is
repeated without it and the rows say so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.machine import CHECKOUT
from bench.result import Result, ResultError, read_report


class ProfileError(RuntimeError):
    """The profiled child produced no usable result; `detail` holds its output."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


@dataclass(frozen=True)
class Profiled:
    results: list[Result]
    svg: Path
    native: bool  # False when --native failed and the flame graph shows Python frames only


def find_py_spy() -> str:
    """py-spy next to this interpreter (the virtualenv's bin/), else on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("py-spy")
    if found:
        return found
    raise ProfileError(
        f"--profile needs py-spy, found neither next to {sys.executable} nor on PATH; "
        f"install it with `{sys.executable} -m pip install py-spy`"
    )


def child_command(
    py_spy: str, scenario: str, impl: str, quick: bool, svg: Path, out: Path, native: bool
) -> list[str]:
    command = [py_spy, "record", "--format", "flamegraph", "-o", str(svg)]
    if native:
        command.append("--native")
    command += ["--", sys.executable, "-m", "bench", "run", scenario, "--impl", impl]
    if quick:
        command.append("--quick")
    return [*command, "--out", str(out)]


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def profile_run(scenario: str, impl: str, quick: bool, svg_dir: Path) -> Profiled:
    """Run SCENARIO under IMPL in a child under py-spy; the SVG goes to SVG_DIR."""
    py_spy = find_py_spy()
    svg_dir.mkdir(parents=True, exist_ok=True)
    svg = (svg_dir / f"{scenario}-{impl}.svg").resolve()
    native_failure = ""
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        for native in (True, False):
            out = Path(tmp) / f"{scenario}-{impl}-{'native' if native else 'python'}.json"
            svg.unlink(missing_ok=True)
            done = subprocess.run(
                child_command(py_spy, scenario, impl, quick, svg, out, native),
                cwd=CHECKOUT,
                capture_output=True,
                text=True,
                check=False,
            )
            output = f"{done.stdout}\n{done.stderr}"
            if out.exists():
                rows = _read_rows(out, scenario, output)  # raises if the scenario failed
                if svg.exists():
                    if native_failure:
                        note = f"profiled without --native (py-spy: {native_failure})"
                    else:
                        note = "profiled under py-spy --native"
                    return Profiled([row.with_note(note) for row in rows], svg, native)
            if not native:
                raise ProfileError(
                    f"py-spy (exit {done.returncode}) left "
                    f"{'no flame graph' if out.exists() else 'no results'}",
                    _tail(output),
                )
            native_failure = _last_error_line(output) or f"exit {done.returncode}"
    raise AssertionError("unreachable")


def _read_rows(out: Path, scenario: str, output: str) -> list[Result]:
    try:
        rows = read_report(out).results
    except ResultError as exc:
        raise ProfileError(str(exc), _tail(output)) from exc
    if not any(row.scenario == scenario for row in rows):
        raise ProfileError("the profiled child failed (no result rows)", _tail(output))
    return rows


def _last_error_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if line.lower().startswith("error"):
            return line
    return lines[-1] if lines else ""
