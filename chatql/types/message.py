"""Messages. `seq` orders a room's messages; `cursor` resumes a subscription after one."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import UNSET

from chatql.context import ChatContext
from chatql.errors import NotFound
from chatql.services import validation
from chatql.services.pagination import message_cursor
from chatql.store.records import MessageRecord, ReactionRecord
from chatql.types.args import given
from chatql.types.enums import MessageType
from chatql.types.file import Attachment
from chatql.types.user import User

if TYPE_CHECKING:
    from chatql.services.registry import Services
    from chatql.types.room import ChatRoom

Info = strawberry.Info[ChatContext, None]


async def load_user(info: Info, user_id: str) -> User:
    user = await info.context.loaders.users.load(user_id)
    if user is None:  # pragma: no cover - users are never deleted
        raise NotFound("User not found")
    return User.from_record(user)


async def cached_author(services: Services, message: Message) -> User | None:
    """A message's author as its `author` field shows it, from the users cache (no loader):
    for answers computed once and shared (see `projection`)."""
    record = await services.users.get(message.author_id)
    return User.from_record(record) if record is not None else None


@strawberry.type
class ReactionGroup:
    """The reactions with one emoji on one message."""

    emoji: str
    count: int
    reacted_by_me: bool
    message_id: strawberry.Private[str]

    @strawberry.field(description="Who reacted, first reactions first")
    async def users(self, info: Info, limit: int | None = 10) -> list[User]:
        size = validation.page_limit(limit, 10)
        store = info.context.services.store
        ids = await store.reaction_users(self.message_id, self.emoji, size)
        found = await info.context.loaders.users.load_many(ids)
        return [User.from_record(u) for u in found if u is not None]


@strawberry.type
class Reaction:
    id: strawberry.ID
    message_id: strawberry.ID
    chat_room_id: strawberry.ID
    emoji: str
    created_at: datetime
    user_id: strawberry.ID

    @strawberry.field
    async def user(self, info: Info) -> User:
        return await load_user(info, str(self.user_id))

    @classmethod
    def from_record(cls, reaction: ReactionRecord) -> Reaction:
        return cls(
            id=strawberry.ID(reaction.id),
            message_id=strawberry.ID(reaction.message_id),
            chat_room_id=strawberry.ID(reaction.room_id),
            emoji=reaction.emoji,
            created_at=reaction.created_at,
            user_id=strawberry.ID(reaction.user_id),
        )


@strawberry.type
class Message:
    id: strawberry.ID
    chat_room_id: strawberry.ID
    content: str = strawberry.field(description="Empty once the message is deleted")
    message_type: MessageType
    seq: int = strawberry.field(description="Strictly increasing position within the room")
    client_id: str | None
    created_at: datetime
    updated_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None
    reply_to_id: strawberry.ID | None
    is_streaming: bool = strawberry.field(
        description="An assistant's reply still being written: its content grows by updates "
        "(onMessageUpdated) until this is false"
    )
    author_id: strawberry.Private[str]
    attachment_count: strawberry.Private[int] = 0

    @strawberry.field(description="Pass as `after` to resume a subscription after this message")
    def cursor(self) -> str:
        return message_cursor(str(self.chat_room_id), self.seq)

    @strawberry.field
    def is_edited(self) -> bool:
        return self.edited_at is not None

    @strawberry.field
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @strawberry.field
    async def author(self, info: Info) -> User:
        return await load_user(info, self.author_id)

    @strawberry.field
    async def chat_room(
        self, info: Info
    ) -> Annotated[ChatRoom, strawberry.lazy("chatql.types.room")] | None:
        from chatql.types.room import ChatRoom

        room = await info.context.loaders.rooms.load(str(self.chat_room_id))
        return ChatRoom.from_record(room) if room else None

    @strawberry.field(description="The message this one replies to")
    async def reply_to(self, info: Info) -> Message | None:
        if self.reply_to_id is None:
            return None
        parent = await info.context.loaders.messages.load(str(self.reply_to_id))
        return Message.from_record(parent) if parent else None

    @strawberry.field
    async def reply_count(self, info: Info) -> int:
        return await info.context.loaders.reply_counts.load(str(self.id))

    @strawberry.field(description="Replies in this thread, oldest first")
    async def replies(
        self, info: Info, limit: int | None = 20, next_token: str | None = UNSET
    ) -> MessageConnection:
        parent = await info.context.loaders.messages.load(str(self.id))
        if parent is None:  # pragma: no cover
            return MessageConnection(items=[], next_token=None)
        page = await info.context.services.messages.replies(parent, limit, given(next_token))
        return MessageConnection(
            items=[Message.from_record(m) for m in page.items], next_token=page.next_token
        )

    @strawberry.field(description="Files sent with the message, in the order given")
    async def attachments(self, info: Info) -> list[Attachment]:
        if not self.attachment_count or self.deleted_at is not None:
            return []
        found = await info.context.loaders.attachments.load(str(self.id))
        return [Attachment.from_record(u) for u in found]

    @strawberry.field(description="Reactions grouped by emoji, in order of first use")
    async def reactions(self, info: Info) -> list[ReactionGroup]:
        groups = await info.context.loaders.reactions.load(str(self.id))
        return [
            ReactionGroup(
                emoji=g.emoji, count=g.count, reacted_by_me=g.reacted_by_me, message_id=str(self.id)
            )
            for g in groups
        ]

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
            edited_at=message.edited_at,
            deleted_at=message.deleted_at,
            reply_to_id=strawberry.ID(message.reply_to_id) if message.reply_to_id else None,
            is_streaming=message.is_streaming,
            author_id=message.author_id,
            attachment_count=message.attachment_count,
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
    reply_to_id: strawberry.ID | None = strawberry.field(
        default=UNSET, description="Reply in the thread of this message (same room)"
    )
    attachment_ids: list[strawberry.ID] | None = strawberry.field(
        default=UNSET,
        description="Completed uploads of yours (at most 10), each attached once; "
        "content may then be empty",
    )


@strawberry.input
class UpdateMessageInput:
    id: strawberry.ID
    content: str


@strawberry.input
class CreateReactionInput:
    message_id: strawberry.ID
    emoji: str = strawberry.field(description="One emoji, or a :shortcode: (<= 32 characters)")
