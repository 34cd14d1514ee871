"""The WebSocket transport `chatql serve` gives uvicorn: its websockets-sansio protocol, leaner.

An idle subscriber is mostly transport state, so the per-socket pieces uvicorn keeps for the
whole life of a connection are trimmed here, with the same behaviour:

* the receive queue is a small inbox (an `asyncio.Queue` is four deques, ~3 KB, per socket);
* the "transport is writable" flag is a small gate instead of an `asyncio.Event` (a deque);
* the handshake's request and response headers are let go once the ASGI scope has its copy;
* some attributes live in slots, so the instance dict stays small (see the class);
* keep-alive pings and pong deadlines share one loop timer per tick (`timer_wheel`) instead
  of holding a timer handle per socket.

/graphql's graphql-transport-ws sockets skip ASGI altogether when the application offers
`direct_sockets` (`chatql.realtime.direct_sockets`): the protocol answers the handshake itself
and hands each message to the socket's `DirectSocket`, which also takes the queue's place for
uvicorn's notices of the socket's end. Everything else goes through ASGI as before.

The wheel also serves the GraphQL protocol handlers' per-socket timers (connection_init
timeout, legacy graphql-ws keep-alive).

The shared fan-out writes the same frame to thousands of sockets. `write_text` lets it write
straight to the transport (found under `FRAMES_EXTENSION` in the ASGI scope's extensions): the
same checks as uvicorn's `send`, without the ASGI message, Starlette's and the middleware's
layers, and, when no extension is negotiated, without building a websockets `Frame`.
"""

from __future__ import annotations

import asyncio
import random
import struct
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request, Response
from websockets.protocol import OPEN

from chatql.realtime.timer_wheel import timer_wheel

TRANSPORT_WS = "graphql-transport-ws"  # the subprotocol direct sockets speak
FRAMES_EXTENSION = "chatql.frames"  # scope["extensions"] key of the socket's `write_text`


def _enlisted(
    waiters: list[asyncio.Future[None]] | None, waiter: asyncio.Future[None]
) -> list[asyncio.Future[None]]:
    """Waiter lists exist only while someone waits: most sockets never need one."""
    if waiters is None:
        return [waiter]
    waiters.append(waiter)
    return waiters


class Inbox:
    """What uvicorn needs of its receive queue (`put_nowait`, `get`, `empty`), unbounded as
    before, without an `asyncio.Queue`'s four deques per socket."""

    __slots__ = ("_items", "_loop", "_waiters")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._items: list[Any] = []
        self._waiters: list[asyncio.Future[None]] | None = None

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiters = self._waiters
        if waiters:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
                    break  # one item, one getter (as asyncio.Queue)

    async def get(self) -> Any:
        while not self._items:
            waiter = self._loop.create_future()
            self._waiters = _enlisted(self._waiters, waiter)
            try:
                await waiter
            except BaseException:
                waiter.cancel()
                self._forget(waiter)
                if self._items and not waiter.cancelled():  # woken, then cancelled: pass it on
                    self._wake_next()
                raise
            self._forget(waiter)
        return self._items.pop(0)

    def _forget(self, waiter: asyncio.Future[None]) -> None:
        waiters = self._waiters
        if waiters is not None:
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters:
                self._waiters = None

    def _wake_next(self) -> None:
        for waiter in self._waiters or ():
            if not waiter.done():
                waiter.set_result(None)
                return


