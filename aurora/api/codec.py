"""Thrift messages on the scheduler's ``/api`` endpoint: protocol choice, calls in, replies out.

Facts matched (Aurora 0.22, ``http/api/ApiModule`` and ``TContentAwareServlet``):

* the request's Content-Type picks the protocol: ``application/json``, ``application/x-thrift``
  and ``application/vnd.apache.thrift.json`` mean Thrift's JSON protocol (TJSON), and
  ``application/vnd.apache.thrift.binary`` the binary one; a request without a Content-Type is
  read as ``application/x-thrift``; any other type is answered 415. (We also accept a
  ``charset=utf-8`` parameter on every JSON type; Aurora only on the vnd.apache one.)
* the Accept header picks the reply's protocol: binary for exactly
  ``application/vnd.apache.thrift.binary``, TJSON for anything else or nothing. Aurora's Python
  client sends both headers as binary.
* an unknown method is answered with a TApplicationException UNKNOWN_METHOD ("Invalid method
  name: 'x'"), arguments that cannot be read with one of type PROTOCOL_ERROR, each under the
  call's name and sequence id, as Apache Thrift's processor does.

Decoding checks more than Thrift does: a value of the wrong type, a string that is not UTF-8,
an enum number the IDL does not define, or a union without exactly one member is a
:class:`BadRequest` naming the field, where a Thrift peer would skip it or keep it silently.
Fields the IDL does not know are skipped, as Thrift does. Binary bodies are checked here and
then decoded by thriftpy2; TJSON bodies are read here, because thriftpy2's TJSON reader neither
skips unknown fields nor checks types. Replies are written by thriftpy2 in both protocols.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterable
from enum import IntEnum
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, NamedTuple

import thriftpy2
from thriftpy2.protocol import TApacheJSONProtocol, TBinaryProtocol
from thriftpy2.thrift import TApplicationException, TMessageType, TPayload, TType
from thriftpy2.transport import TMemoryBuffer

__all__ = [
    "BINARY_CONTENT_TYPE",
    "JSON_CONTENT_TYPE",
    "MAX_BODY_BYTES",
    "METHODS",
    "RESULT_FIELDS",
    "ApiCodecError",
    "BadRequest",
    "BodyTooLarge",
    "Call",
    "Protocol",
    "ResponseCode",
    "UnsupportedMediaType",
    "api",
    "check_body_size",
    "content_type_for",
    "decode_call",
    "decode_reply",
    "encode_call",
    "encode_error",
    "encode_exception",
    "encode_reply",
    "error",
    "invalid_request",
    "load_api",
    "ok",
    "protocol_for",
    "reply_protocol_for",
    "response",
    "result_for",
]

Protocol = Literal["json", "binary"]

#: The largest request body we read (Aurora sets none; no job configuration comes near it).
MAX_BODY_BYTES = 16 * 1024 * 1024
#: How deeply structs and containers may nest in a body (thriftpy2's own limit).
MAX_DEPTH = 64

JSON_CONTENT_TYPE = "application/vnd.apache.thrift.json"
BINARY_CONTENT_TYPE = "application/vnd.apache.thrift.binary"
_JSON_TYPES = frozenset({"application/json", "application/x-thrift", JSON_CONTENT_TYPE})

IDL_PATH = Path(__file__).with_name("aurora.thrift")


@cache
def load_api() -> ModuleType:
    """The IDL's types and services as thriftpy2 classes (loaded once)."""
    return thriftpy2.load(str(IDL_PATH), module_name="aurora_api_thrift")


api = load_api()
#: The service with every method (AuroraAdmin extends the other two).
SERVICE = api.AuroraAdmin
METHODS: frozenset[str] = frozenset(SERVICE.thrift_services)


class ResponseCode(IntEnum):
    """api.thrift ResponseCode."""

    INVALID_REQUEST = 0
    OK = 1
    ERROR = 2
    WARNING = 3
    AUTH_FAILED = 4
    JOB_UPDATING_ERROR = 5
    ERROR_TRANSIENT = 6


# ------------------------------------------------------------------------------------ errors


class ApiCodecError(ValueError):
    """A request the API cannot read."""


class UnsupportedMediaType(ApiCodecError):
    """The request's Content-Type names no Thrift protocol we speak (HTTP 415)."""


