"""graphql-transport-ws sockets served without ASGI (`chatql.realtime.direct_sockets`): frames in
order, bad frames refused as the ASGI path refuses them, everything let go at the end, the
client's address from trusted proxies only, and a clean close when the server stops."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import websockets
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from websockets.datastructures import Headers

from chatql.config import Settings
from chatql.realtime.transport import app_attribute, forwarded_client
from tests.helpers import (
    ON_MESSAGE,
    TRANSPORT_WS,
    Client,
    Socket,
    room_subscribed,
    running_server,
    until,
)
from tests.raw_ws import StalledClient


async def test_frames_sent_at_once_are_handled_in_order(settings: Settings) -> None:
    async with running_server(settings) as server:
        client = Client(server)
        alice = await client.register("alice")
        room = await client.create_room(alice, "r")
        host, port = server.url.split("//")[1].split("/")[0].split(":")
        raw = await asyncio.to_thread(StalledClient, host, int(port), "/graphql", TRANSPORT_WS)
        subscribe = {"query": ON_MESSAGE, "variables": {"r": room}}
        frames = [
            {"type": "connection_init", "payload": {"authorization": f"Bearer {alice.token}"}},
            *({"type": "ping"} for _ in range(50)),  # past the backlog that pauses reading
            {"id": "1", "type": "subscribe", "payload": subscribe},
            {"id": "1", "type": "complete"},
            {"id": "1", "type": "subscribe", "payload": subscribe},  # no 4409: in order
        ]
        await asyncio.to_thread(raw.send_many, frames)

        def answers(count: int) -> list[Any]:
            return [json.loads(raw.recv()[1]) for _ in range(count)]

        assert (
            await asyncio.to_thread(answers, 51)
            == [{"type": "connection_ack"}] + [{"type": "pong"}] * 50
        )
        await room_subscribed(server, room, exactly=True)
        sent = await client.send(alice, room, "once")
        (frame,) = await asyncio.to_thread(answers, 1)
        assert frame["id"] == "1"
        assert frame["payload"]["data"]["onMessageCreated"]["id"] == sent["id"]
        raw.close()
        await client.close()


async def test_binary_and_malformed_frames_close_4400(settings: Settings) -> None:
    async with running_server(settings) as server:
        client = Client(server)
        alice = await client.register("alice")
        for bad, reason in (
            (b"\x00\x01", "WebSocket message type must be text"),
            ("not json", "WebSocket message must be valid JSON"),
            ('["a list"]', "WebSocket message must be valid JSON"),
            ('{"type": 3}', "WebSocket message must be valid JSON"),
        ):
            sock = await Socket.connect(server, TRANSPORT_WS, alice.token)
            await sock.ack()
            await sock.ws.send(bad)
            await asyncio.wait_for(sock.ws.wait_closed(), 5)
            assert (sock.ws.close_code, sock.ws.close_reason) == (4400, reason)
        view = server.app.view
        await until(lambda: view.connections.count(alice.id) == 0)
        await client.close()


async def test_a_socket_gone_during_connection_init_leaves_nothing_behind(
    settings: Settings,
) -> None:
    async with running_server(settings) as server:
        client = Client(server)
        alice = await client.register("alice")
        view = server.app.view
        for _ in range(5):  # closed at once, while the token is being checked
            sock = await Socket.connect(server, TRANSPORT_WS, alice.token)
            await sock.ws.close()
        open_socket = await Socket.connect(server, TRANSPORT_WS, alice.token)
        await open_socket.ack()
        await until(lambda: view.connections.count(alice.id) == 1)
        assert len(view.sessions._sockets.get(alice.id, {})) == 1
        await open_socket.ws.close()
        await until(lambda: view.connections.count(alice.id) == 0)
        await until(lambda: not view.sessions._sockets.get(alice.id))
        await client.close()


async def test_a_stopping_server_closes_direct_sockets_1012(settings: Settings) -> None:
    async with running_server(settings) as server:
        client = Client(server)
        alice = await client.register("alice")
        room = await client.create_room(alice, "r")
        sock = await Socket.subscriber(server, alice.token, room)
        await room_subscribed(server, room)
        await client.close()
    await asyncio.wait_for(sock.ws.wait_closed(), 5)
    assert sock.ws.close_code == 1012


def test_the_client_address_comes_from_trusted_proxies_only() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        pass

    headers = Headers([("X-Forwarded-For", "203.0.113.7, 10.0.0.2")])
    proxied = ProxyHeadersMiddleware(app, trusted_hosts=["127.0.0.1", "10.0.0.2"])
    assert forwarded_client(proxied, ("127.0.0.1", 5000), headers) == ("203.0.113.7", 0)
    assert forwarded_client(proxied, ("198.51.100.9", 5000), headers) == ("198.51.100.9", 5000)
    assert forwarded_client(app, ("127.0.0.1", 5000), headers) == ("127.0.0.1", 5000)
    assert forwarded_client(proxied, ("127.0.0.1", 5000), Headers()) == ("127.0.0.1", 5000)


def test_the_application_is_found_through_the_servers_wrappers() -> None:
    class App:
        direct_sockets = object()

    app = App()
    assert app_attribute(ProxyHeadersMiddleware(app), "direct_sockets") is app.direct_sockets
    assert app_attribute(ProxyHeadersMiddleware(object()), "direct_sockets") is None


async def test_repeated_handshake_headers_are_read_as_the_asgi_path_reads_them(
    settings: Settings,
) -> None:
    """The first value wins (as Starlette's `headers.get`); a repeated header is no error."""
    allowed = replace(settings, allowed_origins=("https://chat.example.com",))
    async with running_server(allowed) as server:
        ws = await websockets.connect(
            server.ws_url,
            subprotocols=[TRANSPORT_WS],  # type: ignore[list-item]
            additional_headers=[("X-Request-Id", "first-id-1"), ("X-Request-Id", "second-id")],
            origin="https://chat.example.com",  # type: ignore[arg-type]
        )
        assert ws.response is not None
        assert ws.response.headers["x-request-id"] == "first-id-1"
        await ws.close()


async def test_a_cancelled_socket_task_still_cleans_up(settings: Settings) -> None:
    """uvicorn cancels what is left after its graceful shutdown: the socket's count, session
    and metrics go all the same."""
    async with running_server(settings) as server:
        client = Client(server)
        alice = await client.register("alice")
        view = server.app.view
        stuck = asyncio.Event()

        async def connected_never(user: Any) -> str:
            stuck.set()
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        view.services.presence.connected = connected_never
        sock = await Socket.connect(server, TRANSPORT_WS, alice.token)
        await asyncio.wait_for(stuck.wait(), 5)
        assert view.connections.count(alice.id) == 1  # admitted, then stuck
        (pump,) = [
            t
            for t in asyncio.all_tasks()
            if getattr(t.get_coro(), "__qualname__", "") == "DirectSocket._run"
        ]
        pump.cancel()
        await until(lambda: view.connections.count(alice.id) == 0)
        await sock.ws.close()
        await client.close()
