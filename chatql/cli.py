"""Command line: `chatql serve` (also `python -m chatql`) starts the server.

Flags override the matching `CHATQL_*` variables; every value is validated before anything
starts, and a bad one is reported in one line with exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import getpass
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence

import uvicorn

from chatql.config import ConfigError, Settings

UVICORN_WS_MAX_SIZE = 16 * 1024 * 1024  # uvicorn's default, kept when the limit is off

FLAG_SETTINGS = {
    "host": "CHATQL_HOST",
    "port": "CHATQL_PORT",
    "database_url": "CHATQL_DATABASE_URL",
    "env": "CHATQL_ENV",
    "log_level": "CHATQL_LOG_LEVEL",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatql", description="ChatQL chat server")
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="run the server (the default)")
    for target in (parser, serve):
        target.add_argument("--host", help="interface (CHATQL_HOST)")
        target.add_argument("--port", help="TCP port (CHATQL_PORT)")
        target.add_argument("--database-url", help="store URL (CHATQL_DATABASE_URL)")
        target.add_argument("--env", help="development or production (CHATQL_ENV)")
        target.add_argument("--log-level", help="debug, info, warning, error (CHATQL_LOG_LEVEL)")
    print_schema = commands.add_parser("print-schema", help="print the GraphQL schema (SDL)")
    print_schema.add_argument(
        "--federation",
        action="store_true",
        help="the Apollo Federation subgraph's SDL (@link, @key), as _service { sdl } serves it",
    )
    admin = commands.add_parser(
        "create-admin",
        help="make USERNAME a global admin, creating the account if needed",
    )
    admin.add_argument("username")
    admin.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the new account's password from standard input (else prompt)",
    )
    admin.add_argument("--database-url", help="store URL (CHATQL_DATABASE_URL)")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    environ = dict(os.environ)
    for attribute, variable in FLAG_SETTINGS.items():
        value = getattr(args, attribute, None)
        if value is not None:
            environ[variable] = str(value)
    return Settings.from_env(environ)


class GracefulServer(uvicorn.Server):
    """uvicorn re-raises SIGTERM after a graceful shutdown, so the exit status would say
    "killed"; a server that stopped cleanly on request exits 0 instead.

    uvicorn closes WebSockets when it stops, but waits for HTTP responses to finish: the SSE
    subscription streams, which never do, are ended first.
    """

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        state = getattr(self.config.app, "state", None)
        streams = getattr(state, "event_streams", None)
        if streams is not None:
            streams.close_streams()
        await super().shutdown(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            try:
                yield
            finally:
                self._captured_signals.clear()


def tune_garbage_collector(full_every: float) -> None:
    """A chat server holds many long-lived objects (a set per socket and subscription). Python's
    older-generation collections walk all of them and stall every delivery for hundreds of
    milliseconds (measured: p99 440 ms at 300 msg/s in the many-rooms benchmark, 5 ms without).
    So young objects are still collected automatically, while the full collection runs on a
    timer (`CHATQL_GC_FULL_INTERVAL`), where its pause is one event, not a steady tax."""
    gc.collect()
    gc.freeze()  # start-up objects are never garbage
    if full_every <= 0:
        return
    gc.set_threshold(50_000, 1_000_000_000, 1_000_000_000)

    def collect_forever() -> None:
        while True:
            time.sleep(full_every)
            gc.collect()

    threading.Thread(target=collect_forever, name="gc-full", daemon=True).start()


def serve(settings: Settings, environ: Mapping[str, str] | None = None) -> None:
    from chatql.app import create_app
    from chatql.observability.logs import configure_logging
    from chatql.observability.tracing import tracer_provider_from_env
    from chatql.transport import LeanWebSocketProtocol

    configure_logging(settings.log_level, settings.log_format)
    tracer_provider = tracer_provider_from_env(os.environ if environ is None else environ)
    tune_garbage_collector(settings.gc_full_interval)
    config = uvicorn.Config(
        create_app(settings, tracer_provider=tracer_provider),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,  # configure_logging's handlers and format
        access_log=False,  # ChatQL's own access log has the request id and the operation
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=10,
        # Refused by the protocol layer (close 1009) as well as by the app (SizeLimitMiddleware).
        ws_max_size=settings.max_ws_message_bytes or UVICORN_WS_MAX_SIZE,
        ws=LeanWebSocketProtocol,  # uvicorn's websockets-sansio, holding less per idle socket
    )
    try:
        GracefulServer(config).run()
    finally:
        if tracer_provider is not None:
            tracer_provider.shutdown()  # export the spans still buffered


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "print-schema":
        if args.federation:
            from chatql.federation import SubgraphSchema
            from chatql.schema import build_schema

            subgraph = build_schema(federation=True)
            assert isinstance(subgraph, SubgraphSchema)
            sys.stdout.write(subgraph.subgraph_sdl + "\n")
            return 0
        from chatql.schema import schema

        sys.stdout.write(schema.as_str() + "\n")
        return 0
    try:
        settings = settings_from(args)
        if args.command in (None, "serve"):
            from chatql.observability.tracing import tracing_endpoint

            tracing_endpoint(os.environ)  # a malformed OTLP endpoint stops the start
    except ConfigError as exc:
        sys.stderr.write(f"chatql: configuration error: {exc}\n")
        return 2
    if args.command == "create-admin":
        return asyncio.run(create_admin(settings, args.username, args.password_stdin))
    serve(settings)
    return 0


async def create_admin(settings: Settings, username: str, password_stdin: bool) -> int:
    """Promote an existing user, or register one and promote it; exit 2 on bad input."""
    from chatql.errors import ChatError
    from chatql.services.registry import Services
    from chatql.store import create_store

    store = create_store(settings)
    await store.open()
    services = Services.build(settings, store)
    try:
        user = await services.moderation.promote_admin(username)
        if user is None:
            if password_stdin:
                password = sys.stdin.readline().rstrip("\n")
            else:
                password = getpass.getpass(f"Password for new admin {username}: ")
            session = await services.accounts.register(username, password, None, "cli")
            user = await services.moderation.promote_admin(session.user.username)
            assert user is not None
            sys.stdout.write(f"created {user.username} as ADMIN\n")
        else:
            sys.stdout.write(f"{user.username} is now ADMIN\n")
        return 0
    except ChatError as exc:
        sys.stderr.write(f"chatql: {exc.message}\n")
        return 2
    finally:
        services.passwords.close()
        await store.close()
