"""``{{...}}`` templates in task strings, resolved at launch.

Aurora's client binds everything it knows and leaves the launch-time names in the JSON it sends:
``{{mesos.instance}}``, ``{{mesos.hostname}}``, ``{{thermos.ports[NAME]}}``, ``{{thermos.task_id}}``
and ``{{thermos.user}}``. Like pystachio, a reference is a dotted path with ``[key]`` indexing
(``thermos.ports[http]`` and ``thermos.ports.http`` are the same), whitespace inside the braces is
ignored, and templates nest (``{{thermos.ports[{{port_name}}]}}`` resolves the inner one first).
A name that is not bound is an error naming the reference, where it was found and what is bound.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

__all__ = ["TemplateError", "bound_names", "render"]

# An innermost template: no braces inside.
_INNERMOST = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_SEGMENT = re.compile(r"\.?([A-Za-z_][\w\-]*)|\[([^\[\]]*)\]")

Scalar = str | int | float | bool
Namespace = Mapping[str, object]


class TemplateError(ValueError):
    """A template reference that cannot be resolved."""

    def __init__(self, ref: str, where: str, detail: str, bound: Sequence[str]) -> None:
        self.ref = ref
        self.where = where
        listing = ", ".join(bound) if bound else "nothing"
        super().__init__(
            f"unbound template reference {{{{{ref}}}}} in {where}: {detail} (bound: {listing})"
        )


def _parse(ref: str) -> list[str] | None:
    parts: list[str] = []
    pos = 0
    while pos < len(ref):
        m = _SEGMENT.match(ref, pos)
        if m is None or (pos == 0 and m.group(0).startswith((".", "["))):
            return None
        parts.append(m.group(1) if m.group(1) is not None else m.group(2).strip())
        pos = m.end()
    return parts or None


def _lookup(namespace: Namespace, parts: list[str]) -> tuple[object, str | None]:
    node: object = namespace
    for i, part in enumerate(parts):
        path = _join(parts[: i + 1])
        if isinstance(node, Mapping):
            if part not in node:
                if i == 0:
                    return None, f"{part!r} is not bound"
                return None, f"{_join(parts[:i])} has no {part!r}"
            node = node[part]
        elif isinstance(node, Sequence) and not isinstance(node, str):
            if not part.isdigit() or int(part) >= len(node):
                return None, f"{path} is out of range"
            node = node[int(part)]
        else:
            return None, f"{_join(parts[:i])} has no member {part!r}"
    if isinstance(node, Mapping | list | tuple):
        return None, f"{_join(parts)} is not a single value"
    return node, None


def _join(parts: list[str]) -> str:
    out = ""
    for i, part in enumerate(parts):
        if i == 0:
            out = part
        elif part.isidentifier():
            out += "." + part
        else:
            out += f"[{part}]"
    return out


def bound_names(namespace: Namespace, prefix: str = "") -> list[str]:
    """Every resolvable reference in ``namespace``, for error messages."""
    names: list[str] = []
    for key, value in namespace.items():
        path = f"{prefix}[{key}]" if prefix.endswith("ports") else (
            f"{prefix}.{key}" if prefix else str(key))
        if isinstance(value, Mapping):
            names.extend(bound_names(value, path))
        elif isinstance(value, list | tuple):
            names.append(f"{path}[0..{len(value) - 1}]" if value else f"{path}[]")
        else:
            names.append(path)
    return sorted(names)


def _format(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render(text: str, namespace: Namespace, where: str = "task") -> str:
    """Resolve every template in ``text`` against ``namespace``; raise :class:`TemplateError`."""
    if "{{" not in text:
        return text
    for _ in range(64):  # nesting depth guard
        m = _INNERMOST.search(text)
        if m is None:
            return text
        ref = m.group(1)
        parts = _parse(ref)
        if parts is None:
            raise TemplateError(ref, where, "not a valid reference",
                                bound_names(namespace))
        value, problem = _lookup(namespace, parts)
        if problem is not None:
            raise TemplateError(ref, where, problem, bound_names(namespace))
        text = text[: m.start()] + _format(value) + text[m.end():]
    raise TemplateError(text, where, "templates nested too deeply", bound_names(namespace))
