"""SQLite plumbing shared by the per-concept store modules: connections, transactions, feed.

One writer runs every write (in group commits, on the event loop or, when commits fsync, on its
own thread; see `worker.py`), so the per-room `seq` is assigned and committed in order and the
change feed (`LocalFeed`) sees commits in exactly that order. Reads go to a small pool of
reader threads, which in WAL mode only ever see committed data. Each read is one hop to a
thread, however many statements it runs.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, overload

from chatql.errors import StoreConflict
from chatql.store.base import StoreUnavailable
from chatql.store.ids import new_id
from chatql.store.local_feed import LocalFeed
from chatql.store.records import ChangeEvent, StoreCounts, now_utc
from chatql.store.sqlite.lock import DatabaseBusy, DatabaseLock
from chatql.store.sqlite.migrations import (
    SchemaTooNew,
    apply_migrations,
    pending_versions,
)
from chatql.store.sqlite.targets import NotificationTargets
from chatql.store.sqlite.worker import (
    Checkpointer,
    Emitted,
    GroupCommitWriter,
    LoopWriter,
    Worker,
    connect,
)

T = TypeVar("T")

_BOOL_COLUMNS = {
    "is_private",
    "is_direct",
    "notifications_muted",
    "email_verified",
    "has_recording",
    "has_thumbnail",
    "is_bot",
    "is_streaming",
}
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
    "completed_at",
    "removed_at",
    "terms_accepted_at",
    "used_at",
    "scheduled_start",
    "started_at",
    "ended_at",
    "at",
}


_last_text: tuple[datetime | None, str | None] = (None, None)


@overload
def to_text(value: datetime) -> str: ...
@overload
def to_text(value: None) -> None: ...
def to_text(value: datetime | None) -> str | None:
    """UTC with milliseconds and a Z: fixed width, so text order is time order.

    A write stamps several columns with one `now` (a message's created_at and updated_at, its
    room's last_activity): the last answer is kept for the same object. One tuple, read and
    replaced whole, so the reader threads may share it."""
    global _last_text
    if value is None:
        return None
    last = _last_text
    if value is last[0]:
        return last[1]
    text = value.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
    _last_text = (value, text)
    return text


def from_text(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value)


def encode(column: str, value: Any) -> Any:
    if column == "tags":  # the only list column: JSON text
        return json.dumps(list(value))
    if column in _TIME_COLUMNS:
        return to_text(value)
    if column in _BOOL_COLUMNS:
        return int(bool(value))
    return value


def row_doc(row: sqlite3.Row) -> dict[str, Any]:
    """A row as a document: times as datetimes, flags as bools. (`row[name]` looks the name
    up among the columns each time: a room's fourteen cost more than their conversions.)"""
    keys = row.keys()
    plan = _ROW_PLANS.get(tuple(keys))
    if plan is None:
        plan = _row_plan(tuple(keys))
    times, flags, unique = plan
    if unique:
        doc = dict(zip(keys, row, strict=True))
    else:  # a join's columns of one name: the first one, as `row[name]` answers
        doc = {}
        for key, value in zip(keys, row, strict=True):
            doc.setdefault(key, value)
    for key in times:
        value = doc[key]
        if value is not None:
            doc[key] = datetime.fromisoformat(value)
    for key in flags:
        doc[key] = bool(doc[key])
    return doc


# a result's columns -> (its time columns, its flag columns, whether no name repeats); the
# queries name few column sets
RowPlan = tuple[tuple[str, ...], tuple[str, ...], bool]
_ROW_PLANS: dict[tuple[str, ...], RowPlan] = {}


def _row_plan(keys: tuple[str, ...]) -> RowPlan:
    names = dict.fromkeys(keys)
    plan = (
        tuple(k for k in names if k in _TIME_COLUMNS),
        tuple(k for k in names if k in _BOOL_COLUMNS and k not in _TIME_COLUMNS),
        len(names) == len(keys),
    )
    _ROW_PLANS[keys] = plan
    return plan


@functools.lru_cache(maxsize=256)
def _insert_sql(table: str, columns: tuple[str, ...], or_ignore: bool) -> str:
    verb = "INSERT OR IGNORE" if or_ignore else "INSERT"
    return f"{verb} INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


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


WAL_SIZE_LIMIT = 64 * 1024 * 1024
# SQLite's default is 2 MiB: under load the writer's working set (the message indexes' pages of
# every active room) outgrew it, and each message read a few evicted pages back from the disk.
DEFAULT_CACHE_MB = 64


class SQLiteEngine:
    def __init__(
        self,
        url: str,
        read_connections: int = 2,
        synchronous: str = "NORMAL",
        cache_mb: int = DEFAULT_CACHE_MB,
    ) -> None:
        self.path = sqlite_path(url)
        self._read_count = read_connections
        self._cache_mb = cache_mb
        self._synchronous = synchronous
        self._writer: GroupCommitWriter | LoopWriter | None = None
        self._checkpointer: Checkpointer | None = None
        self._readers: list[Worker] = []
        self._lock = DatabaseLock(self.path)
        self.feed = LocalFeed()
        self._targets = NotificationTargets()

    # ---------------------------------------------------------------- lifecycle
    def _connect(self, *, readonly: bool) -> sqlite3.Connection:
        return connect(
            self.path, readonly=readonly, synchronous=self._synchronous, cache_mb=self._cache_mb
        )

    async def open(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(exclusive=False)  # held until close: see lock.py
        except DatabaseBusy as exc:
            raise StoreUnavailable(str(exc)) from exc
        writer = await asyncio.to_thread(self._connect, readonly=False)
        try:
            await asyncio.to_thread(apply_migrations, writer)
        except SchemaTooNew as exc:
            writer.close()
            self._lock.release()
            raise StoreUnavailable(str(exc)) from exc
        writer.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer thread does it
        # a burst may stretch the WAL; when it restarts, the file shrinks back to this size
        writer.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        # an fsync per commit belongs off the loop; a commit without one costs it less than the
        # hand-over to a thread (see LoopWriter)
        fsyncs = self._synchronous.upper() in {"FULL", "EXTRA", "2", "3"}
        writer_type = GroupCommitWriter if fsyncs else LoopWriter
        self._targets.install(writer)
        self._writer = writer_type(writer, self.feed.emit, listener=self._targets)
        checkpoints = await asyncio.to_thread(self._connect, readonly=False)
        self._checkpointer = Checkpointer(checkpoints, self._writer.request_restart)
        for i in range(self._read_count):
            reader = await asyncio.to_thread(self._connect, readonly=True)
            self._readers.append(Worker(reader, f"sqlite-reader-{i}"))

    async def close(self) -> None:
        self.feed.close()
        for reader in self._readers:
            await reader.close()
        self._readers.clear()
        if self._writer is not None:
            await self._writer.close()
            self._writer = None
        if self._checkpointer is not None:
            await self._checkpointer.close()
            self._checkpointer = None
        self._lock.release()

    async def ping(self) -> None:
        try:
            await self._one("SELECT 1")
        except Exception as exc:  # pragma: no cover - depends on the disk
            raise StoreUnavailable(str(exc)) from exc

    # ---------------------------------------------------------------- upkeep
    async def pending_migrations(self) -> list[str]:
        def read() -> list[str]:
            if not Path(self.path).exists():
                return [f"version {v}" for v in pending_versions(0)]
            uri = Path(self.path).resolve().as_uri() + "?mode=ro"
            try:
                conn = sqlite3.connect(uri, uri=True)
                try:
                    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
                finally:
                    conn.close()
                return [f"version {v}" for v in pending_versions(current)]
            except (sqlite3.Error, SchemaTooNew) as exc:
                raise StoreUnavailable(f"{self.path}: {exc}") from exc

        return await asyncio.to_thread(read)

    async def migrate(self) -> list[str]:
        def run() -> list[str]:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            lock = DatabaseLock(self.path)
            conn: sqlite3.Connection | None = None
            try:
                lock.acquire(exclusive=False)
                conn = self._connect(readonly=False)
                return [f"version {v}" for v in apply_migrations(conn)]
            except (DatabaseBusy, SchemaTooNew, sqlite3.Error) as exc:
                raise StoreUnavailable(f"{self.path}: {exc}") from exc
            finally:
                if conn is not None:
                    conn.close()
                lock.release()

        return await asyncio.to_thread(run)

    async def count_records(self) -> StoreCounts:
        row = await self._one(
            "SELECT (SELECT count(*) FROM users WHERE deleted_at IS NULL) AS users, "
            "(SELECT count(*) FROM rooms) AS rooms, "
            "(SELECT count(*) FROM messages WHERE deleted_at IS NULL) AS messages, "
            "(SELECT count(*) FROM streams) AS streams, "
            "(SELECT count(*) FROM uploads WHERE removed_at IS NULL) AS uploads"
        )
        assert row is not None
        return StoreCounts(**row)

    # ---------------------------------------------------------------- plumbing
    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` on the least busy reader (one thread hop)."""
        reader = min(self._readers, key=lambda r: r.pending)
        return await reader.run(fn)

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        rows = await self._read(lambda conn: conn.execute(sql, params).fetchall())
        return [row_doc(row) for row in rows]

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        row = await self._read(lambda conn: conn.execute(sql, params).fetchone())
        return row_doc(row) if row is not None else None

    async def _write(
        self, work: Callable[[sqlite3.Connection, Emitted], T], *, heavy: bool = False
    ) -> T:
        """Run `work` in a committed transaction; its change events follow the commit.

        `heavy`: it may touch a whole room's or user's history; keep it off the event loop.
        """
        assert self._writer is not None, "store is not open"
        return await self._writer.write(work, heavy=heavy)

    @staticmethod
    def _insert(
        conn: sqlite3.Connection,
        table: str,
        doc: Mapping[str, Any],
        *,
        or_ignore: bool = False,
    ) -> bool:
        """Insert one row; False if `or_ignore` and it already existed."""
        columns = tuple(doc)
        sql = _insert_sql(table, columns, or_ignore)
        try:
            cursor = conn.execute(sql, [encode(c, doc[c]) for c in columns])
        except sqlite3.IntegrityError as exc:
            raise StoreConflict(_constraint_name(str(exc))) from exc
        return cursor.rowcount == 1

    @staticmethod
    def _update(
        conn: sqlite3.Connection,
        table: str,
        key: Mapping[str, Any],
        changes: Mapping[str, Any],
    ) -> int:
        sets = ", ".join(f"{c} = ?" for c in changes)
        where = " AND ".join(f"{c} = ?" for c in key)
        try:
            cursor = conn.execute(
                f"UPDATE {table} SET {sets} WHERE {where}",
                [*(encode(c, v) for c, v in changes.items()), *key.values()],
            )
        except sqlite3.IntegrityError as exc:
            raise StoreConflict(_constraint_name(str(exc))) from exc
        return cursor.rowcount

    @staticmethod
    def _fetch(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> dict[str, Any] | None:
        row = conn.execute(sql, params).fetchone()
        return row_doc(row) if row is not None else None

    # ---------------------------------------------------------------- change feed
    async def publish_ephemeral(self, channel: str, payload: Mapping[str, Any]) -> None:
        """Nothing to store: only this process watches an SQLite database."""
        self.feed.emit([("insert", "events", new_id(), {"channel": channel, "payload": payload})])

    async def load_feed_position(self, name: str) -> Any:
        doc = await self._one("SELECT token FROM feed_positions WHERE name = ?", (name,))
        return json.loads(doc["token"]) if doc else None

    async def save_feed_position(self, name: str, token: Any) -> None:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> None:
            conn.execute(
                "INSERT INTO feed_positions (name, token, saved_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET token = excluded.token, "
                "saved_at = excluded.saved_at",
                (name, json.dumps(token), to_text(now_utc())),
            )

        await self._write(work)

    def watch(self, resume_token: Any = None) -> AsyncIterator[ChangeEvent]:
        return self.feed.watch(resume_token)


def _constraint_name(message: str) -> str:
    """Map SQLite's integrity message to the constraint names the protocol uses."""
    if "users.username" in message:
        return "username"
    if "users.email" in message:
        return "email"
    if "identities." in message:
        return "identity"
    if "rooms.direct_key" in message:
        return "direct_key"
    if "messages.room_id, messages.author_id, messages.client_id" in message:
        return "client_id"
    if "FOREIGN KEY" in message:
        return "reference"
    return message
