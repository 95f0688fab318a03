"""From a ``.aurora`` file to one checked pystachio job.

* :func:`run_file` executes the file (and what it ``include()``s, paths relative to the
  including file, as in pystachio's loader) in a namespace holding the DSL
  (:func:`aurora.config.schema.dsl_namespace`), and returns that namespace;
* :func:`pick_job` applies the caller's bindings to every job in ``jobs = [...]`` and chooses
  one by its key, as Aurora's client does (``AuroraConfig.pick``);
* :func:`check_job` type-checks the chosen job the way pystachio's ``check()`` does, but names
  the first bad field by its path (``task.processes[0].cmdline``) and reports template
  variables nothing binds. The variables the executor fills in on the host
  (``{{mesos.instance}}``, ``{{mesos.hostname}}``, ``{{thermos.task_id}}``,
  ``{{thermos.ports[name]}}``) are left for it.

Every failure is a :class:`ConfigError` naming the file, the job and the field.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterable, Mapping
from typing import Any

from pystachio import Boolean, Empty, Environment, Float, Integer, Ref, String
from pystachio.base import Object
from pystachio.basic import EnumContainer, SimpleObject
from pystachio.choice import ChoiceContainer
from pystachio.composite import IsNotMappingError, Structural
from pystachio.container import ListContainer, MapContainer
from pystachio.parsing import MustacheParser

from aurora.config.errors import ConfigError
from aurora.config.schema import MesosContext, MesosJob, ThermosContext, dsl_namespace
from aurora.model.jobkey import JobKey

__all__ = [
    "Bindings",
    "JobKeyArg",
    "bound_jobs",
    "check_job",
    "describe_job",
    "parse_bindings",
    "pick_job",
    "run_file",
    "runtime_ref",
]

#: ``{"name": value}`` or ``["name=value", ...]`` (the client's ``--bind``).
Bindings = Mapping[str, Any] | Iterable[str]
#: ``cluster/role/env/name``, ``role/env/name`` or a JobKey; None when the file has one job.
JobKeyArg = str | JobKey | None

_MESOS_INSTANCE = Ref.from_address("mesos.instance")
_MESOS_HOSTNAME = Ref.from_address("mesos.hostname")
_THERMOS_TASK_ID = Ref.from_address("thermos.task_id")
_THERMOS_PORTS = Ref.from_address("thermos.ports")
_DOCKER_IMAGE = Ref.from_address("docker.image")
_MISSING = "?"


# ------------------------------------------------------------------------------- running


def _error_site(tb: Any, files: set[str]) -> tuple[str | None, int | None, str | None]:
    """(file, line) of the innermost frame in a config file, and the struct field being set."""
    file = line = field = None
    for frame, lineno in traceback.walk_tb(tb):
        code = frame.f_code
        if code.co_filename in files:
            file, line = code.co_filename, lineno
        owner = frame.f_locals.get("self")
        if code.co_name == "_process_schema_attribute" and isinstance(owner, Structural):
            field = f"{type(owner).__name__}.{frame.f_locals.get('attr')}"
    return file, line, field


def _exec_reason(err: BaseException, field: str | None) -> str:
    if isinstance(err, AttributeError) and str(err).startswith("Unknown schema attribute"):
        struct, _, name = (field or "?.?").partition(".")
        return f"{struct} has no field {name!r}"
    if isinstance(err, IsNotMappingError):
        return f"expected a struct or a dict, got {err.arg!r}"
    if field is not None:
        return f"bad value: {err}"
    return f"{type(err).__name__}: {err}"


def run_file(path: str | os.PathLike[str], *, job: str | None = None) -> dict[str, Any]:
    """Run a config file; returns its namespace. ``job`` only labels errors."""
    root = os.fspath(path)
    namespace = dsl_namespace()
    stack: list[str] = []
    loaded: set[str] = set()

    def include(name: str) -> None:
        base = os.path.dirname(stack[-1]) if stack else ""
        target = os.path.join(base, os.fspath(name))
        if target in stack:
            raise ConfigError(f"include cycle: {' -> '.join([*stack, target])}",
                              file=stack[-1], job=job)
        try:
            with open(target, encoding="utf-8") as handle:
                source = handle.read()
        except OSError as err:
            where = stack[-1] if stack else target
            raise ConfigError(f"cannot read {target}: {err.strerror or err}",
                              file=where, job=job) from None
        stack.append(target)
        loaded.add(target)
        try:
            # the file is the user's program; no __future__ flags of ours leak into it
            exec(compile(source, target, "exec", dont_inherit=True), namespace)
        finally:
            stack.pop()

    namespace["include"] = include
    try:
        include(root)
    except ConfigError as err:  # from include(): point at the line that called it
        file, line, _ = _error_site(err.__traceback__, loaded)
        if err.line is not None or file != err.file:
            raise
        raise err.with_context(line=line) from None
    except SyntaxError as err:
        raise ConfigError(f"syntax error: {err.msg}", file=err.filename or root, job=job,
                          line=err.lineno) from None
    except Exception as err:
        file, line, field = _error_site(err.__traceback__, loaded)
        raise ConfigError(_exec_reason(err, field), file=file or root, job=job, field=field,
                          line=line) from None
    return namespace


# ------------------------------------------------------------------------------- choosing


def parse_bindings(bindings: Bindings | None, *, file: str,
                   job: str | None = None) -> list[dict[Ref, str]]:
    """The caller's bindings as pystachio wants them: ``[{Ref: value}, ...]``."""
    if not bindings:
        return []
    if isinstance(bindings, Mapping):
        pairs = [(str(k), v) for k, v in bindings.items()]
    else:
        pairs = []
        for text in bindings:
            name, sep, value = str(text).partition("=")
            if not sep:
                raise ConfigError(f"binding {text!r} must be formatted name=value",
                                  file=file, job=job)
            pairs.append((name, value))
    result = []
    for name, value in pairs:
        try:
            ref = Ref.from_address(name)
        except Ref.InvalidRefError as err:
            raise ConfigError(f"binding {name!r} is not a variable name: {err}", file=file,
                              job=job) from None
        result.append({ref: value if isinstance(value, str | int | float) else str(value)})
    return result


