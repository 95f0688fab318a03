"""The placement bench scenarios at quick size, under each implementation, and the kernel's
C reference (compiled with the system C compiler, loaded with ctypes)."""

from __future__ import annotations

import shutil

import pytest

from bench import clusters
from bench.registry import RunContext, get
from bench.scenarios import load_all
from bench.scenarios.kernel import TASK, CReference

load_all()

HAVE_CC = shutil.which("cc") is not None

# scenario -> the unit of each of its rows, in order
UNITS: dict[str, tuple[str, ...]] = {
    "fill-cluster": ("tasks/s",),
    "value-mismatch": ("attempts/s",),
    "limit-mismatch": ("attempts/s",),
    "cluster-full": ("attempts/s",),
    "preemption-search": ("passes/s",) * 4,
    "k8s-basic": ("tasks/s",) * 2,
    "k8s-zone-affinity": ("tasks/s",) * 2,
    "k8s-anti-affinity": ("tasks/s",) * 2,
    "kernel": ("ns/check",),
}


@pytest.mark.parametrize("name", sorted(UNITS))
def test_scenario_runs_at_quick_size(name: str, impl: str) -> None:
    rows = get(name).run(RunContext(impl=impl, quick=True, scenario=name))
    units = UNITS[name]
    if name == "kernel" and impl == "compiled" and HAVE_CC:
        units += ("ns/check",)
    assert [r.unit for r in rows] == list(units)
    for r in rows:
        assert r.scenario == name and r.quick is True
        assert r.impl == impl or (name == "kernel" and r.impl == "c-reference")
        assert r.rate > 0 and r.seconds > 0
        assert r.hosts > 0 and r.tasks > 0


def test_kernel_reference_compiles_loads_and_counts() -> None:
    if not HAVE_CC:
        pytest.skip("no C compiler `cc` on PATH: the kernel's c-reference cannot be built")
    cluster = clusters.build("pure", 12)
    cluster.consume(0, 5_000, 0, 0)  # short of CPU (4 CPU asked, 3 left)
    cluster.set_offer(1, False)  # not considered
    zone = cluster.attr_id("zone")
    allowed = {cluster.value_id(zone, "zone-0")}  # hosts 0, 1, 6, 7 (racks 0 and 3)
    run = CReference().bind(cluster, cluster.attr_cols[zone], allowed, TASK)
    feasible, vetoes = run()
    assert feasible == 2  # hosts 6 and 7
    assert vetoes == [0, 0, 0, 8, 1, 0, 0, 0, 0]
    cluster.consume(6, 5_000, 0, 0)  # the loop reads the cluster's own buffers, not copies
    assert run() == (1, [0, 0, 0, 8, 2, 0, 0, 0, 0])
