"""Query resolvers."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry import UNSET

from chatql.types.activity import UserPresence
from chatql.types.args import given
from chatql.types.enums import EmailMode, ModelSortDirection
from chatql.types.message import Message, MessageConnection
from chatql.types.notification import Notification, NotificationConnection
from chatql.types.room import ChatRoom, ChatRoomConnection
from chatql.types.user import SignInOptions, SignInProvider, User, UserConnection
from resolvers import Info


async def me(info: Info) -> User:
    return User.from_record(await info.context.viewer(), own=True)


async def get_user(info: Info, id: strawberry.ID) -> User | None:
    await info.context.viewer()
    user = await info.context.services.accounts.get_user(str(id))
    return User.from_record(user) if user else None


async def search_users(
    info: Info, term: str, limit: int | None = 20, next_token: str | None = UNSET
) -> UserConnection:
    await info.context.viewer()
    page = await info.context.services.accounts.search_users(term, limit, given(next_token))
    return UserConnection(
        items=[User.from_record(u) for u in page.items], next_token=page.next_token
    )


async def get_chat_room(info: Info, id: strawberry.ID) -> ChatRoom | None:
    viewer = await info.context.viewer()
    room = await info.context.services.rooms.get_room(viewer, str(id))
    return ChatRoom.from_record(room) if room else None


async def list_chat_rooms(
    info: Info, limit: int | None = 20, next_token: str | None = UNSET
) -> ChatRoomConnection:
    viewer = await info.context.viewer()
    page = await info.context.services.rooms.list_my_rooms(viewer, limit, given(next_token))
    return ChatRoomConnection(
        items=[ChatRoom.from_record(r) for r in page.items], next_token=page.next_token
    )


async def list_public_rooms(
    info: Info,
    term: str | None = UNSET,
    limit: int | None = 20,
    next_token: str | None = UNSET,
) -> ChatRoomConnection:
    await info.context.viewer()
    page = await info.context.services.rooms.list_public_rooms(
        given(term), limit, given(next_token)
    )
    return ChatRoomConnection(
        items=[ChatRoom.from_record(r) for r in page.items], next_token=page.next_token
    )


async def messages_by_room(
    info: Info,
    chat_room_id: strawberry.ID,
    limit: int | None = 50,
    next_token: str | None = UNSET,
    before: datetime | None = UNSET,
    sort_direction: ModelSortDirection = ModelSortDirection.DESC,
) -> MessageConnection:
    viewer = await info.context.viewer()
    page = await info.context.services.messages.history(
        viewer,
        str(chat_room_id),
        limit=limit,
        next_token=given(next_token),
        before=given(before),
        direction="ASC" if sort_direction is ModelSortDirection.ASC else "DESC",
    )
    return MessageConnection(
        items=[Message.from_record(m) for m in page.items], next_token=page.next_token
    )


async def get_message(info: Info, id: strawberry.ID) -> Message | None:
    viewer = await info.context.viewer()
    message = await info.context.services.messages.get_message(viewer, str(id))
    return Message.from_record(message) if message else None


async def list_notifications(
    info: Info,
    unread_only: bool = False,
    limit: int | None = 20,
    next_token: str | None = UNSET,
) -> NotificationConnection:
    viewer = await info.context.viewer()
    page = await info.context.services.notifications.list(
        viewer, unread_only, limit, given(next_token)
    )
    return NotificationConnection(
        items=[Notification.from_record(n) for n in page.items], next_token=page.next_token
    )


async def get_user_presence(info: Info, user_id: strawberry.ID) -> UserPresence | None:
    """Presence is visible to people who share a room with the user, and to the user."""
    viewer = await info.context.viewer()
    user = await info.context.services.accounts.get_user(str(user_id))
    if user is None:
        return None
    members = info.context.services.members
    if user.id != viewer.id and not await members.share_a_room(viewer.id, user.id):
        return None
    return await UserPresence.visible_to(info, user)


def sign_in_options(info: Info) -> SignInOptions:
    services = info.context.services
    settings = services.settings
    return SignInOptions(
        providers=[
            SignInProvider(
                id=p.id, name=p.name, start_url=f"{settings.base_url}/auth/oidc/{p.id}/start"
            )
            for p in services.providers.values()
        ],
        email_mode=EmailMode(settings.effective_email_mode),
        password_reset=settings.email_enabled,
        guest_access=settings.guest_access,
        terms_version=settings.terms_version or None,
        terms_url=settings.terms_url or None,
    )
