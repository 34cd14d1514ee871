"""What an idle socket costs the server, and that the savings keep every behaviour.

An idle shared subscriber is transport state plus a group member: no task of its own. Per-socket
timers (uvicorn's pings and pong deadlines, the connection_init timeout, legacy keep-alives)
share one loop timer per tick (`chatql.realtime.timer_wheel`). uvicorn's receive queue and
writable flag are small objects instead of an `asyncio.Queue` and an `asyncio.Event`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import websockets

from chatql.config import Settings
from chatql.realtime import timer_wheel
from chatql.realtime.timer_wheel import TimerWheel
from chatql.realtime.transport import Gate, Inbox
from chatql.security.connections import ConnectionLimiter, TooManyConnections
from chatql.store.sqlite import SQLiteStore
from tests.helpers import (
    LEGACY_WS,
    ON_MESSAGE,
    PROTOCOLS,
    TRANSPORT_WS,
    Account,
    Client,
    Server,
    Socket,
    client_task,
    room_subscribed,
    room_subscribers,
    running_server,
    until,
)
from tests.raw_ws import StalledClient

PING, PONG, CLOSE = 0x9, 0xA, 0x8


@pytest.fixture
def fine_wheel(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Ticks of 50 ms, so that timers of a few tenths of a second go through the wheel."""
    monkeypatch.setattr(timer_wheel, "WHEEL_RESOLUTION", 0.05)
    monkeypatch.setattr(timer_wheel, "_wheels", weakref.WeakKeyDictionary())
    yield


def server_tasks() -> int:
    """Tasks in this loop but the test's own WebSocket clients'."""
    return sum(not client_task(t) for t in asyncio.all_tasks())


# ---------------------------------------------------------------- the pieces


async def test_wheel_timers_fire_at_their_tick_in_order_and_can_be_cancelled() -> None:
    loop = asyncio.get_running_loop()
    wheel = TimerWheel(loop, resolution=0.02)
    fired: list[tuple[str, float]] = []
    start = loop.time()

    def mark(name: str) -> None:
        fired.append((name, loop.time() - start))

    wheel.call_later(0.1, lambda: mark("a"))
    wheel.call_later(0.1, lambda: mark("b"))
    wheel.call_later(0.1, lambda: mark("cancelled")).cancel()
    wheel.call_later(0.01, lambda: mark("short"))  # under 4 ticks: an exact loop timer
    wheel.call_later(0.2, lambda: mark("later"))
    assert wheel.pending() == 3  # a, b, later
    await asyncio.sleep(0.35)
    assert [name for name, _ in fired] == ["short", "a", "b", "later"]
    at = dict(fired)
    assert 0.1 <= at["a"] < at["later"]  # never early
    assert at["later"] >= 0.2 and at["a"] < 0.1 + 0.02 + 0.2  # about a tick late at most
    assert wheel.pending() == 0


async def test_a_failing_wheel_callback_is_reported_and_the_others_still_run() -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        wheel = TimerWheel(loop, resolution=0.02)
        ran: list[str] = []

        def boom() -> None:
            raise ValueError("boom")

        wheel.call_later(0.1, boom)
        wheel.call_later(0.1, lambda: ran.append("after"))
        short = wheel.call_later(0.01, lambda: ran.append("short, cancelled"))
        short.cancel()
        await asyncio.sleep(0.25)
        assert ran == ["after"]
        assert isinstance(reported[0]["exception"], ValueError)
    finally:
        loop.set_exception_handler(None)


async def test_inbox_is_a_fifo_that_wakes_one_getter_per_item() -> None:
    inbox = Inbox(asyncio.get_running_loop())
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    assert not inbox.empty() and inbox.qsize() == 2
    assert [await inbox.get(), await inbox.get()] == [1, 2]
    assert inbox.empty()
    getters = [asyncio.create_task(inbox.get()) for _ in range(2)]
    await asyncio.sleep(0)
    inbox.put_nowait("x")
    await asyncio.sleep(0.01)
    assert sum(g.done() for g in getters) == 1
    inbox.put_nowait("y")
    assert sorted(await asyncio.gather(*getters)) == ["x", "y"]


async def test_an_inbox_getter_cancelled_after_its_wake_up_passes_the_item_on() -> None:
    inbox = Inbox(asyncio.get_running_loop())
    first = asyncio.create_task(inbox.get())
    second = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait("item")  # wakes `first`...
    first.cancel()  # ...which is cancelled before it runs
    assert await asyncio.wait_for(second, 1) == "item"
    assert first.cancelled()


