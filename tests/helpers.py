"""Real servers and real clients for the end-to-end tests."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
import websockets

from chatql.app import create_app
from chatql.config import Settings
from chatql.fast_path.http_protocol import CoalescingHttpProtocol
from chatql.realtime.pubsub import room_channel
from chatql.realtime.transport import LeanWebSocketProtocol
from chatql.store.base import Store

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
PROTOCOLS = (TRANSPORT_WS, LEGACY_WS)
REGISTER = (  # what `Client.register` sends (a trusted-documents manifest must list it)
    "mutation($u: String!, $p: String!) { register(username: $u, password: $p) "
    "{ accessToken refreshToken user { id username } } }"
)
_names = itertools.count(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(
    port: int,
    process: subprocess.Popen[bytes],
    output: Callable[[], str] = lambda: "",
    timeout: float = 20,
) -> None:
    """Poll a `python -m chatql` process's /readyz; `output` tells what it said if it fails."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"ChatQL exited early:\n{output()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"ChatQL did not become ready:\n{output()}")


@dataclass
class Server:
    url: str
    settings: Settings
    app: Any = None

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")


@contextlib.asynccontextmanager
async def running_server(
    settings: Settings,
    store: Store | None = None,
    port: int = 0,
    tracer_provider: Any = None,
    **uvicorn_options: Any,
) -> AsyncIterator[Server]:
    """uvicorn serving a fresh app on `port` (default: a free one) of loopback, in this loop."""
    port = port or free_port()
    app = create_app(settings, store=store, tracer_provider=tracer_provider)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        **{
            "ws": LeanWebSocketProtocol,  # what `chatql serve` runs (websockets-sansio, leaner)
            "http": CoalescingHttpProtocol,  # and its HTTP protocol (one write per answer)
            **uvicorn_options,  # a test may run uvicorn's own protocols instead
        },
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield Server(url=f"http://127.0.0.1:{port}/graphql", settings=settings, app=app)
    finally:
        server.should_exit = True
        await task


def room_subscribers(server: Server, room: str) -> int:
    """Live subscriptions to the room's channel, counting each member of a fan-out group (a
    group holds one channel subscription for all its members)."""
    groups = [g for g in server.app.view.fanout._groups.values() if g.plan.room_id == room]
    channel_count = server.app.state.services.hub.subscriber_count(room_channel(room))
    return channel_count - len(groups) + sum(len(g.members) for g in groups)


async def until(condition: Callable[[], Any], timeout: float = 5) -> None:
    """Wait until `condition()` (a plain or an async check) is true, or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = condition()
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if outcome:
            return
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def client_task(task: asyncio.Task[Any]) -> bool:
    """A task of the test's own WebSocket clients (websockets' keep-alives), not the server's."""
    code = getattr(task.get_coro(), "cr_code", None)
    return code is not None and "websockets/asyncio" in code.co_filename


