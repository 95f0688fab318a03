"""The task-state table used by the scheduler: compiled by default, the pure twin under
``AURORA_NO_EXTENSIONS=1`` (see :mod:`aurora._fastpath`)."""

from __future__ import annotations

from aurora._fastpath import default_impl, is_compiled, load

_module = load("statetable")

#: "compiled" or "pure": which implementation this process runs.
IMPLEMENTATION: str = default_impl()
StateTable = _module.StateTable

assert (IMPLEMENTATION == "compiled") == is_compiled(_module)

__all__ = ["IMPLEMENTATION", "StateTable"]
