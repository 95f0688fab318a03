"""Hypothesis: random clusters give identical slots, compiled and pure, and every slot is valid."""

from __future__ import annotations

from array import array
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aurora._fastpath import NO_EXTENSIONS, load

pytestmark = pytest.mark.skipif(
    NO_EXTENSIONS, reason="compares the compiled module with its twin; this run has no compiled"
)

# Few distinct values, so ties in the victim order and exact fits are common.
amounts = st.sampled_from([0, 0, 1, 250, 500, 1000, 2000])
victim_fields = {
    "cpu": amounts, "ram": amounts, "disk": amounts,
    "gpus": st.sampled_from([0, 0, 0, 1, 2]), "ports": st.sampled_from([0, 0, 1, 3]),
    "priority": st.integers(-1, 3),
    "preemptible": st.booleans(), "revocable": st.sampled_from([False, False, True]),
    "role": st.sampled_from([0, 0, 1, 2]),
}
request = st.fixed_dictionaries({
    "cpu": st.sampled_from([0, 1, 250, 500, 1000, 2500]),
    "ram": st.sampled_from([0, 1, 250, 500, 1000, 2500]),
    "disk": st.sampled_from([0, 1, 500, 1000]),
    "gpus": st.sampled_from([0, 0, 0, 1, 2]), "ports": st.sampled_from([0, 0, 1, 2]),
    "priority": st.integers(-1, 4), "preemptible": st.sampled_from([False, False, True]),
    "role": st.sampled_from([0, 0, 1, 2]),
    "max_slots": st.sampled_from([0, 1, 1, 2, 3, 6]),
})


@st.composite
def clusters(draw: st.DrawFn) -> dict[str, Any]:
    nhosts = draw(st.integers(0, 8))
    # A victim may sit on a host past the buffers' end (a host the caller does not offer).
    victim = st.fixed_dictionaries(
        {"task": st.integers(0, 2**40), "host": st.integers(0, nhosts + 1), **victim_fields})
    victims = draw(st.lists(victim, min_size=3 * nhosts, max_size=48,
                            unique_by=lambda v: v["task"]))
    removed = draw(st.sets(st.sampled_from([v["task"] for v in victims]), max_size=5)) \
        if victims else set()
    free = [draw(st.tuples(*[st.sampled_from([-100, 0, 0, 0, 1, 250, 500])] * 5))
            for _ in range(nhosts)]
    eligible = draw(st.lists(st.sampled_from([0, 1, 1, 2]), min_size=nhosts, max_size=nhosts))
    order = draw(st.none() | (st.lists(st.integers(0, nhosts - 1), max_size=12)
                              if nhosts else st.just([])))
    requests = draw(st.lists(request, min_size=1, max_size=4))
    return {"nhosts": nhosts, "victims": victims, "removed": removed, "free": free,
            "eligible": eligible, "order": order, "requests": requests}


def _index(impl: str, c: dict[str, Any]) -> Any:
    v = load("preempt", impl).VictimIndex()
    for x in c["victims"]:
        v.add(x["task"], x["host"], x["cpu"], x["ram"], x["disk"], x["gpus"], x["ports"],
              x["priority"], x["preemptible"], x["revocable"], x["role"])
    for task in sorted(c["removed"]):
        v.remove(task)
    return v


def _search(v: Any, c: dict[str, Any], r: dict[str, Any]) -> list[tuple[int, list[int]]]:
    cols = [array("i", [f[i] for f in c["free"]]) for i in range(5)]
    slots = v.find_slots(
        free_cpu=cols[0], free_ram=cols[1], free_disk=cols[2], free_gpus=cols[3],
        free_ports=memoryview(cols[4]), eligible=bytearray(c["eligible"]),
        order=None if c["order"] is None else array("q", c["order"]), **r)
    return [(h, list(vs)) for h, vs in slots]


