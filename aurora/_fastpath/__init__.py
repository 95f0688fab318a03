"""Compiled hot paths and their pure-Python twins, behind one selector.

Every compiled module ``aurora._fastpath.NAME`` (built from ``NAME.pyx``) has a twin
``aurora._fastpath._NAME_py`` with the same behaviour. ``AURORA_NO_EXTENSIONS=1`` selects the twins
(and, at build time, skips compiling). Without it, a compiled module that fails to import is an
error, never a silent fallback: a slow scheduler that looks healthy is worse than one that says why.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

NO_EXTENSIONS: bool = os.environ.get("AURORA_NO_EXTENSIONS", "") not in ("", "0")

COMPILED = "compiled"
PURE = "pure"
IMPLEMENTATIONS = (COMPILED, PURE)


def default_impl() -> str:
    """The implementation used when nobody asks for one."""
    return PURE if NO_EXTENSIONS else COMPILED


def load(name: str, impl: str | None = None) -> ModuleType:
    """Return module NAME in the given implementation ("compiled" or "pure").

    Raises ImportError naming the module and the way out when the compiled one is missing.
    """
    impl = impl or default_impl()
    if impl == PURE:
        return importlib.import_module(f"aurora._fastpath._{name}_py")
    if impl != COMPILED:
        raise ValueError(f"unknown implementation {impl!r}: expected one of {IMPLEMENTATIONS}")
    try:
        module = importlib.import_module(f"aurora._fastpath.{name}")
    except ImportError as exc:
        raise ImportError(
            f"compiled module aurora._fastpath.{name} is not built ({exc}); build it with "
            "`ci/setup` (or `pip install -e .`), or set AURORA_NO_EXTENSIONS=1 to use the "
            "pure-Python twin"
        ) from exc
    if not is_compiled(module):
        raise ImportError(
            f"aurora._fastpath.{name} loaded from {module.__file__}, not a compiled extension"
        )
    return module


def is_compiled(module: ModuleType) -> bool:
    """True when MODULE was loaded from a compiled extension (.so / .pyd)."""
    path = getattr(module, "__file__", "") or ""
    return path.endswith((".so", ".pyd"))
