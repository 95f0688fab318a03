"""Security of the scheduler <-> agent channel: CURVE keys, the ZAP allow-list and loopback checks.

Agents on other hosts talk to the scheduler over CURVE (encrypted, and the scheduler knows who
is talking): the scheduler's ROUTER is a CURVE server whose ZAP handler admits only the agent
public keys found in an allow directory (``*.key`` certificates, ZeroMQ's format); each agent
knows the scheduler's public key. Plaintext (ZeroMQ's NULL mechanism) is allowed on loopback
only. Key pairs are made with ``python -m aurora.agent.keygen DIR NAME``.

Refusals are counted, never fatal: a ZAP reply other than 200 increments ``auth_denied`` and a
failed handshake reported by the socket monitor (a plaintext peer, an unknown key, a wrong server
key) increments ``handshake_failed`` in the endpoint's stats.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import zmq
import zmq.asyncio
import zmq.auth
from zmq.auth.asyncio import AsyncioAuthenticator
from zmq.utils import z85
from zmq.utils.monitor import recv_monitor_message

log = logging.getLogger(__name__)

#: Certificate suffixes written by ``zmq.auth.create_certificates``.
PUBLIC_SUFFIX = ".key"
SECRET_SUFFIX = ".key_secret"

#: The ZAP domain of the scheduler's CURVE server.
ZAP_DOMAIN = "aurora"

HANDSHAKE_FAILED_EVENTS = (
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)

KEYGEN_HINT = "create keys with `python -m aurora.agent.keygen DIR NAME`"


class KeyFileError(ValueError):
    """A key file or the allow directory is missing, unreadable or malformed."""


class PlaintextNotAllowed(ValueError):
    """Plaintext (no CURVE keys) asked for on an address that is not loopback."""


# -- key files -------------------------------------------------------------------------------


def generate_keypair(directory: str | os.PathLike[str], name: str) -> tuple[Path, Path]:
    """Write ``name.key`` (public) and ``name.key_secret`` (secret, mode 0600) into directory
    (created if missing); returns (public_path, secret_path). Never overwrites: raises
    FileExistsError if either file exists."""
    if not name or os.sep in name or (os.altsep and os.altsep in name):
        raise ValueError(f"invalid key name: {name!r}")
    d = Path(directory)
    public, secret = d / f"{name}{PUBLIC_SUFFIX}", d / f"{name}{SECRET_SUFFIX}"
    for p in (public, secret):
        if p.exists():
            raise FileExistsError(f"{p}: already exists, not overwriting")
    d.mkdir(parents=True, exist_ok=True)
    old = os.umask(0o077)  # the secret file is never readable by others, not even briefly
    try:
        pub, sec = zmq.auth.create_certificates(d, name)
    finally:
        os.umask(old)
    os.chmod(pub, 0o644)
    return Path(pub), Path(sec)


def _valid_key(key: bytes | None) -> bool:
    if key is None or len(key) != 40:
        return False
    try:
        return len(z85.decode(key)) == 32
    except Exception:
        return False


def _load(path: str | os.PathLike[str], *, secret: bool) -> tuple[bytes, bytes | None]:
    """(public, secret) z85 keys of a certificate file, or KeyFileError naming the file."""
    p = Path(path)
    what = "secret key file" if secret else "public key file"
    if not p.exists():
        raise KeyFileError(f"{what} {p}: no such file; {KEYGEN_HINT}")
    if not p.is_file():
        raise KeyFileError(f"{what} {p}: not a regular file")
    try:
        public, sec = zmq.auth.load_certificate(p)
    except ValueError as e:
        raise KeyFileError(f"{what} {p}: malformed certificate (no public-key)") from e
    except (OSError, UnicodeError) as e:
        raise KeyFileError(f"{what} {p}: unreadable: {e}") from e
    if not _valid_key(public):
        raise KeyFileError(f"{what} {p}: malformed public-key (not a 40-character Z85 key)")
    if secret:
        if sec is None:
            raise KeyFileError(f"{what} {p}: no secret-key in it (is it the public .key file?)")
        if not _valid_key(sec):
            raise KeyFileError(f"{what} {p}: malformed secret-key (not a 40-character Z85 key)")
        if zmq.curve_public(sec) != public:
            raise KeyFileError(f"{what} {p}: its public-key does not match its secret-key")
    return public, sec


def load_allowed_keys(allow_dir: str | os.PathLike[str]) -> frozenset[bytes]:
    """The public keys (z85) of every ``*.key`` certificate in allow_dir; KeyFileError if the
    directory is missing or holds no certificate, or naming a malformed one."""
    d = Path(allow_dir)
    if not d.is_dir():
        raise KeyFileError(f"allow directory {d}: no such directory")
    try:
        files = sorted(d.glob(f"*{PUBLIC_SUFFIX}"))
    except OSError as e:
        raise KeyFileError(f"allow directory {d}: unreadable: {e}") from e
    if not files:
        raise KeyFileError(
            f"allow directory {d}: no agent public keys (*{PUBLIC_SUFFIX}) in it; {KEYGEN_HINT}"
            " on each agent and copy its .key file here"
        )
    return frozenset(_load(f, secret=False)[0] for f in files)


@dataclass(frozen=True)
class CurveServer:
    """The scheduler's CURVE identity (z85 keys) and the directory of admitted agent keys."""

    public: bytes
    secret: bytes
    allow_dir: Path

    @classmethod
    def from_files(
        cls, secret_cert_path: str | os.PathLike[str], allow_dir: str | os.PathLike[str]
    ) -> CurveServer:
        public, secret = _load(secret_cert_path, secret=True)
        assert secret is not None
        load_allowed_keys(allow_dir)  # fail now, not at the first connection
        return cls(public, secret, Path(allow_dir))


