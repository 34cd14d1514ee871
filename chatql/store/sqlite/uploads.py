"""Uploads in SQLite: tickets, checked files, and the messages and avatars they belong to."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from chatql.errors import StoreConflict
from chatql.store.records import (
    UPLOAD_ATTACHED,
    UPLOAD_CHECKING,
    UPLOAD_COMPLETE,
    UPLOAD_PENDING,
    UPLOAD_PURGING,
    UploadRecord,
)
from chatql.store.sqlite.engine import SQLiteEngine, to_text
from chatql.store.sqlite.worker import Emitted


def claim_uploads(
    conn: sqlite3.Connection, upload_ids: Sequence[str], owner_id: str, message_id: str
) -> None:
    """Attach the uploads to the message inside the caller's transaction, or raise (which
    rolls the whole transaction back: no message without all of its files)."""
    for position, upload_id in enumerate(upload_ids):
        cursor = conn.execute(
            "UPDATE uploads SET status = ?, used_for = 'MESSAGE', message_id = ?, position = ? "
            "WHERE id = ? AND owner_id = ? AND status = ? AND message_id IS NULL",
            (UPLOAD_ATTACHED, message_id, position, upload_id, owner_id, UPLOAD_COMPLETE),
        )
        if cursor.rowcount != 1:
            raise StoreConflict("attachments")


class UploadStore(SQLiteEngine):
    async def insert_upload(self, upload: UploadRecord) -> None:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> None:
            self._insert(conn, "uploads", upload.to_doc())

        await self._write(work)

    async def get_upload(self, upload_id: str) -> UploadRecord | None:
        doc = await self._one("SELECT * FROM uploads WHERE id = ?", (upload_id,))
        return UploadRecord.from_doc(doc) if doc else None

    async def update_upload(
        self, upload_id: str, changes: Mapping[str, Any], *, status: str | None = None
    ) -> UploadRecord | None:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> UploadRecord | None:
            key = {"id": upload_id} if status is None else {"id": upload_id, "status": status}
            if changes and self._update(conn, "uploads", key, changes) == 0:
                return None
            doc = self._fetch(conn, "SELECT * FROM uploads WHERE id = ?", (upload_id,))
            if doc is None or (not changes and status is not None and doc["status"] != status):
                return None
            return UploadRecord.from_doc(doc)

        return await self._write(work)

    async def message_attachments(
        self, message_ids: Sequence[str]
    ) -> dict[str, list[UploadRecord]]:
        ids = list(dict.fromkeys(message_ids))
        found: dict[str, list[UploadRecord]] = {i: [] for i in ids}
        if not ids:
            return found
        docs = await self._all(
            f"SELECT * FROM uploads WHERE message_id IN ({', '.join('?' * len(ids))}) "
            "AND removed_at IS NULL ORDER BY message_id, position",
            ids,
        )
        for doc in docs:
            found[doc["message_id"]].append(UploadRecord.from_doc(doc))
        return found

    async def remove_message_uploads(self, message_id: str, when: datetime) -> int:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> int:
            cursor = conn.execute(
                "UPDATE uploads SET removed_at = ? WHERE message_id = ? AND removed_at IS NULL",
                (to_text(when), message_id),
            )
            return cursor.rowcount

        return await self._write(work)

    async def remove_room_uploads(self, room_id: str, when: datetime) -> int:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> int:
            cursor = conn.execute(
                "UPDATE uploads SET removed_at = ? WHERE removed_at IS NULL AND message_id IN "
                "(SELECT id FROM messages WHERE room_id = ? AND attachment_count > 0)",
                (to_text(when), room_id),
            )
            return cursor.rowcount

        return await self._write(work)

    async def uploads_to_purge(
        self, now: datetime, removed_before: datetime, limit: int
    ) -> list[UploadRecord]:
        docs = await self._all(
            "SELECT * FROM uploads WHERE status IN (?, ?, ?, ?) AND expires_at < ? "
            "UNION SELECT * FROM uploads WHERE removed_at IS NOT NULL AND removed_at < ? "
            "LIMIT ?",
            (
                UPLOAD_PENDING,
                UPLOAD_CHECKING,
                UPLOAD_COMPLETE,
                UPLOAD_PURGING,
                to_text(now),
                to_text(removed_before),
                limit,
            ),
        )
        return [UploadRecord.from_doc(d) for d in docs]

    async def delete_upload(self, upload_id: str) -> bool:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> bool:
            return conn.execute("DELETE FROM uploads WHERE id = ?", (upload_id,)).rowcount == 1

        return await self._write(work)
