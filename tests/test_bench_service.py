"""The whole-service bench scenarios (`c1m`, `recovery`) at quick size, under each
implementation, and the checks they rely on."""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
from typing import Any

import pytest
import uvloop

from bench.registry import RunContext, get
from bench.scenarios import c1m, load_all, recovery

load_all()


def _run(name: str, impl: str) -> Any:
    rows = get(name).run(RunContext(impl=impl, quick=True, scenario=name))
    assert len(rows) == 1
    row = rows[0]
    assert row.scenario == name and row.impl == impl and row.quick is True
    return row


def test_c1m_quick(impl: str) -> None:
    row = _run("c1m", impl)
    shape = c1m.QUICK
    assert row.unit == "tasks/s"
    assert (row.hosts, row.tasks, row.placed) == (shape.hosts, shape.tasks, shape.tasks)
    assert row.seconds > 0 and row.rate == pytest.approx(row.placed / row.seconds)
    assert "sync=True" in row.notes and "checked 10 constrained jobs" in row.notes
    for part in ("create", "schedule", "commit encode", "export rows", "status apply"):
        assert part in row.notes


def test_recovery_quick(impl: str) -> None:
    row = _run("recovery", impl)
    shape = recovery.QUICK
    assert row.unit == "s" and row.figure == row.seconds > 0
    assert (row.hosts, row.tasks, row.placed) == (shape.hosts, shape.tasks + shape.instances,
                                                  shape.tasks + shape.instances)
    assert "20,000 RUNNING" in row.notes and "1,000 PENDING" in row.notes
    assert "first cycle" in row.notes


def test_workload_fills_the_cluster_to_80_percent_with_the_asked_constraint_mix() -> None:
    specs = c1m.workload(c1m.FULL)
    shape = c1m.FULL
    assert len(specs) == 1_000 and len({s.config.job for s in specs}) == 1_000
    kinds = [s.kind for s in specs]
    assert kinds.count("host") + kinds.count("rack") == 300
    assert kinds.count("zone") == 200
    cpu = sum(s.config.resources.cpu for s in specs) * shape.instances
    ram = sum(s.config.resources.ram_mb for s in specs) * shape.instances
    assert cpu / (shape.hosts * c1m.HOST_CPU_MILLI / 1000) == pytest.approx(0.8, abs=0.01)
    assert ram / (shape.hosts * c1m.HOST_RAM_MB) == pytest.approx(0.8, abs=0.01)
    for s in specs:
        (constraint,) = s.config.constraints or (None,)
        if s.kind in ("host", "rack"):
            assert constraint is not None and constraint.name == s.kind
            assert constraint.limit is not None and constraint.limit.limit == s.limit >= 1
        elif s.kind == "zone":
            assert constraint is not None and constraint.value is not None
            assert constraint.value.values == {s.zone}
        else:
            assert constraint is None
    assert c1m.workload(shape) == specs  # seeded: the same jobs every run


def test_c1m_validation_reads_the_sims_records_and_catches_a_broken_limit() -> None:
    """A tiny run passes; the same end state checked against tighter limits than the jobs had
    (or a zone they did not ask for) fails, so the check really looks at where tasks run."""
    shape = c1m.Shape(10, 40, 40)
    seen: dict[str, Any] = {}

    async def tamper(sched: Any, sim: Any) -> None:
        specs = c1m.workload(shape)
        for spec in specs:
            if spec.kind in ("host", "rack"):
                spec = dataclasses.replace(spec, limit=0)
            elif spec.kind == "zone":
                spec = dataclasses.replace(spec, zone="zone-9")
            else:
                continue
            with pytest.raises(c1m.ValidationError):
                c1m.validate(sched, sim, [spec], shape)
            seen[spec.kind] = True

    with tempfile.TemporaryDirectory() as d:
        out = uvloop.run(c1m.run_to_running(d, shape, "pure", sync=False, before_stop=tamper))
    assert out.running == shape.tasks and out.checked["jobs"] > 0
    assert set(seen) == {"host", "rack", "zone"}


def test_recovery_check_rejects_a_state_that_changed() -> None:
    built = recovery.Built("/nonexistent", {"RUNNING": 10, "PENDING": 2}, 12, 4, 0.1, "pure")
    good = {"counts": {"RUNNING": 10, "PENDING": 2}, "restored_tasks": 12, "cycle_end": 1.0,
            "cycles": 1, "pending_reasons": 1, "placed": 0, "held": 10}
    recovery.check(good, built)
    for change in ({"counts": {"RUNNING": 9, "PENDING": 2}}, {"restored_tasks": 11},
                   {"cycles": 0}, {"held": 3}, {"pending_reasons": 0}):
        with pytest.raises(c1m.ValidationError):
            recovery.check({**good, **change}, built)
    no_cycle = {k: v for k, v in good.items() if k != "cycle_end"}
    with pytest.raises(c1m.ValidationError):
        recovery.check(no_cycle, built)


def test_sections_are_exclusive() -> None:
    sections = c1m.Sections()

    def inner() -> None:
        with sections.section("inner"):
            asyncio.run(asyncio.sleep(0.02))

    outer = sections.wrap("outer", inner)
    outer()
    assert sections.seconds["inner"] >= 0.02
    assert sections.seconds["outer"] < sections.seconds["inner"]
    table = sections.table(wall=1.0)
    assert table["idle"] == pytest.approx(1.0 - sum(sections.seconds.values()), abs=0.002)