@dataclass(frozen=True)
class CurveClient:
    """An agent's CURVE identity and the scheduler's public key (z85)."""

    public: bytes
    secret: bytes
    server_public: bytes

    @classmethod
    def from_files(
        cls,
        secret_cert_path: str | os.PathLike[str],
        server_public_cert_path: str | os.PathLike[str],
    ) -> CurveClient:
        public, secret = _load(secret_cert_path, secret=True)
        assert secret is not None
        server_public, _ = _load(server_public_cert_path, secret=False)
        return cls(public, secret, server_public)

    def apply(self, sock: zmq.Socket[bytes]) -> None:
        """Make sock a CURVE client of the server (before connecting)."""
        sock.setsockopt(zmq.CURVE_SERVERKEY, self.server_public)
        sock.setsockopt(zmq.CURVE_PUBLICKEY, self.public)
        sock.setsockopt(zmq.CURVE_SECRETKEY, self.secret)


# -- addresses -------------------------------------------------------------------------------


def is_loopback(address: str) -> bool:
    """Whether a ZeroMQ endpoint stays on this host: ``ipc://``, ``inproc://`` and ``tcp://``
    to 127.0.0.0/8, ``[::1]`` or ``localhost``. Wildcards (``*``, ``0.0.0.0``, ``[::]``),
    other hosts, interface names and other transports are not."""
    transport, sep, rest = address.partition("://")
    transport = transport.lower()
    if not sep:
        return False
    if transport in ("ipc", "inproc"):
        return True
    if transport != "tcp":
        return False
    rest = rest.rsplit(";", 1)[-1]  # connect's "source;destination" form: the destination
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not (port == "*" or port.isdigit()):
        return False
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_loopback(address: str, role: str) -> None:
    """PlaintextNotAllowed unless address is loopback (role: "scheduler" or "agent")."""
    if is_loopback(address):
        return
    how = (
        "give the scheduler CurveServer.from_files(SECRET_CERT, AGENT_KEYS_DIR)"
        if role == "scheduler"
        else "give the agent CurveClient.from_files(SECRET_CERT, SCHEDULER_PUBLIC_CERT)"
    )
    raise PlaintextNotAllowed(
        f"{role} address {address}: plaintext ZeroMQ is allowed on loopback only "
        f"(tcp://127.0.0.1, tcp://[::1], tcp://localhost, ipc://, inproc://); for other "
        f"addresses use CURVE keys: {how}; {KEYGEN_HINT}"
    )


# -- counting refusals -----------------------------------------------------------------------


class HandshakeCounter(Protocol):
    handshake_failed: int


class SecurityCounters(HandshakeCounter, Protocol):
    auth_denied: int


class CountingAuthenticator(AsyncioAuthenticator):
    """pyzmq's asyncio ZAP handler, counting every reply other than 200 through on_denied."""

    def __init__(self, context: zmq.Context[zmq.Socket[bytes]], on_denied: Callable[[], None]):
        super().__init__(context, log=log)
        self._on_denied = on_denied

    def _send_zap_reply(
        self,
        request_id: bytes,
        status_code: bytes,
        status_text: bytes,
        user_id: str = "anonymous",
    ) -> None:
        if status_code != b"200":
            self._on_denied()
            log.warning("agent connection refused: %s", status_text.decode("utf-8", "replace"))
        super()._send_zap_reply(request_id, status_code, status_text, user_id)


