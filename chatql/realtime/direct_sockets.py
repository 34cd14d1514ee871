"""graphql-transport-ws on /graphql without an ASGI task per socket.

Through ASGI, an idle subscriber waits in a task of its own, seven coroutines deep, and keeps
uvicorn's scope, Starlette's WebSocket, Strawberry's adapter and the middleware's wrappers
alive for as long as it stays connected. Here the server's WebSocket protocol
(`chatql.realtime.transport.LeanWebSocketProtocol`) hands the frames of such a socket to a
`DirectSocket`. The `DirectSocket` checks them as the adapter and the size limit do, then
passes them one at a time, in order, to the same protocol handler
(`SharedSubscriptionsHandler`). It does this in a short task that ends once no frame is
waiting. An idle socket then holds its protocol, handler, context and group members, and
nothing runs for it.

What the ASGI path does for such a socket is done here too:
* the origin check and the subprotocol choice;
* the request id header;
* the metrics and the access log line;
* the trace context of the upgrade;
* the client's address from trusted proxy headers;
* the clean-up at the end: presence, sessions and the connection count.

Other paths, graphql-ws and servers without the lean protocol keep the ASGI path.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections import deque
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, cast

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from starlette.datastructures import Address
from strawberry.http.exceptions import WebSocketDisconnected
from uvicorn.protocols.utils import ClientDisconnected

from chatql.context import ChatContext
from chatql.observability.logs import RequestInfo, current_request, request_id_from
from chatql.observability.middleware import TRACE_HEADERS, socket_closed, socket_opened
from chatql.realtime.shared_subscriptions import SharedSubscriptionsHandler
from chatql.realtime.transport import TRANSPORT_WS
from chatql.security.body_limit import WS_MESSAGE_TOO_BIG, message_too_big
from chatql.security.connections import NOT_JSON, NOT_TEXT, is_protocol_message

if TYPE_CHECKING:
    from chatql.graphql_view import ChatGraphQL
    from chatql.observability.metrics import Metrics
    from chatql.realtime.transport import LeanWebSocketProtocol

log = logging.getLogger("chatql.sockets")
WS_INVALID_DATA = 1007
WS_INTERNAL_ERROR = 1011


class _Handshake:
    """What Strawberry's origin check reads of a handshake request: its headers."""

    __slots__ = ("headers",)

    def __init__(self, headers: Mapping[str, str]) -> None:
        self.headers = headers


class DirectSockets:
    """The application's side: which handshakes go direct, and a `DirectSocket` for each."""

    def __init__(
        self,
        view: ChatGraphQL,
        metrics: Metrics | None,
        tracer: trace.Tracer | None,
        path: str = "/graphql",
    ) -> None:
        self.view = view
        self.metrics = metrics
        self.tracer = tracer
        self.path = path
        self.max_message_bytes = view.services.settings.max_ws_message_bytes

    @staticmethod
    def first_values(raw_items: Iterable[tuple[str, str]]) -> dict[str, str]:
        """The handshake's headers by lower-case name, first value of each (as Starlette's
        `headers.get`): a repeated header is no error."""
        headers: dict[str, str] = {}
        for name, value in raw_items:
            headers.setdefault(name.lower(), value)
        return headers

    def takes(self, path: str, subprotocols: list[str]) -> bool:
        """A socket on our path whose first subprotocol we speak (the client's order, as
        Strawberry chooses) is graphql-transport-ws."""
        if path != self.path:
            return False
        spoken = self.view.websocket_subprotocols
        chosen = next((name for name in subprotocols if name in spoken), None)
        return chosen == TRANSPORT_WS

    def origin_allowed(self, headers: Mapping[str, str]) -> bool:
        """Strawberry's check of a browser's `Origin` (same origin, or `allowed_origins`);
        `headers` as `first_values` gives them."""
        return self.view._check_websocket_origin(cast(Any, _Handshake(headers)))

    def open(
        self,
        protocol: LeanWebSocketProtocol,
        headers: Mapping[str, str],
        client: tuple[str, int] | None,
    ) -> DirectSocket:
        """A `DirectSocket` for a handshake about to be accepted."""
        request_id = headers.get("x-request-id")
        info = RequestInfo(request_id_from(request_id.encode("latin-1") if request_id else None))
        variables = contextvars.copy_context()  # the socket's tasks run in it, as an ASGI task
        variables.run(current_request.set, info)
        if self.tracer is not None:  # operations on this socket continue the upgrade's trace
            carrier = {name: headers[name] for name in TRACE_HEADERS if name in headers}
            variables.run(otel_context.attach, propagate.extract(carrier))
        return DirectSocket(self, protocol, client, info, variables)


