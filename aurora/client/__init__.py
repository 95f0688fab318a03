"""Aurora's command-line clients: ``aurora`` (jobs, quota, configs) and ``aurora_admin``.

Exit codes scripts can trust (:class:`ClientError` carries one):

* 0: done;
* 1: the scheduler refused the request, or what was asked for does not exist;
* 2: a usage or configuration problem (unknown cluster, malformed key, bad ``.aurora`` file);
* 3: the scheduler cannot be reached.
"""

from __future__ import annotations

__all__ = [
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "ClientError",
]

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3


class ClientError(Exception):
    """A problem to report as one line; ``exit_code`` says what kind (usage by default)."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