class BodyTooLarge(ApiCodecError):
    """The request body is larger than MAX_BODY_BYTES (HTTP 413)."""


class BadRequest(ApiCodecError):
    """A body that is not a well-formed call of one of the API's methods.

    When the message's name and sequence id could be read, ``method`` and ``seqid`` are set and
    :func:`encode_error` gives the TApplicationException reply Aurora would send (of
    ``exception_type`` UNKNOWN_METHOD, INVALID_MESSAGE_TYPE or PROTOCOL_ERROR); otherwise only
    an HTTP 400 fits.
    """

    def __init__(self, message: str, method: str | None = None, seqid: int | None = None,
                 exception_type: int = TApplicationException.PROTOCOL_ERROR) -> None:
        super().__init__(message)
        self.method = method
        self.seqid = seqid
        self.exception_type = exception_type


class _WireError(Exception):
    """A problem in a body, with the path of the field it is in."""


# ----------------------------------------------------------------------------- media types


def _media_type(text: str) -> tuple[str, dict[str, str]]:
    main, *params = text.split(";")
    parsed: dict[str, str] = {}
    for param in params:
        name, sep, value = param.partition("=")
        if param.strip():
            parsed[name.strip().lower()] = value.strip().strip('"').lower() if sep else ""
    return main.strip().lower(), parsed


def protocol_for(content_type: str | None) -> Protocol:
    """The protocol of a request body, from its Content-Type (None or empty: TJSON)."""
    if content_type is None or not content_type.strip():
        return "json"
    main, params = _media_type(content_type)
    if main in _JSON_TYPES and params in ({}, {"charset": "utf-8"}):
        return "json"
    if main == BINARY_CONTENT_TYPE and not params:
        return "binary"
    raise UnsupportedMediaType(
        f"Unsupported Content-Type: {content_type}: expected {BINARY_CONTENT_TYPE} (binary "
        f"protocol), or {JSON_CONTENT_TYPE}, application/x-thrift or application/json (TJSON)"
    )


def reply_protocol_for(accept: str | None) -> Protocol:
    """The protocol of the reply, from the request's Accept header."""
    if accept is not None and _media_type(accept) == (BINARY_CONTENT_TYPE, {}):
        return "binary"
    return "json"


def content_type_for(protocol: Protocol) -> str:
    """The Content-Type of a reply in ``protocol``."""
    return BINARY_CONTENT_TYPE if protocol == "binary" else JSON_CONTENT_TYPE


def check_body_size(size: int | None) -> None:
    """Raise BodyTooLarge when a body of ``size`` bytes (e.g. Content-Length) is too large."""
    if size is not None and size > MAX_BODY_BYTES:
        raise BodyTooLarge(
            f"request body of {size} bytes is larger than the limit of {MAX_BODY_BYTES} bytes"
        )


# ------------------------------------------------------------------------- calls and replies


class Call(NamedTuple):
    """A decoded call: the method, its ``<method>_args`` struct, and the sequence id."""

    method: str
    args: Any
    seqid: int


def decode_call(body: bytes, protocol: Protocol) -> Call:
    """Read one call of the API from a request body; BadRequest says what is wrong."""
    check_body_size(len(body))
    name, mtype, seqid, fields = _read_message(body, protocol)
    if mtype not in (TMessageType.CALL, TMessageType.ONEWAY):
        raise BadRequest(f"{name}: expected a call (message type 1), got message type {mtype}",
                         name, seqid, TApplicationException.INVALID_MESSAGE_TYPE)
    if name not in METHODS:
        raise BadRequest(f"Invalid method name: '{name}'", name, seqid,
                         TApplicationException.UNKNOWN_METHOD)
    try:
        args = _read_payload(body, protocol, fields, _service_class(name, "_args"))
    except _WireError as err:
        raise BadRequest(f"{name}: {err}", name, seqid) from None
    return Call(name, args, seqid)


def decode_reply(body: bytes, method: str, protocol: Protocol) -> Any:
    """The Response in a reply to ``method`` (client side); an exception reply is raised."""
    name, mtype, _, fields = _read_message(body, protocol)
    exception = mtype == TMessageType.EXCEPTION
    cls = TApplicationException if exception else _service_class(method, "_result")
    try:
        payload = _read_payload(body, protocol, fields, cls)
    except _WireError as err:
        raise BadRequest(f"{method} reply: {err}") from None
    if exception:
        raise payload
    if name != method:
        raise BadRequest(f"expected a reply to {method}, got one to {name}")
    return payload.success


