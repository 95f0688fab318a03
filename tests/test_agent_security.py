"""Security of the scheduler <-> agent channel: CURVE with an allow-list, loopback-only plaintext,
key files and the keygen CLI."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import pytest
import zmq
import zmq.asyncio
from channel_helpers import as_status_updates

from aurora.agent.channel import AckToken, AgentEndpoint, SchedulerEndpoint
from aurora.agent.keygen import main as keygen_main
from aurora.agent.protocol import Register, Update
from aurora.agent.security import (
    CurveClient,
    CurveServer,
    KeyFileError,
    PlaintextNotAllowed,
    generate_keypair,
    is_loopback,
    load_allowed_keys,
)
from aurora.scheduler.backend import StatusUpdate

ROOT = Path(__file__).resolve().parent.parent


def run(coro: Coroutine[Any, Any, None], timeout: float = 5.0) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout))


async def until(cond: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


def reg(agent_id: str) -> Register:
    return Register(agent_id, f"{agent_id}.example", 4000, 8192, 100_000)


def updates(n: int) -> list[Update]:
    return [Update(f"task-{i}", 2, 1_700_000_000_000 + i) for i in range(n)]


class Keys:
    """A scheduler key pair, an allow dir holding the keys of agent-1 and agent-2, and the key
    pair of an agent that is not allowed (``intruder``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sched_pub, self.sched_sec = generate_keypair(root / "scheduler", "scheduler")
        self.allow = root / "allowed"
        self.agents: dict[str, Path] = {}
        for name in ("agent-1", "agent-2", "intruder"):
            pub, sec = generate_keypair(root / name, name)
            self.agents[name] = sec
            if name != "intruder":
                self.allow.mkdir(exist_ok=True)
                (self.allow / pub.name).write_bytes(pub.read_bytes())

    def server(self) -> CurveServer:
        return CurveServer.from_files(self.sched_sec, self.allow)

    def client(self, name: str) -> CurveClient:
        return CurveClient.from_files(self.agents[name], self.sched_pub)


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    return Keys(tmp_path)


class Sched:
    def __init__(self, address: str, **kw: Any) -> None:
        self.registered: list[Register] = []
        self.received: list[StatusUpdate] = []
        self.ep = SchedulerEndpoint(
            address, on_register=self.registered.append, on_status=self._status, **kw
        )

    def _status(self, ups: Sequence[Update], tokens: Sequence[AckToken]) -> None:
        self.received.extend(as_status_updates(self.ep, ups, tokens))
        self.ep.ack(tokens)


def agent(port: int, agent_id: str, curve: CurveClient | None = None) -> AgentEndpoint:
    return AgentEndpoint(f"tcp://127.0.0.1:{port}", reg(agent_id), reconnect_ivl_ms=20, curve=curve)


async def check_serves(s: Sched, a: AgentEndpoint, agent_id: str, n: int = 5) -> None:
    """agent a registers with s and its n updates arrive and are acked."""
    before = len(s.received)
    a.report(updates(n))
    await until(lambda: len(s.received) == before + n and not a.unacked)
    assert agent_id in [r.agent_id for r in s.registered]
    assert {u.hostname for u in s.received[before:]} == {f"{agent_id}.example"}


# -- CURVE over tcp ---------------------------------------------------------------------------


def test_allowed_key_registers_and_updates_are_acked(keys: Keys) -> None:
    async def main() -> None:
        s = Sched("tcp://127.0.0.1:*", curve=keys.server())
        await s.ep.start()
        a = agent(s.ep.port, "agent-1", keys.client("agent-1"))
        await a.start()
        try:
            await check_serves(s, a, "agent-1", 20)
            assert [r.agent_id for r in s.registered] == ["agent-1"]
            assert s.ep.stats.auth_denied == 0 and s.ep.stats.handshake_failed == 0
            assert a.stats.handshake_failed == 0
            # and the scheduler's messages reach the agent (heartbeat welcome: its epoch)
            await until(lambda: a.scheduler_epoch == s.ep.epoch)
        finally:
            await a.close()
            await s.ep.close()

    run(main())


def test_unknown_key_is_refused_and_counted_scheduler_keeps_serving(keys: Keys) -> None:
    async def main() -> None:
        s = Sched("tcp://127.0.0.1:*", curve=keys.server())
        await s.ep.start()
        bad = agent(s.ep.port, "intruder", keys.client("intruder"))
        await bad.start()
        good: AgentEndpoint | None = None
        try:
            bad.report(updates(3))
            await until(lambda: s.ep.stats.auth_denied >= 1)
            await until(lambda: s.ep.stats.handshake_failed >= 1)  # FAILED_AUTH, status 400
            await until(lambda: bad.stats.handshake_failed >= 1)  # the agent sees it too
            await asyncio.sleep(0.1)
            assert s.registered == [] and s.received == [] and not s.ep.peers
            assert len(bad.unacked) == 3
            # An allowed agent connecting afterwards is served.
            good = agent(s.ep.port, "agent-2", keys.client("agent-2"))
            await good.start()
            await check_serves(s, good, "agent-2")
            assert [r.agent_id for r in s.registered] == ["agent-2"]
        finally:
            await bad.close()
            if good is not None:
                await good.close()
            await s.ep.close()

    run(main())


def test_plaintext_agent_against_curve_scheduler_gets_nothing_through(keys: Keys) -> None:
    async def main() -> None:
        s = Sched("tcp://127.0.0.1:*", curve=keys.server())
        await s.ep.start()
        plain = agent(s.ep.port, "agent-1")  # loopback: plaintext is allowed to try
        await plain.start()
        # A raw socket throwing garbage at the CURVE port, too.
        raw = zmq.asyncio.Context.instance().socket(zmq.DEALER)
        raw.setsockopt(zmq.LINGER, 0)
        raw.connect(f"tcp://127.0.0.1:{s.ep.port}")
        good: AgentEndpoint | None = None
        try:
            plain.report(updates(3))
            await raw.send(b"\x00garbage")
            await until(lambda: s.ep.stats.handshake_failed >= 2)
            await asyncio.sleep(0.1)
            assert s.registered == [] and s.received == []
            assert s.ep.stats.malformed == 0  # never even reached the ROUTER
            good = agent(s.ep.port, "agent-1", keys.client("agent-1"))
            await good.start()
            await check_serves(s, good, "agent-1")
        finally:
            raw.close(linger=0)
            await plain.close()
            if good is not None:
                await good.close()
            await s.ep.close()

    run(main())


def test_agent_with_wrong_scheduler_key_gets_nothing_through(keys: Keys) -> None:
    async def main() -> None:
        s = Sched("tcp://127.0.0.1:*", curve=keys.server())
        await s.ep.start()
        c = keys.client("agent-1")
        # The agent trusts another server key (e.g. a man in the middle's).
        wrong = CurveClient(c.public, c.secret, keys.client("agent-2").public)
        a = agent(s.ep.port, "agent-1", wrong)
        await a.start()
        try:
            a.report(updates(1))
            await until(lambda: s.ep.stats.handshake_failed >= 1)
            await asyncio.sleep(0.05)
            assert s.registered == [] and s.received == [] and a.scheduler_epoch is None
        finally:
            await a.close()
            await s.ep.close()

    run(main())


def test_two_curve_schedulers_and_restart_on_the_same_port(keys: Keys) -> None:
    """Each CURVE scheduler has its own context (one ZAP handler per context): two can run at
    once, and a restarted one binds the same port and serves the reconnecting agent."""

    async def main() -> None:
        s1 = Sched("tcp://127.0.0.1:*", curve=keys.server())
        s2 = Sched("tcp://127.0.0.1:*", curve=keys.server())
        await s1.ep.start()
        await s2.ep.start()
        a = agent(s1.ep.port, "agent-1", keys.client("agent-1"))
        await a.start()
        s3: Sched | None = None
        try:
            await check_serves(s1, a, "agent-1")
            await s2.ep.close()
            addr = s1.ep.endpoint
            await s1.ep.close()
            s3 = Sched(addr, curve=keys.server())
            await s3.ep.start()
            # The agent's next message is answered "register again"; it does and resends.
            await check_serves(s3, a, "agent-1")
            assert a.stats.reregistered >= 1
        finally:
            await a.close()
            if s3 is not None:
                await s3.ep.close()

    run(main())


def test_allow_dir_reload_admits_a_new_key(keys: Keys) -> None:
    async def main() -> None:
        s = Sched("tcp://127.0.0.1:*", curve=keys.server())
        await s.ep.start()
        a = agent(s.ep.port, "intruder", keys.client("intruder"))
        await a.start()
        try:
            await until(lambda: s.ep.stats.auth_denied >= 1)
            pub = keys.root / "intruder" / "intruder.key"
            (keys.allow / pub.name).write_bytes(pub.read_bytes())
            s.ep.reload_keys()
            await check_serves(s, a, "intruder")
        finally:
            await a.close()
            await s.ep.close()

    run(main())


# -- plaintext on loopback only -------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    ["tcp://127.0.0.1:5555", "tcp://127.1.2.3:*", "tcp://[::1]:5555", "tcp://localhost:5555",
     "tcp://LOCALHOST:1", "ipc:///tmp/aurora.sock", "inproc://agents",
     "tcp://10.0.0.1:0;127.0.0.1:5555"],
)  # fmt: skip
def test_is_loopback(address: str) -> None:
    assert is_loopback(address)


