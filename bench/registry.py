"""The scenario contract: `Scenario`, `RunContext`, and `@register`.

A scenario module lives in bench/scenarios/ (every module there is imported by
`bench.scenarios.load_all`) and registers a `Scenario` subclass::

    from bench.registry import RunContext, Scenario, register, timed
    from bench.result import Result

    @register
    class Example(Scenario):
        name = "example"
        description = "sum 1,000,000 ints"
        anchor = "none"

        def run(self, ctx: RunContext) -> list[Result]:
            n = 10_000 if ctx.quick else 1_000_000
            with timed() as t:
                sum(range(n))
            return [ctx.result(hosts=0, tasks=n, placed=n, seconds=t.seconds,
                               rate=n / t.seconds, unit="tasks/s")]

`run` is called once per implementation with `ctx.impl` "compiled" or "pure"; it must load its hot
paths with `aurora._fastpath.load(name, ctx.impl)`. Every row it returns must carry `impl` ==
`ctx.impl` (or "c-reference" for a reference row) and `quick` == `ctx.quick`; `ctx.result` fills
scenario, impl and quick in for you.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from bench.result import Result
from bench.timing import Timer, rate, timed

__all__ = [
    "Result",
    "RunContext",
    "Scenario",
    "Timer",
    "all_scenarios",
    "get",
    "rate",
    "register",
    "timed",
    "unregister",
]

ProgressFn = Callable[[float, str], None]


def _no_progress(fraction: float, label: str) -> None:
    return None


@dataclass
class RunContext:
    """What one run of one scenario under one implementation gets to know."""

    impl: str  # "compiled" or "pure"
    quick: bool
    scenario: str = ""
    on_progress: ProgressFn = field(default=_no_progress, repr=False)

    def progress(self, fraction: float, label: str = "") -> None:
        """Report progress: FRACTION of this run done (clamped to 0..1), LABEL what is running."""
        self.on_progress(min(1.0, max(0.0, float(fraction))), label)

    def result(self, **fields: Any) -> Result:
        """A Result with scenario, impl and quick filled in from this context (overridable)."""
        fields.setdefault("scenario", self.scenario)
        fields.setdefault("impl", self.impl)
        fields.setdefault("quick", self.quick)
        return Result(**fields)


class Scenario:
    """Base class of every scenario. Subclasses set the class attributes and define `run`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    anchor: ClassVar[str] = ""  # the published figure this scenario is compared to
    opt_in: ClassVar[bool] = False  # True: runs only when named on the command line
    # The implementations whose runs mean something; None: every one. A peer system that does
    # not depend on ours (peer-slurm) runs once, under the first implementation asked for.
    impls: ClassVar[tuple[str, ...] | None] = None

    def run(self, ctx: RunContext) -> list[Result]:
        raise NotImplementedError(f"scenario {self.name!r} does not define run()")


class RegistryError(ValueError):
    """A scenario that cannot be registered (no name, clashing name, not a Scenario)."""


_REGISTRY: dict[str, Scenario] = {}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")

S = TypeVar("S", bound=type[Scenario])


def register(cls: S) -> S:
    """Class decorator: instantiate CLS (no arguments) and register it under `cls.name`."""
    if not (isinstance(cls, type) and issubclass(cls, Scenario)):
        raise RegistryError(f"@register expects a Scenario subclass, got {cls!r}")
    name = cls.name
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise RegistryError(
            f"scenario class {cls.__qualname__} needs a name of letters, digits, '-', '_' and "
            f"'.' (it names files), got {name!r}"
        )
    if not cls.description:
        raise RegistryError(f"scenario {name!r} needs a one-line description")
    if cls.run is Scenario.run:
        raise RegistryError(f"scenario {name!r} does not define run()")
    existing = _REGISTRY.get(name)
    if existing is not None and _origin(type(existing)) != _origin(cls):
        raise RegistryError(
            f"scenario name {name!r} is registered twice: by {_origin(type(existing))} "
            f"and by {_origin(cls)}"
        )
    _REGISTRY[name] = cls()
    return cls


def _origin(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def unregister(name: str) -> None:
    """Forget scenario NAME (tests use this to clean up); no error if it is not registered."""
    _REGISTRY.pop(name, None)


def get(name: str) -> Scenario:
    """The registered scenario NAME; KeyError if there is none."""
    return _REGISTRY[name]


def all_scenarios() -> list[Scenario]:
    """Every registered scenario, in registration order."""
    return list(_REGISTRY.values())