async def test_an_open_gate_never_suspends_and_a_closed_one_waits_for_set() -> None:
    gate = Gate()
    coroutine = gate.wait()
    with pytest.raises(StopIteration):  # the fan-out writes synchronously relying on this
        coroutine.send(None)
    gate.clear()
    waiters = [asyncio.create_task(gate.wait()) for _ in range(2)]
    await asyncio.sleep(0.01)
    assert not any(w.done() for w in waiters) and not gate.is_set()
    gate.set()
    assert await asyncio.gather(*waiters) == [True, True]


def test_the_connection_limiter_leaves_the_scope_alone() -> None:
    limiter = ConnectionLimiter(1)
    first: dict[str, Any] = {"type": "websocket"}
    second: dict[str, Any] = {"type": "websocket"}
    limiter.admit(first, "u")
    limiter.admit(first, "u")  # a second connection_init on the same socket replaces the first
    assert first == {"type": "websocket"} and limiter.count("u") == 1
    with pytest.raises(TooManyConnections):
        limiter.admit(second, "u")
    limiter.release(first)
    limiter.release(first)
    assert limiter.count("u") == 0
    limiter.admit(second, "u")
    assert limiter.count("u") == 1


# ---------------------------------------------------------------- uvicorn's keep-alive pings


async def stalled_client(server: Server, token: str) -> StalledClient:
    url = urlparse(server.ws_url)
    raw = await asyncio.to_thread(
        StalledClient, url.hostname or "", url.port or 0, url.path, TRANSPORT_WS
    )
    raw.send({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    opcode, ack = await asyncio.to_thread(raw.recv)
    assert opcode == 0x1 and json.loads(ack)["type"] == "connection_ack"
    return raw


async def test_pings_go_out_and_a_peer_that_never_answers_is_closed_1011(
    settings: Settings, fine_wheel: None
) -> None:
    async with running_server(settings, ws_ping_interval=0.3, ws_ping_timeout=0.3) as server:
        client = Client(server)
        alice = await client.register("alice")
        room = await client.create_room(alice)
        silent = await stalled_client(server, alice.token)
        started = time.perf_counter()
        opcode, _ = await asyncio.to_thread(silent.recv)
        assert opcode == PING
        assert 0.25 < time.perf_counter() - started < 3
        opcode, payload = await asyncio.to_thread(silent.recv)  # no pong from us
        assert opcode == CLOSE and int.from_bytes(payload[:2], "big") == 1011
        assert 0.5 < time.perf_counter() - started < 4
        silent.close()

        # A peer that answers (websockets does) stays open through many pings, and is served.
        sock = await Socket.subscriber(server, alice.token, room)
        await asyncio.sleep(1.5)
        sent = await client.send(alice, room, "still here")
        assert (await sock.messages(1))[0]["id"] == sent["id"]
        await sock.close()
        await client.close()


# ---------------------------------------------------------------- protocol timers


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_the_connection_init_timeout_on_the_wheel_still_closes_4408(
    settings: Settings, fine_wheel: None, protocol: str
) -> None:
    async with running_server(replace(settings, ws_connection_init_timeout=0.3)) as server:
        client = Client(server)
        account = await client.register()
        silent = await Socket.connect(server, protocol, None, init=False)
        started = time.perf_counter()
        with pytest.raises(websockets.ConnectionClosed):
            await silent.recv(5)
        assert silent.ws.close_code == 4408
        assert 0.25 < time.perf_counter() - started < 2
        prompt = await Socket.connect(server, protocol, account.token)
        await prompt.ack()
        await asyncio.sleep(0.6)  # past the timeout: an initialised socket stays open
        assert prompt.ws.close_code is None
        await prompt.close()
        await client.close()


async def test_legacy_keep_alives_keep_coming_without_a_task_per_socket(
    settings: Settings, fine_wheel: None
) -> None:
    async with running_server(replace(settings, ws_keepalive_interval=0.3)) as server:
        client = Client(server)
        account = await client.register()
        baseline = server_tasks()
        sockets = [await Socket.connect(server, LEGACY_WS, account.token) for _ in range(5)]
        kinds: list[list[str]] = [[] for _ in sockets]

        async def read(index: int, sock: Socket) -> None:
            deadline = time.monotonic() + 1.2
            with contextlib.suppress(TimeoutError):
                while (left := deadline - time.monotonic()) > 0:
                    frame = json.loads(await asyncio.wait_for(sock.ws.recv(), left))
                    kinds[index].append(frame["type"])

        await asyncio.gather(*(read(i, s) for i, s in enumerate(sockets)))
        for seen in kinds:
            assert seen[:2] == ["connection_ack", "ka"]  # the first `ka` right after the ack
            assert 2 <= seen.count("ka") <= 6  # then one every 0.3 s
        assert server_tasks() - baseline <= len(sockets)  # uvicorn's, one per socket
        for sock in sockets:
            await sock.close()
        await client.close()


# ---------------------------------------------------------------- shared subscribers


async def test_an_idle_shared_subscriber_has_no_task_and_ends_cleanly(
    settings: Settings, tmp_path: Path
) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path}/shared.db")
    async with running_server(settings, store=store) as server:
        client = Client(server)
        alice, bob = await client.register("alice"), await client.register("bob")
        room = await client.create_room(alice, "r", members=[bob.id])
        baseline = server_tasks()
        sockets = []
        for _ in range(10):
            sock = await Socket.connect(server, TRANSPORT_WS, bob.token)
            await sock.ack()
            await sock.subscribe(ON_MESSAGE, {"r": room})
            sockets.append(sock)
        await asyncio.sleep(0.2)
        sent = await client.send(alice, room, "to all")
        for sock in sockets:
            assert (await sock.messages(1))[0]["id"] == sent["id"]
        await asyncio.sleep(0.1)
        # the room group's task: nothing per socket (`DirectSocket`) or subscription
        assert server_tasks() - baseline <= 1
        assert await store.room_watchers(room) == frozenset({bob.id})

        # `complete` from the client: no more deliveries there, the others still get theirs
        first, rest = sockets[0], sockets[1:]
        await first.unsubscribe("1")
        await first.nothing_within(0.2)
        sent = await client.send(alice, room, "after one left")
        for sock in rest:
            assert (await sock.messages(1))[0]["id"] == sent["id"]
        await first.nothing_within(0.3)
        # the same id can subscribe again at once
        await first.send(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": ON_MESSAGE, "variables": {"r": room}},
            }
        )
        await asyncio.sleep(0.2)
        sent = await client.send(alice, room, "welcome back")
        for sock in sockets:
            assert (await sock.messages(1))[0]["id"] == sent["id"]

        # removal from the room ends every subscription with FORBIDDEN, then `complete`
        await client.data(
            "mutation($r: ID!, $u: ID!) { removeRoomMember(roomId: $r, userId: $u) }",
            {"r": room, "u": bob.id},
            alice.token,
        )
        for sock in sockets:
            payload = await sock.next_payload()
            assert payload["errors"][0]["extensions"]["code"] == "FORBIDDEN"
            assert await sock.recv() == {"id": "1", "type": "complete"}

        async def unwatched() -> bool:
            return await store.room_watchers(room) == frozenset()

        await until(unwatched)
        for sock in sockets:
            await sock.close()
        await client.close()


