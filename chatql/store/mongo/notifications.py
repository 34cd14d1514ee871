"""Notifications in MongoDB; inserts, single reads and deletes are in the change feed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from chatql.errors import StoreConflict
from chatql.store.mongo.documents import (
    REVISION,
    bulk_duplicate,
    constraint,
    fetch,
    record,
    records,
    to_doc,
    utc,
)
from chatql.store.mongo.engine import MongoEngine
from chatql.store.records import NotificationRecord


class NotificationStore(MongoEngine):
    async def insert_notifications(self, notifications: Sequence[NotificationRecord]) -> None:
        if not notifications:
            return
        try:
            await self._notifications.insert_many([to_doc(n) for n in notifications], ordered=True)
        except DuplicateKeyError as exc:
            raise StoreConflict(constraint(exc)) from exc
        except Exception as exc:
            duplicate = bulk_duplicate(exc)
            if duplicate is not None:
                raise StoreConflict(duplicate) from exc
            raise

    async def list_notifications(
        self,
        user_id: str,
        *,
        unread_only: bool,
        limit: int,
        after: tuple[datetime, str] | None,
    ) -> list[NotificationRecord]:
        query: dict[str, Any] = {"user_id": user_id}
        if unread_only:
            query["read_at"] = None
        if after is not None:
            when = utc(after[0])
            query["$or"] = [
                {"created_at": {"$lt": when}},
                {"created_at": when, "_id": {"$lt": after[1]}},
            ]
        cursor = self._notifications.find(query).sort(
            [("created_at", DESCENDING), ("_id", DESCENDING)]
        )
        return records(NotificationRecord, await fetch(cursor, limit))

    async def mark_notification_read(
        self, user_id: str, notification_id: str, when: datetime
    ) -> NotificationRecord | None:
        """Set read_at unless already read; either way one update event, like SQLite."""
        key = {"_id": notification_id, "user_id": user_id}
        doc = await self._notifications.find_one_and_update(
            {**key, "read_at": None},
            {"$set": {"read_at": utc(when)}, "$inc": {REVISION: 1}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            doc = await self._set(self._notifications, key, {})
        return record(NotificationRecord, doc)

    async def mark_all_notifications_read(self, user_id: str, when: datetime) -> int:
        result = await self._notifications.update_many(
            {"user_id": user_id, "read_at": None}, {"$set": {"read_at": utc(when)}}
        )
        return int(result.modified_count)

    async def delete_notification(self, user_id: str, notification_id: str) -> bool:
        result = await self._notifications.delete_one({"_id": notification_id, "user_id": user_id})
        return int(result.deleted_count) == 1
