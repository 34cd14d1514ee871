"""The GraphQL view: Strawberry's ASGI GraphQL with ChatQL's context, auth, limits and the
paths that skip its per-request work (prepared documents, shared history answers), and the
WebSocket handlers for both subprotocols."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping
from datetime import timedelta
from json import JSONDecodeError
from typing import Any

import orjson
from broadcaster import Event
from cross_web import HTTPException
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.extensions import SchemaExtension
from strawberry.extensions.disable_introspection import DisableIntrospection
from strawberry.http import GraphQLRequestData
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from chatql.auth import bearer_token
from chatql.context import ChatContext
from chatql.errors import ChatError
from chatql.fast_path.direct_http import GRAPHQL_RESPONSE, graphql_response_status
from chatql.fast_path.history_cache import HistoryCache
from chatql.observability.operations import OperationObserver, observing_extension
from chatql.persisted_documents import DocumentRefused, DocumentResolver, PersistedQueryCache
from chatql.realtime.fanout import Fanout
from chatql.realtime.pubsub import RESYNC_CHANNEL
from chatql.realtime.shared_subscriptions import SharedSubscriptionsHandler
from chatql.schema import build_schema
from chatql.security.connections import ConnectionLimiter, LegacyWSLimits, is_protocol_message
from chatql.security.limits import Limits, limits_extension
from chatql.security.sessions import REVOKED_CLOSE_CODE, SessionRegistry
from chatql.security.validation_memo import ValidationMemo
from chatql.services.registry import Services
from chatql.store.records import ChangeEvent


class CheckedWebSocketAdapter(ASGIWebSocketAdapter):
    """Frames must be JSON objects with a string `type`; anything else is malformed input,
    never an exception inside the protocol handler.

    One async generator reads, decodes and checks: it lives as long as the socket, and
    wrapping the adapter's own generator kept two per idle subscriber (each with its frame
    and a place in the loop's set of async generators)."""

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object]:
        websocket = self.ws
        try:
            while websocket.application_state != WebSocketState.DISCONNECTED:
                try:  # a binary frame: KeyError
                    message = self.view.decode_json(await websocket.receive_text())
                except JSONDecodeError as exc:
                    if ignore_parsing_errors:
                        continue
                    raise NonJsonMessageReceived from exc
                if is_protocol_message(message):
                    yield message
                elif not ignore_parsing_errors:  # graphql-transport-ws: close 4400
                    raise NonJsonMessageReceived
                # graphql-ws ignores frames it cannot parse, so it ignores these too
                del message  # not kept while waiting for the next frame
        except KeyError as exc:
            raise NonTextMessageReceived from exc
        except WebSocketDisconnect:
            pass


class LegacyWSHandler(LegacyWSLimits[ChatContext, None]):
    """graphql-ws (legacy): refuse a bad connection_init with 4403, as graphql-transport-ws does."""

    async def handle_connection_init(self, message: Any) -> None:
        payload = message.get("payload")
        params = payload if isinstance(payload, dict) else {}
        self.context.connection_params = params
        try:
            await self.view.on_ws_connect(self.context)
        except ConnectionRejectionError as exc:
            await self.send_message({"type": "connection_error", "payload": exc.payload})
            await self.websocket.close(code=4403, reason="Forbidden")
            return
        await self.send_message({"type": "connection_ack"})
        self.connection_acknowledged = True
        if self.keep_alive:
            self.keep_alive_task = asyncio.create_task(self.handle_keep_alive())