async def room_subscribed(
    server: Server, room: str, count: int = 1, timeout: float = 5, *, exactly: bool = False
) -> None:
    """Wait until the server holds `count` live subscriptions to the room (exactly `count` if
    asked, so that a closed socket's subscription has gone too): events from then on reach
    them (a fixed sleep is too short on a loaded machine)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        live = room_subscribers(server, room)
        if live == count or (live > count and not exactly):
            return
        late = asyncio.get_running_loop().time() > deadline
        assert not late, f"{live} live subscriptions to the room, not {count}"
        await asyncio.sleep(0.02)


@dataclass
class Account:
    id: str
    username: str
    token: str
    refresh_token: str


@dataclass
class Client:
    """GraphQL over HTTP with httpx."""

    server: Server
    http: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=20))

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        response = await self.http.post(
            self.server.url, json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def data(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        body = await self.post(query, variables, token)
        assert "errors" not in body, body
        return body["data"]  # type: ignore[no-any-return]

    async def error(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """The first error of a request that must fail, with its extensions."""
        body = await self.post(query, variables, token)
        assert body.get("errors"), body
        return body["errors"][0]  # type: ignore[no-any-return]

    async def register(self, name: str | None = None, password: str = "correct horse") -> Account:
        username = name or f"user{next(_names)}"
        data = await self.data(
            REGISTER,
            {"u": username, "p": password},
        )
        payload = data["register"]
        return Account(
            payload["user"]["id"],
            payload["user"]["username"],
            payload["accessToken"],
            payload["refreshToken"],
        )

    async def create_room(
        self,
        owner: Account,
        name: str = "room",
        private: bool = False,
        members: list[str] | None = None,
    ) -> str:
        data = await self.data(
            "mutation($i: CreateChatRoomInput!) { createChatRoom(input: $i) { id } }",
            {"i": {"name": name, "isPrivate": private, "memberIds": members or []}},
            owner.token,
        )
        return str(data["createChatRoom"]["id"])

    async def join(self, account: Account, room_id: str) -> None:
        await self.data(
            "mutation($r: ID!) { joinRoom(roomId: $r) { id } }", {"r": room_id}, account.token
        )

    async def send(
        self, account: Account, room_id: str, content: str, client_id: str | None = None
    ) -> dict[str, Any]:
        data = await self.data(
            "mutation($i: CreateMessageInput!) "
            "{ createMessage(input: $i) { id seq cursor content } }",
            {"i": {"chatRoomId": room_id, "content": content, "clientId": client_id}},
            account.token,
        )
        return data["createMessage"]  # type: ignore[no-any-return]

    async def history(
        self, account: Account, room_id: str, limit: int = 100
    ) -> list[dict[str, Any]]:
        data = await self.data(
            "query($r: ID!, $l: Int) "
            "{ messagesByRoom(chatRoomId: $r, limit: $l, sortDirection: ASC) "
            "{ items { id seq content } nextToken } }",
            {"r": room_id, "l": limit},
            account.token,
        )
        return data["messagesByRoom"]["items"]  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self.http.aclose()


ON_MESSAGE = (
    "subscription($r: ID!, $a: String) { onMessageCreated(chatRoomId: $r, after: $a) "
    "{ id chatRoomId content seq cursor author { id username } } }"
)


class Socket:
    """A raw WebSocket speaking either subprotocol, for checks at the frame level."""

    def __init__(self, ws: Any, protocol: str) -> None:
        self.ws = ws
        self.protocol = protocol
        self._ids = itertools.count(1)

    @classmethod
    async def connect(
        cls, server: Server, protocol: str, token: str | None, init: bool = True
    ) -> Socket:
        ws = await websockets.connect(server.ws_url, subprotocols=[protocol])  # type: ignore[list-item]
        sock = cls(ws, protocol)
        if init:
            payload = {"authorization": f"Bearer {token}"} if token else {}
            await sock.send({"type": "connection_init", "payload": payload})
        return sock

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def recv(self, timeout: float = 5) -> dict[str, Any]:
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), timeout)
            assert isinstance(raw, str), "frames must be text"
            frame = json.loads(raw)
            if frame.get("type") not in ("ka", "ping", "pong"):
                return frame  # type: ignore[no-any-return]

    async def ack(self) -> None:
        frame = await self.recv()
        assert frame["type"] == "connection_ack", frame

    async def subscribe(self, query: str, variables: dict[str, Any]) -> str:
        op_id = str(next(self._ids))
        kind = "subscribe" if self.protocol == TRANSPORT_WS else "start"
        await self.send(
            {"id": op_id, "type": kind, "payload": {"query": query, "variables": variables}}
        )
        return op_id

    async def unsubscribe(self, op_id: str) -> None:
        kind = "complete" if self.protocol == TRANSPORT_WS else "stop"
        await self.send({"id": op_id, "type": kind})

    async def next_payload(self, timeout: float = 5) -> dict[str, Any]:
        frame = await self.recv(timeout)
        assert frame["type"] in ("next", "data"), frame
        return frame["payload"]  # type: ignore[no-any-return]

    async def messages(self, count: int, timeout: float = 5) -> list[dict[str, Any]]:
        out = []
        for _ in range(count):
            payload = await self.next_payload(timeout)
            assert "errors" not in payload, payload
            out.append(payload["data"]["onMessageCreated"])
        return out

    async def nothing_within(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            frame = await self.recv(seconds)
            raise AssertionError(f"unexpected frame {frame}")

    async def close(self) -> None:
        await self.ws.close()

    @classmethod
    async def subscriber(cls, server: Server, token: str, room: str) -> Socket:
        """A graphql-transport-ws socket, acknowledged, subscribed to the room's messages as
        operation "1" (the server may not hold the subscription yet: `room_subscribed`)."""
        sock = await cls.connect(server, TRANSPORT_WS, token)
        await sock.ack()
        await sock.subscribe(ON_MESSAGE, {"r": room})
        return sock
