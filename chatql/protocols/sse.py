"""GraphQL over Server-Sent Events: the graphql-sse protocol, distinct connections mode.

For networks and proxies that do not pass WebSockets. One request carries one operation (POST
a JSON body, or GET with `query`, `variables`, `operationName` in the URL) and is answered with
an event stream: a `next` event per execution result, then `complete`. A query or mutation
sends one `next`; a subscription streams until the client closes the request. As the protocol
asks, a document the schema refuses (a syntax error, a limit, introspection in production) is
reported in the stream, as a `next` with errors; what is refused before any operation runs (no
or a bad token, a malformed body, too many streams) is an HTTP error with a GraphQL error body.

The rest is the WebSocket path's: the same schema (limits, error masking), the same resolvers
(subscriptions authorised again for every event), and for a subscription the same per-user
connection limit, presence and session revocation (logging out everywhere ends the stream with
an UNAUTHENTICATED error).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message, Receive, Scope, Send
from strawberry.http import process_result
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from chatql.auth import bearer_token
from chatql.context import ChatContext
from chatql.errors import ChatError
from chatql.fast_path.shapes import operation_type
from chatql.json_response import send_json
from chatql.persisted_documents import DocumentRefused, DocumentResolver
from chatql.security.connections import TooManyConnections
from chatql.store.records import UserRecord

if TYPE_CHECKING:
    from chatql.graphql_view import ChatGraphQL

log = logging.getLogger("chatql.sse")

STREAM_PATH = "/graphql/stream"
EVENT_STREAM = "text/event-stream"
KEEP_ALIVE = b":\n\n"  # a comment: clients ignore it, proxies see traffic
COMPLETE = b"event: complete\ndata:\n\n"  # the empty `data:` makes EventSource fire it
STREAM_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # nginx: pass each event on at once
]
SESSION_REVOKED = {
    "data": None,
    "errors": [{"message": "Session revoked", "extensions": {"code": "UNAUTHENTICATED"}}],
}
OVER_GET = frozenset({OperationType.QUERY, OperationType.SUBSCRIPTION})
OVER_POST = frozenset(OperationType)


class Refused(Exception):
    """A request answered with an HTTP error, before any operation ran."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}
        self.headers = dict(headers or {})

    async def send(self, send: Send) -> None:
        extra = [(name.encode(), value.encode()) for name, value in self.headers.items()]
        await send_json(send, self.status, self.body, headers=extra)


def bad_request(message: str) -> Refused:
    return Refused(400, message, "BAD_REQUEST")


@dataclass(frozen=True, slots=True)
class StreamRequest:
    """One GraphQL request, as read from the URL (GET) or the JSON body (POST)."""

    query: str
    variables: dict[str, Any] | None
    operation_name: str | None

    @classmethod
    def read(
        cls, method: str, params: Mapping[str, str], body: bytes, documents: DocumentResolver
    ) -> StreamRequest:
        """The request, or Refused(400) saying what is wrong with it. A document named by
        hash (persisted queries, trusted documents) is resolved to its text as on /graphql."""
        data: Any
        if method == "GET":
            data = {
                "query": params.get("query"),
                "operationName": params.get("operationName"),
                "documentId": params.get("documentId"),
            }
            for name in ("variables", "extensions"):
                if name in params:
                    data[name] = _json(params[name], f"`{name}`")
        else:
            data = _json(body, "The body")
        if not isinstance(data, dict):
            raise bad_request("The body must be a JSON object with a `query`")
        if not isinstance(data.get("extensions"), (dict, type(None))):
            raise bad_request("`extensions` must be an object")
        try:
            query = documents.resolve(
                data.get("query"), data.get("extensions"), data.get("documentId")
            )
        except DocumentRefused as refused:
            raise Refused(max(refused.status, 400), refused.message, refused.code) from None
        variables, operation_name = data.get("variables"), data.get("operationName")
        if not isinstance(query, str) or not query.strip():
            raise bad_request("A `query` string is required")
        if not isinstance(variables, (dict, type(None))):
            raise bad_request("`variables` must be an object")
        if not isinstance(operation_name, (str, type(None))):
            raise bad_request("`operationName` must be a string")
        return cls(query, variables, operation_name)


