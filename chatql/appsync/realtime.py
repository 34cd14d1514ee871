"""`/graphql/realtime`: AWS AppSync's real-time protocol over a WebSocket (subprotocol
`graphql-ws`, AppSync's dialect of it), for AppSync clients such as AWS Amplify.

    client                                  server
    (handshake: `header-<base64url JSON>` subprotocol, or `?header=<base64 JSON>`)
    connection_init                  ->
                                     <-     connection_ack {connectionTimeoutMs}, then `ka`s
    start {id, payload: {data: "<JSON of query, variables>",
                         extensions: {authorization: {...}}}}  ->
                                     <-     start_ack {id}   (once nothing can be missed)
                                     <-     data {id, payload: {data}}  ...
    stop {id}                        ->
                                     <-     complete {id}

Subscriptions run through the schema's own `subscribe`: the same resolvers (authorised when
they open and again for every event), limits, error codes and production masking as the other
transports. This endpoint carries subscriptions only, as AppSync's does; queries and mutations
go over HTTP. Refusals come in AppSync's shapes (see `errors`); the socket survives bad frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from graphql import OperationType
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.types import ExecutionResult

from chatql.appsync import errors
from chatql.appsync.handshake import (
    PROTOCOL,
    BadHeader,
    Credentials,
    credentials,
    handshake_header,
)
from chatql.background import BackgroundTasks
from chatql.context import ChatContext, authenticate
from chatql.errors import ChatError
from chatql.fast_path.shapes import operation_type
from chatql.persisted_documents import DocumentRefused, DocumentResolver
from chatql.realtime.pubsub import on_listening
from chatql.realtime.timer_wheel import WheelTimer, timer_wheel
from chatql.security.connections import INIT_TIMEOUT, TOO_MANY_CONNECTIONS, TooManyConnections
from chatql.security.sessions import REVOKED_CLOSE_CODE

if TYPE_CHECKING:
    from chatql.graphql_view import ChatGraphQL

log = logging.getLogger("chatql.appsync")

REFUSED_CLOSE = (4403, "Forbidden")
BAD_HANDSHAKE_CLOSE = (4400, "Bad request")
MAX_OPERATION_ID = 128
TIMEOUT_PER_KEEPALIVE = 5  # connectionTimeoutMs is this many keep-alive intervals (as AppSync)


class Refused(Exception):
    """A `start` refused before it ran: the `error` frame says why."""

    def __init__(self, found: dict[str, Any]) -> None:
        super().__init__(found["message"])
        self.error = found


@dataclass(frozen=True, slots=True)
class Start:
    """A `start` frame's operation, checked for shape."""

    operation_id: str
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    credentials: Credentials


def parse_start(frame: dict[str, Any], max_tokens: int, documents: DocumentResolver) -> Start:
    """Read a `start`; raise Refused with AppSync's error for anything malformed."""
    operation_id = frame.get("id")
    if not isinstance(operation_id, str) or not 0 < len(operation_id) <= MAX_OPERATION_ID:
        raise Refused(errors.error(errors.BAD_REQUEST, "A start needs a string `id`"))
    payload = frame.get("payload")
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, str):
        raise Refused(
            errors.error(errors.BAD_REQUEST, "`payload.data` must be a JSON string of the request")
        )
    try:
        request = orjson.loads(data)
    except orjson.JSONDecodeError:
        request = None
    if not isinstance(request, dict):
        raise Refused(errors.error(errors.BAD_REQUEST, "`payload.data` must be a JSON object"))
    try:  # a document named by hash (persisted queries, trusted documents), as on /graphql
        query = documents.resolve(
            request.get("query"), request.get("extensions"), request.get("documentId")
        )
    except DocumentRefused as refused:
        raise Refused(errors.error(refused.code, refused.message)) from None
    variables, operation_name = request.get("variables"), request.get("operationName")
    if (
        not isinstance(query, str)
        or not isinstance(variables, (dict, type(None)))
        or not isinstance(operation_name, (str, type(None)))
    ):
        raise Refused(
            errors.error(
                errors.BAD_REQUEST,
                "`payload.data` needs a `query` string, and object `variables` if any",
            )
        )
    extensions = payload.get("extensions") if isinstance(payload, dict) else None
    authorization = extensions.get("authorization") if isinstance(extensions, dict) else None
    found = credentials(authorization if isinstance(authorization, dict) else None)
    if not found.present:
        raise Refused(
            errors.error(
                errors.UNAUTHORIZED,
                "A start needs `extensions.authorization` with `Authorization` or `x-api-key`",
            )
        )
    kind = operation_type(query, operation_name, max_tokens)
    if kind is not None and kind is not OperationType.SUBSCRIPTION:
        message = f"{kind.value} not supported through the realtime channel"
        raise Refused(errors.error(errors.UNSUPPORTED, message))
    return Start(operation_id, query, variables, operation_name, found)


