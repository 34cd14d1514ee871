"""The server as users start it: `python -m chatql`, a real process, killed and restarted."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests import helpers
from tests.helpers import ON_MESSAGE, TRANSPORT_WS, Client, Server, Socket, free_port

SECRET = "process-test-secret-0123456789abcdef"


def start(db: Path, port: int, **extra: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CHATQL_DATABASE_URL": f"sqlite:///{db}",
        "CHATQL_PORT": str(port),
        "CHATQL_JWT_SECRET": SECRET,
        "CHATQL_ARGON2_TIME_COST": "1",
        "CHATQL_ARGON2_MEMORY_COST": "1024",
        "CHATQL_LOG_LEVEL": "warning",
        "CHATQL_RATE_LIMIT_MESSAGES": "off",
        **extra,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "chatql"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    def output() -> str:
        return process.stdout.read().decode() if process.stdout else ""

    helpers.wait_ready(port, process, output)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "chat.db"


async def test_kill_9_and_restart_loses_no_committed_message(db: Path) -> None:
    port = free_port()
    process = start(db, port)
    try:
        await asyncio.to_thread(wait_ready, port, process)
        server = Server(url=f"http://127.0.0.1:{port}/graphql", settings=None)  # type: ignore[arg-type]
        client = Client(server)
        alice = await client.register("alice")
        room = await client.create_room(alice, "durable")
        first = await client.send(alice, room, "m0")
        acknowledged = [first] + [await client.send(alice, room, f"m{i}") for i in range(1, 30)]
        await client.close()
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()

    process = start(db, port)
    try:
        await asyncio.to_thread(wait_ready, port, process)
        client = Client(server)
        history = await client.history(alice, room)
        assert [m["id"] for m in history] == [m["id"] for m in acknowledged]
        # a subscriber that last saw m0 resumes after the restart and gets all the rest once
        sock = await Socket.connect(server, TRANSPORT_WS, alice.token)
        await sock.ack()
        await sock.subscribe(ON_MESSAGE, {"r": room, "a": first["cursor"]})
        got = await sock.messages(29)
        assert [m["content"] for m in got] == [f"m{i}" for i in range(1, 30)]
        await sock.nothing_within(0.3)
        await sock.close()
        # and the restarted server keeps numbering after the last committed seq
        after = await client.send(alice, room, "after restart")
        assert after["seq"] == 31
        await client.close()
    finally:
        process.terminate()
        process.wait(timeout=15)


async def test_kill_9_in_the_middle_of_a_send_burst_loses_and_duplicates_nothing(db: Path) -> None:
    """Sends are in flight when the process dies: whatever was acknowledged is durable, and a
    subscriber resuming from its last cursor gets it exactly once, in order."""
    port = free_port()
    process = start(db, port)
    server = Server(url=f"http://127.0.0.1:{port}/graphql", settings=None)  # type: ignore[arg-type]
    acknowledged: list[dict[str, object]] = []
    try:
        await asyncio.to_thread(wait_ready, port, process)
        client = Client(server)
        alice = await client.register("alice")
        room = await client.create_room(alice, "burst")
        first = await client.send(alice, room, "start")

        enough = asyncio.Event()

        async def sender(worker: int) -> None:
            for i in range(1000):
                try:
                    acknowledged.append(await client.send(alice, room, f"w{worker}-{i}"))
                except Exception:  # the server died under us: the rest are not acknowledged
                    return
                if len(acknowledged) >= 150:
                    enough.set()

        senders = [asyncio.create_task(sender(w)) for w in range(8)]
        await asyncio.wait_for(enough.wait(), 60)
        process.send_signal(signal.SIGKILL)  # sends are in flight right now
        process.wait()
        await asyncio.gather(*senders)
        await client.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    process = start(db, port)
    try:
        await asyncio.to_thread(wait_ready, port, process)
        client = Client(server)
        query = (
            "query($r: ID!, $t: String) { messagesByRoom(chatRoomId: $r, limit: 100, "
            "sortDirection: ASC, nextToken: $t) { items { id seq content } nextToken } }"
        )
        stored: list[dict[str, object]] = []
        next_token = None
        while True:
            page = (await client.data(query, {"r": room, "t": next_token}, alice.token))[
                "messagesByRoom"
            ]
            stored += page["items"]
            next_token = page["nextToken"]
            if next_token is None:
                break
        ids = [m["id"] for m in stored]
        assert len(ids) == len(set(ids))  # no duplicates
        assert {m["id"] for m in acknowledged} <= set(ids)  # every acknowledged send survived
        seqs = [m["seq"] for m in stored]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)

        sock = await Socket.connect(server, TRANSPORT_WS, alice.token)
        await sock.ack()
        await sock.subscribe(ON_MESSAGE, {"r": room, "a": first["cursor"]})
        replayed = await sock.messages(len(stored) - 1, timeout=20)
        await sock.nothing_within(0.3)
        assert [m["id"] for m in replayed] == ids[1:]
        await sock.close()
        await client.close()
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_bad_configuration_is_refused_with_a_clear_message(db: Path) -> None:
    process = start(db, free_port(), CHATQL_PORT="eighty", CHATQL_ENV="staging")
    out, _ = process.communicate(timeout=20)
    assert process.returncode == 2
    text = out.decode()
    assert "CHATQL_PORT must be an integer" in text and "CHATQL_ENV must be one of" in text
    assert "Traceback" not in text


def test_production_refuses_a_short_secret(db: Path) -> None:
    process = start(db, free_port(), CHATQL_ENV="production", CHATQL_JWT_SECRET="short")
    out, _ = process.communicate(timeout=20)
    assert process.returncode == 2
    assert "CHATQL_JWT_SECRET must be set to at least 32 bytes" in out.decode()


def test_production_refuses_email_without_smtp(db: Path) -> None:
    long_secret = "p" * 40
    process = start(
        db,
        free_port(),
        CHATQL_ENV="production",
        CHATQL_JWT_SECRET=long_secret,
        CHATQL_EMAIL_MODE="optional",
        CHATQL_PUBLIC_URL="https://chat.example.com",
    )
    out, _ = process.communicate(timeout=20)
    assert process.returncode == 2
    assert "CHATQL_EMAIL_MODE=optional needs CHATQL_SMTP_URL" in out.decode()
    for bad, message in (
        ({"CHATQL_SMTP_URL": "http://mail"}, "smtp:// or smtps://"),
        ({"CHATQL_PUBLIC_URL": "chat.example.com"}, "CHATQL_PUBLIC_URL must be an http(s) URL"),
        ({"CHATQL_OIDC_PROVIDERS": "{nope"}, "CHATQL_OIDC_PROVIDERS: not valid JSON"),
    ):
        process = start(db, free_port(), **bad)
        out, _ = process.communicate(timeout=20)
        assert process.returncode == 2 and message in out.decode(), out.decode()
        assert "Traceback" not in out.decode()


def test_development_without_smtp_logs_the_mails(db: Path) -> None:
    """No SMTP in development: start-up says mails go to the log, and they do, link and all."""
    port = free_port()
    process = start(db, port, CHATQL_LOG_LEVEL="info")
    try:
        wait_ready(port, process)
        response = httpx.post(
            f"http://127.0.0.1:{port}/graphql",
            json={
                "query": 'mutation { register(username: "mailless", password: "correct horse", '
                'email: "mailless@example.com") { user { id } } }'
            },
        )
        assert "errors" not in response.json(), response.text
        time.sleep(0.5)
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=15)
    text = out.decode()
    assert "no CHATQL_SMTP_URL: account mails" in text
    assert "mail to mailless@example.com" in text
    assert f"http://localhost:{port}/verify-email?token=" in text


def test_sigterm_shuts_down_cleanly(db: Path) -> None:
    port = free_port()
    process = start(db, port)
    wait_ready(port, process)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0


def run_cli(db: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CHATQL_DATABASE_URL": f"sqlite:///{db}",
        "CHATQL_JWT_SECRET": SECRET,
        "CHATQL_ARGON2_TIME_COST": "1",
        "CHATQL_ARGON2_MEMORY_COST": "1024",
    }
    return subprocess.run(
        [sys.executable, "-m", "chatql", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
    )


async def test_create_admin_command_creates_or_promotes(db: Path) -> None:
    created = run_cli(db, "create-admin", "root", "--password-stdin", stdin="admin password\n")
    assert created.returncode == 0, created.stderr
    assert "created root as ADMIN" in created.stdout
    again = run_cli(db, "create-admin", "ROOT")
    assert again.returncode == 0 and "root is now ADMIN" in again.stdout
    bad = run_cli(db, "create-admin", "x", "--password-stdin", stdin="short\n")
    assert bad.returncode == 2 and "username must be" in bad.stderr
    port = free_port()
    process = start(db, port)
    try:
        await asyncio.to_thread(wait_ready, port, process)
        client = Client(Server(url=f"http://127.0.0.1:{port}/graphql", settings=None))  # type: ignore[arg-type]
        login = await client.data(
            'mutation { login(username: "root", password: "admin password") { user { role } } }'
        )
        assert login["login"]["user"]["role"] == "ADMIN"
        await client.close()
    finally:
        process.terminate()
        process.wait(timeout=15)


async def test_sigterm_tells_live_clients_to_reconnect_and_exits_cleanly(db: Path) -> None:
    port = free_port()
    process = start(db, port)
    try:
        await asyncio.to_thread(wait_ready, port, process)
        server = Server(url=f"http://127.0.0.1:{port}/graphql", settings=None)  # type: ignore[arg-type]
        client = Client(server)
        alice = await client.register("alice")
        room = await client.create_room(alice, "r")
        sock = await Socket.subscriber(server, alice.token, room)
        await asyncio.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed):
            for _ in range(10):
                await sock.recv(10)
        assert sock.ws.close_code == 1012  # "service restart": reconnect and resume
        assert await asyncio.to_thread(process.wait, 15) == 0
        await client.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