def encode_call(method: str, args: Any, seqid: int, protocol: Protocol) -> bytes:
    """A call message as a client sends it; ``args`` is the args struct or a dict of them."""
    cls = _service_class(method, "_args")
    if isinstance(args, dict):
        args = cls(**args)
    return _write(method, TMessageType.CALL, seqid, args, protocol)


def encode_reply(method: str, result: Any, seqid: int, protocol: Protocol) -> bytes:
    """The reply message carrying ``result`` (a Response) for a call of ``method``."""
    if not isinstance(result, api.Response):
        raise TypeError(f"{method}: a reply carries a Response, got {type(result).__name__}")
    payload = _service_class(method, "_result")(success=result)
    return _write(method, TMessageType.REPLY, seqid, payload, protocol)


def encode_exception(method: str, seqid: int, protocol: Protocol, message: str,
                     exception_type: int = TApplicationException.UNKNOWN) -> bytes:
    """A TApplicationException reply (e.g. of type UNKNOWN_METHOD) to a call."""
    exc = TApplicationException(exception_type, message)
    return _write(method, TMessageType.EXCEPTION, seqid, exc, protocol)


def encode_error(err: BadRequest, protocol: Protocol) -> bytes | None:
    """The TApplicationException reply for a BadRequest; None when no message could be read."""
    if err.method is None or err.seqid is None:
        return None
    return encode_exception(err.method, err.seqid, protocol, str(err), err.exception_type)


def _service_class(method: str, suffix: str) -> Any:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}")
    return getattr(SERVICE, method + suffix)


def _read_message(body: bytes, protocol: Protocol) -> tuple[str, int, int, Any]:
    """Name, type, seqid and (TJSON only) the payload's JSON object of a message."""
    try:
        if protocol == "binary":
            name, mtype, seqid = _BinaryChecker(body).message()
            return name, mtype, seqid, None
        if protocol == "json":
            return _json_message(body)
    except _WireError as err:
        kind = "binary" if protocol == "binary" else "JSON"
        raise BadRequest(f"body is not a Thrift {kind} message: {err}") from None
    raise ValueError(f"unknown protocol {protocol!r}: expected 'json' or 'binary'")


def _read_payload(body: bytes, protocol: Protocol, fields: Any, cls: Any) -> Any:
    if protocol == "json":
        return _struct_from_json(fields, cls, "", 0)
    checker = _BinaryChecker(body)
    checker.message()
    checker.struct(cls, "", 0)
    proto = TBinaryProtocol(TMemoryBuffer(body), strict_read=False)
    proto.read_message_begin()
    payload = cls()
    try:
        payload.read(proto)
    except Exception as err:  # checked above, so thriftpy2 should not fail; be safe
        raise _WireError(f"cannot decode: {err}") from None
    return payload


def _write(name: str, mtype: int, seqid: int, payload: TPayload, protocol: Protocol) -> bytes:
    buffer = TMemoryBuffer()
    if protocol == "binary":
        proto: Any = TBinaryProtocol(buffer)
    elif protocol == "json":
        proto = TApacheJSONProtocol(buffer)
    else:
        raise ValueError(f"unknown protocol {protocol!r}: expected 'json' or 'binary'")
    proto.write_message_begin(name, mtype, seqid)
    payload.write(proto)
    proto.write_message_end()
    return buffer.getvalue()


# ------------------------------------------------------------------------ wire-level checks

