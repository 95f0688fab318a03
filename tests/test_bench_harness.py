"""The bench harness (`python -m bench`), driven with fake scenarios registered only here."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import cli, profile, registry
from bench.machine import CHECKOUT, cpu_model
from bench.profile import ProfileError, find_py_spy
from bench.registry import RunContext, Scenario, rate, register, timed
from bench.report import compute_ratios, speedup
from bench.result import Result, ResultError
from bench.scenarios import EXTRA_MODULES_ENV, ScenarioImportError, load_all

RESULT_FIELDS = {
    "scenario": str,
    "impl": str,
    "hosts": int,
    "tasks": int,
    "placed": int,
    "seconds": float,
    "rate": float,
    "unit": str,
    "quick": bool,
    "notes": str,
}
MACHINE_FIELDS = {"cpu": str, "cores": int, "python": str, "commit": str, "date": str}


class FakeFast(Scenario):
    name = "fake-fast"
    description = "a fake scenario that places 10 tasks"
    anchor = "none"

    def run(self, ctx: RunContext) -> list[Result]:
        tasks = 10 if ctx.quick else 100
        for i in range(tasks):
            ctx.progress((i + 1) / tasks, f"task {i + 1}")
        rate = 1000.0 if ctx.impl == "compiled" else 100.0  # fixed, so the ratio is exact
        return [
            ctx.result(
                hosts=4,
                tasks=tasks,
                placed=tasks,
                seconds=tasks / rate,
                rate=rate,
                unit="tasks/s",
                notes=f"ran {ctx.impl}",
            )
        ]


class FakeBroken(Scenario):
    name = "fake-broken"
    description = "a fake scenario that raises"
    anchor = "none"

    def run(self, ctx: RunContext) -> list[Result]:
        raise RuntimeError("the fake scenario broke on purpose")


class FakeOptIn(Scenario):
    name = "fake-opt-in"
    description = "a fake scenario that runs only when named"
    anchor = "none"
    opt_in = True

    def run(self, ctx: RunContext) -> list[Result]:
        return [ctx.result(hosts=1, tasks=1, placed=1, seconds=1.0, rate=1.0, unit="s")]


class FakeMislabelled(Scenario):
    name = "fake-mislabelled"
    description = "a fake scenario whose rows claim the other impl"
    anchor = "none"

    def run(self, ctx: RunContext) -> list[Result]:
        other = "pure" if ctx.impl == "compiled" else "compiled"
        return [
            ctx.result(
                impl=other, hosts=1, tasks=1, placed=1, seconds=1.0, rate=1.0, unit="tasks/s"
            )
        ]


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A registry holding only the fake scenarios, and no discovery of the real ones."""
    monkeypatch.setattr(registry, "_REGISTRY", {})
    monkeypatch.setattr(cli, "load_all", lambda: [])
    monkeypatch.delenv("AURORA_NO_EXTENSIONS", raising=False)
    for cls in (FakeFast, FakeBroken, FakeOptIn, FakeMislabelled):
        register(cls)
    yield


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = cli.main(list(argv), stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def check_shape(document: dict[str, object]) -> list[dict[str, object]]:
    """Assert DOCUMENT has exactly the spec's keys and JSON types; return its results."""
    assert set(document) == {"machine", "results"}
    machine = document["machine"]
    assert isinstance(machine, dict) and set(machine) == set(MACHINE_FIELDS)
    for key, kind in MACHINE_FIELDS.items():
        assert type(machine[key]) is kind, (key, machine[key])
    results = document["results"]
    assert isinstance(results, list)
    for row in results:
        assert list(row) == list(RESULT_FIELDS)
        for key, kind in RESULT_FIELDS.items():
            assert type(row[key]) is kind, (key, row[key])
    return results


def test_list_names_and_describes(fakes: None) -> None:
    status, out, _ = run_cli("list")
    assert status == 0
    lines = out.splitlines()
    assert any(
        line.startswith("fake-fast ") and line.endswith("a fake scenario that places 10 tasks")
        for line in lines
    )
    assert any(line.startswith("fake-opt-in ") and "[opt-in]" in line for line in lines)
    assert len(lines) == 4


def test_run_writes_the_spec_shape(fakes: None, tmp_path: Path) -> None:
    out_file = tmp_path / "deep" / "dir" / "latest.json"
    status, out, err = run_cli("run", "fake-fast", "--quick", "--out", str(out_file))
    assert status == 0, err
    results = check_shape(json.loads(out_file.read_text()))
    assert [(r["scenario"], r["impl"]) for r in results] == [
        ("fake-fast", "compiled"),
        ("fake-fast", "pure"),
    ]
    assert all(r["quick"] is True and r["tasks"] == 10 for r in results)
    assert results[0]["notes"] == "ran compiled"
    # plain progress lines (not a terminal), the table, and the same-run ratio
    assert "[1/2] fake-fast (compiled) ..." in out
    assert "fake-fast (pure) done in" in out
    assert "10.00x faster" in out
    assert str(out_file) in out


def test_machine_describes_this_machine(fakes: None, tmp_path: Path) -> None:
    out_file = tmp_path / "r.json"
    assert run_cli("run", "fake-fast", "--impl", "pure", "--out", str(out_file))[0] == 0
    machine = json.loads(out_file.read_text())["machine"]
    assert machine["cores"] == os.cpu_count()
    assert machine["python"] == ".".join(map(str, sys.version_info[:3]))
    assert machine["cpu"] == cpu_model() and machine["cpu"]
    assert machine["date"].endswith("Z") and "T" in machine["date"]
    assert machine["commit"] == "unknown" or len(machine["commit"].split("-")[0]) >= 7


def test_no_names_runs_all_but_opt_in(fakes: None, tmp_path: Path) -> None:
    registry.unregister("fake-broken")
    registry.unregister("fake-mislabelled")
    out_file = tmp_path / "r.json"
    status, _, err = run_cli("run", "--impl", "compiled", "--out", str(out_file))
    assert status == 0, err
    assert [r["scenario"] for r in json.loads(out_file.read_text())["results"]] == ["fake-fast"]
    status, _, err = run_cli("run", "fake-opt-in", "--impl", "compiled", "--out", str(out_file))
    assert status == 0, err
    assert [r["unit"] for r in json.loads(out_file.read_text())["results"]] == ["s"]


def test_unknown_scenario_is_exit_2_naming_it(fakes: None, tmp_path: Path) -> None:
    out_file = tmp_path / "r.json"
    status, out, err = run_cli("run", "fake-fast", "no-such-thing", "--out", str(out_file))
    assert status == 2
    assert err.count("\n") == 1
    assert "unknown scenario no-such-thing" in err
    assert "fake-fast" in err.split("known:")[1]
    assert not out_file.exists()
    assert out == ""


def test_failing_scenario_keeps_the_others_and_exits_nonzero(fakes: None, tmp_path: Path) -> None:
    out_file = tmp_path / "r.json"
    status, _, err = run_cli("run", "fake-broken", "fake-fast", "--out", str(out_file))
    assert status == 1
    assert "scenario fake-broken (compiled) failed" in err
    assert "the fake scenario broke on purpose" in err
    assert "Traceback" in err
    results = check_shape(json.loads(out_file.read_text()))
    assert [(r["scenario"], r["impl"]) for r in results] == [
        ("fake-fast", "compiled"),
        ("fake-fast", "pure"),
    ]


def test_rows_must_carry_the_run_impl(fakes: None, tmp_path: Path) -> None:
    status, _, err = run_cli("run", "fake-mislabelled", "--out", str(tmp_path / "r.json"))
    assert status == 1
    assert "impl 'pure' in a run of impl 'compiled'" in err


def test_no_extensions_runs_pure_only(
    fakes: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AURORA_NO_EXTENSIONS", "1")
    out_file = tmp_path / "r.json"
    status, _, err = run_cli("run", "fake-fast", "--out", str(out_file))
    assert status == 0, err
    assert [r["impl"] for r in json.loads(out_file.read_text())["results"]] == ["pure"]
    assert run_cli("run", "fake-fast", "--impl", "pure", "--out", str(out_file))[0] == 0
    for impl in ("compiled", "both"):
        status, _, err = run_cli("run", "fake-fast", "--impl", impl, "--out", str(out_file))
        assert status == 2
        assert "AURORA_NO_EXTENSIONS=1" in err and "--impl pure" in err


def row(impl: str, unit: str, *, rate: float = 0.0, seconds: float = 1.0, tasks: int = 1) -> Result:
    return Result(
        scenario="s",
        impl=impl,
        hosts=1,
        tasks=tasks,
        placed=tasks,
        seconds=seconds,
        rate=rate,
        unit=unit,
        quick=False,
    )


def test_speedup_of_a_rate_is_compiled_over_pure() -> None:
    assert speedup(row("compiled", "tasks/s", rate=1000), row("pure", "tasks/s", rate=100)) == 10
    assert speedup(row("compiled", "tasks/s", rate=50), row("pure", "tasks/s", rate=100)) == 0.5


def test_speedup_of_a_cost_is_pure_over_compiled() -> None:
    assert speedup(row("compiled", "ns/check", rate=0.5), row("pure", "ns/check", rate=73)) == 146
    # unit "s": the figure is `seconds`, whatever `rate` holds
    compiled = row("compiled", "s", seconds=2.0, rate=999.0)
    pure = row("pure", "s", seconds=10.0, rate=1.0)
    assert speedup(compiled, pure) == 5
    assert speedup(row("compiled", "s", seconds=0.0), pure) is None


def test_ratios_pair_rows_per_scenario_and_unit_in_order() -> None:
    results = [
        row("compiled", "passes/s", rate=40, tasks=1),
        row("compiled", "passes/s", rate=20, tasks=10),
        row("compiled", "ns/check", rate=1.0),
        row("c-reference", "ns/check", rate=0.5),
        row("pure", "passes/s", rate=4, tasks=1),
        row("pure", "passes/s", rate=1, tasks=10),
        row("pure", "ns/check", rate=50.0),
    ]
    ratios = {
        (r.unit, r.baseline.impl, r.compiled.tasks): r.speedup for r in compute_ratios(results)
    }
    assert ratios == {
        ("passes/s", "pure", 1): 10,
        ("passes/s", "pure", 10): 20,
        ("ns/check", "pure", 1): 50,
        ("ns/check", "c-reference", 1): 0.5,
    }


def test_result_rejects_what_the_spec_forbids() -> None:
    with pytest.raises(ResultError, match="unit"):
        row("compiled", "furlongs/s", rate=1)
    with pytest.raises(ResultError, match="impl"):
        row("cython", "tasks/s", rate=1)
    with pytest.raises(ResultError, match="finite"):
        row("pure", "tasks/s", rate=float("inf"))
    with pytest.raises(ResultError, match="hosts"):
        Result(
            scenario="s",
            impl="pure",
            hosts=1.5,
            tasks=1,
            placed=1,
            seconds=1,
            rate=1,  # type: ignore[arg-type]
            unit="s",
            quick=False,
        )
    assert type(row("pure", "s", seconds=3).seconds) is float


def test_register_refuses_a_clashing_name(fakes: None) -> None:
    class Other(Scenario):
        name = "fake-fast"
        description = "clash"

        def run(self, ctx: RunContext) -> list[Result]:
            return []

    with pytest.raises(registry.RegistryError, match="registered twice"):
        register(Other)


def write_module(directory: Path, name: str, body: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(body))


def test_a_module_that_fails_to_import_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "fake_bench_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    write_module(package, "good", "X = 1\n")
    write_module(package, "bad", "raise ValueError('cannot build the cluster')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(EXTRA_MODULES_ENV, raising=False)
    with pytest.raises(ScenarioImportError) as caught:
        load_all("fake_bench_pkg")
    assert list(caught.value.failures) == ["fake_bench_pkg.bad"]
    assert "fake_bench_pkg.bad (ValueError: cannot build the cluster)" in str(caught.value)
    for name in ("fake_bench_pkg", "fake_bench_pkg.good", "fake_bench_pkg.bad"):
        sys.modules.pop(name, None)


TINY_SCENARIO = """
    from bench.registry import RunContext, Scenario, register, timed
    from bench.result import Result


    @register
    class Tiny(Scenario):
        name = "tiny-spin"
        description = "spin for a moment"
        anchor = "none"

        def run(self, ctx: RunContext) -> list[Result]:
            n = 0
            with timed() as t:
                while t.seconds < 0.3:
                    n += sum(range(1000)) > 0
            return [ctx.result(hosts=1, tasks=n, placed=n, seconds=t.seconds,
                               rate=n / t.seconds, unit="tasks/s")]
"""


def bench_subprocess(tmp_path: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    write_module(tmp_path, "tiny_bench_scenario", TINY_SCENARIO)
    environ = {k: v for k, v in os.environ.items() if k != "AURORA_NO_EXTENSIONS"}
    environ.update({"PYTHONPATH": str(tmp_path), EXTRA_MODULES_ENV: "tiny_bench_scenario"})
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "bench", *argv],
        cwd=CHECKOUT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_python_dash_m_bench(tmp_path: Path) -> None:
    listed = bench_subprocess(tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    assert any(line.split()[:1] == ["tiny-spin"] for line in listed.stdout.splitlines())
    out_file = tmp_path / "out.json"
    done = bench_subprocess(tmp_path, "run", "tiny-spin", "--impl", "pure", "--out", str(out_file))
    assert done.returncode == 0, done.stderr
    results = check_shape(json.loads(out_file.read_text()))
    assert [(r["scenario"], r["impl"], r["quick"]) for r in results] == [
        ("tiny-spin", "pure", False)
    ]
    broken = bench_subprocess(tmp_path, "list", **{EXTRA_MODULES_ENV: "no_such_bench_module"})
    assert broken.returncode == 2
    assert "no_such_bench_module (ModuleNotFoundError" in broken.stderr


def test_profile_writes_a_flame_graph(tmp_path: Path) -> None:
    try:
        find_py_spy()
    except ProfileError as exc:
        pytest.skip(str(exc))
    out_file = tmp_path / "results" / "out.json"
    done = bench_subprocess(
        tmp_path,
        "run",
        "tiny-spin",
        "--impl",
        "pure",
        "--profile",
        "--quick",
        "--out",
        str(out_file),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    svg = out_file.parent / "tiny-spin-pure.svg"
    assert f"flame graph: {svg}" in done.stdout
    assert svg.read_text().lstrip().startswith("<?xml")
    assert "tiny_bench_scenario.py" in svg.read_text()  # the scenario's own frames were sampled
    (result,) = check_shape(json.loads(out_file.read_text()))
    assert result["impl"] == "pure" and result["quick"] is True
    assert "profiled" in result["notes"]


def test_timed_measures_the_block_even_when_it_raises() -> None:
    with timed() as t:
        time.sleep(0.02)
    assert 0.02 <= t.seconds < 1.0
    assert t.seconds == t.seconds  # stopped: no longer moving
    with pytest.raises(KeyError), timed() as failing:
        raise KeyError("x")
    assert failing.end is not None
    assert rate(10, 2.0) == 5.0 and rate(10, 0.0) == 0.0


FAKE_PY_SPY = """
    import subprocess
    import sys

    args = sys.argv[1:]
    if "--native" in args:
        print("Error: failed to unwind native stacks (fake py-spy)", file=sys.stderr)
        sys.exit(1)
    subprocess.run(args[args.index("--") + 1 :], check=False)
    with open(args[args.index("-o") + 1], "w") as svg:
        svg.write("<?xml version='1.0'?><svg/>")
"""


def test_profile_falls_back_without_native(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "fake-py-spy"
    fake.write_text(f"#!{sys.executable}\n" + textwrap.dedent(FAKE_PY_SPY))
    fake.chmod(0o755)
    write_module(tmp_path, "tiny_bench_scenario", TINY_SCENARIO)
    monkeypatch.setattr(profile, "find_py_spy", lambda: str(fake))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setenv(EXTRA_MODULES_ENV, "tiny_bench_scenario")
    monkeypatch.delenv("AURORA_NO_EXTENSIONS", raising=False)
    profiled = profile.profile_run("tiny-spin", "pure", True, tmp_path / "svgs")
    assert not profiled.native
    assert profiled.svg == (tmp_path / "svgs" / "tiny-spin-pure.svg").resolve()
    assert profiled.svg.exists()
    (result,) = profiled.results
    assert result.impl == "pure" and result.quick
    assert "profiled without --native" in result.notes
    assert "failed to unwind native stacks" in result.notes


def test_a_full_size_run_settles_the_machine_first_and_says_so(
    fakes: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(cli, "settle_machine", lambda: calls.append("settle") is None)
    out_file = tmp_path / "r.json"
    status, _, err = run_cli("run", "fake-fast", "--impl", "compiled", "--out", str(out_file))
    assert status == 0, err
    assert calls == ["settle"]
    (row,) = json.loads(out_file.read_text())["results"]
    assert row["notes"] == "ran compiled; machine settled first (sync, clean caches dropped)"
    # --quick (CI's smoke run) does not; nor is a run said to be settled when it was not
    status, _, err = run_cli("run", "fake-fast", "--quick", "--impl", "compiled",
                             "--out", str(out_file))
    assert status == 0 and calls == ["settle"]
    monkeypatch.setattr(cli, "settle_machine", lambda: False)
    status, _, err = run_cli("run", "fake-fast", "--impl", "compiled", "--out", str(out_file))
    (row,) = json.loads(out_file.read_text())["results"]
    assert status == 0 and row["notes"] == "ran compiled"
