"""Live streams for subscriptions: subscribe first, replay from the store, then go live.

For messages the order matters. Subscribing to the channel before reading history means a
message committed while the replay runs is buffered, not lost; remembering which seqs the
replay sent means it is not delivered twice. Every stream is authorised when it opens (against
the store) and again for every event (against the membership cache), separately from how an
event is later executed and serialised, so one execution can be shared by many subscribers.
A member removed from a room gets one FORBIDDEN error and the stream ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from chatql.errors import Forbidden, SubscriptionOverflow
from chatql.realtime.pubsub import (
    PRESENCE_CHANNEL,
    Hub,
    SubscriberOverflow,
    Subscription,
    room_channel,
    user_channel,
)
from chatql.services.membership_cache import MembershipCache
from chatql.services.pagination import parse_message_cursor
from chatql.services.rooms import Rooms
from chatql.services.typing import TypingEvent, typing_channel
from chatql.store.base import Store
from chatql.store.ids import membership_id, parse_reaction_id
from chatql.store.records import (
    ChangeEvent,
    MessageRecord,
    NotificationRecord,
    ReactionRecord,
    RoomRecord,
    UserRecord,
    now_utc,
)

REPLAY_BATCH = 200
NO_LONGER_MEMBER = "You are no longer a member of this room"
TOO_SLOW = (
    "Too many undelivered events; resubscribe (with `after` set to the cursor of the last "
    "message received, for messages)"
)


@dataclass(frozen=True, slots=True)
class MembershipChange:
    room_id: str
    user_id: str
    joined: bool
    role: str | None


@dataclass(frozen=True, slots=True)
class RoomListChange:
    kind: str  # ADDED | REMOVED | DELETED
    room_id: str
    room: RoomRecord | None


async def _next(subscription: Subscription) -> Any:
    """The next buffered event, or StopAsyncIteration when the hub shut down."""
    try:
        return await subscription.get()
    except SubscriberOverflow:
        raise SubscriptionOverflow(TOO_SLOW, retryable=True) from None


class LiveStreams:
    def __init__(
        self,
        store: Store,
        hub: Hub,
        rooms: Rooms,
        members: MembershipCache,
        queue_size: int,
    ) -> None:
        self._store = store
        self._hub = hub
        self._rooms = rooms
        self._members = members
        self._queue_size = queue_size

    async def authorise(self, viewer: UserRecord, room_id: str) -> None:
        """Per-event check: the viewer must still be a member when the event is delivered
        (a guest: the room must still be public)."""
        if viewer.is_guest:
            if not await self._rooms.can_read(viewer, room_id):
                raise Forbidden(NO_LONGER_MEMBER)
            return
        if not await self._members.is_member(room_id, viewer.id):
            raise Forbidden(NO_LONGER_MEMBER)

    def _open(self, room: RoomRecord, *extra_channels: str) -> Subscription:
        return self._hub.subscribe(room_channel(room.id), *extra_channels, maxsize=self._queue_size)

    async def _room_events(
        self, viewer: UserRecord, room: RoomRecord, subscription: Subscription
    ) -> AsyncGenerator[Any]:
        """Every event of a room's channels, ending with FORBIDDEN when the viewer leaves."""
        own_membership = membership_id(room.id, viewer.id)
        try:
            while True:
                try:
                    item = await _next(subscription)
                except StopAsyncIteration:
                    return
                if (
                    isinstance(item, ChangeEvent)
                    and item.collection == "memberships"
                    and item.operation == "delete"
                    and item.key == own_membership
                ):
                    raise Forbidden(NO_LONGER_MEMBER)
                yield item
        finally:
            subscription.close()

    # ------------------------------------------------------------ messages
    async def message_created(
        self,
        viewer: UserRecord,
        room_id: str,
        after: str | None,
        connection_id: str | None = None,
    ) -> AsyncGenerator[MessageRecord]:
        room = await self._rooms.readable_room(viewer, room_id)
        after_seq = parse_message_cursor(after, room.id) if after is not None else None
        subscription = self._open(room)  # subscribe before reading history
        if connection_id is not None:
            await self._store.add_room_watch(connection_id, room.id, viewer.id)
        try:
            replayed: set[int] = set()
            if after_seq is not None:
                async for message in self._replay(room.id, after_seq):
                    replayed.add(message.seq)
                    yield message
            async for change in self._room_events(viewer, room, subscription):
                if not (
                    isinstance(change, ChangeEvent)
                    and change.collection == "messages"
                    and change.operation == "insert"
                    and change.document is not None
                ):
                    continue
                message = MessageRecord.from_doc(change.document)
                if after_seq is not None and message.seq <= after_seq:
                    continue
                if message.seq in replayed:
                    replayed.discard(message.seq)
                    continue
                await self.authorise(viewer, room.id)
                yield message
        finally:
            subscription.close()
            if connection_id is not None:
                with contextlib.suppress(Exception):  # the store may be closing at shutdown
                    await self._store.remove_room_watch(connection_id, room.id)

    async def _replay(self, room_id: str, after_seq: int) -> AsyncGenerator[MessageRecord]:
        cursor = after_seq
        while True:
            batch = await self._store.list_messages(
                room_id, limit=REPLAY_BATCH, direction="ASC", after_seq=cursor
            )
            for message in batch:
                yield message
            if len(batch) < REPLAY_BATCH:
                return
            cursor = batch[-1].seq

    async def message_changed(
        self, viewer: UserRecord, room_id: str, *, deleted: bool
    ) -> AsyncGenerator[MessageRecord]:
        """Edits (deleted=False) or deletions (deleted=True) of a room's messages."""
        room = await self._rooms.readable_room(viewer, room_id)
        async for change in self._room_events(viewer, room, self._open(room)):
            if (
                isinstance(change, ChangeEvent)
                and change.collection == "messages"
                and change.operation == "update"
                and change.document is not None
            ):
                message = MessageRecord.from_doc(change.document)
                if (message.deleted_at is not None) == deleted:
                    await self.authorise(viewer, room.id)
                    yield message

    # ------------------------------------------------------------ reactions, typing, members
    async def reactions(
        self, viewer: UserRecord, room_id: str, *, added: bool
    ) -> AsyncGenerator[ReactionRecord]:
        room = await self._rooms.readable_room(viewer, room_id)
        wanted = "insert" if added else "delete"
        async for change in self._room_events(viewer, room, self._open(room)):
            if (
                isinstance(change, ChangeEvent)
                and change.collection == "reactions"
                and change.operation == wanted
            ):
                await self.authorise(viewer, room.id)
                if change.document is not None:
                    yield ReactionRecord.from_doc(change.document)
                else:
                    room_key, message_id, user_id, emoji = parse_reaction_id(change.key)
                    yield ReactionRecord(room_key, message_id, user_id, emoji, now_utc())

    async def typing(
        self, viewer: UserRecord, room_id: str, *, started: bool
    ) -> AsyncGenerator[TypingEvent]:
        room = await self._rooms.readable_room(viewer, room_id)
        wanted = "started" if started else "ended"
        subscription = self._open(room, typing_channel(room.id))
        async for item in self._room_events(viewer, room, subscription):
            if isinstance(item, TypingEvent) and item.kind == wanted:
                await self.authorise(viewer, room.id)
                yield item

    async def membership(
        self, viewer: UserRecord, room_id: str, *, joined: bool
    ) -> AsyncGenerator[MembershipChange]:
        room = await self._rooms.member_room(viewer, room_id)
        wanted = "insert" if joined else "delete"
        async for change in self._room_events(viewer, room, self._open(room)):
            if (
                isinstance(change, ChangeEvent)
                and change.collection == "memberships"
                and change.operation == wanted
            ):
                await self.authorise(viewer, room.id)
                _room, _, user_id = change.key.partition(":")
                role = (change.document or {}).get("role")
                yield MembershipChange(room.id, user_id, joined, role)

    # ------------------------------------------------------------ per-user streams
    async def _user_events(self, *channels: str) -> AsyncGenerator[Any]:
        subscription = self._hub.subscribe(*channels, maxsize=self._queue_size)
        try:
            while True:
                try:
                    yield await _next(subscription)
                except StopAsyncIteration:
                    return
        finally:
            subscription.close()

    async def notifications(self, viewer: UserRecord) -> AsyncGenerator[NotificationRecord]:
        """Only the viewer's own notifications: the channel comes from the token, not input."""
        async for change in self._user_events(user_channel(viewer.id)):
            if (
                isinstance(change, ChangeEvent)
                and change.collection == "notifications"
                and change.operation == "insert"
                and change.document is not None
                and change.document["user_id"] == viewer.id
            ):
                yield NotificationRecord.from_doc(change.document)

    async def presence(self, viewer: UserRecord) -> AsyncGenerator[UserRecord]:
        """Presence changes of users who share at least one room with the viewer."""
        last_seen: dict[str, tuple[Any, ...]] = {}
        async for change in self._user_events(PRESENCE_CHANNEL):
            if not (
                isinstance(change, ChangeEvent)
                and change.collection == "users"
                and change.document is not None
                and change.key != viewer.id
            ):
                continue
            user = UserRecord.from_doc(change.document)
            state = (user.status, user.last_seen, user.current_room)
            if last_seen.get(user.id) == state:
                continue
            if not await self._members.share_a_room(viewer.id, user.id):
                continue
            last_seen[user.id] = state
            yield user

    async def my_rooms(self, viewer: UserRecord) -> AsyncGenerator[RoomListChange]:
        """The viewer's room list: rooms joined or added to, left or removed from, deleted."""
        async for change in self._user_events(user_channel(viewer.id)):
            if not (
                isinstance(change, ChangeEvent)
                and change.collection == "memberships"
                and change.operation in ("insert", "delete")
            ):
                continue
            room_id, _, user_id = change.key.partition(":")
            if user_id != viewer.id:
                continue
            room = await self._store.get_room(room_id)
            if change.operation == "insert":
                if room is not None:
                    yield RoomListChange("ADDED", room_id, room)
            else:
                yield RoomListChange("REMOVED" if room is not None else "DELETED", room_id, None)
