"""Uploads in MongoDB: tickets, checked files, and the messages and avatars they belong to."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from chatql.store.mongo.documents import fetch, record, records, to_doc, utc
from chatql.store.mongo.engine import MongoEngine
from chatql.store.records import (
    UPLOAD_ATTACHED,
    UPLOAD_CHECKING,
    UPLOAD_COMPLETE,
    UPLOAD_PENDING,
    UPLOAD_PURGING,
    UploadRecord,
)


class UploadStore(MongoEngine):
    async def claim_uploads(
        self, upload_ids: Sequence[str], owner_id: str, message_id: str
    ) -> bool:
        """Attach each upload to the message, or none: a claim that fails part way gives back
        the ones it took. (A crash between claim and insert leaves them attached to a message
        that never was: unreachable, since a download needs the message.)"""
        taken: list[str] = []
        for position, upload_id in enumerate(upload_ids):
            result = await self._uploads.update_one(
                {
                    "_id": upload_id,
                    "owner_id": owner_id,
                    "status": UPLOAD_COMPLETE,
                    "message_id": None,
                },
                {
                    "$set": {
                        "status": UPLOAD_ATTACHED,
                        "used_for": "MESSAGE",
                        "message_id": message_id,
                        "position": position,
                    }
                },
            )
            if result.modified_count != 1:
                await self.release_uploads(taken, message_id)
                return False
            taken.append(upload_id)
        return True

    async def release_uploads(self, upload_ids: Sequence[str], message_id: str) -> None:
        if upload_ids:
            await self._uploads.update_many(
                {"_id": {"$in": list(upload_ids)}, "message_id": message_id},
                {"$set": {"status": UPLOAD_COMPLETE, "used_for": None, "message_id": None}},
            )

    async def insert_upload(self, upload: UploadRecord) -> None:
        await self._insert(self._uploads, to_doc(upload))

    async def get_upload(self, upload_id: str) -> UploadRecord | None:
        return record(UploadRecord, await self._uploads.find_one({"_id": upload_id}))

    async def update_upload(
        self, upload_id: str, changes: Mapping[str, Any], *, status: str | None = None
    ) -> UploadRecord | None:
        key: dict[str, Any] = {"_id": upload_id}
        if status is not None:
            key["status"] = status
        return record(UploadRecord, await self._set(self._uploads, key, changes))

    async def message_attachments(
        self, message_ids: Sequence[str]
    ) -> dict[str, list[UploadRecord]]:
        ids = list(dict.fromkeys(message_ids))
        found: dict[str, list[UploadRecord]] = {i: [] for i in ids}
        if not ids:
            return found
        cursor = self._uploads.find({"message_id": {"$in": ids}, "removed_at": None}).sort(
            [("message_id", 1), ("position", 1)]
        )
        for upload in records(UploadRecord, await fetch(cursor, -1)):
            if upload.message_id is not None:
                found[upload.message_id].append(upload)
        return found

    async def remove_message_uploads(self, message_id: str, when: datetime) -> int:
        result = await self._uploads.update_many(
            {"message_id": message_id, "removed_at": None}, {"$set": {"removed_at": utc(when)}}
        )
        return int(result.modified_count)

    async def remove_room_uploads(self, room_id: str, when: datetime) -> int:
        cursor = self._messages.find(
            {"room_id": room_id, "attachment_count": {"$gt": 0}}, {"_id": 1}
        )
        ids = [doc["_id"] for doc in await fetch(cursor, -1)]
        if not ids:
            return 0
        result = await self._uploads.update_many(
            {"message_id": {"$in": ids}, "removed_at": None}, {"$set": {"removed_at": utc(when)}}
        )
        return int(result.modified_count)

    async def uploads_to_purge(
        self, now: datetime, removed_before: datetime, limit: int
    ) -> list[UploadRecord]:
        query = {
            "$or": [
                {
                    "status": {
                        "$in": [UPLOAD_PENDING, UPLOAD_CHECKING, UPLOAD_COMPLETE, UPLOAD_PURGING]
                    },
                    "expires_at": {"$lt": utc(now)},
                },
                {"removed_at": {"$ne": None, "$lt": utc(removed_before)}},
            ]
        }
        return records(UploadRecord, await fetch(self._uploads.find(query), limit))

    async def delete_upload(self, upload_id: str) -> bool:
        result = await self._uploads.delete_one({"_id": upload_id})
        return int(result.deleted_count) == 1
