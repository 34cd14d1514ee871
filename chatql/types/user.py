"""User profiles as other users see them (never the password hash or token version)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry import UNSET

from chatql.store.base import UserRecord
from chatql.types.enums import PresenceStatus, Role


@strawberry.type
class User:
    id: strawberry.ID
    username: str
    display_name: str
    avatar_url: str | None
    status: PresenceStatus
    last_seen: datetime | None
    created_at: datetime
    role: Role

    @classmethod
    def from_record(cls, user: UserRecord) -> User:
        return cls(
            id=strawberry.ID(user.id),
            username=user.username,
            display_name=user.display_name,
            avatar_url=user.avatar_url,
            status=PresenceStatus(user.status),
            last_seen=user.last_seen,
            created_at=user.created_at,
            role=Role(user.role),
        )


@strawberry.type
class UserConnection:
    items: list[User]
    next_token: str | None


@strawberry.type
class AuthPayload:
    access_token: str
    refresh_token: str
    expires_at: datetime = strawberry.field(description="When the access token expires")
    user: User


@strawberry.input
class UpdateProfileInput:
    display_name: str | None = UNSET
    avatar_url: str | None = strawberry.field(
        default=UNSET, description="An http(s) URL; an empty string removes the avatar"
    )
    avatar_upload_id: strawberry.ID | None = strawberry.field(
        default=UNSET, description="A completed image upload of yours becomes the avatar"
    )