async def test_closing_the_socket_lets_the_watch_and_the_group_go(
    settings: Settings, tmp_path: Path
) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path}/close.db")
    async with running_server(settings, store=store) as server:
        client = Client(server)
        alice, bob = await client.register("alice"), await client.register("bob")
        room = await client.create_room(alice, "r", members=[bob.id])
        baseline = server_tasks()
        sock = await Socket.connect(server, TRANSPORT_WS, bob.token)
        await sock.ack()
        await sock.subscribe(ON_MESSAGE, {"r": room})
        await asyncio.sleep(0.2)
        assert await store.room_watchers(room) == frozenset({bob.id})
        await sock.close()

        async def gone() -> bool:
            watchers = await store.room_watchers(room)
            return watchers == frozenset() and server_tasks() <= baseline

        await until(gone)  # the group's task went with its last member
        await client.close()


def _await_chain(task: asyncio.Task[Any]) -> list[str]:
    """file:function of every coroutine the task is suspended in, outermost first."""
    names = []
    awaited: Any = task.get_coro()
    while awaited is not None:
        code = getattr(awaited, "cr_code", None) or getattr(awaited, "ag_code", None)
        if code is not None:
            names.append(f"{code.co_filename}:{code.co_name}")
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "ag_await", None)
    return names


@dataclass
class IdleSubscriber:
    """A server with one idle shared subscriber, and the tasks there were before it came."""

    server: Server
    client: Client
    alice: Account
    room: str
    sock: Socket
    tasks_before: set[asyncio.Task[Any]]

    async def delivers_then_refuses_a_big_message(self) -> None:
        """A message still reaches the socket, and a 70 KB frame closes it 1009 (the app's
        limit: the helper's uvicorn allows 16 MB frames)."""
        sent = await self.client.send(self.alice, self.room, "still delivered")
        assert (await self.sock.messages(1))[0]["id"] == sent["id"]
        await self.sock.ws.send(json.dumps({"type": "ping", "payload": {"x": "y" * 70_000}}))
        await asyncio.wait_for(self.sock.ws.wait_closed(), 5)
        assert self.sock.ws.close_code == 1009


