"""Connections (presence) and room watches in SQLite. Neither is in the change feed: the
presence service turns them into user status changes, which are."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from chatql.store.records import ConnectionRecord
from chatql.store.sqlite.engine import SQLiteEngine, to_text
from chatql.store.sqlite.targets import Targets, read_notification_targets
from chatql.store.sqlite.worker import Emitted


class PresenceStore(SQLiteEngine):
    async def add_connection(self, connection: ConnectionRecord) -> None:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> None:
            self._insert(conn, "connections", connection.to_doc())

        await self._write(work)

    async def remove_connection(self, connection_id: str) -> ConnectionRecord | None:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> ConnectionRecord | None:
            doc = self._fetch(
                conn, "DELETE FROM connections WHERE id = ? RETURNING *", (connection_id,)
            )
            return ConnectionRecord.from_doc(doc) if doc else None

        return await self._write(work)

    async def count_connections(self, user_id: str) -> int:
        doc = await self._one("SELECT count(*) AS n FROM connections WHERE user_id = ?", (user_id,))
        return int(doc["n"]) if doc else 0

    async def heartbeat(self, process_id: str, when: datetime) -> None:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> None:
            conn.execute(
                "UPDATE connections SET heartbeat_at = ? WHERE process_id = ?",
                (to_text(when), process_id),
            )

        await self._write(work)

    async def remove_stale_connections(self, before: datetime) -> list[str]:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> list[str]:
            rows = conn.execute(
                "DELETE FROM connections WHERE heartbeat_at < ? RETURNING user_id",
                (to_text(before),),
            ).fetchall()
            return sorted({row[0] for row in rows})

        return await self._write(work)

    async def add_room_watch(self, connection_id: str, room_id: str, user_id: str) -> None:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> None:
            conn.execute(
                "INSERT OR IGNORE INTO room_watches (connection_id, room_id, user_id) "
                "SELECT id, ?, ? FROM connections WHERE id = ?",
                (room_id, user_id, connection_id),
            )

        await self._write(work)

    async def remove_room_watch(self, connection_id: str, room_id: str) -> None:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> None:
            conn.execute(
                "DELETE FROM room_watches WHERE connection_id = ? AND room_id = ?",
                (connection_id, room_id),
            )

        await self._write(work)

    async def room_watchers(self, room_id: str) -> frozenset[str]:
        docs = await self._all(
            "SELECT DISTINCT user_id FROM room_watches WHERE room_id = ?", (room_id,)
        )
        return frozenset(d["user_id"] for d in docs)

    async def notification_targets(self, room_id: str) -> Targets:
        return await self._read(lambda conn: read_notification_targets(conn, room_id))
