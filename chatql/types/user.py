"""User profiles as other users see them (never the password hash or token version)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry import UNSET

from chatql.context import ChatContext
from chatql.errors import ChatError
from chatql.store.records import UserRecord
from chatql.types.enums import EmailMode, PresenceStatus, Role

Info = strawberry.Info[ChatContext, None]

SELF_ONLY = "only the user themself sees it (others get null or false)"


async def _is_self(info: Info, user_id: str) -> bool:
    context = info.context
    if context.user is None and context.access_token is not None:
        try:
            await context.viewer()
        except ChatError:
            return False
    return context.user is not None and context.user.id == user_id


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
    is_bot: bool = strawberry.field(
        default=False, description="The AI assistant: answers when mentioned; cannot sign in"
    )
    record: strawberry.Private[UserRecord | None] = None
    own: strawberry.Private[bool] = False  # the user is known to be the one asking

    async def _mine(self, info: Info) -> UserRecord | None:
        if self.record is None:
            return None
        if self.own or await _is_self(info, self.record.id):
            return self.record
        return None

    @strawberry.field(description="The account's email address; " + SELF_ONLY)
    async def email(self, info: Info) -> str | None:
        mine = await self._mine(info)
        return mine.email if mine else None

    @strawberry.field(description="Whether the address was proven by a mailed link; " + SELF_ONLY)
    async def email_verified(self, info: Info) -> bool:
        mine = await self._mine(info)
        return bool(mine and mine.email_verified)

    @strawberry.field(description="False for social accounts until a password reset; " + SELF_ONLY)
    async def has_password(self, info: Info) -> bool:
        mine = await self._mine(info)
        return bool(mine and mine.has_password)

    @strawberry.field(description="The terms of service version accepted; " + SELF_ONLY)
    async def accepted_terms_version(self, info: Info) -> str | None:
        mine = await self._mine(info)
        return mine.terms_version if mine else None

    @strawberry.field(description="Users following this one (to hear when they go live)")
    async def follower_count(self, info: Info) -> int:
        return await info.context.loaders.follower_counts.load(str(self.id))

    @strawberry.field
    async def is_followed_by_me(self, info: Info) -> bool:
        if self.own:
            return False
        return await info.context.loaders.followed_by_viewer.load(str(self.id))

    @strawberry.field(description="A deleted account's messages show as by this tombstone")
    def is_deleted(self) -> bool:
        return self.record is not None and self.record.deleted_at is not None

    @classmethod
    def from_record(cls, user: UserRecord, *, own: bool = False) -> User:
        return cls(
            id=strawberry.ID(user.id),
            username=user.username,
            display_name=user.display_name,
            avatar_url=user.avatar_url,
            status=PresenceStatus(user.status),
            last_seen=user.last_seen,
            created_at=user.created_at,
            role=Role(user.role),
            is_bot=user.is_bot,
            record=user,
            own=own,
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


@strawberry.type
class SignInProvider:
    id: str
    name: str
    start_url: str = strawberry.field(
        description="Open in the browser with ?redirect_uri=<an allowed app page>"
    )


@strawberry.type(description="What a sign-in page should offer on this server")
class SignInOptions:
    providers: list[SignInProvider]
    email_mode: EmailMode
    password_reset: bool
    guest_access: bool
    terms_version: str | None
    terms_url: str | None


@strawberry.input
class UpdateProfileInput:
    display_name: str | None = UNSET
    avatar_url: str | None = strawberry.field(
        default=UNSET, description="An http(s) URL; an empty string removes the avatar"
    )
    avatar_upload_id: strawberry.ID | None = strawberry.field(
        default=UNSET, description="A completed image upload of yours becomes the avatar"
    )
    username: str | None = strawberry.field(
        default=UNSET,
        description="A new username; the old one stays reserved for you for a while",
    )
    email: str | None = strawberry.field(
        default=UNSET, description="A new address, to be verified again; empty removes it"
    )
