"""Build aurora and its Cython extensions.

Environment switches:
  AURORA_NO_EXTENSIONS=1   build nothing compiled; at import time the pure-Python twins are used.
  AURORA_CYTHON_PROFILE=1  compile with line tracing, and write Cython's HTML annotation of each
                           module under build/cython-profile/, so profilers see Cython lines.
                           Build with `build_ext --inplace --force` to switch into this mode and
                           again (without the variable) to switch back.
"""

from __future__ import annotations

import os
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
NO_EXTENSIONS = os.environ.get("AURORA_NO_EXTENSIONS", "") not in ("", "0")
PROFILE = os.environ.get("AURORA_CYTHON_PROFILE", "") not in ("", "0")


def extensions() -> list:
    if NO_EXTENSIONS:
        return []
    from Cython.Build import cythonize
    from setuptools import Extension

    macros = [("CYTHON_TRACE_NOGIL", "1")] if PROFILE else []
    exts = [
        Extension(
            "aurora._fastpath." + pyx.stem,
            [str(pyx.relative_to(HERE))],
            extra_compile_args=["-O3"],
            define_macros=macros,
        )
        for pyx in sorted((HERE / "aurora" / "_fastpath").glob("*.pyx"))
    ]
    directives = {
        "language_level": 3,
        "boundscheck": False,
        "wraparound": False,
        "cdivision": True,
        "initializedcheck": False,
        "embedsignature": True,
    }
    if PROFILE:
        directives.update({"linetrace": True, "binding": True, "profile": True})
    if PROFILE:
        return cythonize(exts, compiler_directives=directives, annotate=True, force=True,
                         build_dir="build/cython-profile")
    return cythonize(exts, compiler_directives=directives)


setup(
    name="aurora",
    version="0.1.0",
    description="Apache Aurora's scheduler reimplemented in Python with Cython hot paths",
    python_requires=">=3.11",
    packages=find_packages(include=["aurora", "aurora.*", "bench", "bench.*"]),
    package_data={"aurora._fastpath": ["*.pxd", "*.pyx"], "aurora.api": ["aurora.thrift"]},
    ext_modules=extensions(),
    install_requires=[
        "msgspec>=0.18",
        "rich>=13",
        "rocksdict>=0.3.20",
        "uvloop>=0.19",
        "thriftpy2>=0.5",
        "aiohttp>=3.9",
        "prometheus-client>=0.20",
        "pystachio>=0.8.10,<0.9",
        "pyzmq>=26",
    ],
    extras_require={
        "dev": ["pytest>=8", "hypothesis>=6.100", "ruff>=0.5", "py-spy>=0.3.14", "cython>=3.0",
                # Apache Thrift's own library: the tests check our wire format against it.
                "thrift>=0.16"],
    },
    entry_points={
        "console_scripts": [
            "aurora-scheduler = aurora.scheduler.main:main",
            "aurora-executor = aurora.executor.main:main",
            "aurora-agent = aurora.agent.main:main",
            "aurora = aurora.client.cli:main",
            "aurora_admin = aurora.client.admin:main",
        ],
    },
    zip_safe=False,
)
