"""Fixtures for the executor tests (helpers live in exec_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    path = tmp_path / "sandbox"
    path.mkdir()
    return path


@pytest.fixture(params=["coordinators", "direct"])
def run_mode(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test with a coordinator per process run, then with direct runs (the runner is
    the processes' parent, as in agents' executors)."""
    import exec_helpers

    exec_helpers.MODE["direct"] = request.param == "direct"
    try:
        yield request.param
    finally:
        exec_helpers.MODE["direct"] = False
