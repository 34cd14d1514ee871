"""Mutation resolvers. Each one writes through a service; none publishes events itself."""

from __future__ import annotations

import strawberry
from strawberry import UNSET

from chatql.services.accounts import Session
from chatql.types.args import given, given_list
from chatql.types.message import CreateMessageInput, Message
from chatql.types.room import ChatRoom, CreateChatRoomInput
from chatql.types.user import AuthPayload, UpdateProfileInput, User
from resolvers import Info


def _payload(session: Session) -> AuthPayload:
    return AuthPayload(
        access_token=session.access_token,
        refresh_token=session.refresh_token,
        expires_at=session.expires_at,
        user=User.from_record(session.user),
    )


async def register(
    info: Info, username: str, password: str, display_name: str | None = UNSET
) -> AuthPayload:
    accounts = info.context.services.accounts
    return _payload(await accounts.register(username, password, given(display_name)))


async def login(info: Info, username: str, password: str) -> AuthPayload:
    return _payload(await info.context.services.accounts.login(username, password))


async def refresh_token(info: Info, refresh_token: str) -> AuthPayload:
    return _payload(await info.context.services.accounts.refresh(refresh_token))


async def logout(info: Info, refresh_token: str, all_devices: bool = False) -> bool:
    return await info.context.services.accounts.logout(refresh_token, all_devices)


async def update_profile(info: Info, input: UpdateProfileInput) -> User:
    viewer = await info.context.viewer()
    avatar = given(input.avatar_url)
    updated = await info.context.services.accounts.update_profile(
        viewer,
        given(input.display_name),
        avatar or None,
        clear_avatar=avatar == "",
    )
    return User.from_record(updated)


async def create_chat_room(info: Info, input: CreateChatRoomInput) -> ChatRoom:
    viewer = await info.context.viewer()
    room = await info.context.services.rooms.create_room(
        viewer,
        input.name,
        given(input.description),
        input.is_private,
        given_list(input.member_ids),
    )
    return ChatRoom.from_record(room)


async def start_direct_chat(info: Info, user_id: strawberry.ID) -> ChatRoom:
    viewer = await info.context.viewer()
    room = await info.context.services.rooms.start_direct_chat(viewer, str(user_id))
    return ChatRoom.from_record(room)


async def join_room(info: Info, room_id: strawberry.ID) -> ChatRoom:
    viewer = await info.context.viewer()
    return ChatRoom.from_record(await info.context.services.rooms.join_room(viewer, str(room_id)))


async def leave_room(info: Info, room_id: strawberry.ID) -> bool:
    viewer = await info.context.viewer()
    return await info.context.services.rooms.leave_room(viewer, str(room_id))


async def add_room_member(info: Info, room_id: strawberry.ID, user_id: strawberry.ID) -> ChatRoom:
    viewer = await info.context.viewer()
    room = await info.context.services.rooms.add_member(viewer, str(room_id), str(user_id))
    return ChatRoom.from_record(room)


async def create_message(info: Info, input: CreateMessageInput) -> Message:
    viewer = await info.context.viewer()
    message = await info.context.services.messages.send(
        viewer,
        str(input.chat_room_id),
        input.content,
        input.message_type.value,
        given(input.client_id),
    )
    return Message.from_record(message)
