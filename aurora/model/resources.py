"""Resources a task asks for (Aurora's ``set<Resource>``: cpus, RAM, disk, GPUs, named ports).

Construction checks only what is true of any amount of resources (finite, non-negative, sane
types), so the same struct serves for task requests, offers, free capacity and quota sums.
Aurora's stricter rule for a *task* (``ConfigurationManager``: ``num_cpus``, ``ram_mb`` and
``disk_mb`` must each be greater than 0) is :meth:`Resources.task_problem`, which
``TaskConfig`` applies.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

import msgspec
from msgspec.structs import force_setattr

__all__ = [
    "GB",
    "KB",
    "MB",
    "TB",
    "InvalidResourcesError",
    "Resources",
    "parse_size",
]

#: Byte multiples as in Aurora's DSL (thermos ``schema_base``: KB = 1024 bytes, and so on).
KB = 1024
MB = 1024 * KB
GB = 1024 * MB
TB = 1024 * GB
_UNITS = {"": 1, "B": 1, "KB": KB, "MB": MB, "GB": GB, "TB": TB}

_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([KMGT]?B)?\s*", re.ASCII | re.IGNORECASE)
_PORT_NAME = re.compile(r"[\w\-\.]+", re.ASCII)
_PORT_NAME_PATTERN = r"^[\w\-\.]+$"


class InvalidResourcesError(ValueError):
    """Resources, or a size, that cannot be right; the message names the field."""


def parse_size(value: str | int | float) -> int:
    """A size in whole MB, from bytes or a string with a unit.

    Numbers (and strings without a unit, or with ``B``) are bytes, as in Aurora's DSL where one
    writes ``ram = 512 * MB``. Strings take a unit ``KB``, ``MB``, ``GB`` or ``TB`` (any case,
    powers of 1024, decimals allowed: ``"1.5GB"`` is 1536). A part of a MB is dropped, as the
    Aurora client does (``ramMb = ram / MB``, integer division).
    """
    if isinstance(value, bool):
        raise InvalidResourcesError(f"invalid size {value!r}: expected bytes or a string")
    if isinstance(value, int):
        amount = Fraction(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidResourcesError(f"invalid size {value!r}: must be finite")
        amount = Fraction(value)
    elif isinstance(value, str):
        match = _SIZE.fullmatch(value)
        if match is None:
            raise InvalidResourcesError(
                f"invalid size {value!r}: expected a number of bytes or a number with a unit "
                "KB, MB, GB or TB (e.g. '512MB', '2GB')"
            )
        amount = Fraction(match.group(1)) * _UNITS[(match.group(2) or "").upper()]
    else:
        raise InvalidResourcesError(
            f"invalid size {value!r}: expected bytes or a string, got {type(value).__name__}"
        )
    if amount < 0:
        raise InvalidResourcesError(f"invalid size {value!r}: must not be negative")
    return math.floor(amount / MB)


def _is_int(value: object) -> bool:
    return type(value) is int  # excludes bool


class Resources(msgspec.Struct, frozen=True, gc=False):
    """Cores, MB of RAM and disk, GPUs and named ports (sorted, unique)."""

    cpu: float
    ram_mb: int
    disk_mb: int
    gpus: int = 0
    ports: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        cpu = self.cpu
        if type(cpu) is not float:
            if not _is_int(cpu):
                raise InvalidResourcesError(
                    f"cpu must be a number, got {type(cpu).__name__} {cpu!r}"
                )
            cpu = float(cpu)
            force_setattr(self, "cpu", cpu)
        if not (cpu >= 0.0 and math.isfinite(cpu)):
            raise InvalidResourcesError(f"cpu must be a finite number >= 0, got {cpu!r}")
        for field in ("ram_mb", "disk_mb", "gpus"):
            amount = getattr(self, field)
            if not _is_int(amount):
                raise InvalidResourcesError(
                    f"{field} must be an integer, got {type(amount).__name__} {amount!r}"
                )
            if amount < 0:
                raise InvalidResourcesError(f"{field} must be >= 0, got {amount}")
        ports = self.ports
        if ports:
            for port in ports:
                if not isinstance(port, str) or _PORT_NAME.fullmatch(port) is None:
                    raise InvalidResourcesError(
                        f"ports: port name {port!r} must be a non-empty string matching "
                        f"{_PORT_NAME_PATTERN}"
                    )
            normal = tuple(sorted(set(ports)))
            if normal != ports:
                force_setattr(self, "ports", normal)
        elif type(ports) is not tuple:
            force_setattr(self, "ports", ())

    @classmethod
    def zero(cls) -> Resources:
        return _ZERO

    def task_problem(self) -> str | None:
        """Why a task may not ask for these resources (Aurora's rule); None when it may."""
        if not self.cpu > 0.0:
            return f"cpu must be greater than 0, got {self.cpu!r}"
        if not self.ram_mb > 0:
            return f"ram_mb must be greater than 0, got {self.ram_mb}"
        if not self.disk_mb > 0:
            return f"disk_mb must be greater than 0, got {self.disk_mb}"
        return None

    def validate_task(self) -> Resources:
        """Raise InvalidResourcesError unless a task may ask for these; returns self."""
        problem = self.task_problem()
        if problem is not None:
            raise InvalidResourcesError(problem)
        return self

    @property
    def port_count(self) -> int:
        return len(self.ports)

    def __add__(self, other: object) -> Resources:
        if not isinstance(other, Resources):
            return NotImplemented
        return Resources(
            round(self.cpu + other.cpu, 9),
            self.ram_mb + other.ram_mb,
            self.disk_mb + other.disk_mb,
            self.gpus + other.gpus,
            self.ports + other.ports if other.ports else self.ports,
        )

    def __sub__(self, other: object) -> Resources:
        """What is left after taking ``other`` away; a negative amount raises (name the field).

        Port names of ``other`` are removed. CPU sums, differences and multiples are rounded to
        1e-9 cores so that decimal amounts do not leave float dust (0.3 - 0.1 == 0.2).
        """
        if not isinstance(other, Resources):
            return NotImplemented
        cpu = round(self.cpu - other.cpu, 9)
        ports = tuple(p for p in self.ports if p not in other.ports) if other.ports else self.ports
        try:
            return Resources(
                0.0 if cpu == 0 else cpu,
                self.ram_mb - other.ram_mb,
                self.disk_mb - other.disk_mb,
                self.gpus - other.gpus,
                ports,
            )
        except InvalidResourcesError as err:
            raise InvalidResourcesError(f"cannot subtract {other} from {self}: {err}") from None

    def __mul__(self, factor: int) -> Resources:
        """Scale by a whole number (e.g. per-task resources times instances); names stay."""
        if type(factor) is not int:
            return NotImplemented
        if factor < 0:
            raise InvalidResourcesError(f"cannot scale resources by a negative factor {factor}")
        return Resources(
            round(self.cpu * factor, 9),
            self.ram_mb * factor,
            self.disk_mb * factor,
            self.gpus * factor,
            self.ports,
        )

    __rmul__ = __mul__

    def fits_in(self, other: Resources, free_ports: int | None = None) -> bool:
        """True when ``other`` has at least this much CPU, RAM, disk and GPUs.

        Ports are checked only when ``free_ports`` is given (an offer holds port numbers, not
        names): then this needs ``len(ports) <= free_ports``.
        """
        return (
            self.cpu <= other.cpu
            and self.ram_mb <= other.ram_mb
            and self.disk_mb <= other.disk_mb
            and self.gpus <= other.gpus
            and (free_ports is None or len(self.ports) <= free_ports)
        )

    def __str__(self) -> str:
        text = f"cpu={self.cpu:g} ram={self.ram_mb}MB disk={self.disk_mb}MB"
        if self.gpus:
            text += f" gpus={self.gpus}"
        if self.ports:
            text += " ports=" + ",".join(self.ports)
        return text


_ZERO = Resources(0.0, 0, 0)
