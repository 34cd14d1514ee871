"""Subscription resolvers: authorise, then stream what the live service yields.

Every stream is authorised when it opens and again for each event (in the live service).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

import strawberry
from strawberry import UNSET

from chatql.errors import BadUserInput
from chatql.store.records import UserRecord
from chatql.types.activity import TypingIndicator, UserPresence
from chatql.types.args import given
from chatql.types.enums import RoomChangeType, RoomRole
from chatql.types.message import Message, Reaction
from chatql.types.notification import Notification
from chatql.types.room import ChatRoom, MyRoomsEvent, RoomMembershipEvent
from resolvers import Info


async def live_viewer(info: Info) -> UserRecord:
    """Subscriptions run over WebSockets (graphql-transport-ws, graphql-ws) or SSE streams."""
    if not info.context.live:
        raise BadUserInput(
            "Subscriptions need a WebSocket connection to /graphql or an event stream "
            "(POST /graphql/stream with Accept: text/event-stream)"
        )
    return await info.context.viewer()


async def _mapped[T, R](stream: AsyncGenerator[T], convert: Callable[[T], R]) -> AsyncIterator[R]:
    async with aclosing(stream):
        async for item in stream:
            yield convert(item)


async def on_message_created(
    info: Info, chat_room_id: strawberry.ID, after: str | None = UNSET
) -> AsyncGenerator[Message]:
    viewer = await live_viewer(info)
    stream = info.context.services.live.message_created(
        viewer, str(chat_room_id), given(after), info.context.connection_id
    )
    async for message in _mapped(stream, Message.from_record):
        yield message


async def on_message_updated(info: Info, chat_room_id: strawberry.ID) -> AsyncGenerator[Message]:
    viewer = await live_viewer(info)
    stream = info.context.services.live.message_changed(viewer, str(chat_room_id), deleted=False)
    async for message in _mapped(stream, Message.from_record):
        yield message


async def on_message_deleted(info: Info, chat_room_id: strawberry.ID) -> AsyncGenerator[Message]:
    viewer = await live_viewer(info)
    stream = info.context.services.live.message_changed(viewer, str(chat_room_id), deleted=True)
    async for message in _mapped(stream, Message.from_record):
        yield message


async def on_reaction_added(info: Info, chat_room_id: strawberry.ID) -> AsyncGenerator[Reaction]:
    viewer = await live_viewer(info)
    stream = info.context.services.live.reactions(viewer, str(chat_room_id), added=True)
    async for reaction in _mapped(stream, Reaction.from_record):
        yield reaction


async def on_reaction_removed(info: Info, chat_room_id: strawberry.ID) -> AsyncGenerator[Reaction]:
    viewer = await live_viewer(info)
    stream = info.context.services.live.reactions(viewer, str(chat_room_id), added=False)
    async for reaction in _mapped(stream, Reaction.from_record):
        yield reaction


async def on_typing_started(
    info: Info, chat_room_id: strawberry.ID
) -> AsyncGenerator[TypingIndicator]:
    viewer = await live_viewer(info)
    stream = info.context.services.live.typing(viewer, str(chat_room_id), started=True)
    async for event in _mapped(stream, TypingIndicator.from_event):
        yield event


async def on_typing_ended(
    info: Info, chat_room_id: strawberry.ID
) -> AsyncGenerator[TypingIndicator]:
    viewer = await live_viewer(info)
    stream = info.context.services.live.typing(viewer, str(chat_room_id), started=False)
    async for event in _mapped(stream, TypingIndicator.from_event):
        yield event


async def on_user_presence_changed(info: Info) -> AsyncGenerator[UserPresence]:
    viewer = await live_viewer(info)
    async with aclosing(info.context.services.live.presence(viewer)) as stream:
        async for user in stream:
            yield await UserPresence.visible_to(info, user)


async def on_notification_received(info: Info) -> AsyncGenerator[Notification]:
    viewer = await live_viewer(info)
    stream = info.context.services.live.notifications(viewer)
    async for note in _mapped(stream, Notification.from_record):
        yield note


def _membership_event(change: Any) -> RoomMembershipEvent:
    return RoomMembershipEvent(
        chat_room_id=strawberry.ID(change.room_id),
        user_id=strawberry.ID(change.user_id),
        role=RoomRole(change.role) if change.role else None,
    )


async def on_room_joined(info: Info, room_id: strawberry.ID) -> AsyncGenerator[RoomMembershipEvent]:
    viewer = await live_viewer(info)
    stream = info.context.services.live.membership(viewer, str(room_id), joined=True)
    async for event in _mapped(stream, _membership_event):
        yield event


async def on_room_left(info: Info, room_id: strawberry.ID) -> AsyncGenerator[RoomMembershipEvent]:
    viewer = await live_viewer(info)
    stream = info.context.services.live.membership(viewer, str(room_id), joined=False)
    async for event in _mapped(stream, _membership_event):
        yield event


def _room_list_event(change: Any) -> MyRoomsEvent:
    return MyRoomsEvent(
        type=RoomChangeType(change.kind),
        chat_room_id=strawberry.ID(change.room_id),
        room=ChatRoom.from_record(change.room) if change.room else None,
    )


async def on_my_rooms_changed(info: Info) -> AsyncGenerator[MyRoomsEvent]:
    viewer = await live_viewer(info)
    stream = info.context.services.live.my_rooms(viewer)
    async for event in _mapped(stream, _room_list_event):
        yield event
