"""Chat rooms: groups (public or private) and direct chats between two users."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry import UNSET

from chatql.context import ChatContext
from chatql.services import validation
from chatql.services.pagination import message_cursor
from chatql.store.records import RoomRecord
from chatql.types.args import given
from chatql.types.enums import ModelSortDirection, RoomChangeType, RoomRole
from chatql.types.message import Message, MessageConnection, load_user
from chatql.types.user import User, UserConnection

Info = strawberry.Info[ChatContext, None]


@strawberry.type
class ChatRoom:
    id: strawberry.ID
    name: str
    description: str | None
    is_private: bool
    is_direct: bool
    message_count: int
    last_activity: datetime
    created_at: datetime
    updated_at: datetime
    record: strawberry.Private[RoomRecord]

    @strawberry.field(
        description="A cursor before the room's first message: `onMessageCreated(after: "
        "startCursor)` delivers the room from its beginning, so a client that found the room "
        "empty misses nothing sent before its subscription began"
    )
    def start_cursor(self) -> str:
        return message_cursor(self.record.id, 0)

    @strawberry.field
    async def created_by(self, info: Info) -> User:
        return await load_user(info, self.record.created_by)

    @strawberry.field
    async def owner(self, info: Info) -> User:
        return await load_user(info, self.record.owner_id)

    @strawberry.field(description="The viewer's role here; null when not a member")
    async def my_role(self, info: Info) -> RoomRole | None:
        viewer = await info.context.viewer()
        role = await info.context.services.rooms.role_of(self.record.id, viewer.id)
        return RoomRole(role) if role else None

    @strawberry.field
    async def members(
        self, info: Info, limit: int | None = 20, next_token: str | None = UNSET
    ) -> UserConnection:
        page = await info.context.services.rooms.list_members(self.record, limit, given(next_token))
        users = await info.context.loaders.users.load_many(page.items)
        return UserConnection(
            items=[User.from_record(u) for u in users if u is not None],
            next_token=page.next_token,
        )

    @strawberry.field
    async def member_count(self, info: Info) -> int:
        return await info.context.services.rooms.count_members(self.record)

    @strawberry.field(description="Messages by others after the viewer's read marker")
    async def unread_count(self, info: Info) -> int:
        state = await info.context.loaders.read_states.load(self.record.id)
        return state[1] if state else 0

    @strawberry.field(description="Cursor of the last message the viewer marked read")
    async def last_read_cursor(self, info: Info) -> str | None:
        state = await info.context.loaders.read_states.load(self.record.id)
        return message_cursor(self.record.id, state[0]) if state and state[0] else None

    @strawberry.field(description="Whether the viewer muted MESSAGE notifications here")
    async def is_muted(self, info: Info) -> bool:
        viewer = await info.context.viewer()
        membership = await info.context.services.store.get_membership(self.record.id, viewer.id)
        return bool(membership and membership.notifications_muted)

    @strawberry.field(description="The newest message; null when empty or for non-members")
    async def last_message(self, info: Info) -> Message | None:
        viewer = await info.context.viewer()
        services = info.context.services
        if await services.rooms.role_of(self.record.id, viewer.id) is None:
            return None
        message = await services.messages.last_message(self.record.id)
        return Message.from_record(message) if message else None

    @strawberry.field(description="Members only")
    async def messages(
        self,
        info: Info,
        limit: int | None = 50,
        next_token: str | None = UNSET,
        sort_direction: ModelSortDirection = ModelSortDirection.DESC,
    ) -> MessageConnection:
        viewer = await info.context.viewer()
        services = info.context.services
        room = await services.rooms.member_room(viewer, self.record.id)
        page = await services.messages.page(
            room.id,
            validation.page_limit(limit, 50),
            given(next_token),
            None,
            "ASC" if sort_direction is ModelSortDirection.ASC else "DESC",
        )
        return MessageConnection(
            items=[Message.from_record(m) for m in page.items], next_token=page.next_token
        )

    @classmethod
    def from_record(cls, room: RoomRecord) -> ChatRoom:
        return cls(
            id=strawberry.ID(room.id),
            name=room.name,
            description=room.description,
            is_private=room.is_private,
            is_direct=room.is_direct,
            message_count=room.message_count,
            last_activity=room.last_activity,
            created_at=room.created_at,
            updated_at=room.updated_at,
            record=room,
        )


@strawberry.type
class ChatRoomConnection:
    items: list[ChatRoom]
    next_token: str | None


@strawberry.input
class CreateChatRoomInput:
    name: str
    description: str | None = UNSET
    is_private: bool = False
    member_ids: list[strawberry.ID] | None = strawberry.field(
        default=UNSET, description="Users to add as members besides the creator"
    )


@strawberry.input
class UpdateChatRoomInput:
    id: strawberry.ID
    name: str | None = UNSET
    description: str | None = UNSET
    is_private: bool | None = UNSET


@strawberry.type
class RoomMembershipEvent:
    chat_room_id: strawberry.ID
    user_id: strawberry.ID
    role: RoomRole | None

    @strawberry.field
    async def user(self, info: Info) -> User:
        return await load_user(info, str(self.user_id))


@strawberry.type
class MyRoomsEvent:
    type: RoomChangeType
    chat_room_id: strawberry.ID
    room: ChatRoom | None = strawberry.field(description="Null when removed or deleted")