_TYPE_NAMES = {
    TType.BOOL: "bool", TType.BYTE: "byte", TType.DOUBLE: "double", TType.I16: "i16",
    TType.I32: "i32", TType.I64: "i64", TType.STRING: "string", TType.STRUCT: "struct",
    TType.MAP: "map", TType.SET: "set", TType.LIST: "list",
}
_JSON_TAGS = {
    TType.BOOL: "tf", TType.BYTE: "i8", TType.I16: "i16", TType.I32: "i32", TType.I64: "i64",
    TType.DOUBLE: "dbl", TType.STRING: "str", TType.STRUCT: "rec", TType.MAP: "map",
    TType.SET: "set", TType.LIST: "lst",
}
_INT_BITS = {TType.BYTE: 8, TType.I16: 16, TType.I32: 32, TType.I64: 64}
# The fewest bytes a binary value of each type takes (to reject absurd container sizes).
_MIN_BYTES = {
    TType.BOOL: 1, TType.BYTE: 1, TType.I16: 2, TType.I32: 4, TType.I64: 8, TType.DOUBLE: 8,
    TType.STRING: 4, TType.STRUCT: 1, TType.MAP: 6, TType.SET: 5, TType.LIST: 5,
}
_UNIONS = frozenset(api.__thrift_meta__["unions"])
_SPECIAL_DOUBLES = frozenset({"NaN", "Infinity", "-Infinity"})


def _type_name(ttype: int) -> str:
    return _TYPE_NAMES.get(ttype, f"unknown type {ttype}")


def _split(spec: Any) -> tuple[int, Any]:
    """``(ttype, sub-spec)`` of a container element spec."""
    return (spec[0], spec[1]) if isinstance(spec, tuple) else (spec, None)


@cache
def _fields(cls: type) -> dict[int, tuple[int, str, Any]]:
    """A struct's fields: id -> (type, name, sub-spec: struct class, enum class or element)."""
    return {fid: (spec[0], spec[1], spec[2] if len(spec) == 4 else None)
            for fid, spec in cls.thrift_spec.items()}


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _check_int(value: int, ttype: int, enum: Any, path: str) -> None:
    bits = _INT_BITS[ttype]
    if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
        raise _WireError(f"{path}: {value} does not fit in {_type_name(ttype)}")
    names = getattr(enum, "_VALUES_TO_NAMES", None)
    if names is not None and value not in names:
        known = ", ".join(f"{n}={v}" for v, n in sorted(names.items()))
        raise _WireError(f"{path}: {value} is not a {enum.__name__} (one of {known})")


def _check_union(cls: type, present: Iterable[str], path: str) -> None:
    if cls in _UNIONS:
        members = sorted(set(present))
        if len(members) != 1:
            got = ", ".join(members) or "none"
            raise _WireError(f"{path or cls.__name__}: a {cls.__name__} union must have exactly "
                             f"one member set, got {got}")


