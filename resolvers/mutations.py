"""Mutation resolvers. Each one writes through a service; none publishes events itself."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry import UNSET

from chatql.errors import NotFound
from chatql.services.accounts import Session
from chatql.types.activity import UserPresence
from chatql.types.args import given, given_list
from chatql.types.enums import PresenceStatus, Role, RoomRole
from chatql.types.file import Attachment, CreateUploadInput, UploadTicket
from chatql.types.message import (
    CreateMessageInput,
    CreateReactionInput,
    Message,
    Reaction,
    UpdateMessageInput,
)
from chatql.types.notification import Notification
from chatql.types.room import ChatRoom, CreateChatRoomInput, UpdateChatRoomInput
from chatql.types.user import AuthPayload, UpdateProfileInput, User
from resolvers import Info


def _optional_id(value: strawberry.ID | None) -> str | None:
    return str(value) if value is not None else None


def _payload(session: Session) -> AuthPayload:
    return AuthPayload(
        access_token=session.access_token,
        refresh_token=session.refresh_token,
        expires_at=session.expires_at,
        user=User.from_record(session.user, own=True),
    )


async def register(
    info: Info,
    username: str,
    password: str,
    display_name: str | None = UNSET,
    email: str | None = UNSET,
    accept_terms: bool | None = UNSET,
) -> AuthPayload:
    accounts = info.context.services.accounts
    session = await accounts.register(
        username,
        password,
        given(display_name),
        info.context.client,
        email=given(email),
        accept_terms=given(accept_terms),
    )
    return _payload(session)


async def request_email_verification(info: Info) -> bool:
    viewer = await info.context.writer()
    mail = info.context.services.account_mail
    return await mail.request_verification(viewer, info.context.client)


async def verify_email(info: Info, token: str) -> User:
    return User.from_record(await info.context.services.account_mail.verify(token))


async def request_password_reset(info: Info, email: str) -> bool:
    mail = info.context.services.account_mail
    return await mail.request_reset(email, info.context.client)


async def reset_password(info: Info, token: str, new_password: str) -> AuthPayload:
    accounts = info.context.services.accounts
    return _payload(await accounts.reset_password(token, new_password, info.context.client))


async def start_guest_session(info: Info) -> AuthPayload:
    return _payload(await info.context.services.guests.start_session(info.context.client))


async def exchange_login_code(
    info: Info, code: str, accept_terms: bool | None = UNSET
) -> AuthPayload:
    social = info.context.services.social
    return _payload(await social.exchange(code, given(accept_terms), info.context.client))


async def delete_account(info: Info, password: str) -> bool:
    viewer = await info.context.viewer()  # guests are refused by the service, with a reason
    deletion = info.context.services.account_deletion
    return await deletion.delete(viewer, password, info.context.client)


async def accept_terms(info: Info, version: str) -> User:
    viewer = await info.context.writer()
    updated = await info.context.services.accounts.accept_terms(viewer, version)
    return User.from_record(updated, own=True)


async def login(info: Info, username: str, password: str) -> AuthPayload:
    accounts = info.context.services.accounts
    return _payload(await accounts.login(username, password, info.context.client))


async def refresh_token(info: Info, refresh_token: str) -> AuthPayload:
    accounts = info.context.services.accounts
    return _payload(await accounts.refresh(refresh_token, info.context.client))


async def change_password(info: Info, old_password: str, new_password: str) -> AuthPayload:
    viewer = await info.context.writer()
    accounts = info.context.services.accounts
    session = await accounts.change_password(
        viewer, old_password, new_password, info.context.client
    )
    return _payload(session)


async def logout(info: Info, refresh_token: str, all_devices: bool = False) -> bool:
    return await info.context.services.accounts.logout(refresh_token, all_devices)


async def update_profile(info: Info, input: UpdateProfileInput) -> User:
    viewer = await info.context.writer()
    avatar = given(input.avatar_url)
    updated = await info.context.services.accounts.update_profile(
        viewer,
        given(input.display_name),
        avatar or None,
        clear_avatar=avatar == "",
        avatar_upload_id=_optional_id(given(input.avatar_upload_id)),
        username=given(input.username),
        email=given(input.email),
        client=info.context.client,
    )
    return User.from_record(updated, own=True)


async def create_chat_room(info: Info, input: CreateChatRoomInput) -> ChatRoom:
    viewer = await info.context.writer()
    room = await info.context.services.rooms.create_room(
        viewer,
        input.name,
        given(input.description),
        input.is_private,
        given_list(input.member_ids),
    )
    return ChatRoom.from_record(room)


async def start_direct_chat(info: Info, user_id: strawberry.ID) -> ChatRoom:
    viewer = await info.context.writer()
    room = await info.context.services.rooms.start_direct_chat(viewer, str(user_id))
    return ChatRoom.from_record(room)


async def join_room(info: Info, room_id: strawberry.ID) -> ChatRoom:
    viewer = await info.context.writer()
    return ChatRoom.from_record(await info.context.services.rooms.join_room(viewer, str(room_id)))


async def leave_room(info: Info, room_id: strawberry.ID) -> bool:
    viewer = await info.context.writer()
    return await info.context.services.rooms.leave_room(viewer, str(room_id))


async def add_room_member(info: Info, room_id: strawberry.ID, user_id: strawberry.ID) -> ChatRoom:
    viewer = await info.context.writer()
    room = await info.context.services.rooms.add_member(viewer, str(room_id), str(user_id))
    return ChatRoom.from_record(room)


async def create_message(info: Info, input: CreateMessageInput) -> Message:
    viewer = await info.context.writer()
    message = await info.context.services.messages.send(
        viewer,
        str(input.chat_room_id),
        input.content,
        input.message_type.value,
        given(input.client_id),
        _optional_id(given(input.reply_to_id)),
        given_list(input.attachment_ids),
    )
    return Message.from_record(message)


async def stop_assistant_reply(info: Info, message_id: strawberry.ID) -> Message:
    viewer = await info.context.writer()
    assistant = info.context.services.assistant
    if assistant is None:  # no assistant, so no reply of one
        raise NotFound("Message not found")
    return Message.from_record(await assistant.stop_reply(viewer, str(message_id)))


async def create_upload(info: Info, input: CreateUploadInput) -> UploadTicket:
    viewer = await info.context.writer()
    ticket = await info.context.services.files.create_upload(
        viewer, input.filename, input.mime_type, input.size
    )
    return UploadTicket.from_ticket(ticket)


async def complete_upload(info: Info, upload_id: strawberry.ID) -> Attachment:
    viewer = await info.context.writer()
    upload = await info.context.services.files.complete(viewer, str(upload_id))
    return Attachment.from_record(upload)


async def update_message(info: Info, input: UpdateMessageInput) -> Message:
    viewer = await info.context.writer()
    message = await info.context.services.messages.edit(viewer, str(input.id), input.content)
    return Message.from_record(message)


async def delete_message(info: Info, id: strawberry.ID) -> Message:
    viewer = await info.context.writer()
    return Message.from_record(await info.context.services.messages.delete(viewer, str(id)))


async def create_reaction(info: Info, input: CreateReactionInput) -> Reaction:
    viewer = await info.context.writer()
    reaction = await info.context.services.reactions.add(viewer, str(input.message_id), input.emoji)
    return Reaction.from_record(reaction)


async def delete_reaction(info: Info, message_id: strawberry.ID, emoji: str) -> bool:
    viewer = await info.context.writer()
    return await info.context.services.reactions.remove(viewer, str(message_id), emoji)


async def start_typing(info: Info, chat_room_id: strawberry.ID) -> bool:
    viewer = await info.context.writer()
    return await info.context.services.typing.start(viewer, str(chat_room_id))


async def stop_typing(info: Info, chat_room_id: strawberry.ID) -> bool:
    viewer = await info.context.writer()
    return await info.context.services.typing.stop(viewer, str(chat_room_id))


async def update_presence(
    info: Info, status: PresenceStatus, current_room: strawberry.ID | None = UNSET
) -> UserPresence:
    viewer = await info.context.writer()
    room = given(current_room)
    user = await info.context.services.presence.update(
        viewer, status.value, str(room) if room is not None else None
    )
    info.context.user = user
    return await UserPresence.visible_to(info, user)


async def mark_notification_as_read(info: Info, id: strawberry.ID) -> Notification:
    viewer = await info.context.writer()
    note = await info.context.services.notifications.mark_read(viewer, str(id))
    return Notification.from_record(note)


async def mark_all_notifications_as_read(info: Info) -> int:
    viewer = await info.context.writer()
    return await info.context.services.notifications.mark_all_read(viewer)


async def delete_notification(info: Info, id: strawberry.ID) -> bool:
    viewer = await info.context.writer()
    return await info.context.services.notifications.delete(viewer, str(id))


async def set_room_muted(info: Info, room_id: strawberry.ID, muted: bool) -> ChatRoom:
    viewer = await info.context.writer()
    room = await info.context.services.rooms.set_muted(viewer, str(room_id), muted)
    return ChatRoom.from_record(room)


async def mark_room_read(info: Info, chat_room_id: strawberry.ID, cursor: str) -> ChatRoom:
    viewer = await info.context.writer()
    room = await info.context.services.rooms.mark_read(viewer, str(chat_room_id), cursor)
    return ChatRoom.from_record(room)


async def set_user_role(info: Info, user_id: strawberry.ID, role: Role) -> User:
    viewer = await info.context.writer()
    user = await info.context.services.moderation.set_user_role(viewer, str(user_id), role.value)
    return User.from_record(user)


async def update_chat_room(info: Info, input: UpdateChatRoomInput) -> ChatRoom:
    viewer = await info.context.writer()
    room = await info.context.services.moderation.update_room(
        viewer, str(input.id), given(input.name), given(input.description), given(input.is_private)
    )
    return ChatRoom.from_record(room)


async def delete_chat_room(info: Info, id: strawberry.ID) -> bool:
    viewer = await info.context.writer()
    return await info.context.services.moderation.delete_room(viewer, str(id))


async def set_room_member_role(
    info: Info, room_id: strawberry.ID, user_id: strawberry.ID, role: RoomRole
) -> ChatRoom:
    viewer = await info.context.writer()
    room = await info.context.services.moderation.set_member_role(
        viewer, str(room_id), str(user_id), role.value
    )
    return ChatRoom.from_record(room)


async def remove_room_member(info: Info, room_id: strawberry.ID, user_id: strawberry.ID) -> bool:
    viewer = await info.context.writer()
    return await info.context.services.moderation.remove_member(viewer, str(room_id), str(user_id))


async def ban_from_room(
    info: Info,
    room_id: strawberry.ID,
    user_id: strawberry.ID,
    until: datetime | None = UNSET,
) -> bool:
    viewer = await info.context.writer()
    return await info.context.services.moderation.ban(
        viewer, str(room_id), str(user_id), given(until)
    )


async def unban_from_room(info: Info, room_id: strawberry.ID, user_id: strawberry.ID) -> bool:
    viewer = await info.context.writer()
    return await info.context.services.moderation.unban(viewer, str(room_id), str(user_id))


async def mute_in_room(
    info: Info,
    room_id: strawberry.ID,
    user_id: strawberry.ID,
    until: datetime | None = UNSET,
) -> bool:
    viewer = await info.context.writer()
    return await info.context.services.moderation.mute(
        viewer, str(room_id), str(user_id), given(until)
    )


async def unmute_in_room(info: Info, room_id: strawberry.ID, user_id: strawberry.ID) -> bool:
    viewer = await info.context.writer()
    return await info.context.services.moderation.unmute(viewer, str(room_id), str(user_id))
