"""Command line: `chatql serve` (also `python -m chatql`) starts the server; the other
subcommands are the operator's (`check`, `migrate`, `backup`, `restore`, `stats`, ...).

Flags override the matching `CHATQL_*` variables; every value is validated before anything
starts, and a bad one is reported in one line with exit status 2. `chatql --help` and
`chatql COMMAND --help` say what each does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import getpass
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import NoReturn

import uvicorn

from chatql.config import Settings
from chatql.config_values import ConfigError

UVICORN_WS_MAX_SIZE = 16 * 1024 * 1024  # uvicorn's default, kept when the limit is off

FLAG_SETTINGS = {
    "host": "CHATQL_HOST",
    "port": "CHATQL_PORT",
    "database_url": "CHATQL_DATABASE_URL",
    "env": "CHATQL_ENV",
    "log_level": "CHATQL_LOG_LEVEL",
}


class Parser(argparse.ArgumentParser):
    """argparse, with a bad flag reported in one line (and exit status 2) instead of the
    usage block first."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _positive_seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {raw!r}") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"must be between 0 and 3600 seconds, got {raw}")
    return value


def _store_flags(command: argparse.ArgumentParser, *, timeout: bool = True) -> None:
    command.add_argument("--database-url", help="store URL (CHATQL_DATABASE_URL)")
    command.add_argument("--env", help="development or production (CHATQL_ENV)")
    if timeout:
        command.add_argument(
            "--timeout",
            type=_positive_seconds,
            default=10.0,
            help="seconds to wait for the store before giving up (default 10)",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="chatql",
        description="ChatQL chat server. With no command, runs the server (like `serve`). "
        "Settings come from CHATQL_* environment variables (README, Configuration); flags "
        "override them.",
        epilog="Exit status: 0 done, 1 the store could not be reached or the work failed, "
        "2 bad input (a flag, a path, a setting).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    serve = commands.add_parser("serve", help="run the server (the default)")
    for target in (parser, serve):
        target.add_argument("--host", help="interface (CHATQL_HOST)")
        target.add_argument("--port", help="TCP port (CHATQL_PORT)")
        target.add_argument("--database-url", help="store URL (CHATQL_DATABASE_URL)")
        target.add_argument("--env", help="development or production (CHATQL_ENV)")
        target.add_argument("--log-level", help="debug, info, warning, error (CHATQL_LOG_LEVEL)")
    for name in ("export-schema", "print-schema"):
        schema = commands.add_parser(
            name,
            help="write the GraphQL schema (SDL) to PATH or standard output"
            + (" (same as export-schema)" if name == "print-schema" else ""),
            description="Write the schema this ChatQL serves, in GraphQL SDL: what client "
            "code generators read (schema.graphql in the repository is kept equal to it).",
        )
        schema.add_argument("path", nargs="?", metavar="PATH", help="file to write (default -)")
        schema.add_argument(
            "--federation",
            action="store_true",
            help="the Apollo Federation subgraph's SDL (@link, @key), as _service { sdl } has it",
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
    check = commands.add_parser(
        "check",
        help="validate the settings, reach the store, say what is on",
        description="Validate every CHATQL_* setting (exit 2 on a bad one), connect to the "
        "store and read its migration state (exit 1 if it cannot be reached), then list the "
        "features this configuration turns on (media plane, mail, social sign-in, assistant).",
    )
    _store_flags(check)
    migrate = commands.add_parser(
        "migrate",
        help="apply the store's pending migrations and exit",
        description="Apply the store's pending migrations (SQLite: numbered schema scripts; "
        "MongoDB: indexes) and exit. The server also applies them when it starts; run this "
        "before starting a new version to see them go through on their own.",
    )
    migrate.add_argument(
        "--check",
        action="store_true",
        help="only list the pending migrations; exit 3 when there are some, 0 when none",
    )
    _store_flags(migrate)
    backup = commands.add_parser(
        "backup",
        help="copy the SQLite database to PATH while the server runs",
        description="Copy the SQLite database to PATH with SQLite's online backup API: a "
        "consistent copy as of one commit, taken while the server keeps running. MongoDB is "
        "backed up with mongodump; this command says how and exits 2. File bytes "
        "(CHATQL_FILES_URL) are not in the copy.",
    )
    backup.add_argument("path", metavar="PATH", help="the backup file to write")
    backup.add_argument("--force", action="store_true", help="replace PATH if it exists")
    _store_flags(backup, timeout=False)
    restore = commands.add_parser(
        "restore",
        help="replace the SQLite database with the backup at PATH (servers stopped)",
        description="Check that PATH is a sound ChatQL SQLite backup (integrity_check, schema "
        "version), then replace the database with it atomically; the replaced database is "
        "kept beside it. Refused while any ChatQL process has the database open. MongoDB is "
        "restored with mongorestore; this command says how and exits 2.",
    )
    restore.add_argument("path", metavar="PATH", help="a file made by chatql backup")
    _store_flags(restore, timeout=False)
    stats = commands.add_parser(
        "stats",
        help="count users, rooms, messages, streams and uploads in the store",
        description="Count what the store holds: users and messages not deleted, rooms, "
        "streams, and files not removed.",
    )
    stats.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    _store_flags(stats)
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
    from chatql.fast_path.http_protocol import CoalescingHttpProtocol
    from chatql.observability.logs import configure_logging
    from chatql.observability.tracing import tracer_provider_from_env
    from chatql.realtime.transport import LeanWebSocketProtocol

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
        # Behind nginx, the client's address (per-IP rate limits) and scheme come from the
        # proxy's X-Forwarded-For/-Proto, believed only from CHATQL_TRUSTED_PROXIES.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies) or None,
        server_header=False,
        timeout_graceful_shutdown=10,
        # Refused by the protocol layer (close 1009) as well as by the app (SizeLimitMiddleware).
        ws_max_size=settings.max_ws_message_bytes or UVICORN_WS_MAX_SIZE,
        ws=LeanWebSocketProtocol,  # uvicorn's websockets-sansio, holding less per idle socket
        http=CoalescingHttpProtocol,  # uvicorn's httptools, headers and body in one write
    )
    try:
        GracefulServer(config).run()
    finally:
        if tracer_provider is not None:
            tracer_provider.shutdown()  # export the spans still buffered


OPERATOR_COMMANDS = ("check", "migrate", "stats", "backup", "restore")


def _no_secret_warning(record: logging.LogRecord) -> bool:
    """An operator command signs no tokens: the development secret warning is noise there."""
    return not str(record.msg).startswith("CHATQL_JWT_SECRET is not set")


def export_schema(path: str | None, federation: bool = False) -> int:
    """The plain schema, or with `federation` the subgraph's SDL as `_service { sdl }` serves it."""
    from chatql.schema import build_schema, schema

    if federation:
        from chatql.federation import SubgraphSchema

        subgraph = build_schema(federation=True)
        assert isinstance(subgraph, SubgraphSchema)
        text = subgraph.subgraph_sdl + "\n"
    else:
        text = schema.as_str() + "\n"
    if path is None or path == "-":
        sys.stdout.write(text)
        return 0
    try:
        Path(path).write_text(text)
    except OSError as exc:
        sys.stderr.write(f"chatql: cannot write {path}: {exc.strerror}\n")
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("print-schema", "export-schema"):
        return export_schema(args.path, args.federation)
    try:
        if args.command in OPERATOR_COMMANDS:  # `check` says it in a line of its own
            logging.getLogger("chatql.config").addFilter(_no_secret_warning)
        settings = settings_from(args)
        if args.command in (None, "serve"):
            from chatql.observability.tracing import tracing_endpoint

            tracing_endpoint(os.environ)  # a malformed OTLP endpoint stops the start
    except ConfigError as exc:
        sys.stderr.write(f"chatql: configuration error: {exc}\n")
        return 2
    if args.command == "create-admin":
        return asyncio.run(create_admin(settings, args.username, args.password_stdin))
    if args.command in OPERATOR_COMMANDS:
        return operate(args, settings)
    serve(settings)
    return 0


def operate(args: argparse.Namespace, settings: Settings) -> int:
    from chatql.operations import commands

    logging.basicConfig(level=logging.WARNING, format="chatql: %(message)s")

    if args.command == "check":
        return asyncio.run(commands.check(settings, args.timeout))
    if args.command == "migrate":
        return asyncio.run(commands.migrate(settings, args.check, args.timeout))
    if args.command == "stats":
        return asyncio.run(commands.stats(settings, args.json, args.timeout))
    if args.command == "backup":
        return commands.backup(settings, args.path, args.force)
    return commands.restore(settings, args.path)


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
