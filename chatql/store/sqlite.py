"""The embedded default store: SQLite in WAL mode through aiosqlite.

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
from chatql.store.base import (
    ChangeEvent,
    MembershipRecord,
    MessageRecord,
    RefreshTokenRecord,
    RoomRecord,
    SortDirection,
    StoreUnavailable,
    UserRecord,
    membership_id,
    new_id,
    now_utc,
)
from chatql.store.local_feed import LocalFeed
from chatql.store.sqlite_schema import MIGRATIONS

T = TypeVar("T")
Emitted = list[tuple[str, str, str, Any]]

_BOOL_COLUMNS = {"is_private", "is_direct"}
_TIME_COLUMNS = {
    "created_at",
    "updated_at",
    "last_seen",
    "expires_at",
    "revoked_at",
    "last_activity",
    "joined_at",
}


def _ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


def _dt(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _encode(column: str, value: Any) -> Any:
    if column in _TIME_COLUMNS:
        return _ts(value)
    if column in _BOOL_COLUMNS:
        return int(bool(value))
    return value


def _row_doc(row: aiosqlite.Row) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for key in row.keys():  # noqa: SIM118 - sqlite3.Row is not a mapping
        value = row[key]
        if key in _TIME_COLUMNS:
            value = _dt(value)
        elif key in _BOOL_COLUMNS:
            value = bool(value)
        doc[key] = value
    return doc


def _like(term: str) -> str:
    escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def sqlite_path(url: str) -> str:
    """`sqlite:///./chatql.db` -> `./chatql.db`; `sqlite:////abs/x.db` -> `/abs/x.db`."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"SQLite URL must look like sqlite:///path/to.db, got {url!r}")
    path = url[len("sqlite:///") :]
    if not path or path == ":memory:":
        raise ValueError("SQLite needs a file path (WAL mode and reader connections)")
    return path


