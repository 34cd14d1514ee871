"""Ephemeral activity: typing indicators and presence."""

from __future__ import annotations

from datetime import datetime

import strawberry

from chatql.context import ChatContext
from chatql.services.typing import TypingEvent
from chatql.store.records import UserRecord
from chatql.types.enums import PresenceStatus
from chatql.types.user import User

Info = strawberry.Info[ChatContext, None]


@strawberry.type
class TypingIndicator:
    user_id: strawberry.ID
    user_name: str
    chat_room_id: strawberry.ID
    timestamp: datetime

    @classmethod
    def from_event(cls, event: TypingEvent) -> TypingIndicator:
        return cls(
            user_id=strawberry.ID(event.user_id),
            user_name=event.user_name,
            chat_room_id=strawberry.ID(event.room_id),
            timestamp=event.at,
        )


@strawberry.type
class UserPresence:
    user_id: strawberry.ID
    status: PresenceStatus
    last_seen: datetime | None
    current_room_id: strawberry.ID | None = strawberry.field(
        description="Only when the viewer is a member of that room"
    )
    record: strawberry.Private[UserRecord]

    @strawberry.field
    def user(self) -> User:
        return User.from_record(self.record)

    @classmethod
    async def visible_to(cls, info: Info, user: UserRecord) -> UserPresence:
        room = user.current_room
        if room is not None:
            viewer = await info.context.viewer()
            if not await info.context.services.members.is_member(room, viewer.id):
                room = None
        return cls(
            user_id=strawberry.ID(user.id),
            status=PresenceStatus(user.status),
            last_seen=user.last_seen,
            current_room_id=strawberry.ID(room) if room else None,
            record=user,
        )
