"""Job keys: ``role/environment/name``, validated the way Aurora's scheduler validates them.

Facts matched (Aurora 0.22):

* every part matches ``GOOD_IDENTIFIER_PATTERN = ^[\\w\\-\\.]+$`` (api.thrift) and is at most 255
  characters long (``UserProvidedStrings``). The scheduler applies the pattern with Java's regex
  engine, where ``\\w`` is ASCII-only and ``$`` must reach the end of the input, so we match with
  ``re.ASCII`` and ``fullmatch`` (Python's ``re.match`` with ``$`` would accept a trailing newline
  and non-ASCII letters);
* the environment must match the scheduler option ``-allowed_job_environments``, by default
  ``^(prod|devel|test|staging\\d*)$`` (``ConfigurationManager.DEFAULT_ALLOWED_JOB_ENVIRONMENTS``);
  note that ``\\d*`` admits a bare ``staging``;
* the client names a job ``cluster/role/environment/name`` (``AuroraJobKey.from_path``).
"""

from __future__ import annotations

import re

import msgspec

__all__ = [
    "DEFAULT_ALLOWED_ENVIRONMENTS",
    "GOOD_IDENTIFIER_PATTERN",
    "MAX_IDENTIFIER_LENGTH",
    "InvalidJobKeyError",
    "JobKey",
    "allowed_environments",
    "identifier_problem",
    "is_good_identifier",
    "parse_cluster_key",
    "set_allowed_environments",
]

#: Aurora's GOOD_IDENTIFIER_PATTERN (api.thrift), as text for error messages.
GOOD_IDENTIFIER_PATTERN = r"^[\w\-\.]+$"
#: UserProvidedStrings.MAX_IDENTIFIER_LENGTH.
MAX_IDENTIFIER_LENGTH = 255
#: ConfigurationManager.DEFAULT_ALLOWED_JOB_ENVIRONMENTS.
DEFAULT_ALLOWED_ENVIRONMENTS = r"^(prod|devel|test|staging\d*)$"

_IDENTIFIER = re.compile(r"[\w\-\.]+", re.ASCII)
_DEFAULT_ENV = re.compile(DEFAULT_ALLOWED_ENVIRONMENTS, re.ASCII)
_DEFAULT_ENV_HINT = "expected prod, devel, test or staging<N>"

# The environment rule in force (a process-wide scheduler setting, like Aurora's flag).
_env_pattern: re.Pattern[str] = _DEFAULT_ENV
_env_hint: str = _DEFAULT_ENV_HINT


class InvalidJobKeyError(ValueError):
    """A job key (or cluster job key) that Aurora would reject; the message names the bad part."""


def is_good_identifier(value: object) -> bool:
    """True when ``value`` is a string Aurora accepts as a job key part, tier, or user."""
    return (
        isinstance(value, str)
        and len(value) <= MAX_IDENTIFIER_LENGTH
        and _IDENTIFIER.fullmatch(value) is not None
    )


def identifier_problem(field: str, value: object) -> str | None:
    """Why ``value`` is not a good identifier, as ``"<field> '<value>' ..."``; None when it is."""
    if not isinstance(value, str):
        return f"{field} must be a string, got {type(value).__name__}"
    if not value:
        return f"{field} must not be empty"
    if len(value) > MAX_IDENTIFIER_LENGTH:
        return f"{field} '{value}' is longer than {MAX_IDENTIFIER_LENGTH} characters"
    if _IDENTIFIER.fullmatch(value) is None:
        return f"{field} '{value}' must match {GOOD_IDENTIFIER_PATTERN}"
    return None


def set_allowed_environments(pattern: str | None) -> None:
    """Set the environment rule for every JobKey (Aurora's ``-allowed_job_environments``).

    ``pattern`` is a regular expression that must match the whole environment; None restores
    Aurora's default. Call it once at start-up: keys already built are not re-checked.
    """
    global _env_pattern, _env_hint
    if pattern is None:
        _env_pattern, _env_hint = _DEFAULT_ENV, _DEFAULT_ENV_HINT
    else:
        _env_pattern = re.compile(pattern, re.ASCII)
        _env_hint = f"expected a match for {pattern}"


def allowed_environments() -> str:
    """The environment rule in force, as a regular expression."""
    return _env_pattern.pattern


def _key_problem(role: object, environment: object, name: object) -> str | None:
    problem = (
        identifier_problem("role", role)
        or identifier_problem("environment", environment)
        or identifier_problem("name", name)
    )
    if problem is None and _env_pattern.fullmatch(str(environment)) is None:
        problem = f"environment '{environment}' is not allowed: {_env_hint}"
    return problem


def _fail(text: str, problem: str) -> InvalidJobKeyError:
    return InvalidJobKeyError(f"invalid job key '{text}': {problem}")


class JobKey(msgspec.Struct, frozen=True, order=True, gc=False):
    """Aurora's JobKey. Construction and decoding validate (``__post_init__``)."""

    role: str
    environment: str
    name: str

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem is not None:
            raise _fail(self._text(), problem)

    def _text(self) -> str:
        return f"{self.role}/{self.environment}/{self.name}"

    def _problem(self) -> str | None:
        return _key_problem(self.role, self.environment, self.name)

    @classmethod
    def of(cls, role: str, environment: str, name: str) -> JobKey:
        """A validated key (same as calling the class; spelled out for readers)."""
        return cls(role, environment, name)

    @classmethod
    def parse(cls, text: str) -> JobKey:
        """A key from ``role/environment/name``."""
        if not isinstance(text, str):
            raise InvalidJobKeyError(
                f"invalid job key {text!r}: expected a string role/environment/name"
            )
        parts = text.split("/")
        if len(parts) != 3:
            raise _fail(text, f"expected role/environment/name, got {len(parts)} parts")
        return cls(parts[0], parts[1], parts[2])

    def validate(self) -> JobKey:
        """Check the key again (e.g. after the environment rule changed); returns self."""
        problem = self._problem()
        if problem is not None:
            raise _fail(self._text(), problem)
        return self

    @property
    def path(self) -> str:
        """``role/environment/name`` (JobKeys.canonicalString)."""
        return self._text()

    def with_cluster(self, cluster: str) -> str:
        """``cluster/role/environment/name``, the client's form."""
        return f"{cluster}/{self._text()}"

    def __str__(self) -> str:
        return self._text()


def parse_cluster_key(text: str) -> tuple[str, JobKey]:
    """``(cluster, JobKey)`` from the client's ``cluster/role/environment/name``."""
    if not isinstance(text, str):
        raise InvalidJobKeyError(
            f"invalid job key {text!r}: expected a string cluster/role/environment/name"
        )
    parts = text.split("/")
    if len(parts) != 4:
        raise _fail(text, f"expected cluster/role/environment/name, got {len(parts)} parts")
    problem = identifier_problem("cluster", parts[0]) or _key_problem(*parts[1:])
    if problem is not None:
        raise _fail(text, problem)
    return parts[0], JobKey(parts[1], parts[2], parts[3])
