"""Notifications, created by the server for messages, mentions, invitations and go-lives."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from chatql.context import ChatContext
from chatql.store.records import NotificationRecord
from chatql.types.enums import NotificationType
from chatql.types.message import Message
from chatql.types.user import User

if TYPE_CHECKING:
    from chatql.types.room import ChatRoom
    from chatql.types.stream import Stream

Info = strawberry.Info[ChatContext, None]


@strawberry.type
class Notification:
    id: strawberry.ID
    type: NotificationType
    chat_room_id: strawberry.ID | None
    message_id: strawberry.ID | None
    created_at: datetime
    read_at: datetime | None
    record: strawberry.Private[NotificationRecord]

    @strawberry.field
    def is_read(self) -> bool:
        return self.read_at is not None

    @strawberry.field
    async def actor(self, info: Info) -> User | None:
        if self.record.actor_id is None:
            return None
        user = await info.context.loaders.users.load(self.record.actor_id)
        return User.from_record(user) if user else None

    @strawberry.field(description="Null once the viewer can no longer see the room")
    async def chat_room(
        self, info: Info
    ) -> Annotated[ChatRoom, strawberry.lazy("chatql.types.room")] | None:
        from chatql.types.room import ChatRoom

        if self.record.room_id is None:
            return None
        viewer = await info.context.viewer()
        room = await info.context.services.rooms.get_room(viewer, self.record.room_id)
        return ChatRoom.from_record(room) if room else None

    @strawberry.field(description="Null once the viewer can no longer read it")
    async def message(self, info: Info) -> Message | None:
        if self.record.message_id is None:
            return None
        viewer = await info.context.viewer()
        found = await info.context.services.messages.get_message(viewer, self.record.message_id)
        return Message.from_record(found) if found else None

    @strawberry.field(description="STREAM_LIVE: the stream that went live")
    async def stream(
        self, info: Info
    ) -> Annotated[Stream, strawberry.lazy("chatql.types.stream")] | None:
        from chatql.types.stream import Stream

        if self.record.stream_id is None:
            return None
        found = await info.context.services.streams.get(self.record.stream_id)
        return Stream.from_record(found) if found else None

    @classmethod
    def from_record(cls, note: NotificationRecord) -> Notification:
        return cls(
            id=strawberry.ID(note.id),
            type=NotificationType(note.type),
            chat_room_id=strawberry.ID(note.room_id) if note.room_id else None,
            message_id=strawberry.ID(note.message_id) if note.message_id else None,
            created_at=note.created_at,
            read_at=note.read_at,
            record=note,
        )


@strawberry.type
class NotificationConnection:
    items: list[Notification]
    next_token: str | None