def _part(value: Any) -> str:
    if value is Empty:
        return _MISSING
    try:
        return str(value)
    except (Object.CoercionError, MustacheParser.Uninterpolatable):
        return _MISSING


def describe_job(job: Any) -> str:
    """``cluster/role/environment/name`` of a pystachio job (``?`` for a missing part)."""
    return "/".join(_part(getattr(job, f)()) for f in ("cluster", "role", "environment", "name"))


def _wanted(key: JobKeyArg, file: str) -> tuple[str | None, ...]:
    """(cluster, role, environment, name) asked for; None matches anything."""
    if isinstance(key, JobKey):
        return (None, key.role, key.environment, key.name)
    parts = str(key).split("/")
    if len(parts) == 4:
        return tuple(parts)
    if len(parts) == 3:
        return (None, *parts)
    raise ConfigError(f"bad job key {key!r}: expected cluster/role/environment/name",
                      file=file, job=str(key))


def bound_jobs(namespace: Mapping[str, Any], bindings: Bindings | None, *, file: str,
               asked: str | None = None) -> list[tuple[Any, str]]:
    """The file's ``jobs`` with ``bindings`` applied, each with its
    ``cluster/role/environment/name``."""
    jobs = namespace.get("jobs")
    if not jobs:
        raise ConfigError("the file defines no jobs (expected jobs = [Job(...), ...])",
                          file=file, job=asked)
    if not isinstance(jobs, list | tuple):
        raise ConfigError(f"jobs must be a list of Job, got {type(jobs).__name__}",
                          file=file, job=asked)
    for i, job in enumerate(jobs):
        if not isinstance(job, MesosJob):
            raise ConfigError(f"jobs[{i}] is not a Job: {job!r}", file=file, job=asked)
    refs = parse_bindings(bindings, file=file, job=asked)
    bound = [job.bind(*refs) if refs else job for job in jobs]
    return [(job, describe_job(job)) for job in bound]


def pick_job(namespace: Mapping[str, Any], key: JobKeyArg, bindings: Bindings | None, *,
             file: str) -> tuple[Any, str]:
    """The job ``key`` names among the file's ``jobs``, with ``bindings`` applied.

    Returns the job and its ``cluster/role/environment/name``.
    """
    asked = None if key is None else str(key)
    pairs = bound_jobs(namespace, bindings, file=file, asked=asked)
    bound = [job for job, _ in pairs]
    names = [name for _, name in pairs]
    if key is None:
        if len(bound) > 1:
            raise ConfigError(f"the file defines {len(bound)} jobs ({', '.join(names)}): "
                              "give a job key", file=file)
        return bound[0], names[0]
    wanted = _wanted(key, file)
    matches = [(job, name) for job, name in zip(bound, names, strict=True)
               if all(w is None or w == part for w, part in zip(wanted, name.split("/"),
                                                                strict=True))]
    if len(matches) == 1:
        return matches[0]
    problem = "no job matches" if not matches else f"{len(matches)} jobs match"
    note = f" ({_MISSING} marks a part that is not set)" if any(
        _MISSING in name.split("/") for name in names) else ""
    raise ConfigError(f"{problem} {asked}; the file defines: {', '.join(names)}{note}",
                      file=file, job=asked)


# ------------------------------------------------------------------------------- checking


def runtime_ref(ref: Ref) -> bool:
    """True for the variables the executor binds on the host."""
    if ref in (_MESOS_INSTANCE, _MESOS_HOSTNAME, _THERMOS_TASK_ID):
        return True
    rest = _THERMOS_PORTS.scoped_to(ref)
    return rest is not None and rest.is_index() and len(rest.components()) == 1


