"""Messages in MongoDB: per-room seq, idempotent sends, history, threads."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from chatql.errors import StoreConflict
from chatql.store.base import SortDirection
from chatql.store.mongo.documents import (
    aggregate,
    constraint,
    contains,
    fetch,
    record,
    records,
    to_doc,
    utc,
)
from chatql.store.mongo.engine import MongoEngine
from chatql.store.records import MessageRecord, NotificationRecord, NotificationRule, now_utc

_STRING = {"$type": "string"}


class MessageStore(MongoEngine):
    if TYPE_CHECKING:  # provided by the other parts of MongoStore

        async def notification_targets(self, room_id: str) -> list[tuple[str, bool, bool]]: ...
        async def insert_notifications(
            self, notifications: Sequence[NotificationRecord]
        ) -> None: ...
        async def claim_uploads(
            self, upload_ids: Sequence[str], owner_id: str, message_id: str
        ) -> bool: ...
        async def release_uploads(self, upload_ids: Sequence[str], message_id: str) -> None: ...

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
        """Look for the client_id first; else take the room's next seq atomically and insert.

        Two concurrent sends with one client_id can both pass the lookup: the unique index
        stops the second, which returns the first's message and gives back its
        message_count (its seq stays unused, so seqs stay strictly increasing). created_at is
        the later of this process's clock and the room's last activity, so it never goes back
        along seq, whichever process sent the message before."""
        if client_id is not None:
            existing = await self._find_by_client_id(room_id, author_id, client_id)
            if existing is not None:
                return existing, False
        now = now_utc()
        room = await self._rooms.find_one_and_update(
            {"_id": room_id},
            {"$inc": {"last_seq": 1, "message_count": 1}, "$max": {"last_activity": now}},
            return_document=ReturnDocument.AFTER,
        )
        if room is None:
            raise StoreConflict("room")
        last_activity = utc(room["last_activity"])
        if last_activity > now:  # this clock is behind: created_at never goes back
            now = last_activity
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
        if attachment_ids and not await self.claim_uploads(attachment_ids, author_id, message.id):
            await self._rooms.update_one({"_id": room_id}, {"$inc": {"message_count": -1}})
            if client_id is not None:  # a retry racing its first attempt: answer with that one
                for delay in (0.0, 0.05, 0.2, 0.5):
                    await asyncio.sleep(delay)
                    original = await self._find_by_client_id(room_id, author_id, client_id)
                    if original is not None:
                        return original, False
            raise StoreConflict("attachments")
        try:
            await self._messages.insert_one(to_doc(message))
        except DuplicateKeyError as exc:
            await self.release_uploads(attachment_ids, message.id)
            if client_id is not None and constraint(exc) == "client_id":
                await self._rooms.update_one({"_id": room_id}, {"$inc": {"message_count": -1}})
                original = await self._find_by_client_id(room_id, author_id, client_id)
                if original is not None:
                    return original, False
            raise StoreConflict(constraint(exc)) from exc
        if notify is not None:
            targets = await self.notification_targets(room_id)
            await self.insert_notifications(notify(message, targets))
        return message, True

    async def _find_by_client_id(
        self, room_id: str, author_id: str, client_id: str
    ) -> MessageRecord | None:
        doc = await self._messages.find_one(
            {"room_id": room_id, "author_id": author_id, "client_id": client_id}
        )
        return record(MessageRecord, doc)

    async def get_message(self, message_id: str) -> MessageRecord | None:
        return record(MessageRecord, await self._messages.find_one({"_id": message_id}))

    async def messages_by_author(
        self, author_id: str, limit: int, after_id: str | None
    ) -> list[MessageRecord]:
        query = {"author_id": author_id, "deleted_at": None, "_id": {"$gt": after_id or ""}}
        cursor = self._messages.find(query).sort([("_id", ASCENDING)])
        return records(MessageRecord, await fetch(cursor, limit))

    async def get_messages(self, message_ids: Sequence[str]) -> dict[str, MessageRecord]:
        ids = list(dict.fromkeys(message_ids))
        if not ids:
            return {}
        docs = await self._messages.find({"_id": {"$in": ids}}).to_list(None)
        return {m.id: m for m in records(MessageRecord, docs)}

    async def update_message(
        self, message_id: str, changes: Mapping[str, Any], *, if_streaming: bool = False
    ) -> MessageRecord | None:
        key: str | dict[str, Any] = message_id
        if if_streaming:
            key = {"_id": message_id, "is_streaming": True, "deleted_at": None}
        return record(MessageRecord, await self._set(self._messages, key, changes))

    async def search_room_messages(
        self, room_id: str, term: str, limit: int
    ) -> list[MessageRecord]:
        query = {"room_id": room_id, "deleted_at": None, "content": contains(term)}
        cursor = self._messages.find(query).sort([("seq", DESCENDING)])
        return records(MessageRecord, await fetch(cursor, limit))

    async def list_replies(
        self, parent_id: str, limit: int, after_seq: int | None
    ) -> list[MessageRecord]:
        cursor = self._messages.find(
            {"reply_to_id": {"$eq": parent_id, **_STRING}, "seq": {"$gt": after_seq or 0}}
        ).sort([("seq", ASCENDING)])
        return records(MessageRecord, await fetch(cursor, limit))

    async def count_replies(self, parent_ids: Sequence[str]) -> dict[str, int]:
        ids = list(dict.fromkeys(parent_ids))
        if not ids:
            return {}
        docs = await aggregate(
            self._messages,
            [
                {"$match": {"reply_to_id": {"$in": ids, **_STRING}}},
                {"$group": {"_id": "$reply_to_id", "n": {"$sum": 1}}},
            ],
        )
        found = {str(d["_id"]): int(d["n"]) for d in docs}
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
        query: dict[str, Any] = {"room_id": room_id}
        seq: dict[str, int] = {}
        if after_seq is not None:
            seq["$gt"] = after_seq
        if before_seq is not None:
            seq["$lt"] = before_seq
        if seq:
            query["seq"] = seq
        if before_time is not None:
            query["created_at"] = {"$lt": utc(before_time)}
        order = ASCENDING if direction == "ASC" else DESCENDING
        cursor = self._messages.find(query).sort([("seq", order)])
        return records(MessageRecord, await fetch(cursor, limit))
