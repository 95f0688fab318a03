"""The compiled modules are the ones in use, and the selector never falls back silently."""

from __future__ import annotations

import pytest

from aurora import _fastpath
from aurora._fastpath import NO_EXTENSIONS, is_compiled, load


@pytest.mark.skipif(NO_EXTENSIONS, reason="this run uses the pure twins on purpose")
def test_compiled_statetable_is_loaded_by_default() -> None:
    from aurora.state import table

    module = load("statetable")
    assert is_compiled(module), module.__file__
    assert table.IMPLEMENTATION == "compiled"
    assert table.StateTable is module.StateTable
    assert type(table.StateTable()).__module__ == "aurora._fastpath.statetable"


@pytest.mark.skipif(not NO_EXTENSIONS, reason="only meaningful with AURORA_NO_EXTENSIONS=1")
def test_no_extensions_selects_the_twin() -> None:
    from aurora.state import table

    assert table.IMPLEMENTATION == "pure"
    assert table.StateTable.__module__ == "aurora._fastpath._statetable_py"


def test_pure_twin_is_plain_python() -> None:
    assert not is_compiled(load("statetable", "pure"))


def test_missing_compiled_module_is_an_error_not_a_fallback() -> None:
    with pytest.raises(ImportError, match="not built"):
        load("no_such_module", "compiled")


def test_unknown_implementation_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown implementation"):
        load("statetable", "fast")


def test_every_pyx_has_a_twin() -> None:
    from pathlib import Path

    root = Path(_fastpath.__file__).parent
    for pyx in root.glob("*.pyx"):
        assert (root / f"_{pyx.stem}_py.py").exists(), f"{pyx.name} has no pure twin"
        assert (root / f"{pyx.stem}.pxd").exists(), f"{pyx.name} has no .pxd"
