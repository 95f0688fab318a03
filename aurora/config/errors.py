"""The one error a job configuration can raise: where (file, line), which job, which field, why.

``str(error)`` is always a single line, for example::

    hello.aurora: job devcluster/www-data/prod/hello: field task.resources.cpu: expected a
    float, got 'lots'

(one line in reality). The parts are also attributes, for callers that format their own.
"""

from __future__ import annotations

__all__ = ["ConfigError"]


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class ConfigError(ValueError):
    """A ``.aurora`` file that cannot become a job.

    ``file``: the file the problem is in (an included file when the problem is there).
    ``line``: the line number, when the problem was raised while the file ran.
    ``job``: the job being loaded, ``cluster/role/environment/name``, or the key asked for
    when no job was chosen yet (None when there is neither).
    ``field``: the field's path from the job, e.g. ``task.processes[0].cmdline`` (None when the
    problem is not about one field, e.g. a syntax error).
    ``reason``: what is wrong.
    """

    def __init__(self, reason: str, *, file: str, job: str | None = None,
                 field: str | None = None, line: int | None = None) -> None:
        self.reason = _one_line(reason)
        self.file = str(file)
        self.job = job
        self.field = field
        self.line = line
        super().__init__(self._text())

    def _text(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [where, f"job {self.job}" if self.job else "job (none chosen)"]
        if self.field:
            parts.append(f"field {self.field}")
        parts.append(self.reason)
        return _one_line(": ".join(parts))

    def __str__(self) -> str:
        return self._text()

    def with_context(self, *, file: str | None = None, job: str | None = None,
                     field: str | None = None, line: int | None = None) -> ConfigError:
        """A copy with the parts given filled in where this error has none."""
        return ConfigError(self.reason, file=self.file or file or "", job=self.job or job,
                           field=self.field or field, line=self.line or line)
