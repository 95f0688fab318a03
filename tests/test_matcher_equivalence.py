"""Hypothesis: compiled and pure matchers place identically, and no placement breaks a rule.

The validator below re-checks every placement from first principles (resources, value
constraints, limits counted from scratch, dedicated hosts, maintenance, offers) without using
the matcher's code.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aurora._fastpath import NO_EXTENSIONS, load

ZONES, RACKS = ("a", "b", "c"), ("r0", "r1", "r2", "r3")

host_st = st.fixed_dictionaries({
    "cpu": st.integers(0, 8), "ram": st.integers(0, 8), "disk": st.integers(0, 4),
    "gpus": st.integers(0, 1), "ports": st.integers(0, 3),
    "zone": st.sampled_from(ZONES), "rack": st.sampled_from(RACKS),
    "maint": st.sampled_from([1, 1, 1, 2, 3, 4]), "offer": st.booleans() | st.just(True),
    "dedicated": st.sampled_from([None, None, None, "www/hello", "*/db"]),
    "extra_zone": st.sampled_from([None, None, None, None, "b"]),
})
constraint_st = st.one_of(
    st.tuples(st.just("value"), st.sampled_from(["zone", "rack", "host"]),
              st.lists(st.sampled_from(list(ZONES) + list(RACKS) + ["h0", "h3", "zz"]),
                       min_size=1, max_size=3).map(tuple), st.booleans()),
    st.tuples(st.just("limit"), st.sampled_from(["zone", "rack", "host"]), st.integers(0, 3)),
    st.just(("value", "dedicated", ("www/hello",), False)),
)
request_st = st.fixed_dictionaries({
    "job": st.integers(0, 2), "cpu": st.integers(0, 4), "ram": st.integers(0, 4),
    "disk": st.integers(0, 2), "gpus": st.integers(0, 1), "ports": st.integers(0, 2),
    "constraints": st.lists(constraint_st, max_size=3, unique_by=lambda c: c[1]),
    "count": st.integers(0, 12), "order": st.sampled_from(["random", "binpack", "spread"]),
    "max_per_host": st.sampled_from([0, 0, 1, 2]),
})


def _build(impl: str, hosts: list[dict]) -> Any:
    cl = load("cluster", impl).Cluster(unique_attributes=("host",))
    for i, h in enumerate(hosts):
        attrs: dict[str, Any] = {"host": f"h{i}", "rack": h["rack"],
                                 "zone": [h["zone"], h["extra_zone"]] if h["extra_zone"]
                                 else h["zone"]}
        if h["dedicated"]:
            attrs["dedicated"] = h["dedicated"]
        cl.add_host(f"h{i}", h["cpu"], h["ram"], h["disk"], h["gpus"], h["ports"], attrs,
                    maintenance=h["maint"], offer=h["offer"])
    return cl


def _values(cl: Any, host: int, name: str) -> set[str]:
    return set(cl.attributes(host).get(name, ()))


def _check(cl: Any, r: dict, placed: list[int], job_hosts: Counter, before: list[tuple]) -> None:
    """Every placement obeys every rule, re-derived here from the raw facts."""
    used = Counter(placed)
    for h, n in used.items():
        free0 = before[h]
        need = (r["cpu"], r["ram"], r["disk"], r["gpus"], r["ports"])
        assert all(free0[k] - n * need[k] >= 0 for k in range(5)), "over-committed"
        assert cl.free(h) == tuple(free0[k] - n * need[k] for k in range(5))
        assert cl.maint[h] not in (3, 4) and cl.offer[h]
        if r["max_per_host"]:
            assert n <= r["max_per_host"]
        wants_dedicated = any(c[1] == "dedicated" for c in r["constraints"] if c[0] == "value")
        if _values(cl, h, "dedicated"):
            assert wants_dedicated
        for c in r["constraints"]:
            if c[0] == "value":
                assert bool(_values(cl, h, c[1]) & set(c[2])) != c[3], c
    for c in r["constraints"]:
        if c[0] != "limit":
            continue
        per_value: Counter = Counter()
        for h, n in job_hosts.items():
            for v in _values(cl, h, c[1]):
                per_value[v] += n
        for h in used:
            vals = _values(cl, h, c[1])
            assert vals, "placed on a host without the limit attribute"
            assert all(per_value[v] <= c[2] for v in vals), (c, per_value)


@settings(max_examples=250, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(host_st, min_size=1, max_size=10), st.lists(request_st, max_size=6),
       st.integers(0, 2**32))
def test_placements_obey_every_rule(impl: str, hosts: list[dict], requests: list[dict],
                                    seed: int) -> None:
    _run(impl, hosts, requests, seed)


def _run(impl: str, hosts: list[dict], requests: list[dict], seed: int) -> list:
    cl = _build(impl, hosts)
    m = load("matcher", impl)
    job_hosts: dict[int, Counter] = {j: Counter() for j in range(3)}
    for j in range(3):
        for name in ("zone", "rack", "host"):
            cl.track(j, cl.intern_attr(name), [])
    trace: list = []
    for i, r in enumerate(requests):
        req = m.Request(cl, r["job"], r["cpu"], r["ram"], r["disk"], r["gpus"], r["ports"],
                        r["constraints"])
        if r["order"] == "random":
            order = m.order_random(cl, seed + i)
        elif r["order"] == "binpack":
            order = m.order_binpack(cl, "cpu")
        else:
            order = m.order_spread(cl)
        before = [cl.free(h) for h in range(cl.host_count)]
        placed, counts = m.place(cl, req, order, r["count"], r["max_per_host"])
        job_hosts[r["job"]].update(placed)
        _check(cl, r, list(placed), job_hosts[r["job"]], before)
        if len(placed) < r["count"]:
            considered = sum(1 for h in range(cl.host_count) if cl.offer[h])
            assert sum(counts) >= considered - (r["max_per_host"] > 0) * len(set(placed))
        trace.append((list(order), list(placed), list(counts), list(m.eligible(cl, req))))
    trace.append([cl.free(h) for h in range(cl.host_count)])
    return trace


@pytest.mark.skipif(NO_EXTENSIONS, reason="compares the compiled matcher with its twin")
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(host_st, min_size=1, max_size=10), st.lists(request_st, max_size=6),
       st.integers(0, 2**32))
def test_compiled_and_pure_place_identically(hosts: list[dict], requests: list[dict],
                                             seed: int) -> None:
    assert _run("compiled", hosts, requests, seed) == _run("pure", hosts, requests, seed)


def test_validator_catches_a_broken_placement() -> None:
    """The validator is not vacuous: an over-committed placement fails it."""
    cl = _build("pure", [{"cpu": 2, "ram": 2, "disk": 1, "gpus": 0, "ports": 0, "zone": "a",
                          "rack": "r0", "maint": 1, "offer": True, "dedicated": None,
                          "extra_zone": None}])
    r = {"cpu": 2, "ram": 1, "disk": 0, "gpus": 0, "ports": 0, "constraints": [],
         "max_per_host": 0}
    with pytest.raises(AssertionError):
        _check(cl, r, [0, 0], Counter({0: 2}), [cl.free(0)])