class HandshakeMonitor:
    """Counts the handshake failures a socket's monitor reports (``counters.handshake_failed``)
    until :meth:`close`."""

    EVENTS = HANDSHAKE_FAILED_EVENTS

    def __init__(self, sock: zmq.asyncio.Socket, counters: HandshakeCounter, role: str) -> None:
        self._sock = sock
        self._counters = counters
        self._role = role
        self._mon = sock.get_monitor_socket(self.EVENTS)
        self._task: asyncio.Task[None] | None = asyncio.create_task(self._run())

    def _event(self, event: int) -> None:
        pass

    async def _run(self) -> None:
        while True:
            ev = await recv_monitor_message(self._mon)
            self._event(ev["event"])
            if ev["event"] & HANDSHAKE_FAILED_EVENTS:
                self._counters.handshake_failed += 1
                if self._counters.handshake_failed == 1:  # once: a refused peer retries forever
                    log.warning(
                        "%s: ZeroMQ handshake failed with %s (%s, code %#x): wrong or unknown "
                        "CURVE key, or plaintext against CURVE?",
                        self._role,
                        ev["endpoint"].decode("utf-8", "replace"),
                        zmq.Event(ev["event"]).name,
                        int(ev["value"]),
                    )

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with contextlib.suppress(zmq.ZMQError):
            self._sock.disable_monitor()
        self._mon.close(linger=0)


class ClientGuard(HandshakeMonitor):
    """A CURVE client's handshake monitor. libzmq gives up on a connection whose handshake
    failed for a protocol or authentication reason (the server refused our key, or we are not
    talking CURVE): reconnect after a backoff (``min_delay`` doubling up to ``max_delay``, reset
    by a handshake that succeeds) and call ``on_reconnect`` -- the key may be allowed by now."""

    EVENTS = HANDSHAKE_FAILED_EVENTS | zmq.EVENT_HANDSHAKE_SUCCEEDED
    GIVES_UP = zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_AUTH

    def __init__(
        self,
        sock: zmq.asyncio.Socket,
        counters: HandshakeCounter,
        address: str,
        on_reconnect: Callable[[], None],
        min_delay: float = 0.1,
        max_delay: float = 30.0,
    ) -> None:
        self._address = address
        self._on_reconnect = on_reconnect
        self._min_delay = min_delay
        self._max_delay = max(min_delay, max_delay)
        self._streak = 0
        self._retry: asyncio.TimerHandle | None = None
        super().__init__(sock, counters, "agent")

    def _event(self, event: int) -> None:
        if event & zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self._streak = 0
        elif event & self.GIVES_UP and self._retry is None:
            delay = min(self._min_delay * 2**self._streak, self._max_delay)
            self._streak = min(self._streak + 1, 30)
            self._retry = asyncio.get_running_loop().call_later(delay, self._reconnect)

    def _reconnect(self) -> None:
        self._retry = None
        if self._task is None or self._sock.closed:
            return
        with contextlib.suppress(zmq.ZMQError):  # libzmq may have dropped the endpoint already
            self._sock.disconnect(self._address)
        self._sock.connect(self._address)
        self._on_reconnect()

    async def close(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        await super().close()


class ServerGuard:
    """A CURVE server's security on one socket: the ZAP handler admitting the allow-listed keys
    (one per ZeroMQ context: it binds ``inproc://zeromq.zap.01``) and the handshake monitor."""

    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        sock: zmq.asyncio.Socket,
        curve: CurveServer,
        counters: SecurityCounters,
    ) -> None:
        def denied() -> None:
            counters.auth_denied += 1

        self.curve = curve
        self._auth = CountingAuthenticator(ctx, denied)
        try:
            self._auth.start()
        except zmq.ZMQError as e:
            raise RuntimeError(
                "cannot start the CURVE authenticator: this ZeroMQ context has one already "
                f"({e}); give each CURVE scheduler endpoint its own context"
            ) from e
        try:
            self.reload()
            sock.setsockopt(zmq.CURVE_SERVER, 1)
            sock.setsockopt(zmq.CURVE_SECRETKEY, curve.secret)
            sock.setsockopt(zmq.CURVE_PUBLICKEY, curve.public)
            sock.setsockopt_string(zmq.ZAP_DOMAIN, ZAP_DOMAIN)
            self._monitor = HandshakeMonitor(sock, counters, "scheduler")
        except BaseException:
            self._auth.stop()
            raise

    def reload(self) -> None:
        """Re-read the allow directory (after adding or removing agent keys)."""
        self._auth.configure_curve(domain=ZAP_DOMAIN, location=str(self.curve.allow_dir))

    async def close(self) -> None:
        await self._monitor.close()
        self._auth.stop()
        await asyncio.sleep(0)  # let the cancelled ZAP task finish
