"""Sending and reading messages.

The store assigns each message its room's next `seq`; history pages are positioned by seq, so a
page boundary never moves while new messages arrive (no skips, no repeats).
"""

from __future__ import annotations

from datetime import datetime

from chatql.errors import BadUserInput, NotFound, StoreConflict
from chatql.services import pagination, validation
from chatql.services.pagination import Page
from chatql.services.rooms import Rooms
from chatql.store.base import MessageRecord, SortDirection, Store, UserRecord


class Messages:
    def __init__(self, store: Store, rooms: Rooms) -> None:
        self._store = store
        self._rooms = rooms

    async def send(
        self,
        viewer: UserRecord,
        room_id: str,
        content: str,
        message_type: str = "TEXT",
        client_id: str | None = None,
    ) -> MessageRecord:
        clean = validation.required_text(content, "content", validation.MAX_CONTENT)
        kind = validation.message_type(message_type)
        idempotency_key = validation.client_id(client_id)
        room = await self._rooms.member_room(viewer, room_id)
        try:
            message, _created = await self._store.insert_message(
                room_id=room.id,
                author_id=viewer.id,
                content=clean,
                message_type=kind,
                client_id=idempotency_key,
            )
        except StoreConflict as exc:
            if exc.constraint == "room":
                raise NotFound("Chat room not found") from None
            raise
        return message

    async def history(
        self,
        viewer: UserRecord,
        room_id: str,
        *,
        limit: int | None,
        next_token: str | None,
        before: datetime | None = None,
        direction: SortDirection = "DESC",
    ) -> Page[MessageRecord]:
        size = validation.page_limit(limit, 50)
        room = await self._rooms.member_room(viewer, room_id)
        return await self.page(room.id, size, next_token, before, direction)

    async def page(
        self,
        room_id: str,
        size: int,
        next_token: str | None,
        before: datetime | None,
        direction: SortDirection,
    ) -> Page[MessageRecord]:
        """A page of a room the caller is already allowed to read."""
        after_seq = before_seq = None
        if next_token is not None:
            parts = pagination.decode("h", next_token)
            if (
                len(parts) != 3
                or parts[0] != room_id
                or parts[1] != direction
                or not isinstance(parts[2], int)
            ):
                raise BadUserInput(
                    "nextToken does not belong to this room and sort direction",
                    field="nextToken",
                )
            if direction == "DESC":
                before_seq = parts[2]
            else:
                after_seq = parts[2]
        if before is not None and before.tzinfo is None:
            raise BadUserInput("before must include a time zone", field="before")
        items = await self._store.list_messages(
            room_id,
            limit=size + 1,
            direction=direction,
            after_seq=after_seq,
            before_seq=before_seq,
            before_time=before,
        )
        token = None
        if len(items) > size:
            items = items[:size]
            token = pagination.encode("h", room_id, direction, items[-1].seq)
        return Page(items, token)

    async def get_message(self, viewer: UserRecord, message_id: str) -> MessageRecord | None:
        message = await self._store.get_message(validation.entity_id(message_id, "id"))
        if message is None or await self._rooms.role_of(message.room_id, viewer.id) is None:
            return None
        return message

    async def last_message(self, room_id: str) -> MessageRecord | None:
        latest = await self._store.list_messages(room_id, limit=1, direction="DESC")
        return latest[0] if latest else None