@contextlib.asynccontextmanager
async def idle_subscriber(
    settings: Settings, **uvicorn_options: Any
) -> AsyncIterator[IdleSubscriber]:
    async with running_server(settings, **uvicorn_options) as server:
        client = Client(server)
        alice = await client.register("alice")
        room = await client.create_room(alice, "r")
        tasks_before = asyncio.all_tasks()
        sock = await Socket.subscriber(server, alice.token, room)
        await room_subscribed(server, room)
        try:
            yield IdleSubscriber(server, client, alice, room, sock, tasks_before)
        finally:
            await client.close()


async def test_an_idle_direct_socket_has_no_task_and_keeps_the_size_limit(
    settings: Settings,
) -> None:
    """With `chatql serve`'s protocol, /graphql's graphql-transport-ws sockets go direct
    (`chatql.realtime.direct_sockets`): no ASGI task, scope or Starlette WebSocket per socket."""
    async with idle_subscriber(settings) as idle:

        def only_the_group() -> bool:
            started = [t for t in asyncio.all_tasks() - idle.tasks_before if not client_task(t)]
            return [t.get_name() for t in started] == [f"fanout:{idle.room}"]

        await until(only_the_group)
        assert idle.sock.ws.response is not None
        assert idle.sock.ws.response.headers["x-request-id"]
        await idle.delivers_then_refuses_a_big_message()
        await until(lambda: room_subscribers(idle.server, idle.room) == 0)


async def test_an_idle_asgi_socket_waits_outside_starlettes_routing_and_middleware(
    settings: Settings,
) -> None:
    """Through ASGI (here uvicorn's own protocol), /graphql's WebSockets go to the GraphQL
    endpoint before Starlette's router and middleware: each frame there would be held for
    the socket's whole life."""
    async with idle_subscriber(settings, ws="websockets-sansio") as idle:
        chains = [
            _await_chain(task)
            for task in asyncio.all_tasks() - idle.tasks_before
            if task.get_coro().__qualname__.endswith("run_asgi")  # type: ignore[union-attr]
        ]
        assert len(chains) == 1
        chain = chains[0]
        assert any("strawberry" in frame for frame in chain)  # the protocol handler's loop
        assert not [frame for frame in chain if "/starlette/" in frame]
        assert len(chain) <= 7, chain  # 20 through Starlette
        await idle.delivers_then_refuses_a_big_message()  # the size limit without a frame


async def test_an_upgraded_connections_http_protocol_goes_at_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a garbage collection: uvicorn's HTTP protocol and its parser refer to each
    other, and every socket that ever connected would keep one until the next."""
    import gc

    from chatql.fast_path.http_protocol import CoalescingHttpProtocol

    upgraded: list[weakref.ref[CoalescingHttpProtocol]] = []
    original = CoalescingHttpProtocol.handle_websocket_upgrade

    def noted(protocol: CoalescingHttpProtocol) -> None:
        upgraded.append(weakref.ref(protocol))
        original(protocol)

    monkeypatch.setattr(CoalescingHttpProtocol, "handle_websocket_upgrade", noted)
    async with running_server(settings) as server:
        client = Client(server)
        alice = await client.register("alice")
        gc.disable()
        try:
            for protocol in (TRANSPORT_WS, LEGACY_WS):
                sock = await Socket.connect(server, protocol, alice.token)
                await sock.ack()
                assert upgraded and upgraded[-1]() is None, protocol
                await sock.close()
        finally:
            gc.enable()
            await client.close()