def _runtime_scope(refs: Iterable[Ref]) -> Environment:
    """Stand-in values for runtime variables, to type-check fields that use them."""
    ports = {_THERMOS_PORTS.scoped_to(r).action().value: 0
             for r in refs if _THERMOS_PORTS.scoped_to(r) is not None}
    return Environment(mesos=MesosContext(instance=0, hostname="localhost"),
                       thermos=ThermosContext(ports=ports, task_id="task", user="user"))


def _kind(value: SimpleObject) -> str:
    if isinstance(value, EnumContainer):
        return "one of " + ", ".join(type(value).VALUES)
    for klass, text in ((String, "a string"), (Integer, "an integer"), (Float, "a number"),
                        (Boolean, "a boolean")):
        if isinstance(value, klass):
            return text
    return type(value).__name__


def _check_leaf(value: SimpleObject) -> str | None:
    try:
        interpolated, refs = value.interpolate()
    except (Object.CoercionError, MustacheParser.Uninterpolatable, ValueError):
        return f"expected {_kind(value)}, got {value._value!r}"
    unbound = [ref for ref in refs if not runtime_ref(ref)]
    if unbound:
        bad = " ".join(sorted(str(ref) for ref in unbound))
        for ref in unbound:
            rest = _THERMOS_PORTS.scoped_to(ref)
            if rest is not None:
                return f"bad port reference {ref}: expected {{{{thermos.ports[name]}}}}"
        hint = ""
        if any(_DOCKER_IMAGE.scoped_to(ref) is not None for ref in unbound):
            hint = (" (Aurora's client asks a Docker registry for it; bind it instead, e.g. "
                    "docker.image[library/python][2.7]=python@sha256:...)")
        return f"unbound variable{'s' if len(unbound) > 1 else ''} {bad}{hint}"
    if refs:
        value = value.bind(_runtime_scope(refs))
        later = value.interpolate()[1]
        if later:  # e.g. {{ports[{{mesos.instance}}]}}: its name is only known on the host
            return (f"unbound variable {' '.join(sorted(str(ref) for ref in later))} once the "
                    "host binds {{mesos.*}}/{{thermos.*}}: do not nest template variables")
    if value.check().ok():
        return None
    try:
        shown = value.interpolate()[0]._value
    except (Object.CoercionError, MustacheParser.Uninterpolatable, ValueError):
        shown = interpolated._value
    return f"expected {_kind(value)}, got {shown!r}"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _check_choice(value: ChoiceContainer, path: str) -> tuple[str, str] | None:
    inner, scopes = value._value, value.scopes()
    for alternative in value.CHOICES:
        if isinstance(inner, alternative):
            return _first_problem(inner.in_scope(*scopes), path)
    for alternative in value.CHOICES:
        try:
            if alternative(inner).in_scope(*scopes).check().ok():
                return None
        except (Object.CoercionError, ValueError, AttributeError, TypeError):
            continue
    names = ", ".join(alternative.__name__ for alternative in value.CHOICES)
    return path, f"expected one of {names}, got {inner!r}"


def _first_problem(value: Any, path: str) -> tuple[str, str] | None:
    """(field path, reason) of the first thing wrong with ``value``, like pystachio's check()."""
    # pystachio keeps no public view of unset fields and raw items; check() reads them so.
    if isinstance(value, Structural):
        scopes = value.scopes()
        for name, signature in value.TYPEMAP.items():
            child = value._schema_data[name]
            if child is Empty:
                if signature.required:
                    return _join(path, name), "is required"
                continue
            found = _first_problem(child.in_scope(*scopes), _join(path, name))
            if found:
                return found
        return None
    if isinstance(value, ListContainer):
        scopes = value.scopes()
        for i, item in enumerate(value._values):
            found = _first_problem(item.in_scope(*scopes), f"{path}[{i}]")
            if found:
                return found
        return None
    if isinstance(value, MapContainer):
        scopes = value.scopes()
        for key, item in value._map:
            here = f"{path}[{_part(key.in_scope(*scopes))}]"
            found = (_first_problem(key.in_scope(*scopes), here)
                     or _first_problem(item.in_scope(*scopes), here))
            if found:
                return found
        return None
    if isinstance(value, ChoiceContainer):
        return _check_choice(value, path)
    reason = _check_leaf(value)
    return None if reason is None else (path, reason)


def check_job(job: Any, *, file: str, job_name: str) -> None:
    """Raise ConfigError for the first missing field, type error or unbound variable."""
    try:
        no_processes = job.has_task() and not job.task().has_processes()  # Aurora's first check
    except (Object.CoercionError, MustacheParser.Uninterpolatable, ValueError):
        no_processes = False  # a type error inside the task: reported below
    if no_processes:
        raise ConfigError("is required", file=file, job=job_name, field="task.processes")
    found = _first_problem(job, "")
    if found is not None:
        field, reason = found
        raise ConfigError(reason, file=file, job=job_name, field=field or None)
