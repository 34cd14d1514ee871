"""The outermost ASGI layer: request id, access log, HTTP and WebSocket metrics, request spans.

It wraps the whole application, the fast GraphQL POST path (`direct_http`) included, so every
request is counted, timed, logged once and traced once. Per WebSocket frame it adds one type
check on the way out: the fan-out writes thousands of frames a second through it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatql.observability.logs import ACCESS_LOG, RequestInfo, current_request, request_id_from
from chatql.observability.metrics import OTHER, Metrics, route_of

access_log = logging.getLogger(ACCESS_LOG)
PROTOCOLS = frozenset({"graphql-transport-ws", "graphql-ws"})
TRACE_HEADERS = ("traceparent", "tracestate", "baggage")  # what trace propagation reads
_TRACE_HEADER_KEYS = frozenset(name.encode() for name in TRACE_HEADERS)
MAX_LOGGED_PATH = 200


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _carrier(scope: Scope) -> dict[str, str]:
    """The headers trace propagation reads (`TRACE_HEADERS`)."""
    return {
        key.decode("latin-1"): value.decode("latin-1")
        for key, value in scope["headers"]
        if key in _TRACE_HEADER_KEYS
    }


def request_info(scope: Scope) -> RequestInfo:
    """A request's log fields, its id the client's `X-Request-Id` when it looks like one."""
    return RequestInfo(request_id_from(_header(scope, b"x-request-id")))


def request_done(
    metrics: Metrics | None, method: str, path: str, status: int, seconds: float, sent: int
) -> None:
    """An HTTP request's metrics and access log line (never its query string: it may hold
    keys)."""
    if metrics is not None:
        metrics.http_request(method, route_of(path), status, seconds)
    if access_log.isEnabledFor(logging.INFO):
        path = path[:MAX_LOGGED_PATH]
        access_log.info(
            "%s %s %d",
            method,
            path,
            status,
            extra={
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
                "bytes": sent,
            },
        )


def _user_id(scope: Scope) -> str | None:
    user = getattr(scope.get("chatql.context"), "user", None)
    return getattr(user, "id", None)


class ObservedApp:
    def __init__(self, app: ASGIApp, metrics: Metrics | None, tracer: trace.Tracer | None):
        self._app = app
        self._metrics = metrics
        self._tracer = tracer

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Hands on the awaitable: no frame of its own in a WebSocket's (long-lived) call chain.
        kind = scope["type"]
        if kind == "http":
            return self._http(scope, receive, send)
        if kind == "websocket":
            return self._websocket(scope, receive, send)
        return self._app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        info = request_info(scope)
        reset = current_request.set(info)
        id_header = (b"x-request-id", info.request_id.encode())
        method: str = scope["method"]
        route = route_of(scope["path"])
        status = 500
        sent = 0

        async def observed_send(message: Message) -> None:
            nonlocal status, sent
            kind = message["type"]
            if kind == "http.response.body":
                sent += len(message.get("body", b""))
            elif kind == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        metrics = self._metrics
        if metrics is not None and route == "/files/uploads/{id}":
            receive = _counting(receive, metrics)
        span = detach = None
        if self._tracer is not None:
            parent = propagate.extract(_carrier(scope))
            span = self._tracer.start_span(
                f"{method} {route}",
                context=parent,
                kind=trace.SpanKind.SERVER,
                attributes={"http.request.method": method, "http.route": route},
            )
            detach = otel_context.attach(trace.set_span_in_context(span, parent))
        try:
            await self._app(scope, receive, observed_send)
        finally:
            seconds = time.perf_counter() - started
            if span is not None:
                span.set_attribute("http.response.status_code", status)
                if info.operation is not None:
                    span.set_attribute("graphql.operation.name", info.operation)
                if status >= 500:
                    span.set_status(trace.StatusCode.ERROR)
                span.end()
                if detach is not None:
                    otel_context.detach(detach)
            request_done(metrics, method, scope["path"], status, seconds, sent)
            current_request.reset(reset)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        info = request_info(scope)
        reset = current_request.set(info)
        socket = _ObservedSocket(info, receive, send, self._metrics)
        detach = None
        if self._tracer is not None:  # operations on this socket continue the upgrade's trace
            detach = otel_context.attach(propagate.extract(_carrier(scope)))
        try:
            await self._app(scope, socket.receive, socket.send)
        finally:
            if socket.protocol is not None:
                socket_closed(
                    self._metrics,
                    info,
                    scope["path"],
                    socket.protocol,
                    socket.code,
                    _user_id(scope),
                    started,
                )
            if detach is not None:
                otel_context.detach(detach)
            current_request.reset(reset)


def socket_opened(metrics: Metrics | None, subprotocol: str | None) -> str:
    """Count an accepted WebSocket; its protocol's label (`other` past the known ones)."""
    subprotocol = subprotocol or "none"
    protocol = subprotocol if subprotocol in PROTOCOLS else OTHER
    if metrics is not None:
        metrics.websockets.labels(protocol).inc()
    return protocol


def socket_closed(
    metrics: Metrics | None,
    info: RequestInfo,
    path: str,
    protocol: str,
    code: int | None,
    user_id: str | None,
    started: float,
) -> None:
    """An accepted WebSocket has ended: uncount it, count its close code, log one line."""
    if metrics is not None:
        metrics.websockets.labels(protocol).dec()
        metrics.websocket_closed(code)
    if access_log.isEnabledFor(logging.INFO):
        info.user_id = user_id
        info.operation = None
        path = path[:MAX_LOGGED_PATH]
        access_log.info(
            "WS %s closed %s",
            path,
            code,
            extra={
                "method": "WS",
                "path": path,
                "protocol": protocol,
                "close_code": code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            },
        )


class _ObservedSocket:
    """What one WebSocket's observation keeps for its life: its subprotocol once accepted, its
    close code, and the `receive`/`send` it wraps. One slotted object rather than closures
    over cells: an idle subscriber keeps this for hours."""

    __slots__ = ("_info", "_metrics", "_receive", "_send", "code", "protocol")

    def __init__(
        self, info: RequestInfo, receive: Receive, send: Send, metrics: Metrics | None
    ) -> None:
        self._info = info
        self._receive = receive
        self._send = send
        self._metrics = metrics
        self.protocol: str | None = None  # set once accepted
        self.code: int | None = None

    def send(self, message: Message) -> Awaitable[None]:
        # The hot path (every frame the fan-out writes) hands the message straight on: no
        # coroutine of its own.
        if message["type"] == "websocket.send":
            return self._send(message)
        return self._observe(message)

    async def _observe(self, message: Message) -> None:
        kind = message["type"]
        if kind == "websocket.accept":
            message["headers"] = [
                *message.get("headers", ()),
                (b"x-request-id", self._info.request_id.encode()),
            ]
            self.protocol = socket_opened(self._metrics, message.get("subprotocol"))
        elif kind == "websocket.close" and self.code is None:
            self.code = message.get("code", 1000)
        await self._send(message)

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "websocket.disconnect" and self.code is None:
            self.code = message.get("code", 1005)
        return message


def _counting(receive: Receive, metrics: Metrics) -> Receive:
    """`receive` that counts the body bytes of an upload."""

    async def counted() -> Message:
        message: Any = await receive()
        if message["type"] == "http.request":
            metrics.upload_bytes.inc(len(message.get("body", b"")))
        return message  # type: ignore[no-any-return]

    return counted
