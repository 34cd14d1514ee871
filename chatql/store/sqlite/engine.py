"""SQLite plumbing shared by the per-concept store modules: connections, transactions, feed.

One writer connection runs every write as a short `BEGIN IMMEDIATE` transaction under an
asyncio lock, so the per-room `seq` is assigned and committed in order and the change feed
(`LocalFeed`) sees commits in exactly that order. Reads go to a small pool of reader
connections, which in WAL mode only ever see committed data.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from chatql.errors import StoreConflict
from chatql.store.base import ChangeEvent, StoreUnavailable, new_id
from chatql.store.local_feed import LocalFeed
from chatql.store.sqlite.migrations import MIGRATIONS

T = TypeVar("T")
Emitted = list[tuple[str, str, str, Any]]

_BOOL_COLUMNS = {"is_private", "is_direct", "notifications_muted"}
_TIME_COLUMNS = {
    "created_at",
    "updated_at",
    "last_seen",
    "expires_at",
    "revoked_at",
    "last_activity",
    "joined_at",
    "edited_at",
    "deleted_at",
    "muted_until",
    "until",
    "connected_at",
    "heartbeat_at",
    "read_at",
}


def to_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


def from_text(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _encode(column: str, value: Any) -> Any:
    if column in _TIME_COLUMNS:
        return to_text(value)
    if column in _BOOL_COLUMNS:
        return int(bool(value))
    return value


def row_doc(row: aiosqlite.Row) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for key in row.keys():  # noqa: SIM118 - sqlite3.Row is not a mapping
        value = row[key]
        if key in _TIME_COLUMNS:
            value = from_text(value)
        elif key in _BOOL_COLUMNS:
            value = bool(value)
        doc[key] = value
    return doc


def _casefold(value: str | None) -> str | None:
    return value.casefold() if isinstance(value, str) else value


def like_pattern(term: str) -> str:
    escaped = term.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def sqlite_path(url: str) -> str:
    """`sqlite:///./chatql.db` -> `./chatql.db`; `sqlite:////abs/x.db` -> `/abs/x.db`."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"SQLite URL must look like sqlite:///path/to.db, got {url!r}")
    path = url[len("sqlite:///") :]
    if not path or path == ":memory:":
        raise ValueError("SQLite needs a file path (WAL mode and reader connections)")
    return path


class SQLiteEngine:
    def __init__(self, url: str, read_connections: int = 2) -> None:
        self.path = sqlite_path(url)
        self._read_count = read_connections
        self._writer: aiosqlite.Connection | None = None
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all_readers: list[aiosqlite.Connection] = []
        self._write_lock = asyncio.Lock()
        self.feed = LocalFeed()

    # ---------------------------------------------------------------- lifecycle
    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute("PRAGMA busy_timeout=5000")
        await conn.execute("PRAGMA synchronous=NORMAL")
        # SQLite's lower() folds ASCII only; search must match "Émile" as "émile" too.
        await conn.create_function("casefold", 1, _casefold, deterministic=True)
        return conn

    async def open(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._writer = await self._connect()
        await self._migrate(self._writer)
        for _ in range(self._read_count):
            reader = await self._connect()
            await reader.execute("PRAGMA query_only=ON")
            self._all_readers.append(reader)
            self._readers.put_nowait(reader)

    async def _migrate(self, conn: aiosqlite.Connection) -> None:
        async with conn.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        current = int(row[0]) if row else 0
        for version, script in MIGRATIONS:
            if version <= current:
                continue
            await conn.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;"
            )

    async def close(self) -> None:
        self.feed.close()
        for reader in self._all_readers:
            await reader.close()
        self._all_readers.clear()
        if self._writer is not None:
            await self._writer.close()
            self._writer = None

    async def ping(self) -> None:
        try:
            await self._one("SELECT 1")
        except Exception as exc:  # pragma: no cover - depends on the disk
            raise StoreUnavailable(str(exc)) from exc

    # ---------------------------------------------------------------- plumbing
    @contextlib.asynccontextmanager
    async def _reader(self) -> AsyncIterator[aiosqlite.Connection]:
        conn = await self._readers.get()
        try:
            yield conn
        finally:
            self._readers.put_nowait(conn)

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        async with self._reader() as conn, conn.execute(sql, params) as cursor:
            return [row_doc(row) for row in await cursor.fetchall()]

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        async with self._reader() as conn, conn.execute(sql, params) as cursor:
            row = await cursor.fetchone()
        return row_doc(row) if row is not None else None

    async def _write(self, work: Callable[[aiosqlite.Connection, Emitted], Awaitable[T]]) -> T:
        """Run `work` in one transaction; emit its change events after the commit."""
        assert self._writer is not None, "store is not open"
        conn = self._writer
        emitted: Emitted = []
        async with self._write_lock:
            await conn.execute("BEGIN IMMEDIATE")
            try:
                result = await work(conn, emitted)
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")
            self.feed.emit(emitted)
        return result

    async def _insert(
        self,
        conn: aiosqlite.Connection,
        table: str,
        doc: Mapping[str, Any],
        *,
        or_ignore: bool = False,
    ) -> bool:
        """Insert one row; False if `or_ignore` and it already existed."""
        columns = list(doc)
        verb = "INSERT OR IGNORE" if or_ignore else "INSERT"
        sql = f"{verb} INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        try:
            cursor = await conn.execute(sql, [_encode(c, doc[c]) for c in columns])
        except aiosqlite.IntegrityError as exc:
            raise StoreConflict(_constraint_name(str(exc))) from exc
        return cursor.rowcount == 1

    async def _update(
        self,
        conn: aiosqlite.Connection,
        table: str,
        key: Mapping[str, Any],
        changes: Mapping[str, Any],
    ) -> int:
        sets = ", ".join(f"{c} = ?" for c in changes)
        where = " AND ".join(f"{c} = ?" for c in key)
        cursor = await conn.execute(
            f"UPDATE {table} SET {sets} WHERE {where}",
            [*(_encode(c, v) for c, v in changes.items()), *key.values()],
        )
        return cursor.rowcount

    @staticmethod
    async def _fetch(
        conn: aiosqlite.Connection, sql: str, params: Sequence[Any]
    ) -> dict[str, Any] | None:
        async with conn.execute(sql, params) as cursor:
            row = await cursor.fetchone()
        return row_doc(row) if row is not None else None

    # ---------------------------------------------------------------- change feed
    async def publish_ephemeral(self, channel: str, payload: Mapping[str, Any]) -> None:
        """Nothing to store: only this process watches an SQLite database."""
        self.feed.emit([("insert", "events", new_id(), {"channel": channel, "payload": payload})])

    def watch(self, resume_token: Any = None) -> AsyncIterator[ChangeEvent]:
        return self.feed.watch(resume_token)


def _constraint_name(message: str) -> str:
    """Map SQLite's integrity message to the constraint names the protocol uses."""
    if "users.username" in message:
        return "username"
    if "rooms.direct_key" in message:
        return "direct_key"
    if "messages.room_id, messages.author_id, messages.client_id" in message:
        return "client_id"
    if "FOREIGN KEY" in message:
        return "reference"
    return message