class SQLiteStore:
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
            return [_row_doc(row) for row in await cursor.fetchall()]

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        async with self._reader() as conn, conn.execute(sql, params) as cursor:
            row = await cursor.fetchone()
        return _row_doc(row) if row is not None else None

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

    async def _insert(self, conn: aiosqlite.Connection, table: str, doc: Mapping[str, Any]) -> None:
        columns = list(doc)
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        try:
            await conn.execute(sql, [_encode(c, doc[c]) for c in columns])
        except aiosqlite.IntegrityError as exc:
            raise StoreConflict(_constraint_name(str(exc))) from exc

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
        return _row_doc(row) if row is not None else None

    # ---------------------------------------------------------------- users
    async def create_user(self, user: UserRecord) -> None:
        async def work(conn: aiosqlite.Connection, emitted: Emitted) -> None:
            await self._insert(conn, "users", user.to_doc())
            emitted.append(("insert", "users", user.id, user.to_doc()))

        await self._write(work)

    async def get_user(self, user_id: str) -> UserRecord | None:
        doc = await self._one("SELECT * FROM users WHERE id = ?", (user_id,))
        return UserRecord.from_doc(doc) if doc else None

    async def get_users(self, user_ids: Sequence[str]) -> dict[str, UserRecord]:
        ids = list(dict.fromkeys(user_ids))
        if not ids:
            return {}
        docs = await self._all(
            f"SELECT * FROM users WHERE id IN ({', '.join('?' * len(ids))})", ids
        )
        return {d["id"]: UserRecord.from_doc(d) for d in docs}

    async def get_user_by_username(self, username: str) -> UserRecord | None:
        doc = await self._one("SELECT * FROM users WHERE username = ?", (username.lower(),))
        return UserRecord.from_doc(doc) if doc else None

    async def search_users(
        self, term: str, limit: int, after_username: str | None
    ) -> list[UserRecord]:
        pattern = _like(term)
        docs = await self._all(
            "SELECT * FROM users WHERE (username LIKE ? ESCAPE '\\' "
            "OR lower(display_name) LIKE ? ESCAPE '\\') AND username > ? "
            "ORDER BY username LIMIT ?",
            (pattern, pattern, after_username or "", limit),
        )
        return [UserRecord.from_doc(d) for d in docs]

    async def update_user(self, user_id: str, changes: Mapping[str, Any]) -> UserRecord | None:
        async def work(conn: aiosqlite.Connection, emitted: Emitted) -> UserRecord | None:
            if changes:
                await self._update(conn, "users", {"id": user_id}, changes)
            doc = await self._fetch(conn, "SELECT * FROM users WHERE id = ?", (user_id,))
            if doc is None:
                return None
            emitted.append(("update", "users", user_id, doc))
            return UserRecord.from_doc(doc)

        return await self._write(work)

    async def bump_token_version(self, user_id: str) -> int:
        async def work(conn: aiosqlite.Connection, emitted: Emitted) -> int:
            doc = await self._fetch(
                conn,
                "UPDATE users SET token_version = token_version + 1 WHERE id = ? RETURNING *",
                (user_id,),
            )
            if doc is None:
                return 0
            emitted.append(("update", "users", user_id, doc))
            return int(doc["token_version"])

        return await self._write(work)

    # ---------------------------------------------------------------- refresh tokens
    async def insert_refresh_token(self, token: RefreshTokenRecord) -> None:
        async def work(conn: aiosqlite.Connection, _emitted: Emitted) -> None:
            await self._insert(conn, "refresh_tokens", token.to_doc())

        await self._write(work)

    async def get_refresh_token(self, token_hash: str) -> RefreshTokenRecord | None:
        doc = await self._one("SELECT * FROM refresh_tokens WHERE token_hash = ?", (token_hash,))
        return RefreshTokenRecord.from_doc(doc) if doc else None

    async def revoke_refresh_token(self, token_id: str, when: datetime) -> bool:
        async def work(conn: aiosqlite.Connection, _emitted: Emitted) -> bool:
            cursor = await conn.execute(
                "UPDATE refresh_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (_ts(when), token_id),
            )
            return cursor.rowcount == 1

        return await self._write(work)

    async def revoke_token_family(self, family_id: str, when: datetime) -> None:
        async def work(conn: aiosqlite.Connection, _emitted: Emitted) -> None:
            await conn.execute(
                "UPDATE refresh_tokens SET revoked_at = ? "
                "WHERE family_id = ? AND revoked_at IS NULL",
                (_ts(when), family_id),
            )

        await self._write(work)

    async def revoke_user_tokens(self, user_id: str, when: datetime) -> None:
        async def work(conn: aiosqlite.Connection, _emitted: Emitted) -> None:
            await conn.execute(
                "UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                (_ts(when), user_id),
            )

        await self._write(work)

    # ---------------------------------------------------------------- rooms
    async def create_room(self, room: RoomRecord, members: Sequence[MembershipRecord]) -> None:
        async def work(conn: aiosqlite.Connection, emitted: Emitted) -> None:
            doc = room.to_doc()
            await self._insert(conn, "rooms", {**doc, "name_lower": room.name.lower()})
            emitted.append(("insert", "rooms", room.id, doc))
            for member in members:
                await self._insert(conn, "memberships", member.to_doc())
                emitted.append(("insert", "memberships", member.id, member.to_doc()))

        await self._write(work)

    @staticmethod
    def _room(doc: dict[str, Any] | None) -> RoomRecord | None:
        return RoomRecord.from_doc(doc) if doc else None

    async def get_room(self, room_id: str) -> RoomRecord | None:
        return self._room(await self._one("SELECT * FROM rooms WHERE id = ?", (room_id,)))

    async def get_rooms(self, room_ids: Sequence[str]) -> dict[str, RoomRecord]:
        ids = list(dict.fromkeys(room_ids))
        if not ids:
            return {}
        docs = await self._all(
            f"SELECT * FROM rooms WHERE id IN ({', '.join('?' * len(ids))})", ids
        )
        return {d["id"]: RoomRecord.from_doc(d) for d in docs}

    async def get_direct_room(self, direct_key: str) -> RoomRecord | None:
        return self._room(
            await self._one("SELECT * FROM rooms WHERE direct_key = ?", (direct_key,))
        )

    async def update_room(self, room_id: str, changes: Mapping[str, Any]) -> RoomRecord | None:
        async def work(conn: aiosqlite.Connection, emitted: Emitted) -> RoomRecord | None:
            values = dict(changes)
            if "name" in values:
                values["name_lower"] = str(values["name"]).lower()
            if values:
                await self._update(conn, "rooms", {"id": room_id}, values)
            doc = await self._fetch(conn, "SELECT * FROM rooms WHERE id = ?", (room_id,))
            if doc is None:
                return None
            emitted.append(("update", "rooms", room_id, doc))
            return RoomRecord.from_doc(doc)

        return await self._write(work)

    async def list_user_rooms(
        self, user_id: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[RoomRecord]:
        params: list[Any] = [user_id]
        where = ""
        if after is not None:
            where = "AND (r.last_activity < ? OR (r.last_activity = ? AND r.id < ?))"
            params += [_ts(after[0]), _ts(after[0]), after[1]]
        docs = await self._all(
            "SELECT r.* FROM memberships m JOIN rooms r ON r.id = m.room_id "
            f"WHERE m.user_id = ? {where} ORDER BY r.last_activity DESC, r.id DESC LIMIT ?",
            [*params, limit],
        )
        return [RoomRecord.from_doc(d) for d in docs]

    async def list_public_rooms(
        self, term: str | None, limit: int, after: tuple[str, str] | None
    ) -> list[RoomRecord]:
        params: list[Any] = []
        where = "is_private = 0 AND is_direct = 0"
        if term:
            where += " AND name_lower LIKE ? ESCAPE '\\'"
            params.append(_like(term))
        if after is not None:
            where += " AND (name_lower > ? OR (name_lower = ? AND id > ?))"
            params += [after[0], after[0], after[1]]
        docs = await self._all(
            f"SELECT * FROM rooms WHERE {where} ORDER BY name_lower, id LIMIT ?", [*params, limit]
        )
        return [RoomRecord.from_doc(d) for d in docs]

    # ---------------------------------------------------------------- memberships
    async def add_member(self, member: MembershipRecord) -> bool:
        async def work(conn: aiosqlite.Connection, emitted: Emitted) -> bool:
            cursor = await conn.execute(
                "INSERT OR IGNORE INTO memberships (room_id, user_id, role, joined_at) "
                "VALUES (?, ?, ?, ?)",
                (member.room_id, member.user_id, member.role, _ts(member.joined_at)),
            )
            if cursor.rowcount != 1:
                return False
            emitted.append(("insert", "memberships", member.id, member.to_doc()))
            return True

        return await self._write(work)

    async def remove_member(self, room_id: str, user_id: str) -> bool:
        async def work(conn: aiosqlite.Connection, emitted: Emitted) -> bool:
            cursor = await conn.execute(
                "DELETE FROM memberships WHERE room_id = ? AND user_id = ?", (room_id, user_id)
            )
            if cursor.rowcount != 1:
                return False
            emitted.append(("delete", "memberships", membership_id(room_id, user_id), None))
            return True

        return await self._write(work)

    async def set_member_role(self, room_id: str, user_id: str, role: str) -> None:
        async def work(conn: aiosqlite.Connection, emitted: Emitted) -> None:
            doc = await self._fetch(
                conn,
                "UPDATE memberships SET role = ? WHERE room_id = ? AND user_id = ? RETURNING *",
                (role, room_id, user_id),
            )
            if doc is not None:
                emitted.append(("update", "memberships", membership_id(room_id, user_id), doc))

        await self._write(work)

    async def get_membership(self, room_id: str, user_id: str) -> MembershipRecord | None:
        doc = await self._one(
            "SELECT * FROM memberships WHERE room_id = ? AND user_id = ?", (room_id, user_id)
        )
        return MembershipRecord.from_doc(doc) if doc else None

    async def list_members(
        self, room_id: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[MembershipRecord]:
        params: list[Any] = [room_id]
        where = ""
        if after is not None:
            where = "AND (joined_at > ? OR (joined_at = ? AND user_id > ?))"
            params += [_ts(after[0]), _ts(after[0]), after[1]]
        docs = await self._all(
            f"SELECT * FROM memberships WHERE room_id = ? {where} "
            "ORDER BY joined_at, user_id LIMIT ?",
            [*params, limit],
        )
        return [MembershipRecord.from_doc(d) for d in docs]

    async def count_members(self, room_id: str) -> int:
        doc = await self._one("SELECT count(*) AS n FROM memberships WHERE room_id = ?", (room_id,))
        return int(doc["n"]) if doc else 0

    async def member_ids(self, room_id: str) -> frozenset[str]:
        docs = await self._all("SELECT user_id FROM memberships WHERE room_id = ?", (room_id,))
        return frozenset(d["user_id"] for d in docs)

    # ---------------------------------------------------------------- messages
    async def insert_message(
        self,
        *,
        room_id: str,
        author_id: str,
        content: str,
        message_type: str,
        client_id: str | None,
    ) -> tuple[MessageRecord, bool]:
        async def work(conn: aiosqlite.Connection, emitted: Emitted) -> tuple[MessageRecord, bool]:
            if client_id is not None:
                existing = await self._fetch(
                    conn,
                    "SELECT * FROM messages WHERE room_id = ? AND author_id = ? AND client_id = ?",
                    (room_id, author_id, client_id),
                )
                if existing is not None:
                    return MessageRecord.from_doc(existing), False
            now = now_utc()
            room = await self._fetch(
                conn,
                "UPDATE rooms SET last_seq = last_seq + 1, message_count = message_count + 1, "
                "last_activity = ? WHERE id = ? RETURNING *",
                (_ts(now), room_id),
            )
            if room is None:
                raise StoreConflict("room")
            message = MessageRecord(
                id=new_id(),
                room_id=room_id,
                author_id=author_id,
                content=content,
                message_type=message_type,
                seq=int(room["last_seq"]),
                created_at=now,
                updated_at=now,
                client_id=client_id,
            )
            await self._insert(conn, "messages", message.to_doc())
            emitted.append(("insert", "messages", message.id, message.to_doc()))
            emitted.append(("update", "rooms", room_id, room))
            return message, True

        return await self._write(work)

    async def get_message(self, message_id: str) -> MessageRecord | None:
        doc = await self._one("SELECT * FROM messages WHERE id = ?", (message_id,))
        return MessageRecord.from_doc(doc) if doc else None

    async def list_messages(
        self,
        room_id: str,
        *,
        limit: int,
        direction: SortDirection,
        after_seq: int | None = None,
        before_seq: int | None = None,
        before_time: datetime | None = None,
    ) -> list[MessageRecord]:
        where = ["room_id = ?"]
        params: list[Any] = [room_id]
        if after_seq is not None:
            where.append("seq > ?")
            params.append(after_seq)
        if before_seq is not None:
            where.append("seq < ?")
            params.append(before_seq)
        if before_time is not None:
            where.append("created_at < ?")
            params.append(_ts(before_time))
        order = "ASC" if direction == "ASC" else "DESC"
        docs = await self._all(
            f"SELECT * FROM messages WHERE {' AND '.join(where)} ORDER BY seq {order} LIMIT ?",
            [*params, limit],
        )
        return [MessageRecord.from_doc(d) for d in docs]

    # ---------------------------------------------------------------- change feed
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
