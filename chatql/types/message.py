"""Messages. `seq` orders a room's messages; `cursor` resumes a subscription after one."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import UNSET

from chatql.context import ChatContext
from chatql.errors import NotFound
from chatql.services.pagination import message_cursor
from chatql.store.base import MessageRecord
from chatql.types.enums import MessageType
from chatql.types.user import User

if TYPE_CHECKING:
    from chatql.types.room import ChatRoom

Info = strawberry.Info[ChatContext, None]


@strawberry.type
class Message:
    id: strawberry.ID
    chat_room_id: strawberry.ID
    content: str
    message_type: MessageType
    seq: int = strawberry.field(description="Strictly increasing position within the room")
    client_id: str | None
    created_at: datetime
    updated_at: datetime
    author_id: strawberry.Private[str]

    @strawberry.field(description="Pass as `after` to resume a subscription after this message")
    def cursor(self) -> str:
        return message_cursor(str(self.chat_room_id), self.seq)

    @strawberry.field
    async def author(self, info: Info) -> User:
        user = await info.context.loaders.users.load(self.author_id)
        if user is None:  # pragma: no cover - authors are never deleted
            raise NotFound("Author not found")
        return User.from_record(user)

    @strawberry.field
    async def chat_room(
        self, info: Info
    ) -> Annotated[ChatRoom, strawberry.lazy("chatql.types.room")] | None:
        from chatql.types.room import ChatRoom

        room = await info.context.loaders.rooms.load(str(self.chat_room_id))
        return ChatRoom.from_record(room) if room else None

    @classmethod
    def from_record(cls, message: MessageRecord) -> Message:
        return cls(
            id=strawberry.ID(message.id),
            chat_room_id=strawberry.ID(message.room_id),
            content=message.content,
            message_type=MessageType(message.message_type),
            seq=message.seq,
            client_id=message.client_id,
            created_at=message.created_at,
            updated_at=message.updated_at,
            author_id=message.author_id,
        )


@strawberry.type
class MessageConnection:
    items: list[Message]
    next_token: str | None


@strawberry.input
class CreateMessageInput:
    chat_room_id: strawberry.ID
    content: str
    message_type: MessageType = MessageType.TEXT
    client_id: str | None = strawberry.field(
        default=UNSET,
        description="Client-generated id; a retry with the same one is not stored twice",
    )