class _BinaryChecker:
    """Walks a binary message against the IDL without building it (thriftpy2 builds it)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, size: int, what: str) -> int:
        start = self.pos
        if len(self.data) - start < size:
            raise _WireError(f"truncated: {what} needs {size} bytes at byte {start}, "
                             f"{len(self.data) - start} left")
        self.pos = start + size
        return start

    def _int(self, fmt: str, size: int, what: str) -> int:
        value: int = struct.unpack_from(fmt, self.data, self._take(size, what))[0]
        return value

    def _size(self, min_each: int, what: str) -> int:
        size = self._int("!i", 4, what)
        if size < 0:
            raise _WireError(f"{what}: negative size {size}")
        if size * min_each > len(self.data) - self.pos:
            raise _WireError(f"truncated: {what} of {size} items cannot fit in the "
                             f"{len(self.data) - self.pos} bytes left")
        return size

    def _text(self, what: str) -> str:
        start = self._take(self._size(1, what), what)
        try:
            return self.data[start:self.pos].decode("utf-8")
        except UnicodeDecodeError:
            raise _WireError(f"{what}: not valid UTF-8 text") from None

    def message(self) -> tuple[str, int, int]:
        if not self.data:
            raise _WireError("the body is empty")
        first = self._int("!i", 4, "message header")
        if first < 0:
            if first & 0xFFFF0000 != 0x80010000:
                raise _WireError(f"bad protocol version {first & 0xFFFF0000:#x}")
            mtype = first & 0xFF
            name = self._text("method name")
        else:  # the old, unversioned header: name, then type
            self.pos = 0
            name = self._text("method name")
            mtype = self._int("!b", 1, "message type")
        return name, mtype, self._int("!i", 4, "sequence id")

    def struct(self, cls: type, path: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise _WireError(f"{path}: nested more than {MAX_DEPTH} deep")
        fields = _fields(cls)
        present = []
        while True:
            ftype = self._int("!b", 1, f"{path or cls.__name__} field type")
            if ftype == TType.STOP:
                break
            fid = self._int("!h", 2, f"{path or cls.__name__} field id")
            if fid not in fields:
                self._skip(ftype, _join(path, f"<field {fid}>"), depth + 1)
                continue
            ttype, name, sub = fields[fid]
            here = _join(path, name)
            if ftype != ttype:
                raise _WireError(f"{here}: expected {_type_name(ttype)}, got {_type_name(ftype)}")
            self._value(ttype, sub, here, depth + 1)
            present.append(name)
        _check_union(cls, present, path)

    def _value(self, ttype: int, sub: Any, path: str, depth: int) -> None:
        if ttype in _INT_BITS:
            fmt = {TType.BYTE: "!b", TType.I16: "!h", TType.I32: "!i", TType.I64: "!q"}[ttype]
            _check_int(self._int(fmt, _INT_BITS[ttype] // 8, path), ttype, sub, path)
        elif ttype == TType.STRING:
            self._text(path)
        elif ttype == TType.STRUCT:
            self.struct(sub, path, depth)
        elif ttype in (TType.LIST, TType.SET):
            etype, esub = _split(sub)
            wire = self._int("!b", 1, path)
            size = self._size(_MIN_BYTES.get(wire, 1), path)
            if size and wire != etype:
                raise _WireError(f"{path}: expected a {_type_name(ttype)} of "
                                 f"{_type_name(etype)}, got one of {_type_name(wire)}")
            for i in range(size):
                self._value(etype, esub, f"{path}[{i}]", depth + 1)
        elif ttype == TType.MAP:
            (ktype, ksub), (vtype, vsub) = _split(sub[0]), _split(sub[1])
            kwire, vwire = self._int("!b", 1, path), self._int("!b", 1, path)
            size = self._size(_MIN_BYTES.get(kwire, 1) + _MIN_BYTES.get(vwire, 1), path)
            if size and (kwire, vwire) != (ktype, vtype):
                raise _WireError(
                    f"{path}: expected a map<{_type_name(ktype)}, {_type_name(vtype)}>, got "
                    f"map<{_type_name(kwire)}, {_type_name(vwire)}>")
            for i in range(size):
                self._value(ktype, ksub, f"{path}<key {i}>", depth + 1)
                self._value(vtype, vsub, f"{path}[{i}]", depth + 1)
        else:
            self._skip(ttype, path, depth)

    def _skip(self, ttype: int, path: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise _WireError(f"{path}: nested more than {MAX_DEPTH} deep")
        fixed = {TType.BOOL: 1, TType.BYTE: 1, TType.I16: 2, TType.I32: 4, TType.I64: 8,
                 TType.DOUBLE: 8}
        if ttype in fixed:
            self._take(fixed[ttype], path)
        elif ttype == TType.STRING:
            self._take(self._size(1, path), path)
        elif ttype == TType.STRUCT:
            while (ftype := self._int("!b", 1, path)) != TType.STOP:
                self._take(2, path)
                self._skip(ftype, path, depth + 1)
        elif ttype in (TType.LIST, TType.SET):
            etype = self._int("!b", 1, path)
            for _ in range(self._size(_MIN_BYTES.get(etype, 1), path)):
                self._skip(etype, path, depth + 1)
        elif ttype == TType.MAP:
            ktype, vtype = self._int("!b", 1, path), self._int("!b", 1, path)
            for _ in range(self._size(_MIN_BYTES.get(ktype, 1) + _MIN_BYTES.get(vtype, 1), path)):
                self._skip(ktype, path, depth + 1)
                self._skip(vtype, path, depth + 1)
        else:
            raise _WireError(f"{path}: unknown type code {ttype}")


def _json_message(body: bytes) -> tuple[str, int, int, Any]:
    if not body:
        raise _WireError("the body is empty")
    try:
        doc = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise _WireError("not UTF-8 text") from None
    except (ValueError, RecursionError) as err:
        raise _WireError(f"not JSON ({err})") from None
    if not isinstance(doc, list) or len(doc) != 5:
        raise _WireError("expected a JSON array [1, \"method\", type, seqid, {arguments}]")
    version, name, mtype, seqid, fields = doc
    if version != 1 or type(version) is not int:
        raise _WireError(f"unsupported TJSON version {version!r} (expected 1)")
    if not isinstance(name, str) or type(mtype) is not int or type(seqid) is not int:
        raise _WireError("expected a JSON array [1, \"method\", type, seqid, {arguments}]")
    if not -(1 << 31) <= seqid < 1 << 31:
        raise _WireError(f"sequence id {seqid} does not fit in i32")
    return name, mtype, seqid, fields


def _struct_from_json(obj: Any, cls: Any, path: str, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise _WireError(f"{path}: nested more than {MAX_DEPTH} deep")
    if not isinstance(obj, dict):
        raise _WireError(f"{path or cls.__name__}: expected a {cls.__name__} struct (a JSON "
                         f"object of fields), got {type(obj).__name__}")
    fields = _fields(cls)
    values: dict[str, Any] = {}
    for key, tagged in obj.items():
        try:
            fid = int(key)
        except ValueError:
            raise _WireError(f"{path or cls.__name__}: field id {key!r} is not a number") from None
        if fid not in fields:
            continue
        ttype, name, sub = fields[fid]
        here = _join(path, name)
        if not isinstance(tagged, dict) or len(tagged) != 1:
            raise _WireError(f"{here}: expected {{\"{_JSON_TAGS[ttype]}\": value}}")
        ((tag, value),) = tagged.items()
        if tag != _JSON_TAGS[ttype]:
            raise _WireError(f"{here}: expected {_type_name(ttype)} (\"{_JSON_TAGS[ttype]}\"), "
                             f"got \"{tag}\"")
        values[name] = _from_json(value, ttype, sub, here, depth + 1)
    _check_union(cls, values, path)
    return cls(**values)


def _from_json(value: Any, ttype: int, sub: Any, path: str, depth: int) -> Any:
    kind = _type_name(ttype)
    if ttype == TType.BOOL:
        if type(value) is bool or type(value) is int:
            return bool(value)
    elif ttype in _INT_BITS:
        if type(value) is int:
            _check_int(value, ttype, sub, path)
            return value
    elif ttype == TType.DOUBLE:
        if isinstance(value, str) and value in _SPECIAL_DOUBLES:
            return float(value)
        if type(value) in (int, float):
            number = float(value) if abs(value) < 1e308 else math.inf
            if math.isfinite(number):
                return number
    elif ttype == TType.STRING:
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise _WireError(f"{path}: not valid UTF-8 text") from None
            return value
    elif ttype == TType.STRUCT:
        return _struct_from_json(value, sub, path, depth)
    elif ttype in (TType.LIST, TType.SET):
        etype, esub = _split(sub)
        if isinstance(value, list) and len(value) >= 2 and type(value[1]) is int:
            tag, size, items = value[0], value[1], value[2:]
            if size != len(items):
                raise _WireError(f"{path}: the {kind} says {size} items and has {len(items)}")
            if items and tag != _JSON_TAGS[etype]:
                raise _WireError(f"{path}: expected a {kind} of {_type_name(etype)} "
                                 f"(\"{_JSON_TAGS[etype]}\"), got one of \"{tag}\"")
            return [_from_json(item, etype, esub, f"{path}[{i}]", depth + 1)
                    for i, item in enumerate(items)]
    elif ttype == TType.MAP:
        (ktype, ksub), (vtype, vsub) = _split(sub[0]), _split(sub[1])
        if (isinstance(value, list) and len(value) == 4 and type(value[2]) is int
                and isinstance(value[3], dict)):
            ktag, vtag, size, items = value
            if size != len(items):
                raise _WireError(f"{path}: the map says {size} entries and has {len(items)}")
            if items and (ktag, vtag) != (_JSON_TAGS[ktype], _JSON_TAGS[vtype]):
                raise _WireError(
                    f"{path}: expected a map<{_type_name(ktype)}, {_type_name(vtype)}>, got "
                    f"map<{ktag}, {vtag}>")
            return {_map_key(k, ktype, ksub, path): _from_json(v, vtype, vsub, f"{path}[{k}]",
                                                               depth + 1)
                    for k, v in items.items()}
    else:
        raise _WireError(f"{path}: unsupported type {kind}")
    raise _WireError(f"{path}: expected {kind}, got {json.dumps(value)[:80]}")


def _map_key(key: str, ttype: int, sub: Any, path: str) -> Any:
    """A TJSON map key (always a JSON string) as a value of the key type."""
    if ttype == TType.STRING:
        return key
    if ttype in _INT_BITS:
        try:
            number = int(key)
        except ValueError:
            raise _WireError(f"{path}: map key {key!r} is not an integer") from None
        _check_int(number, ttype, sub, path)
        return number
    raise _WireError(f"{path}: unsupported map key type {_type_name(ttype)}")


# ------------------------------------------------------------------------------ responses

#: Which member of the Result union each method's OK response carries (others carry none).
RESULT_FIELDS: dict[str, str] = {
    "getRoleSummary": "roleSummaryResult",
    "getJobSummary": "jobSummaryResult",
    "getTasksStatus": "scheduleStatusResult",
    "getTasksWithoutConfigs": "scheduleStatusResult",
    "getPendingReason": "getPendingReasonResult",
    "getConfigSummary": "configSummaryResult",
    "getJobs": "getJobsResult",
    "getQuota": "getQuotaResult",
    "populateJobConfig": "populateJobResult",
    "getJobUpdateSummaries": "getJobUpdateSummariesResult",
    "getJobUpdateDetails": "getJobUpdateDetailsResult",
    "getJobUpdateDiff": "getJobUpdateDiffResult",
    "getTierConfigs": "getTierConfigResult",
    "startJobUpdate": "startJobUpdateResult",
    "pulseJobUpdate": "pulseJobUpdateResult",
    "listBackups": "listBackupsResult",
    "queryRecovery": "queryRecoveryResult",
    "startMaintenance": "startMaintenanceResult",
    "drainHosts": "drainHostsResult",
    "slaDrainHosts": "drainHostsResult",
    "maintenanceStatus": "maintenanceStatusResult",
    "endMaintenance": "endMaintenanceResult",
}

# Result member name by the class of the struct it holds.
_RESULT_MEMBERS: dict[type, str] = {spec[2]: spec[1] for spec in api.Result.thrift_spec.values()}


def result_for(payload: Any, method: str | None = None) -> Any:
    """The Result union holding ``payload``: a Result, or a member struct to wrap.

    With ``method``, also check that the payload is what that method returns.
    """
    if isinstance(payload, api.Result):
        members = [name for name in _RESULT_MEMBERS.values() if getattr(payload, name) is not None]
        if len(members) != 1:
            raise ValueError(f"a Result must hold exactly one member, got {members or 'none'}")
        member = members[0]
    else:
        member = _RESULT_MEMBERS.get(type(payload), "")
        if not member:
            raise TypeError(f"{type(payload).__name__} is not a member of the Result union")
        payload = api.Result(**{member: payload})
    if method is not None and RESULT_FIELDS.get(method) != member:
        expected = RESULT_FIELDS.get(method) or "no result"
        raise TypeError(f"{method} returns {expected}, not {member}")
    return payload


def response(code: ResponseCode | int, result: Any = None, details: Iterable[str] = (), *,
             method: str | None = None, server_info: Any = None) -> Any:
    """Aurora's Response: code, server info, optional result, and detail messages.

    ``result`` may be a Result union or one of its member structs (wrapped here); with
    ``method`` it must be what that method returns. ``details`` are message strings; the
    details list is always present, as Aurora sends it.
    """
    code = ResponseCode(code)
    messages = []
    for text in details:
        if not isinstance(text, str):
            raise TypeError(f"response details must be strings, got {text!r}")
        messages.append(api.ResponseDetail(message=text))
    wrapped = None if result is None else result_for(result, method)
    return api.Response(responseCode=int(code), serverInfo=server_info, result=wrapped,
                        details=messages)


def ok(result: Any = None, details: Iterable[str] = (), *, method: str | None = None,
       server_info: Any = None) -> Any:
    """An OK Response, with an optional result."""
    return response(ResponseCode.OK, result, details, method=method, server_info=server_info)


def invalid_request(*messages: str, server_info: Any = None) -> Any:
    """An INVALID_REQUEST Response with the given messages."""
    return response(ResponseCode.INVALID_REQUEST, None, messages, server_info=server_info)


def error(*messages: str, code: ResponseCode | int = ResponseCode.ERROR,
          server_info: Any = None) -> Any:
    """An ERROR (or another failure code) Response with the given messages."""
    return response(code, None, messages, server_info=server_info)
