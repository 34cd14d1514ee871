"""Size limits at the ASGI layer, so no handler ever buffers an oversized body or message.

HTTP: a declared `Content-Length` over the limit, or a chunked body that passes it as it
arrives, is answered 413. Its rest is read and dropped first when that is little
(`drain_body`); a much larger body is cut off unread.
WebSocket: a message over the limit closes the socket with 1009 (Message Too Big), the code
uvicorn itself uses for its `ws_max_size`, so clients see one code whichever layer refused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable

import anyio
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatql.json_response import send_json

WS_MESSAGE_TOO_BIG = 1009
# How much of a refused body is still read, and for how long: a body up to what nginx passes
# on to /graphql (deploy/nginx: client_max_body_size 1m) is read to its end.
DRAIN_BYTES = 1024 * 1024
DRAIN_SECONDS = 1.0


class _BodyTooLarge(Exception):
    """Raised out of `receive` to stop the app reading a body that passed the limit."""

    def __init__(self, measured: int, ended: bool) -> None:
        self.measured = measured
        self.ended = ended  # the body's last part came


class SizeLimitMiddleware:
    """Refuses HTTP bodies over `max_body_bytes` and WebSocket messages over `max_ws_bytes`."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        max_ws_message_bytes: int,
        unlimited_prefix: str | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_ws_message_bytes = max_ws_message_bytes
        self.unlimited_prefix = unlimited_prefix

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Hands on the awaitable: no frame of its own in a WebSocket's (long-lived) call chain.
        if (
            scope["type"] == "http"
            and self.max_body_bytes
            and not (self.unlimited_prefix and scope["path"].startswith(self.unlimited_prefix))
        ):
            return self._http(scope, receive, send)
        if scope["type"] == "websocket" and self.max_ws_message_bytes:
            socket = _CheckedSocket(self.max_ws_message_bytes, receive, send)
            return self.app(scope, socket.receive, socket.send)
        return self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.max_body_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            if declared <= DRAIN_BYTES and not waits_for_continue(scope):
                await drain_body(_rest_of_body(receive))
            await _payload_too_large(send, limit, declared)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(received, not message.get("more_body", False))
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge as exc:
            if started:  # pragma: no cover - GraphQL reads the whole body before answering
                raise
            if not exc.ended:
                await drain_body(_rest_of_body(receive))
            await _payload_too_large(send, limit, exc.measured)


async def drain_body(rest: AsyncIterator[bytes]) -> None:
    """Reads and drops the rest of a refused request body, up to `DRAIN_BYTES` and for at most
    `DRAIN_SECONDS`.

    A server that answers and closes with bytes of the request still unread makes its kernel
    reset the connection, and a client (or proxy) still writing then sees the reset instead of
    the answer: nginx turns it into a 502. Reading a little more first lets it read ours."""
    seen = 0
    with anyio.move_on_after(DRAIN_SECONDS):
        try:
            async for chunk in rest:
                seen += len(chunk)
                if seen > DRAIN_BYTES:
                    return
        except ClientDisconnect:
            return


async def _rest_of_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client is gone
            return
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


class _CheckedSocket:
    """One WebSocket's size check: a slotted object rather than closures over cells, since an
    idle subscriber keeps it for hours."""

    __slots__ = ("_closed", "_limit", "_receive", "_send")

    def __init__(self, limit: int, receive: Receive, send: Send) -> None:
        self._limit = limit
        self._receive = receive
        self._send = send
        self._closed = False

    async def receive(self) -> Message:
        message = await self._receive()
        limit = self._limit
        if message["type"] == "websocket.receive" and _ws_size(message, limit) > limit:
            self._closed = True
            reason = message_too_big(limit)
            await self._send(
                {"type": "websocket.close", "code": WS_MESSAGE_TOO_BIG, "reason": reason}
            )
            return {"type": "websocket.disconnect", "code": WS_MESSAGE_TOO_BIG}
        return message

    def send(self, message: Message) -> Awaitable[None]:
        if self._closed:  # once we closed, the app's last words go nowhere
            return _nothing()
        return self._send(message)  # every frame passes here: no coroutine of its own


def message_too_big(limit: int) -> str:
    """The close reason of a WebSocket message over the limit (code `WS_MESSAGE_TOO_BIG`)."""
    return f"Message larger than {limit} bytes"


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def waits_for_continue(scope: Scope) -> bool:
    """Whether the client sent `Expect: 100-continue`: it has sent none of its body yet, and
    reading would ask it for the body, where a refusal alone tells it not to send."""
    return any(
        name == b"expect" and value.strip().lower() == b"100-continue"
        for name, value in scope.get("headers", ())
    )


def _ws_size(message: Message, limit: int) -> int:
    """The message's size in bytes, encoding text only when its length leaves a doubt."""
    data = message.get("bytes")
    if data is not None:
        return len(data)
    text: str = message.get("text") or ""
    if len(text) > limit or len(text) * 4 <= limit:  # UTF-8 uses 1 to 4 bytes a character
        return len(text)
    return len(text.encode())


async def _payload_too_large(send: Send, limit: int, measured: int) -> None:
    error = {
        "message": f"Request body is larger than {limit} bytes",
        "extensions": {"code": "PAYLOAD_TOO_LARGE", "limit": limit, "measured": measured},
    }
    # the rest of the upload is not read
    await send_json(send, 413, {"errors": [error]}, headers=[(b"connection", b"close")])


async def _nothing() -> None:
    """An awaitable that does nothing."""
