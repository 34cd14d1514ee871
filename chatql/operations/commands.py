"""The operator's subcommands: `check`, `migrate`, `stats`, `backup`, `restore`.

Each returns the process's exit status: 0 done, 1 the store could not be reached or the work
failed, 2 bad input (a flag, a path, a setting), and `migrate --check` 3 when migrations are
pending. Messages are one line each: what happened, and what to do about it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable
from dataclasses import asdict
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from chatql.config import Settings
from chatql.operations.sqlite_backup import BackupError
from chatql.store import create_store
from chatql.store.base import Store, StoreUnavailable

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PENDING = 0, 1, 2, 3


def say(line: str) -> None:
    sys.stdout.write(line + "\n")


def fail(line: str) -> None:
    sys.stderr.write(f"chatql: {line}\n")


def redacted(url: str) -> str:
    """The URL with its password replaced, fit to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def one_line(exc: BaseException) -> str:
    """A driver's error, without the topology dump pymongo appends."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text.split(" (configured timeouts")[0].split(", Timeout: ")[0]


def is_sqlite(settings: Settings) -> bool:
    return settings.database_url.startswith("sqlite:")


def sqlite_file(settings: Settings) -> Path:
    from chatql.store.sqlite import sqlite_path

    return Path(sqlite_path(settings.database_url))


async def _within[T](work: Awaitable[T], timeout: float, url: str) -> T:
    try:
        return await asyncio.wait_for(work, timeout)
    except TimeoutError:
        raise StoreUnavailable(f"no answer from {redacted(url)} within {timeout:g} s") from None


# ---------------------------------------------------------------- check


def _features(settings: Settings) -> list[str]:
    """What this configuration turns on, as `name: state` lines."""
    from chatql.media_plane.tools import MediaTools, find_tools
    from chatql.oidc.providers import parse_providers

    lines = [f"files: {redacted(settings.files_url)}"]
    if settings.media:
        tools = find_tools(settings)
        if isinstance(tools, MediaTools):
            lines.append(
                f"media plane: on (nginx {tools.nginx}, ffmpeg {tools.ffmpeg}; RTMP "
                f"{settings.rtmp_port}, HLS {settings.media_http_port})"
            )
        else:
            lines.append("media plane: on, but live video is off: missing " + ", ".join(tools))
    else:
        lines.append("media plane: off")
    if settings.smtp_url:
        lines.append(f"mail: {settings.effective_email_mode}, via {redacted(settings.smtp_url)}")
    elif settings.email_enabled:
        lines.append(f"mail: {settings.effective_email_mode}, written to the log (no SMTP)")
    else:
        lines.append("mail: off")
    providers = sorted(parse_providers(settings.oidc_providers))
    lines.append("social sign-in: " + (", ".join(providers) if providers else "off"))
    if settings.assistant_enabled:
        lines.append(f"assistant: on ({settings.assistant_model} at {settings.assistant_base_url})")
    else:
        lines.append("assistant: off")
    lines.append(f"guests: {'on' if settings.guest_access else 'off'}")
    lines.append(f"metrics: {'on' if settings.metrics_enabled else 'off'}")
    return lines


async def check(settings: Settings, timeout: float) -> int:
    """Settings were valid to get here; now the store, then what is on."""
    say(f"settings: ok ({settings.env})")
    if not os.environ.get("CHATQL_JWT_SECRET"):
        say("jwt secret: not set, random per process (tokens end with the process)")
    url = redacted(settings.database_url)
    store = create_store(settings)
    try:
        if is_sqlite(settings) and not sqlite_file(settings).exists():
            say(f"store: {url} does not exist yet (made with its schema on first start)")
        else:
            pending = await _within(store.pending_migrations(), timeout, settings.database_url)
            if not is_sqlite(settings):
                await _within(store.ping(), timeout, settings.database_url)
            state = (
                "schema up to date"
                if not pending
                else f"{len(pending)} migrations pending (applied on start, or by chatql migrate)"
            )
            say(f"store: {url} reachable, {state}")
    except StoreUnavailable as exc:
        fail(f"store unreachable: {one_line(exc)}")
        return EXIT_FAILED
    finally:
        await store.close()
    for line in _features(settings):
        say(line)
    return EXIT_OK


# ---------------------------------------------------------------- migrate


async def migrate(settings: Settings, dry_run: bool, timeout: float) -> int:
    store = create_store(settings)
    try:
        pending = await _within(store.pending_migrations(), timeout, settings.database_url)
        if dry_run:
            if not pending:
                say("no migrations pending")
                return EXIT_OK
            say(f"{len(pending)} migrations pending:")
            for name in pending:
                say(f"  {name}")
            return EXIT_PENDING
        applied = await store.migrate()
    except StoreUnavailable as exc:
        fail(f"store unreachable: {one_line(exc)}")
        return EXIT_FAILED
    finally:
        await store.close()
    if not applied:
        say("no migrations pending")
    for name in applied:
        say(f"applied {name}")
    return EXIT_OK


# ---------------------------------------------------------------- stats


async def stats(settings: Settings, as_json: bool, timeout: float) -> int:
    if is_sqlite(settings) and not sqlite_file(settings).exists():
        fail(f"{sqlite_file(settings)} does not exist")
        return EXIT_FAILED
    store: Store = create_store(settings)
    try:
        pending = await _within(store.pending_migrations(), timeout, settings.database_url)
        if pending:
            fail(f"{len(pending)} migrations pending: run chatql migrate first")
            return EXIT_FAILED
        await _within(store.open(), timeout, settings.database_url)
        counts = await _within(store.count_records(), timeout, settings.database_url)
    except StoreUnavailable as exc:
        fail(f"store unreachable: {one_line(exc)}")
        return EXIT_FAILED
    finally:
        await store.close()
    if as_json:
        say(json.dumps(asdict(counts)))
    else:
        for name, value in asdict(counts).items():
            say(f"{name:<9} {value}")
    return EXIT_OK


# ---------------------------------------------------------------- backup and restore


def _mongo_guidance(settings: Settings, verb: str, path: str) -> int:
    url = redacted(settings.database_url)
    if verb == "backup":
        fail(
            "MongoDB is backed up with mongodump, from the replica set itself: "
            f"mongodump --uri='{url}' --oplog --gzip --archive='{path}' "
            "(--oplog makes the dump consistent as of its end; it needs the whole deployment, "
            "not --db)"
        )
    else:
        fail(
            "MongoDB is restored with mongorestore: "
            f"mongorestore --uri='{url}' --oplogReplay --drop --gzip --archive='{path}' "
            "(stop the ChatQL processes first; they resync their change streams on start)"
        )
    return EXIT_USAGE


def backup(settings: Settings, path: str, overwrite: bool) -> int:
    from chatql.operations import sqlite_backup

    if not is_sqlite(settings):
        return _mongo_guidance(settings, "backup", path)
    try:
        info = sqlite_backup.backup(sqlite_file(settings), Path(path), overwrite=overwrite)
    except BackupError as exc:
        fail(str(exc))
        return EXIT_USAGE if exc.usage else EXIT_FAILED
    say(
        f"backed up {sqlite_file(settings)} (schema version {info.schema_version}, "
        f"{info.size} bytes) to {info.path}"
    )
    if settings.files_url.startswith("file:"):
        say(f"file bytes are not in it: copy {settings.files_url[5:]} as well")
    return EXIT_OK


def restore(settings: Settings, path: str) -> int:
    from chatql.operations import sqlite_backup
    from chatql.store.sqlite.lock import DatabaseBusy

    if not is_sqlite(settings):
        return _mongo_guidance(settings, "restore", path)
    target = sqlite_file(settings)
    try:
        info = sqlite_backup.restore(Path(path), target)
    except DatabaseBusy as exc:
        fail(f"refusing to restore: {exc}")
        return EXIT_FAILED
    except BackupError as exc:
        fail(f"refusing to restore: {exc}")
        return EXIT_USAGE  # not a sound ChatQL backup, or no such file
    say(f"restored {path} (schema version {info.schema_version}) into {target}")
    if info.previous is not None:
        say(f"the database it replaced is kept as {info.previous}")
    return EXIT_OK