@pytest.mark.parametrize(
    "address",
    ["tcp://0.0.0.0:5555", "tcp://*:5555", "tcp://[::]:5555", "tcp://10.1.2.3:5555",
     "tcp://sched.example.com:5555", "tcp://eth0:5555", "tcp://127.0.0.1", "pgm://lo;239.1.1.1:5555",
     "127.0.0.1:5555", "tcp://[::1]", "tcp://localhost.evil.com:1"],
)  # fmt: skip
def test_is_not_loopback(address: str) -> None:
    assert not is_loopback(address)


def test_plaintext_scheduler_on_non_loopback_is_refused() -> None:
    for address in ("tcp://0.0.0.0:0", "tcp://*:5555", "tcp://10.0.0.1:5555"):
        with pytest.raises(PlaintextNotAllowed, match=r"plaintext .* loopback only") as e:
            SchedulerEndpoint(address, on_register=lambda r: None, on_status=lambda u, t: None)
        assert isinstance(e.value, ValueError)
        assert "CurveServer.from_files" in str(e.value) and "keygen" in str(e.value)


def test_plaintext_agent_to_non_loopback_is_refused() -> None:
    with pytest.raises(PlaintextNotAllowed, match=r"plaintext .* loopback only") as e:
        AgentEndpoint("tcp://sched.example.com:5555", reg("agent-1"))
    assert isinstance(e.value, ValueError) and "CurveClient.from_files" in str(e.value)


