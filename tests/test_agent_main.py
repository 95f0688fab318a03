"""aurora-agent's command line: the port range check and bad values refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from aurora.agent.main import ephemeral_overlap, main


def test_a_task_port_range_inside_the_ephemeral_range_is_named(tmp_path: Path) -> None:
    proc = tmp_path / "ip_local_port_range"
    proc.write_text("32768\t60999\n")
    assert ephemeral_overlap(31000, 32000, str(proc)) is None
    assert ephemeral_overlap(61000, 62000, str(proc)) is None
    why = ephemeral_overlap(31000, 32999, str(proc))
    assert why is not None and "32768-60999" in why and "--ports 31000-32999" in why
    assert ephemeral_overlap(31000, 32999, str(tmp_path / "missing")) is None


@pytest.mark.parametrize(("args", "message"), [
    (["--executor-pool", "-1"], "--executor-pool -1: must be 0 or more"),
    (["--executor-reuse", "0"], "--executor-reuse 0: must be 1 or more"),
    (["--status-delay-ms", "-5"], "--status-delay-ms -5.0: must be 0 or more"),
])
def test_bad_values_are_refused_in_one_line(tmp_path: Path, args: list[str], message: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--scheduler", "tcp://127.0.0.1:1", "--work-dir", str(tmp_path), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [f"aurora-agent: {message}"]