class DirectSocket:
    """One graphql-transport-ws socket: the protocol handler's `websocket`, the context's
    `request`, and the queue uvicorn's protocol tells of the socket's end.

    Frames wait in `_pending`; a pump task hands them to the handler in order and ends when
    none is left. When the socket ends, a last run of the pump shuts the handler down and lets
    the connection's presence and session go.
    """

    __slots__ = (
        "_ending",
        "_finished",
        "_handler",
        "_pending",
        "_protocol",
        "_pump",
        "_sockets",
        "_started",
        "_variables",
        "client",
        "code",
        "context",
        "frames",
        "info",
        "protocol_label",
    )
    # What readers of a context's request look at to tell a WebSocket (read-only, shared).
    scope: ClassVar[Mapping[str, Any]] = MappingProxyType({"type": "websocket"})

    def __init__(
        self,
        sockets: DirectSockets,
        protocol: LeanWebSocketProtocol,
        client: tuple[str, int] | None,
        info: RequestInfo,
        variables: contextvars.Context,
    ) -> None:
        view = sockets.view
        self._sockets = sockets
        self._protocol: LeanWebSocketProtocol | None = protocol
        self.frames: LeanWebSocketProtocol | None = protocol  # the fan-out's frame writer
        self.client = Address(*client) if client else None
        self.info = info
        self._variables = variables
        self._pending: deque[tuple[bytes, bool]] = deque()
        self._pump: asyncio.Task[None] | None = None
        self._ending = False
        self._finished = False
        self._started = time.perf_counter()
        self.code: int | None = None
        self.protocol_label = socket_opened(sockets.metrics, TRANSPORT_WS)
        self.context: ChatContext | None = ChatContext(
            services=view.services, request=self, response=None, long_lived=True
        )
        self._handler: SharedSubscriptionsHandler | None = SharedSubscriptionsHandler(
            view=view,
            websocket=cast(Any, self),
            context=self.context,
            root_value=None,
            schema=view.schema,
            connection_init_wait_timeout=view.connection_init_wait_timeout,
            max_subscriptions_per_connection=view.max_subscriptions_per_connection,
        )

    def start(self) -> None:
        """The handshake is answered: connection_init's wait begins."""
        assert self._handler is not None
        self._variables.run(self._handler.on_request_accepted)

    # From the protocol

    def receive(self, data: bytes, text: bool) -> None:
        """A whole message from the client (`text`: a text frame's UTF-8 bytes)."""
        if self._ending:
            return
        self._pending.append((data, text))
        self._wake()

    def put_nowait(self, message: Mapping[str, Any]) -> None:
        """uvicorn's protocol reports the socket's end as ASGI's `websocket.disconnect`."""
        if message.get("type") == "websocket.disconnect":
            self._ended(message.get("code", 1005))

    # For the protocol handler, the fan-out and the session registry

    async def send_json(self, message: Mapping[str, object]) -> None:
        await self.send_text(self._sockets.view.encode_json(message))

    async def send_text(self, text: str) -> None:
        protocol = self._protocol
        if protocol is None:
            raise WebSocketDisconnected
        try:
            await protocol.send({"type": "websocket.send", "text": text})
        except (ClientDisconnected, RuntimeError) as exc:  # gone, or closed by us
            raise WebSocketDisconnected from exc

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        protocol = self._protocol
        try:
            if protocol is not None and not (protocol.close_sent or protocol.disconnected):
                # uvicorn tells `put_nowait` of the close (with this code) before it returns
                await protocol.send(
                    {"type": "websocket.close", "code": code, "reason": reason or ""}
                )
        except (ClientDisconnected, RuntimeError):  # gone, or closed, while the send waited
            pass
        finally:
            self._ended(code)

    # The pump

    def _ended(self, code: int) -> None:
        if self.code is None:
            self.code = code
        self._ending = True
        self._pending.clear()
        self._wake()

    def _wake(self) -> None:
        protocol = self._protocol
        if self._pump is not None or self._finished or protocol is None:
            return
        pump = asyncio.get_running_loop().create_task(self._run(), context=self._variables)
        self._pump = pump
        protocol.tasks.add(pump)  # uvicorn waits for these when it stops
        pump.add_done_callback(protocol.tasks.discard)
        pump.add_done_callback(_report_failure)

    async def _run(self) -> None:
        """Hand the waiting frames over in order; once the socket has ended, clean up, even
        when cancelled (uvicorn cancels what is left after its graceful shutdown)."""
        try:
            while self._pending and not self._ending:
                data, text = self._pending.popleft()
                try:
                    await self._handle(data, text)
                except WebSocketDisconnected:
                    self._ended(1006)
                except Exception:
                    log.exception("graphql-transport-ws handler failed; closing the socket")
                    await self.close(WS_INTERNAL_ERROR, "Internal error")
                del data
            protocol = self._protocol
            if protocol is not None and not self._pending:
                protocol.resume_reading()
        except BaseException:
            self._ended(1006)
            raise
        finally:
            self._pump = None
            if self._ending and not self._finished:
                self._finished = True
                await self._finish()

    async def _handle(self, data: bytes, text: bool) -> None:
        """As the ASGI path: the size limit, then text, then a JSON object with a `type`."""
        handler = self._handler
        assert handler is not None
        limit = self._sockets.max_message_bytes
        if limit and len(data) > limit:
            await self.close(WS_MESSAGE_TOO_BIG, message_too_big(limit))
            return
        if not text:
            await handler.handle_invalid_message(NOT_TEXT)
            return
        try:
            message = self._sockets.view.decode_json(data.decode())
        except UnicodeDecodeError:
            await self.close(WS_INVALID_DATA, "Invalid UTF-8 in a text frame")
            return
        except (ValueError, RecursionError):
            message = None
        if not is_protocol_message(message):
            await handler.handle_invalid_message(NOT_JSON)
            return
        await handler.handle_message(cast(Any, message))

    async def _finish(self) -> None:
        """The operations end, then the connection's presence and session go; the socket is
        counted closed and let go whatever fails on the way."""
        handler, context, sockets = self._handler, self.context, self._sockets
        assert handler is not None and context is not None
        try:
            try:
                await handler.shutdown()
            finally:
                await sockets.view.socket_ended(context)
        finally:
            user = context.user
            socket_closed(
                sockets.metrics,
                self.info,
                sockets.path,
                self.protocol_label,
                self.code,
                user.id if user is not None else None,
                self._started,
            )
            # What refers back to this socket (handler, context) is let go with it.
            self._handler = None
            self.context = None
            self._protocol = None
            self.frames = None


def _report_failure(task: asyncio.Task[None]) -> None:
    """A pump's failure past its own handling (its clean-up failing) is logged, not lost."""
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("graphql-transport-ws socket clean-up failed", exc_info=error)


__all__ = ["DirectSocket", "DirectSockets"]