def test_curve_allows_non_loopback_addresses(keys: Keys) -> None:
    """With keys, wildcard binds and remote hosts are accepted (nothing is started here)."""
    SchedulerEndpoint(
        "tcp://0.0.0.0:0", on_register=lambda r: None, on_status=lambda u, t: None,
        curve=keys.server(),
    )  # fmt: skip
    AgentEndpoint("tcp://sched.example.com:5555", reg("agent-1"), curve=keys.client("agent-1"))


def test_curve_scheduler_on_wildcard_serves_over_loopback(keys: Keys) -> None:
    async def main() -> None:
        s = Sched("tcp://0.0.0.0:*", curve=keys.server())
        await s.ep.start()
        a = agent(s.ep.port, "agent-1", keys.client("agent-1"))
        await a.start()
        try:
            await check_serves(s, a, "agent-1")
        finally:
            await a.close()
            await s.ep.close()

    run(main())


# -- key files ------------------------------------------------------------------------------


def test_key_files_load(keys: Keys) -> None:
    srv = keys.server()
    cli = keys.client("agent-1")
    assert len(srv.public) == len(srv.secret) == 40 and srv.allow_dir == keys.allow
    assert cli.server_public == srv.public and cli.public != srv.public
    assert zmq.curve_public(cli.secret) == cli.public
    assert cli.public in load_allowed_keys(keys.allow)
    assert len(load_allowed_keys(keys.allow)) == 2


