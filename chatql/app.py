"""The ASGI application: Starlette routes around the Strawberry GraphQL view.

The lifespan opens the store, starts the change feed and hub, and closes them in reverse order.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable
from typing import Any, cast

from opentelemetry import trace
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from chatql import graphiql
from chatql.appsync.realtime import AppSyncRealtime, upgrade_required
from chatql.config import Settings
from chatql.fast_path.direct_http import DirectPost
from chatql.file_routes import UPLOAD_PREFIX, file_routes
from chatql.graphql_view import ChatGraphQL
from chatql.media_plane.hooks import media_hook_routes
from chatql.observability.endpoint import metrics_endpoint
from chatql.observability.listener import MetricsListener
from chatql.observability.loop_lag import LoopLagMonitor
from chatql.observability.metrics import Metrics
from chatql.observability.middleware import ObservedApp
from chatql.observability.operations import OperationObserver
from chatql.observability.store_calls import InstrumentedStore
from chatql.observability.tracing import TRACER_NAME
from chatql.oidc.routes import oidc_routes
from chatql.protocols.sse import STREAM_PATH, EventStreamEndpoint, wants_event_stream
from chatql.realtime.direct_sockets import DirectSockets
from chatql.security.body_limit import SizeLimitMiddleware
from chatql.security.headers import HTML_HEADERS
from chatql.services.registry import Services
from chatql.store import create_store
from chatql.store.base import Store
from chatql.webapp import WebAppRoute

log = logging.getLogger("chatql.app")


def create_app(
    settings: Settings,
    store: Store | None = None,
    tracer_provider: trace.TracerProvider | None = None,
) -> Starlette:
    """Build the application; `store` lets tests share one store between two apps;
    `tracer_provider` turns tracing on (`chatql.observability.tracing`)."""
    store = store if store is not None else create_store(settings)
    metrics = Metrics() if settings.metrics_enabled else None
    tracer = tracer_provider.get_tracer(TRACER_NAME) if tracer_provider is not None else None
    if metrics is not None or tracer is not None:
        store = cast(Store, InstrumentedStore(store, metrics, tracer))
    services = Services.build(settings, store)
    loop_lag = LoopLagMonitor()
    observer = None
    if metrics is not None or tracer is not None:
        observer = OperationObserver(metrics, tracer, services.hub.stats)
    if metrics is not None:
        hub = services.hub
        metrics.observe_live(hub.stats, loop_lag.histogram, lambda: hub.resyncs)
        metrics.observe_streams(services.viewers.local_counts, services.media.counts)
    graphql_view = ChatGraphQL(services, observer)
    listener = (
        MetricsListener(
            settings.metrics_host or settings.host,
            settings.metrics_port,
            metrics_endpoint(settings, metrics, loop_lag, services.hub.stats, listener=True),
        )
        if metrics is not None and settings.metrics_port
        else None
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await store.open()
        await services.start()
        if settings.metrics_enabled:
            loop_lag.start()
        if listener is not None:
            await listener.start()
        log.info("ChatQL ready on %s (%s)", settings.database_url, settings.env)
        try:
            yield
        finally:
            if listener is not None:
                await listener.stop()
            loop_lag.stop()
            graphql_view.fanout.stop()
            await services.stop()
            await store.close()

    event_stream = EventStreamEndpoint(graphql_view)
    graphql_endpoint = GraphQLEndpoint(graphql_view, settings, event_stream)

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        problems = []
        try:
            await store.ping()
        except Exception as exc:
            problems.append(f"store: {type(exc).__name__}")
        if not services.hub.running:
            problems.append("change feed is not running")
        if problems:
            return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ready"})

    routes = [
        Route("/graphql", graphql_endpoint),  # its WebSockets: `GraphQLSockets`, before routing
        Route(STREAM_PATH, event_stream),  # GraphQL over SSE (it answers other methods 405)
        WebSocketRoute("/graphql/realtime", AppSyncRealtime(graphql_view)),
        Route("/graphql/realtime", upgrade_required),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route(
            "/metrics",
            metrics_endpoint(settings, metrics, loop_lag, services.hub.stats, listener=False),
        ),
        Mount("/graphiql/static", StaticFiles(directory=graphiql.STATIC_DIR, check_dir=False)),
        *file_routes(services.files),
        *oidc_routes(settings, services.providers, services.social),
        *media_hook_routes(),  # nginx-rtmp's on_publish hooks (404 unless media is on)
    ]
    if settings.web_app:  # last: it answers every GET the routes above leave
        routes.append(WebAppRoute.from_settings(settings, before=routes))
    middleware = []
    if settings.allowed_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.allowed_origins),
                allow_methods=["GET", "POST"],
                # x-api-key and x-amz-user-agent: what AWS Amplify sends from a browser
                allow_headers=["authorization", "content-type", "x-api-key", "x-amz-user-agent"],
                max_age=600,
            )
        )
    middleware.append(
        Middleware(
            SizeLimitMiddleware,
            max_body_bytes=settings.max_body_bytes,
            max_ws_message_bytes=settings.max_ws_message_bytes,
            unlimited_prefix=UPLOAD_PREFIX,  # uploads are limited by their own declared size
        )
    )
    # /graphql's WebSockets skip Starlette's routing and middleware (CORS does not apply to
    # them): an idle socket then holds 8 coroutine frames fewer. Their size limit stays.
    sockets = SizeLimitMiddleware(
        graphql_endpoint,
        max_body_bytes=settings.max_body_bytes,
        max_ws_message_bytes=settings.max_ws_message_bytes,
    )
    app = ChatApp(
        graphql_view,
        metrics,
        tracer,
        sockets,
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.event_streams = event_stream  # `chatql serve` ends them when it stops
    return app


class ChatApp(Starlette):
    """Starlette, with plain GraphQL POSTs and /graphql's WebSockets answered before its
    routing and middleware, and every request observed (`chatql.observability.middleware`)
    before all of them."""

    def __init__(
        self,
        view: ChatGraphQL,
        metrics: Metrics | None,
        tracer: trace.Tracer | None,
        sockets: ASGIApp,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.metrics = metrics  # the app's own registry, for tests and tools
        self.view = view  # the GraphQL view, for tests and tools
        # /graphql's graphql-transport-ws sockets, when the server's protocol takes them without
        # ASGI (`chatql.realtime.transport.LeanWebSocketProtocol`); GraphQLSockets otherwise.
        self.direct_sockets = DirectSockets(view, metrics, tracer)
        rest = DirectPost(super().__call__, view)
        # Plain POSTs the server's HTTP protocol answers without ASGI
        # (`chatql.fast_path.http_protocol`); with a tracer they go through ASGI, whose
        # middleware opens their spans.
        self.direct_posts = rest if tracer is None else None
        self._entry = ObservedApp(GraphQLSockets(sockets, rest), metrics, tracer)

    def _call(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Hands on the awaitable: no frame of its own in a WebSocket's (long-lived) call chain.
        # Marked a coroutine function, so servers still see an ASGI 3 application.
        return self._entry(scope, receive, send)

    __call__ = inspect.markcoroutinefunction(_call)  # type: ignore[assignment]


class GraphQLSockets:
    """WebSocket upgrades of /graphql to `sockets`, everything else to `rest`. A plain function
    handing on the awaitable, so it adds no frame to a socket's (long-lived) call chain."""

    def __init__(self, sockets: ASGIApp, rest: ASGIApp, path: str = "/graphql") -> None:
        self._sockets = sockets
        self._rest = rest
        self._path = path

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "websocket" and scope["path"] == self._path:
            return self._sockets(scope, receive, send)
        return self._rest(scope, receive, send)


class GraphQLEndpoint:
    """/graphql: the GraphiQL page for browsers, GraphQL over SSE for requests that accept
    `text/event-stream`, GraphQL over HTTP and WebSockets otherwise."""

    def __init__(
        self, view: ChatGraphQL, settings: Settings, event_stream: EventStreamEndpoint
    ) -> None:
        self._view = view
        self._settings = settings
        self._event_stream = event_stream

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Hands on the awaitable: no frame of its own in a WebSocket's call chain.
        if scope["type"] == "http":
            return self._http(scope, receive, send)
        return self._view(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if wants_event_stream(scope):
            await self._event_stream(scope, receive, send)
            return
        request = Request(scope, receive)
        if request.method == "GET" and _wants_html(request) and not request.query_params:
            await _ide_response(self._settings)(scope, receive, send)
            return
        await self._view(scope, receive, send)


def _ide_response(settings: Settings) -> Response:
    if not settings.graphiql_enabled:
        return JSONResponse({"errors": [{"message": "Not Found"}]}, status_code=404)
    return HTMLResponse(
        graphiql.render_graphiql_page(),
        headers={"Content-Security-Policy": graphiql.content_security_policy(), **HTML_HEADERS},
    )


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")