class Gate:
    """An `asyncio.Event` for uvicorn's writable flag (`set`, `clear`, `is_set`, `wait`), with
    no deque per socket: waiters are kept only while the transport is paused."""

    __slots__ = ("_open", "_waiters")

    def __init__(self) -> None:
        self._open = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._open

    def set(self) -> None:
        self._open = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._open = False

    async def wait(self) -> bool:
        if self._open:
            return True  # no suspension: a write to a writable socket completes at once
        waiter = asyncio.get_running_loop().create_future()
        self._waiters = _enlisted(self._waiters, waiter)
        try:
            await waiter
            return True
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol, keeping less per open socket (see module doc)."""

    # uvicorn sets ~37 attributes per socket; past 30, Python gives each instance a full dict
    # table (~1.6 KB) instead of a slim one sharing its keys with the others. Holding these
    # in slots keeps the rest under that limit (~0.4 KB together).
    __slots__ = (
        "curr_msg_data_type",
        "direct",
        "frames",
        "last_ping_rtt",
        "pending_ping_payload",
        "ping_interval",
        "ping_sent_at",
        "ping_timeout",
        "ping_timer",
        "pong_timer",
        "queue",
        "request",
        "response",
        "writable",
    )

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.queue = Inbox(self.loop)  # type: ignore[assignment]
        self.writable = Gate()  # type: ignore[assignment]
        self.direct: Any = None  # the socket's `DirectSocket`, when it goes direct

    def handle_connect(self, event: Request) -> None:
        sockets = app_attribute(self.app, "direct_sockets")
        if sockets is not None:
            raw_path = event.path.partition("?")[0]
            subprotocols = [
                token.strip()
                for header in event.headers.get_all("Sec-WebSocket-Protocol")
                for token in header.split(",")
            ]
            if sockets.takes(self.root_path + unquote(raw_path), subprotocols):
                response = self.conn.accept(event)
                if response.status_code == 101:
                    try:
                        self._open_direct(event, response, sockets)
                    except Exception:  # as uvicorn answers an app that failed before accepting
                        self.logger.exception("Exception opening a direct WebSocket")
                        self.send_500_response()
                        self.close_sent = self.handshake_complete = True
                        self.transport.close()
                    return
        super().handle_connect(event)
        # The ASGI scope has its own copy of the headers. The request would otherwise live as
        # long as the socket (uvicorn's attribute, and a local of websockets' parser).
        self.request = None  # type: ignore[assignment]
        event.headers.clear()
        extensions: dict[str, Any] = self.scope["extensions"]
        extensions[FRAMES_EXTENSION] = self

    def _open_direct(self, event: Request, response: Response, sockets: Any) -> None:
        """Answer the handshake here and hand the socket to a `DirectSocket`
        (`chatql.realtime.direct_sockets`): no ASGI scope and no task for it."""
        self.handshake_initiated = True
        self.request = None  # type: ignore[assignment]
        headers = sockets.first_values(event.headers.raw_items())
        if not sockets.origin_allowed(headers):  # as an app refusing before it accepts: 403
            refusal = self.conn.reject(HTTPStatus.FORBIDDEN, "")
            self.conn.send_response(refusal)
            self.close_sent = True
            self.handshake_complete = True
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.transport.close()
            return
        client = forwarded_client(self.app, self.client, event.headers)
        socket = sockets.open(self, headers, client)
        del response.headers["Date"]
        response.headers.update(
            [
                *(
                    (name.decode("latin-1").lower(), value.decode("latin-1"))
                    for name, value in self.default_headers
                ),
                ("x-request-id", socket.info.request_id),
                ("Sec-WebSocket-Protocol", TRANSPORT_WS),
            ]
        )
        event.headers.clear()
        self.direct = self.queue = socket  # uvicorn tells its queue of the socket's end
        self.handshake_complete = True
        self.conn.send_response(response)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.start_keepalive()
        socket.start()

    def send_receive_event_to_app(self) -> None:
        direct = self.direct
        if direct is None:
            super().send_receive_event_to_app()
            return
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent:  # as uvicorn: past our close, a message is dropped
            return
        direct.receive(data, self.curr_msg_data_type == "text")
        if not self.read_paused:  # as uvicorn: no more is read until the handler has this one
            self.read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        """The direct socket's handler has caught up with the frames it was given."""
        if self.read_paused and not self.disconnected:
            self.read_paused = False
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        extensions = getattr(self, "scope", {}).get("extensions") or {}
        extensions.pop(FRAMES_EXTENSION, None)  # no cycle left through the scope

    def write_text(self, data: bytes) -> bool | None:
        """Write one text frame now: True; the transport is paused, nothing written: False
        (send it the ordinary way, which waits); the socket is closing or gone: None."""
        if (
            self.disconnected
            or self.close_sent
            or not self.handshake_complete
            or self.initial_response is not None
        ):
            return None
        if not self.writable.is_set():
            return False
        conn = self.conn
        if conn.state is not OPEN:
            return None
        if conn.extensions or conn.writes or conn.expect_continuation_frame:
            conn.send_text(data)  # compression, or frames queued before this one: websockets'
            self.transport.write(b"".join(conn.data_to_send()))
        else:
            self.transport.write(text_frame_header(len(data)) + data)
        return True

    def start_keepalive(self) -> None:
        # Called once the handshake response is written: nothing reads it again.
        self.response = None  # type: ignore[assignment]
        super().start_keepalive()

    def schedule_ping(self) -> None:
        assert self.ping_interval is not None
        delay = max(0.0, self.ping_interval - self.last_ping_rtt)
        self.ping_timer = timer_wheel(self.loop).call_later(  # type: ignore[assignment]
            delay, self.send_keepalive_ping
        )

    def send_keepalive_ping(self) -> None:
        """uvicorn's, with the pong deadline on the wheel as well."""
        self.ping_timer = None
        if self.close_sent or self.transport.is_closing():
            return
        self.pending_ping_payload = struct.pack("!I", random.getrandbits(32))
        self.ping_sent_at = self.loop.time()
        self.conn.send_ping(self.pending_ping_payload)
        self.transport.write(b"".join(self.conn.data_to_send()))
        if self.ping_timeout is not None:
            self.pong_timer = timer_wheel(self.loop).call_later(  # type: ignore[assignment]
                self.ping_timeout, self.keepalive_timeout
            )
        else:
            self.schedule_ping()