def test_missing_key_files(keys: Keys, tmp_path: Path) -> None:
    missing = tmp_path / "nope.key_secret"
    with pytest.raises(KeyFileError, match=f"{missing}: no such file"):
        CurveServer.from_files(missing, keys.allow)
    with pytest.raises(KeyFileError, match=f"{missing}: no such file"):
        CurveClient.from_files(missing, keys.sched_pub)
    with pytest.raises(KeyFileError, match=f"{tmp_path / 'x.key'}: no such file"):
        CurveClient.from_files(keys.agents["agent-1"], tmp_path / "x.key")
    with pytest.raises(KeyFileError, match=f"{tmp_path / 'none'}: no such directory"):
        CurveServer.from_files(keys.sched_sec, tmp_path / "none")
    with pytest.raises(KeyFileError, match="not a regular file"):
        CurveServer.from_files(tmp_path, keys.allow)


def test_malformed_key_files(keys: Keys, tmp_path: Path) -> None:
    junk = tmp_path / "junk.key_secret"
    junk.write_text("this is not a certificate\n")
    with pytest.raises(KeyFileError, match=f"{junk}: malformed"):
        CurveServer.from_files(junk, keys.allow)
    short = tmp_path / "short.key_secret"
    short.write_text('curve\n    public-key = "abc"\n    secret-key = "def"\n')
    with pytest.raises(KeyFileError, match=f"{short}: malformed public-key"):
        CurveClient.from_files(short, keys.sched_pub)
    # The public half where the secret one is expected.
    with pytest.raises(KeyFileError, match=f"{keys.sched_pub}: no secret-key"):
        CurveServer.from_files(keys.sched_pub, keys.allow)
    # A secret key that is not the public key's.
    mixed = tmp_path / "mixed.key_secret"
    text = keys.sched_sec.read_text()
    other_pub = keys.client("agent-1").public.decode()
    own_pub = keys.server().public.decode()
    mixed.write_text(text.replace(f'public-key = "{own_pub}"', f'public-key = "{other_pub}"'))
    with pytest.raises(KeyFileError, match=f"{mixed}: its public-key does not match"):
        CurveServer.from_files(mixed, keys.allow)
    # A malformed certificate in the allow dir is named.
    bad = keys.allow / "broken.key"
    bad.write_text("garbage\n")
    with pytest.raises(KeyFileError, match=f"{bad}: malformed"):
        CurveServer.from_files(keys.sched_sec, keys.allow)


def test_unreadable_key_file(keys: Keys, monkeypatch: pytest.MonkeyPatch) -> None:
    sec = keys.agents["agent-1"]
    if os.geteuid() == 0:  # root reads any file: fail the read instead

        def denied(path: object) -> tuple[bytes, bytes | None]:
            raise PermissionError(13, "Permission denied", str(path))

        monkeypatch.setattr(zmq.auth, "load_certificate", denied)
    sec.chmod(0)
    try:
        with pytest.raises(KeyFileError, match=f"{sec}: unreadable"):
            CurveClient.from_files(sec, keys.sched_pub)
    finally:
        sec.chmod(0o600)


def test_empty_allow_dir(keys: Keys, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "agent.key_secret").write_text("a secret key does not count\n")
    with pytest.raises(KeyFileError, match=f"allow directory {empty}: no agent public keys"):
        CurveServer.from_files(keys.sched_sec, empty)


def test_keygen_cli_creates_a_pair_and_refuses_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "keys"
    assert keygen_main([str(d), "agent-7"]) == 0
    out = capsys.readouterr().out
    pub, sec = d / "agent-7.key", d / "agent-7.key_secret"
    assert str(pub) in out and str(sec) in out
    assert stat.S_IMODE(sec.stat().st_mode) == 0o600
    c = CurveClient.from_files(sec, pub)
    assert zmq.curve_public(c.secret) == c.public
    before = sec.read_bytes()
    assert keygen_main([str(d), "agent-7"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert sec.read_bytes() == before
    pub.unlink()  # even half a pair is not overwritten
    with pytest.raises(FileExistsError):
        generate_keypair(d, "agent-7")
    assert sec.read_bytes() == before and not pub.exists()


def test_keygen_module_entry_point(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run(
        [sys.executable, "-m", "aurora.agent.keygen", str(tmp_path), "scheduler"],
        capture_output=True, text=True, env=env, timeout=30, check=False,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "scheduler.key").exists() and (tmp_path / "scheduler.key_secret").exists()
    assert str(tmp_path / "scheduler.key_secret") in p.stdout