class ChatGraphQL(GraphQL[ChatContext, None]):
    """Strawberry's ASGI view with ChatQL's context and WebSocket authentication."""

    graphql_ws_handler_class = LegacyWSHandler
    graphql_transport_ws_handler_class = SharedSubscriptionsHandler
    websocket_adapter_class = CheckedWebSocketAdapter

    def __init__(
        self, services: Services, observer: OperationObserver | None = None, **kwargs: Any
    ) -> None:
        settings = services.settings
        self.observer = observer
        extensions: list[type[SchemaExtension]] = []
        if observer is not None:
            extensions.append(observing_extension(observer))
        if not settings.introspection_enabled:
            extensions.append(DisableIntrospection)
        extensions.append(limits_extension(Limits.from_settings(settings)))
        extensions.append(ValidationMemo)  # after every extension that adds rules
        super().__init__(
            build_schema(
                extensions, production=settings.is_production, federation=settings.federation
            ),
            graphql_ide=None,
            allow_queries_via_get=settings.get_queries_enabled,
            keep_alive=settings.ws_keepalive_interval > 0,
            keep_alive_interval=settings.ws_keepalive_interval or 1,
            connection_init_wait_timeout=timedelta(seconds=settings.ws_connection_init_timeout),
            max_subscriptions_per_connection=settings.ws_max_subscriptions,
            allowed_origins=settings.allowed_origins,
            **kwargs,
        )
        self.services = services
        graphql_schema = self.schema._schema  # type: ignore[attr-defined]
        self.fanout = Fanout(services, graphql_schema, Limits.from_settings(settings))
        self.connections = ConnectionLimiter(settings.max_connections_per_user)
        self.sessions = SessionRegistry()
        services.hub.add_observer(self.sessions.observe)
        self.history = HistoryCache(url_lifetime=settings.file_url_ttl)
        services.hub.add_observer(self._observe_history)
        self.documents = DocumentResolver(
            graphql_schema,
            apq=settings.apq,
            cache=PersistedQueryCache(settings.apq_cache_entries, settings.apq_cache_bytes),
            trusted=settings.load_trusted_documents(),
            max_tokens=settings.max_tokens,
        )

    def _observe_history(self, event: Event) -> None:
        if isinstance(event.message, ChangeEvent):
            self.history.observe(event.message)
        elif event.channel == RESYNC_CHANNEL:
            self.history.reset()

    async def execute_single(
        self,
        request: Any,
        request_adapter: Any,
        sub_response: Any,
        context: ChatContext,
        root_value: Any,
        request_data: Any,
    ) -> ExecutionResult:
        """One HTTP operation, observed (metrics, span, log fields) when observability is on."""
        if self.observer is None:
            return await self._execute_single(
                request, request_adapter, sub_response, context, root_value, request_data
            )
        observed = self.observer.start()
        errors: list[Any] | None = None
        try:
            result = await self._execute_single(
                request, request_adapter, sub_response, context, root_value, request_data
            )
            errors = result.errors
            return result
        except HTTPException as exc:
            errors = [GraphQLError(exc.reason, extensions={"code": "BAD_REQUEST"})]
            raise
        finally:
            kind, name = self.observer.kind_and_name(
                self.schema,
                request_data.query,
                request_data.operation_name,
                request_data.variables,
                context.document,
            )
            user = context.user
            observed.finish(kind, name, errors, user.id if user is not None else None)

    async def _execute_single(
        self,
        request: Any,
        request_adapter: Any,
        sub_response: Any,
        context: ChatContext,
        root_value: Any,
        request_data: Any,
    ) -> ExecutionResult:
        """History queries answer from `HistoryCache` once the viewer is authorised."""
        plan = None
        if request_adapter.method == "POST" and self.services.settings.history_cache:
            plan = self.history.plan(
                request_data.query, request_data.operation_name, request_data.variables
            )
        viewer_id = ""
        if plan is not None:
            try:
                viewer = await context.viewer()
                await self.services.rooms.member_room(viewer, plan.room_id)
                viewer_id = viewer.id
            except ChatError:
                plan = None  # the ordinary path reports the error
        if plan is None:
            return await super().execute_single(
                request, request_adapter, sub_response, context, root_value, request_data
            )
        version = self.history.version(plan)
        cached = self.history.get(plan, version, viewer_id)
        if cached is not None:
            return ExecutionResult(data=cached, errors=None)
        result = await super().execute_single(
            request, request_adapter, sub_response, context, root_value, request_data
        )
        if not result.errors and result.data is not None:
            self.history.put(plan, version, result.data, viewer_id)
        return result

    async def parse_http_body(self, request: Any) -> Any:
        """Malformed bodies (not UTF-8, not an object, nested absurdly) are a 400, not a 500.
        A document named by hash is looked up here (DocumentRefused if it cannot run)."""
        try:
            data = await super().parse_http_body(request)
        except HTTPException:
            raise
        except (ValueError, TypeError, AttributeError, RecursionError) as exc:
            raise HTTPException(400, "The body must be a JSON object with a `query`") from exc
        if isinstance(data, GraphQLRequestData):
            document_id = await self._document_id(request)
            data.query = self.documents.resolve(data.query, data.extensions, document_id)
        return data

    async def _document_id(self, request: Any) -> object:
        """`documentId` (GraphQL over HTTP's persisted documents), which Strawberry drops."""
        if request.method == "GET":
            return request.query_params.get("documentId")
        body = await request.get_body()  # read once already: Starlette keeps it
        if b"documentId" not in body:
            return None
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:  # read by Python's json already, which is laxer
            return None
        return data.get("documentId") if isinstance(data, dict) else None

    def should_render_graphql_ide(self, request: Any) -> bool:
        """A GET naming its document by hash has no `query`, and is no page request."""
        params = request.query_params
        if "extensions" in params or "documentId" in params:
            return False
        return super().should_render_graphql_ide(request)

    async def get_context(self, request: Request | WebSocket, response: Any) -> ChatContext:
        is_ws = request.scope["type"] == "websocket"
        context = ChatContext(
            services=self.services,
            request=request,
            response=response,
            access_token=None if is_ws else bearer_token(request.headers.get("authorization")),
            api_key=None if is_ws else request.headers.get("x-api-key"),
        )
        request.scope["chatql.context"] = context  # read back when the socket closes
        return context

    async def on_ws_connect(self, context: ChatContext) -> Any:
        """Authenticate the socket from connection_init's payload, before any operation."""
        params: Mapping[str, Any] = context.connection_params or {}
        raw = params.get("authorization", params.get("Authorization"))
        token = bearer_token(raw) if isinstance(raw, str) else None
        if token is None:
            raise ConnectionRejectionError({"message": "Missing authorization"})
        try:
            context.user = await self.services.accounts.authenticate(token)
        except ChatError as exc:
            raise ConnectionRejectionError({"message": exc.message}) from None
        self.connections.admit(socket_key(context), context.user.id)  # else closed with 4429
        context.connection_id = await self.services.presence.connected(context.user)
        socket = context.request  # a Starlette WebSocket, or a `DirectSocket`
        assert not isinstance(socket, Request)
        close = socket.close

        async def close_revoked() -> None:
            await close(code=REVOKED_CLOSE_CODE, reason="Session revoked")

        context.session_handle = self.sessions.add(
            context.user.id, context.user.token_version, close_revoked
        )
        return UNSET

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            try:
                await super().__call__(scope, receive, send)
            finally:
                context = scope.get("chatql.context")
                if isinstance(context, ChatContext):
                    await self.socket_ended(context)
                else:
                    self.connections.release(scope)
            return
        request = Request(scope, receive)
        try:
            response = await self.run(request)
        except HTTPException as exc:
            response = JSONResponse(self.http_error(exc), status_code=exc.status_code)
        except DocumentRefused as exc:
            response = refusal_response(exc, request.headers.get("accept", ""))
        await response(scope, receive, send)

    async def socket_ended(self, context: ChatContext) -> None:
        """A socket's connection has ended: its session and presence go (both paths)."""
        self.connections.release(socket_key(context))
        user = context.user
        if user is None:
            return
        if context.session_handle is not None:
            self.sessions.remove(user.id, context.session_handle)
        if context.connection_id is not None:
            await self.services.presence.disconnected(context.connection_id)

    @staticmethod
    def http_error(exc: HTTPException) -> dict[str, Any]:
        """The body of a refused request (no operation ran)."""
        return {"errors": [{"message": exc.reason, "extensions": {"code": "BAD_REQUEST"}}]}

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        response = await super().get_sub_response(request)
        accept = request.headers.get("accept", "")
        response.chatql_graphql_response = GRAPHQL_RESPONSE in accept  # type: ignore[attr-defined]
        return response

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        """Speak application/graphql-response+json to clients that ask for it: request errors
        (the operation never ran) are then a 400 without a `data` entry, as the spec says."""
        response = super().create_response(response_data, sub_response)
        if not getattr(sub_response, "chatql_graphql_response", False):
            return response
        response.headers["content-type"] = GRAPHQL_RESPONSE
        if isinstance(response_data, dict) and graphql_response_status(response_data) == 400:
            response.body = self.encode_json(response_data).encode()
            response.headers["content-length"] = str(len(response.body))
            response.status_code = 400
        return response

    def encode_json(self, data: object) -> str:
        """Compact JSON; text, since WebSocket clients expect text frames."""
        return orjson.dumps(data).decode()


def socket_key(context: ChatContext) -> object:
    """What the per-user connection count knows a socket by: the ASGI scope of a Starlette
    WebSocket, or the `DirectSocket` itself (which has no scope)."""
    request = context.request
    return request.scope if isinstance(request, WebSocket) else request


def refusal_response(refused: DocumentRefused, accept: str) -> Response:
    """A request whose document cannot run: a request error in either media type."""
    body = orjson.dumps({"errors": [refused.as_error()]})
    if GRAPHQL_RESPONSE in accept:
        return Response(body, status_code=400, media_type=GRAPHQL_RESPONSE)
    return Response(body, status_code=refused.status, media_type="application/json")