def _json(raw: str | bytes, what: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:  # also: not UTF-8, nested too deep
        raise bad_request(f"{what} must be JSON") from None


def wants_event_stream(scope: Scope) -> bool:
    """The request asks for `text/event-stream` (how a graphql-sse client asks /graphql)."""
    return any(
        name == b"accept" and EVENT_STREAM.encode() in value.lower()
        for name, value in scope["headers"]
    )


def next_event(result: ExecutionResult) -> bytes:
    return _next(process_result(result))


def _next(payload: object) -> bytes:
    return b"event: next\ndata: " + orjson.dumps(payload) + b"\n\n"


def _chunk(body: bytes, *, more: bool = True) -> Message:
    return {"type": "http.response.body", "body": body, "more_body": more}


class EarlyEnd:
    """Ends a stream from outside (its session revoked, the server stopping), with last words."""

    def __init__(self) -> None:
        self.ended = asyncio.Event()
        self.last_words = b""

    def end(self, last_words: bytes) -> None:
        if not self.ended.is_set():
            self.last_words = last_words
            self.ended.set()


class EventStreamEndpoint:
    """The ASGI endpoint of GraphQL over SSE, in front of ChatQL's GraphQL view."""

    def __init__(self, view: ChatGraphQL) -> None:
        self._view = view
        self._services = view.services
        settings = view.services.settings
        self._keep_alive = settings.sse_keepalive_interval
        self._get_enabled = settings.get_queries_enabled
        self._max_tokens = settings.max_tokens
        self._open: set[EarlyEnd] = set()

    def close_streams(self) -> None:
        """The server is stopping: end every subscription stream now, without `complete`, so
        clients reconnect (to another process) and resume, instead of the shutdown waiting on
        them until its timeout."""
        for stream in self._open:
            stream.end(b"")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            user, token, stream_request, kind = await self._accept(request)
        except Refused as refused:
            await refused.send(send)
            return
        except ClientDisconnect:  # gone before its body arrived
            return
        live = kind is OperationType.SUBSCRIPTION
        context = ChatContext(
            services=self._services,
            request=request,
            response=None,
            access_token=token,
            user=user,
            long_lived=live,
        )
        allowed = OVER_GET if request.method == "GET" else OVER_POST
        if not live:
            await send({"type": "http.response.start", "status": 200, "headers": STREAM_HEADERS})
            async with aclosing(await self._results(stream_request, context, allowed)) as results:
                async for result in results:
                    await send(_chunk(next_event(result)))
            await send(_chunk(COMPLETE, more=False))
            return
        await self._subscription(scope, receive, send, stream_request, context, allowed)

    async def _accept(
        self, request: Request
    ) -> tuple[UserRecord, str, StreamRequest, OperationType | None]:
        """Who asks and what: the checks made before any operation runs."""
        method = request.method
        if method not in ("GET", "POST"):
            raise Refused(
                405, f"{method} is not supported here", "BAD_REQUEST", {"allow": "GET, POST"}
            )
        token = bearer_token(request.headers.get("authorization"))
        if token is None:
            raise Refused(
                401,
                "Sign in first: send Authorization: Bearer <accessToken>",
                "UNAUTHENTICATED",
                {"www-authenticate": "Bearer"},
            )
        try:
            user = await self._services.accounts.authenticate(token)
        except ChatError as exc:
            raise Refused(401, exc.message, exc.code, {"www-authenticate": "Bearer"}) from None
        if method == "POST":
            media_type = request.headers.get("content-type", "").split(";", 1)[0].strip()
            if media_type.lower() != "application/json":
                raise Refused(415, "Send the request as application/json", "BAD_REQUEST")
        elif not self._get_enabled:
            raise Refused(
                405,
                "GET is off on this server (CHATQL_GET_QUERIES): POST the request",
                "BAD_REQUEST",
                {"allow": "POST"},
            )
        stream_request = StreamRequest.read(
            method, request.query_params, await request.body(), self._view.documents
        )
        found = operation_type(
            stream_request.query, stream_request.operation_name, self._max_tokens
        )
        kind = None if found is None else OperationType(found.value)
        if method == "GET" and kind is OperationType.MUTATION:
            raise Refused(405, "Mutations only run over POST", "BAD_REQUEST", {"allow": "POST"})
        return user, token, stream_request, kind

    async def _results(
        self,
        stream_request: StreamRequest,
        context: ChatContext,
        allowed: frozenset[OperationType],
    ) -> AsyncGenerator[ExecutionResult]:
        """The schema's own streaming execution, so its extensions (limits, introspection
        off in production, error codes and masking) apply as on every other path."""
        results = await self._view.schema.stream(
            stream_request.query,
            variable_values=stream_request.variables,
            context_value=context,
            operation_name=stream_request.operation_name,
            allowed_operation_types=allowed,
        )
        return results  # type: ignore[return-value]

    async def _subscription(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        stream_request: StreamRequest,
        context: ChatContext,
        allowed: frozenset[OperationType],
    ) -> None:
        """Counted, present and revocable as a WebSocket is, for as long as it streams."""
        view = self._view
        user = context.user
        assert user is not None
        try:
            view.connections.admit(scope, user.id)
        except TooManyConnections:
            limit = view.connections.limit
            refused = Refused(429, "Too many connections", "TOO_MANY_CONNECTIONS", limit=limit)
            await refused.send(send)
            return
        early = EarlyEnd()
        self._open.add(early)

        async def close_revoked() -> None:
            early.end(_next(SESSION_REVOKED) + COMPLETE)

        try:
            context.connection_id = await self._services.presence.connected(user)
            context.session_handle = view.sessions.add(user.id, user.token_version, close_revoked)
            await send({"type": "http.response.start", "status": 200, "headers": STREAM_HEADERS})
            await send(_chunk(KEEP_ALIVE))  # headers and a first byte through buffering proxies
            results = await self._results(stream_request, context, allowed)
            ending = await self._stream(receive, send, results, early)
            if ending is not None:
                with contextlib.suppress(Exception):  # the client may be gone meanwhile
                    await send(_chunk(ending, more=False))
        finally:
            self._open.discard(early)
            view.connections.release(scope)
            if context.session_handle is not None:
                view.sessions.remove(user.id, context.session_handle)
            if context.connection_id is not None:
                await self._services.presence.disconnected(context.connection_id)

    async def _stream(
        self,
        receive: Receive,
        send: Send,
        results: AsyncGenerator[ExecutionResult],
        early: EarlyEnd,
    ) -> bytes | None:
        """Write results until they end, the client leaves or `early` ends the stream; the
        last bytes to write (None: the client is gone)."""

        async def pump() -> None:
            async with aclosing(results):
                async for result in results:
                    await send(_chunk(next_event(result)))

        streaming = asyncio.create_task(pump())
        leaving = asyncio.create_task(_client_gone(receive))
        ending = asyncio.create_task(early.ended.wait())
        tasks = {streaming, leaving, ending}
        if self._keep_alive > 0:
            tasks.add(asyncio.create_task(_keep_alive(send, self._keep_alive)))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if leaving in done:
            return None
        if streaming in done:
            error = streaming.exception()
            if error is None:
                return COMPLETE
            # Not the execution's (Strawberry reports those as results): end without
            # `complete`, so the client reconnects.
            log.warning("SSE stream failed: %r", error)
            return b""
        if ending in done:
            return early.last_words
        return b""  # the keep-alive could not write: the transport is broken


async def _client_gone(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _keep_alive(send: Send, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        await send(_chunk(KEEP_ALIVE))
