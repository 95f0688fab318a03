"""Every twin-aware test runs against each implementation of the compiled modules.

``impl`` is "compiled" and "pure" in a normal run, and only "pure" under AURORA_NO_EXTENSIONS=1.
Asking for the compiled module never falls back: if it did not build, the test errors with the
reason (see aurora._fastpath.load).
"""

from __future__ import annotations

from collections import Counter
from types import ModuleType

import pytest

from aurora._fastpath import COMPILED, NO_EXTENSIONS, PURE, load

IMPLS = (PURE,) if NO_EXTENSIONS else (COMPILED, PURE)
_ran: Counter[str] = Counter()


@pytest.fixture(params=IMPLS)
def impl(request: pytest.FixtureRequest) -> str:
    _ran[request.param] += 1
    return request.param


@pytest.fixture
def statetable(impl: str) -> ModuleType:
    """The task-state table module in the implementation under test."""
    return load("statetable", impl)


@pytest.fixture
def cluster_mod(impl: str) -> ModuleType:
    """The cluster model module in the implementation under test."""
    return load("cluster", impl)


@pytest.fixture
def matcher(impl: str) -> ModuleType:
    """The matcher (feasibility + placement) module in the implementation under test."""
    return load("matcher", impl)


def pytest_report_header(config: pytest.Config) -> str:
    mode = "pure twins only (AURORA_NO_EXTENSIONS=1)" if NO_EXTENSIONS else "compiled and pure"
    return f"aurora implementations under test: {mode}"


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    parts = [f"{name}: {_ran[name]} tests" for name in IMPLS]
    terminalreporter.write_line("aurora implementations exercised -> " + ", ".join(parts))