# ------------------------------------------------------------------ the independent validator
def _may_preempt(r: dict[str, Any], x: dict[str, Any]) -> bool:
    if not r["preemptible"] and x["preemptible"]:
        return True
    return (r["preemptible"] == x["preemptible"] and r["role"] == x["role"]
            and r["priority"] > x["priority"])


def _frees(x: dict[str, Any]) -> tuple[int, int, int, int, int]:
    """(cpu, ram, disk, gpus, ports) that preempting X gives back; revocable CPU gives nothing."""
    return (0 if x["revocable"] else x["cpu"], x["ram"], x["disk"], x["gpus"], x["ports"])


def _fits(free: tuple[int, ...], victims: list[dict[str, Any]], r: dict[str, Any]) -> bool:
    total = list(free)
    for x in victims:
        total = [a + b for a, b in zip(total, _frees(x), strict=True)]
    need = (r["cpu"], r["ram"], r["disk"], r["gpus"], r["ports"])
    return all(a >= b for a, b in zip(total, need, strict=True))


def _validate(c: dict[str, Any], r: dict[str, Any], slots: list[tuple[int, list[int]]]) -> None:
    live = {x["task"]: x for x in c["victims"] if x["task"] not in c["removed"]}
    visit = list(range(c["nhosts"])) if c["order"] is None else c["order"]
    hosts = [h for h, _ in slots]
    assert len(set(hosts)) == len(hosts), "one slot per host"
    assert len(slots) <= r["max_slots"]
    # Slots come in visiting order: each slot host's first visit after the previous one's.
    pos = -1
    for h in hosts:
        pos = visit.index(h, pos + 1)
    for h, tasks in slots:
        assert c["eligible"][h]
        free = c["free"][h]
        assert not _fits(free, [], r), "a host that fits without preempting is no slot"
        victims = [live[t] for t in tasks]
        assert all(x["host"] == h and _may_preempt(r, x) for x in victims)
        assert _fits(free, victims, r)
        assert not _fits(free, victims[:-1], r), "minimal: the last victim is needed"
        keys = [(*(-f for f in _key(x)), x["task"]) for x in victims]
        assert keys == sorted(keys), "largest victims first"
    # Completeness: a host visited before the search stopped, not given a slot, has none.
    stop = pos if len(slots) == r["max_slots"] else len(visit) - 1
    given_slot = set(hosts)
    for h in visit[:stop + 1]:
        if h in given_slot or not c["eligible"][h]:
            continue
        free = c["free"][h]
        allowed = [x for x in live.values() if x["host"] == h and _may_preempt(r, x)]
        assert _fits(free, [], r) or not _fits(free, allowed, r), f"host {h} had a slot"


def _key(x: dict[str, Any]) -> tuple[int, int, int, int, int]:
    cpu, ram, disk, gpus, ports = _frees(x)
    return (cpu, ram, disk, ports, gpus)  # Aurora's ResourceType order


@settings(max_examples=200, deadline=None)
@given(clusters())
def test_compiled_and_pure_find_the_same_valid_slots(c: dict[str, Any]) -> None:
    compiled, pure = _index("compiled", c), _index("pure", c)
    assert len(compiled) == len(pure)
    for h in range(10):
        assert list(compiled.on_host(h)) == list(pure.on_host(h))
    for r in c["requests"]:
        got = _search(compiled, c, r)
        assert got == _search(pure, c, r)
        _validate(c, r, got)


@settings(max_examples=50, deadline=None)
@given(clusters(), st.integers(0, 2**40), st.sampled_from(["add", "remove"]))
def test_compiled_and_pure_reject_the_same_calls(c: dict[str, Any], task: int, op: str) -> None:
    outcomes = []
    for impl in ("compiled", "pure"):
        v = _index(impl, c)
        try:
            if op == "add":
                v.add(task, 0, 1, 1, 1, 0, 0, 0, True, False, 0)
            else:
                v.remove(task)
            outcomes.append(("ok", len(v), task in v))
        except (KeyError, ValueError) as exc:
            outcomes.append((type(exc).__name__, str(exc), len(v)))
    assert outcomes[0] == outcomes[1]
