"""Notifications in SQLite; each insert is in the change feed for its user's channel."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from chatql.store.records import NotificationRecord
from chatql.store.sqlite.engine import SQLiteEngine, encode, to_text
from chatql.store.sqlite.worker import Emitted


class NotificationStore(SQLiteEngine):
    async def insert_notifications(self, notifications: Sequence[NotificationRecord]) -> None:
        if not notifications:
            return

        def work(conn: sqlite3.Connection, emitted: Emitted) -> None:
            insert_notification_rows(conn, notifications, emitted)

        await self._write(work)

    async def list_notifications(
        self,
        user_id: str,
        *,
        unread_only: bool,
        limit: int,
        after: tuple[datetime, str] | None,
    ) -> list[NotificationRecord]:
        where = "user_id = ?"
        params: list[Any] = [user_id]
        if unread_only:
            where += " AND read_at IS NULL"
        if after is not None:
            where += " AND (created_at < ? OR (created_at = ? AND id < ?))"
            params += [to_text(after[0]), to_text(after[0]), after[1]]
        docs = await self._all(
            f"SELECT * FROM notifications WHERE {where} ORDER BY created_at DESC, id DESC LIMIT ?",
            [*params, limit],
        )
        return [NotificationRecord.from_doc(d) for d in docs]

    async def mark_notification_read(
        self, user_id: str, notification_id: str, when: datetime
    ) -> NotificationRecord | None:
        def work(conn: sqlite3.Connection, emitted: Emitted) -> NotificationRecord | None:
            conn.execute(
                "UPDATE notifications SET read_at = ? "
                "WHERE id = ? AND user_id = ? AND read_at IS NULL",
                (to_text(when), notification_id, user_id),
            )
            doc = self._fetch(
                conn,
                "SELECT * FROM notifications WHERE id = ? AND user_id = ?",
                (notification_id, user_id),
            )
            if doc is None:
                return None
            emitted.append(("update", "notifications", notification_id, doc))
            return NotificationRecord.from_doc(doc)

        return await self._write(work)

    async def mark_all_notifications_read(self, user_id: str, when: datetime) -> int:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> int:
            cursor = conn.execute(
                "UPDATE notifications SET read_at = ? WHERE user_id = ? AND read_at IS NULL",
                (to_text(when), user_id),
            )
            return cursor.rowcount

        return await self._write(work)

    async def delete_notification(self, user_id: str, notification_id: str) -> bool:
        def work(conn: sqlite3.Connection, emitted: Emitted) -> bool:
            cursor = conn.execute(
                "DELETE FROM notifications WHERE id = ? AND user_id = ?",
                (notification_id, user_id),
            )
            if cursor.rowcount != 1:
                return False
            emitted.append(("delete", "notifications", notification_id, None))
            return True

        return await self._write(work)


def insert_notification_rows(
    conn: sqlite3.Connection, notifications: Sequence[NotificationRecord], emitted: Emitted
) -> None:
    """Insert in one statement, inside the caller's transaction; each row is a feed event."""
    if not notifications:
        return
    docs = [n.to_doc() for n in notifications]
    columns = list(docs[0])
    sql = (
        f"INSERT INTO notifications ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    )
    conn.executemany(sql, [[encode(c, d[c]) for c in columns] for d in docs])
    emitted.extend(("insert", "notifications", d["id"], d) for d in docs)
