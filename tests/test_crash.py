"""A small crash test in the suite: SIGKILL the scheduler 5 times while jobs are created."""

from __future__ import annotations

import pytest

from aurora.scheduler.crashtest import main


def test_survives_sigkill_without_losing_acknowledged_work(
        capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--tasks", "3000", "--per-job", "300", "--kills", "5", "--hosts", "100",
                 "--seed", "3"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert '"kills": 5' in out and '"problems": 0' in out
