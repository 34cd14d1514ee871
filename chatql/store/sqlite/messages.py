"""Messages in SQLite: per-room seq, idempotent sends, history, threads."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from chatql.errors import StoreConflict
from chatql.store.base import SortDirection
from chatql.store.records import MessageRecord, NotificationRule, now_utc
from chatql.store.sqlite.engine import SQLiteEngine, encode, like_pattern, row_doc, to_text
from chatql.store.sqlite.notifications import insert_notification_rows
from chatql.store.sqlite.uploads import claim_uploads
from chatql.store.sqlite.worker import Emitted


class MessageStore(SQLiteEngine):
    async def insert_message(
        self,
        *,
        room_id: str,
        author_id: str,
        content: str,
        message_type: str,
        client_id: str | None,
        reply_to_id: str | None = None,
        notify: NotificationRule | None = None,
        attachment_ids: Sequence[str] = (),
        is_streaming: bool = False,
    ) -> tuple[MessageRecord, bool]:
        def work(conn: sqlite3.Connection, emitted: Emitted) -> tuple[MessageRecord, bool]:
            if client_id is not None:
                existing = self._fetch(
                    conn,
                    "SELECT * FROM messages WHERE room_id = ? AND author_id = ? AND client_id = ?",
                    (room_id, author_id, client_id),
                )
                if existing is not None:
                    return MessageRecord.from_doc(existing), False
            now = now_utc()
            room = self._fetch(
                conn,
                "UPDATE rooms SET last_seq = last_seq + 1, message_count = message_count + 1, "
                "last_activity = max(last_activity, ?) WHERE id = ? RETURNING *",
                (to_text(now), room_id),
            )
            if room is None:
                raise StoreConflict("room")
            if room["last_activity"] > now:  # the clock went back: created_at never does
                now = room["last_activity"]
            message = MessageRecord.new(
                room_id=room_id,
                author_id=author_id,
                content=content,
                message_type=message_type,
                seq=int(room["last_seq"]),
                client_id=client_id,
                reply_to_id=reply_to_id,
                now=now,
                attachment_count=len(attachment_ids),
                is_streaming=is_streaming,
            )
            claim_uploads(conn, attachment_ids, author_id, message.id)
            doc = message.to_doc()
            self._insert(conn, "messages", doc)
            emitted.append(("insert", "messages", message.id, doc))
            emitted.append(("update", "rooms", room_id, room))
            if notify is not None:
                targets = self._targets.read(conn, room_id)
                insert_notification_rows(conn, notify(message, targets), emitted)
            return message, True

        return await self._write(work)

    async def get_message(self, message_id: str) -> MessageRecord | None:
        doc = await self._one("SELECT * FROM messages WHERE id = ?", (message_id,))
        return MessageRecord.from_doc(doc) if doc else None

    async def messages_by_author(
        self, author_id: str, limit: int, after_id: str | None
    ) -> list[MessageRecord]:
        docs = await self._all(
            "SELECT * FROM messages WHERE author_id = ? AND deleted_at IS NULL AND id > ? "
            "ORDER BY id LIMIT ?",
            (author_id, after_id or "", limit),
        )
        return [MessageRecord.from_doc(d) for d in docs]

    async def get_messages(self, message_ids: Sequence[str]) -> dict[str, MessageRecord]:
        ids = list(dict.fromkeys(message_ids))
        if not ids:
            return {}
        docs = await self._all(
            f"SELECT * FROM messages WHERE id IN ({', '.join('?' * len(ids))})", ids
        )
        return {d["id"]: MessageRecord.from_doc(d) for d in docs}

    async def update_message(
        self, message_id: str, changes: Mapping[str, Any], *, if_streaming: bool = False
    ) -> MessageRecord | None:
        def work(conn: sqlite3.Connection, emitted: Emitted) -> MessageRecord | None:
            if if_streaming:
                sets = ", ".join(f"{c} = ?" for c in changes)
                cursor = conn.execute(
                    f"UPDATE messages SET {sets} WHERE id = ? AND is_streaming = 1 "
                    "AND deleted_at IS NULL",
                    [*(encode(c, v) for c, v in changes.items()), message_id],
                )
                if cursor.rowcount != 1:
                    return None
            elif changes:
                self._update(conn, "messages", {"id": message_id}, changes)
            doc = self._fetch(conn, "SELECT * FROM messages WHERE id = ?", (message_id,))
            if doc is None:
                return None
            emitted.append(("update", "messages", message_id, doc))
            return MessageRecord.from_doc(doc)

        return await self._write(work)

    async def search_room_messages(
        self, room_id: str, term: str, limit: int
    ) -> list[MessageRecord]:
        docs = await self._all(
            "SELECT * FROM messages WHERE room_id = ? AND deleted_at IS NULL "
            "AND casefold(content) LIKE ? ESCAPE '\\' ORDER BY seq DESC LIMIT ?",
            (room_id, like_pattern(term), limit),
        )
        return [MessageRecord.from_doc(d) for d in docs]

    async def list_replies(
        self, parent_id: str, limit: int, after_seq: int | None
    ) -> list[MessageRecord]:
        docs = await self._all(
            "SELECT * FROM messages WHERE reply_to_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (parent_id, after_seq or 0, limit),
        )
        return [MessageRecord.from_doc(d) for d in docs]

    async def count_replies(self, parent_ids: Sequence[str]) -> dict[str, int]:
        ids = list(dict.fromkeys(parent_ids))
        if not ids:
            return {}
        docs = await self._all(
            "SELECT reply_to_id, count(*) AS n FROM messages "
            f"WHERE reply_to_id IN ({', '.join('?' * len(ids))}) GROUP BY reply_to_id",
            ids,
        )
        found = {d["reply_to_id"]: int(d["n"]) for d in docs}
        return {i: found.get(i, 0) for i in ids}

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
        order = "ASC" if direction == "ASC" else "DESC"
        if before_time is None:
            docs = await self._all(
                f"SELECT * FROM messages WHERE {' AND '.join(where)} ORDER BY seq {order} LIMIT ?",
                [*params, limit],
            )
            return [MessageRecord.from_doc(d) for d in docs]
        before = to_text(before_time)

        def read(conn: sqlite3.Connection) -> list[sqlite3.Row]:
            where_time = [*where, "seq <= ?", "created_at < ?"]
            bound = last_seq_before(conn, room_id, before)
            return conn.execute(
                f"SELECT * FROM messages WHERE {' AND '.join(where_time)} "
                f"ORDER BY seq {order} LIMIT ?",
                [*params, bound, before, limit],
            ).fetchall()

        return [MessageRecord.from_doc(row_doc(row)) for row in await self._read(read)]


def last_seq_before(conn: sqlite3.Connection, room_id: str, before: str) -> int:
    """The newest seq of the room created before `before` (0: none), by a binary search over
    the (room_id, seq) index: insert_message never lets created_at go back along seq, so no
    index on (room_id, created_at) is needed (each message wrote one B-tree more for it).
    Each probe takes the newest message at or below its seq, so a missing seq misleads none."""
    newest = conn.execute("SELECT last_seq FROM rooms WHERE id = ?", (room_id,)).fetchone()
    low, high = 0, int(newest[0]) if newest else 0  # the answer lies in [low, high]
    while low < high:
        middle = (low + high + 1) // 2
        row = conn.execute(
            "SELECT created_at FROM messages WHERE room_id = ? AND seq <= ? "
            "ORDER BY seq DESC LIMIT 1",
            (room_id, middle),
        ).fetchone()
        if row is None or row[0] < before:
            low = middle
        else:
            high = middle - 1
    return low