class AppSyncRealtime:
    """The ASGI endpoint: one `RealtimeConnection` per socket."""

    def __init__(self, view: ChatGraphQL) -> None:
        self.view = view

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        await RealtimeConnection(self.view, websocket).serve()


class RealtimeConnection:
    """One AppSync client: its identity, its subscriptions, its keep-alive."""

    def __init__(self, view: ChatGraphQL, websocket: WebSocket) -> None:
        self.view = view
        self.services = view.services
        self.settings = view.services.settings
        self.websocket = websocket
        self.context: ChatContext | None = None
        self.operations: dict[str, asyncio.Task[None]] = {}
        self.session_handle: int | None = None
        self.closed = False
        self._header: dict[str, Any] | None = None
        self._bad_header: str | None = None
        self._timer: WheelTimer | None = None  # init timeout, then keep-alive
        self._tasks = BackgroundTasks()

    # ------------------------------------------------------------------ lifetime
    async def serve(self) -> None:
        websocket = self.websocket
        offered = websocket.scope.get("subprotocols") or []
        if PROTOCOL not in offered or not self.view._check_websocket_origin(websocket):
            await websocket.close()  # before accepting: the handshake is refused (403)
            return
        try:
            self._header = handshake_header(websocket.scope)
        except BadHeader as exc:
            self._bad_header = str(exc)
        await websocket.accept(subprotocol=PROTOCOL)  # never the `header-...` one
        delay = self.settings.ws_connection_init_timeout
        self._timer = timer_wheel().call_later(delay, self._init_timed_out)
        try:
            await self._receive_frames()
        finally:
            await self._end()

    async def _end(self) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self.operations.values()):
            task.cancel()
        await asyncio.gather(*self.operations.values(), *self._tasks, return_exceptions=True)
        self.view.connections.release(self.websocket.scope)
        context = self.context
        if context is not None and context.user is not None:
            if self.session_handle is not None:
                self.view.sessions.remove(context.user.id, self.session_handle)
            if context.connection_id is not None:
                await self.services.presence.disconnected(context.connection_id)

    async def _receive_frames(self) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            frame: Any = None
            if text is not None:
                with contextlib.suppress(orjson.JSONDecodeError):
                    frame = orjson.loads(text)
            if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
                found = errors.error(errors.BAD_REQUEST, "Frames must be JSON objects with `type`")
                await self._send(errors.error_frame([found]))
                continue
            await self._handle(frame)
            if self.closed:
                return

    async def _handle(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "connection_init":
            if self.context is not None or await self._connect():  # a repeated one: ack again
                ack = {"connectionTimeoutMs": self._connection_timeout_ms}
                await self._send({"type": "connection_ack", "payload": ack})
                await self._keep_alive()
        elif kind == "start":
            if self.context is not None or await self._connect():  # connection_init is optional
                await self._keep_alive()
                await self._start(frame)
        elif kind == "stop":
            await self._stop(frame.get("id"))
        else:
            message = f"Message type {kind[:64]!r} is not supported through the realtime channel"
            await self._send(errors.error_frame([errors.error(errors.UNSUPPORTED, message)]))

    async def _send(self, frame: dict[str, Any]) -> None:
        if self.closed:
            return
        try:
            await self.websocket.send_text(orjson.dumps(frame).decode())
        except Exception:  # the client is gone; the receive loop ends with the disconnect
            self.closed = True

    async def _close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            await self.websocket.close(code=code, reason=reason)

    def _background(self, work: Callable[[], Any]) -> None:
        self._tasks.spawn(work())

    # ------------------------------------------------------------------ connecting
    async def _connect(self) -> bool:
        """Authenticate the handshake's header; on failure say why (connection_error) and close."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._bad_header is not None:
            found_bad = errors.error(errors.BAD_REQUEST, self._bad_header)
            await self._refuse(found_bad, BAD_HANDSHAKE_CLOSE)
            return False
        found = credentials(self._header)
        if not found.present:
            message = "Send `Authorization` or `x-api-key` in the header (subprotocol or query)"
            await self._refuse(errors.error(errors.UNAUTHORIZED, message), REFUSED_CLOSE)
            return False
        try:
            user = await authenticate(self.services, found.access_token, found.api_key)
        except ChatError as exc:
            await self._refuse(errors.error(errors.UNAUTHORIZED, exc.message), REFUSED_CLOSE)
            return False
        try:
            self.view.connections.admit(self.websocket.scope, user.id)
        except TooManyConnections:
            reason = TOO_MANY_CONNECTIONS[1]
            await self._refuse(errors.error(errors.LIMIT_EXCEEDED, reason), TOO_MANY_CONNECTIONS)
            return False
        context = ChatContext(
            services=self.services, request=self.websocket, response=None, user=user
        )
        self.context = context
        context.connection_id = await self.services.presence.connected(user)

        async def close_revoked() -> None:
            await self._close(REVOKED_CLOSE_CODE, "Session revoked")

        self.session_handle = self.view.sessions.add(user.id, user.token_version, close_revoked)
        return True

    async def _refuse(self, found: dict[str, Any], close: tuple[int, str]) -> None:
        await self._send(errors.connection_error_frame(found))
        await self._close(*close)

    def _init_timed_out(self) -> None:
        self._timer = None
        if self.context is None and not self.closed:
            self._background(lambda: self._close(*INIT_TIMEOUT))

    @property
    def _connection_timeout_ms(self) -> int:
        return int(self.settings.appsync_keepalive_interval * TIMEOUT_PER_KEEPALIVE * 1000)

    async def _keep_alive(self) -> None:
        """Start the `ka`s (now and every interval), unless they run already: Amplify drops a
        socket that stays silent for connectionTimeoutMs."""
        if self._timer is None:
            await self._next_keep_alive()

    async def _next_keep_alive(self) -> None:
        await self._send({"type": "ka"})
        if not self.closed:
            self._timer = timer_wheel().call_later(
                self.settings.appsync_keepalive_interval,
                lambda: self._background(self._next_keep_alive),
            )

    # ------------------------------------------------------------------ operations
    async def _start(self, frame: dict[str, Any]) -> None:
        given = frame.get("id")
        operation_id = given if isinstance(given, str) and len(given) <= MAX_OPERATION_ID else None
        try:
            start = parse_start(frame, self.settings.max_tokens, self.view.documents)
            await self._check_identity(start.credentials)
            if start.operation_id in self.operations:
                raise Refused(
                    errors.error(errors.DUPLICATED, f"Operation {start.operation_id!r} is running")
                )
            limit = self.settings.ws_max_subscriptions
            if len(self.operations) >= limit:
                raise Refused(
                    errors.error(
                        errors.MAX_SUBSCRIPTIONS,
                        f"Max number of {limit} subscriptions reached",
                        code="TOO_MANY_SUBSCRIPTIONS",
                        limit=limit,
                        measured=limit + 1,
                    )
                )
        except Refused as refused:
            await self._send(errors.error_frame([refused.error], operation_id))
            return
        task = asyncio.get_running_loop().create_task(self._run(start))
        self.operations[start.operation_id] = task

    async def _check_identity(self, found: Credentials) -> None:
        """Each start authorises itself, as in AppSync, and must speak for the connection's user."""
        assert self.context is not None and self.context.user is not None
        try:
            user = await authenticate(self.services, found.access_token, found.api_key)
        except ChatError as exc:
            raise Refused(errors.error(errors.UNAUTHORIZED, exc.message)) from None
        if user.id != self.context.user.id:
            raise Refused(
                errors.error(
                    errors.UNAUTHORIZED, "The start's authorization is not the connection's user"
                )
            )

    async def _stop(self, operation_id: Any) -> None:
        if not isinstance(operation_id, str):
            await self._send(
                errors.error_frame([errors.error(errors.BAD_REQUEST, "A stop needs a string `id`")])
            )
            return
        task = self.operations.pop(operation_id, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._send({"type": "complete", "id": operation_id})

    async def _run(self, start: Start) -> None:
        """One subscription: start_ack once its stream listens, a `data` per event; an `error`
        ends it (a refusal before start_ack, or e.g. FORBIDDEN after leaving the room)."""
        operation_id = start.operation_id
        loop = asyncio.get_running_loop()
        acknowledged: list[asyncio.Task[None]] = []  # the start_ack, once sent

        def listening() -> None:
            if not acknowledged:
                frame = {"type": "start_ack", "id": operation_id}
                acknowledged.append(loop.create_task(self._send(frame)))

        on_listening.set(listening)  # this task's own context: the resolver runs in it
        ended_by_error = False
        try:
            stream = await self.view.schema.subscribe(
                start.query,
                variable_values=start.variables,
                context_value=self.context,
                operation_name=start.operation_name,
            )
            async with aclosing(stream):
                async for result in stream:
                    frame = result_frame(operation_id, result)
                    if frame["type"] == "error":
                        ended_by_error = True
                    else:
                        listening()  # for a stream that listens elsewhere than the hub
                    if acknowledged:
                        await acknowledged[0]
                    await self._send(frame)
                    if ended_by_error:
                        break
            if acknowledged:
                await acknowledged[0]
            if not ended_by_error:
                await self._send({"type": "complete", "id": operation_id})
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("AppSync subscription %r failed", operation_id)
            found = errors.error(errors.INTERNAL, "Internal server error")
            await self._send(errors.error_frame([found], operation_id))
        finally:
            for task in acknowledged:
                task.cancel()
            if self.operations.get(operation_id) is asyncio.current_task():
                del self.operations[operation_id]


def result_frame(operation_id: str, result: ExecutionResult) -> dict[str, Any]:
    """`data` for an event; `error` when there is no data (a refusal, or the stream's end)."""
    found = [errors.from_graphql(dict(e.formatted)) for e in result.errors or ()]
    if result.data is None:
        if not found:
            found = [errors.error(errors.INTERNAL, "Internal server error")]
        return errors.error_frame(found, operation_id)
    payload: dict[str, Any] = {"data": result.data}
    if found:
        payload["errors"] = found
    return {"type": "data", "id": operation_id, "payload": payload}


async def upgrade_required(_request: Request) -> Response:
    """Plain HTTP to the realtime endpoint: say how to talk to it."""
    body = {
        "errors": [
            {
                "message": "Connect with a WebSocket, subprotocol graphql-ws (AppSync real-time)",
                "extensions": {"code": "BAD_REQUEST"},
            }
        ]
    }
    return JSONResponse(body, status_code=426, headers={"upgrade": "websocket"})