def _app_chain(app: Any) -> Iterator[Any]:
    """The application the server was given, then what its wrappers (`.app`) wrap."""
    for _ in range(8):  # uvicorn wraps an app in two at most
        if app is None:
            return
        yield app
        app = getattr(app, "app", None)


def app_attribute(app: Any, name: str) -> Any:
    """`name` of the application, looked for through the server's wrappers."""
    return next((found for a in _app_chain(app) if (found := getattr(a, name, None))), None)


def _proxy(app: Any, client: tuple[str, int] | None) -> ProxyHeadersMiddleware | None:
    """uvicorn's proxy headers middleware, when it is there and trusts the peer `client`."""
    proxy = next((a for a in _app_chain(app) if isinstance(a, ProxyHeadersMiddleware)), None)
    if proxy is None or client is None or client[0] not in proxy.trusted_hosts:
        return None
    return proxy


def forwarded_client(
    app: Any, client: tuple[str, int] | None, headers: Any
) -> tuple[str, int] | None:
    """The client's address as uvicorn's proxy headers middleware would set it in a scope:
    from X-Forwarded-For, when the peer is a trusted proxy (`headers`: websockets')."""
    if _proxy(app, client) is None:
        return client
    forwarded = headers.get_all("X-Forwarded-For")
    scope: dict[str, Any] = {
        "client": client,
        "headers": [(b"x-forwarded-for", v.encode("latin1")) for v in forwarded],
    }
    trusted_forwarding(app, scope)
    found: tuple[str, int] | None = scope["client"]
    return found


def trusted_forwarding(app: Any, scope: Any) -> None:
    """What uvicorn's proxy headers middleware does to an HTTP request's scope: the client
    and scheme from X-Forwarded-For and X-Forwarded-Proto, when the peer is a trusted proxy."""
    proxy = _proxy(app, scope.get("client"))
    if proxy is None:
        return
    proto = None
    forwarded: list[bytes] = []
    for name, value in scope["headers"]:
        if name == b"x-forwarded-proto":
            proto = value
        elif name == b"x-forwarded-for":
            forwarded.append(value)
    if proto is not None:
        scheme = proto.decode("latin1").strip()
        if scheme in {"http", "https", "ws", "wss"}:
            scope["scheme"] = scheme
    if forwarded:
        host, port = proxy.trusted_hosts.get_trusted_client_address(
            b", ".join(forwarded).decode("latin1")
        )
        if host:
            scope["client"] = (host, port)


def text_frame_header(length: int) -> bytes:
    """RFC 6455 header of a final, unmasked (server-to-client) text frame."""
    if length < 126:
        return bytes((0x81, length))
    if length < 65536:
        return struct.pack("!BBH", 0x81, 126, length)
    return struct.pack("!BBQ", 0x81, 127, length)


__all__ = [
    "FRAMES_EXTENSION",
    "TRANSPORT_WS",
    "Gate",
    "Inbox",
    "LeanWebSocketProtocol",
    "app_attribute",
    "forwarded_client",
    "text_frame_header",
    "trusted_forwarding",
]
