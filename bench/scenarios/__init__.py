"""The bench scenarios: every module in this package registers its own with `@register`.

`load_all()` imports them all (pkgutil), plus any module named in the environment variable
AURORA_BENCH_EXTRA_MODULES (comma-separated, importable from sys.path: scenarios kept outside
the tree, and the harness's own tests). A module that fails to import is an error naming it,
never skipped: a scenario that silently vanishes from the report looks like a pass.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import traceback

EXTRA_MODULES_ENV = "AURORA_BENCH_EXTRA_MODULES"


class ScenarioImportError(ImportError):
    """One or more scenario modules failed to import; `failures` maps module name to traceback."""

    def __init__(self, failures: dict[str, str], summaries: dict[str, str]) -> None:
        self.failures = failures
        names = ", ".join(f"{name} ({summaries[name]})" for name in failures)
        super().__init__(f"scenario module(s) failed to import: {names}")


def module_names(package: str = __name__) -> list[str]:
    """The modules of PACKAGE (default this one) then the extra modules from the environment."""
    pkg = importlib.import_module(package)
    names = [
        f"{package}.{info.name}"
        for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name)
        if not info.name.startswith("_")
    ]
    extra = os.environ.get(EXTRA_MODULES_ENV, "")
    names += [name.strip() for name in extra.split(",") if name.strip()]
    return names


def load_all(package: str = __name__) -> list[str]:
    """Import every scenario module; return their names. Raises ScenarioImportError naming
    every module that failed (after trying them all)."""
    failures: dict[str, str] = {}
    summaries: dict[str, str] = {}
    names = module_names(package)
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:
            failures[name] = "".join(traceback.format_exception(exc))
            summaries[name] = f"{type(exc).__name__}: {exc}"
    if failures:
        raise ScenarioImportError(failures, summaries)
    return names
