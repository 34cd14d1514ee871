"""Live message streams with resume: subscribe first, replay from the store, then go live.

The order matters. Subscribing to the channel before reading history means a message committed
while the replay runs is buffered, not lost; remembering which seqs the replay sent means it is
not delivered twice. Authorisation is checked when the stream opens (against the store) and
again for every live event (against the membership cache), separately from how an event is
later executed and serialised, so one execution can be shared by many subscribers.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from chatql.errors import Forbidden, SubscriptionOverflow
from chatql.pubsub import Hub, SubscriberOverflow, room_channel
from chatql.services.membership_cache import MembershipCache
from chatql.services.pagination import parse_message_cursor
from chatql.services.rooms import Rooms
from chatql.store.base import ChangeEvent, MessageRecord, Store, UserRecord, membership_id

REPLAY_BATCH = 200
NO_LONGER_MEMBER = "You are no longer a member of this room"


class LiveMessages:
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
        """Per-event check: the viewer must still be a member when the event is delivered."""
        if not await self._members.is_member(room_id, viewer.id):
            raise Forbidden(NO_LONGER_MEMBER)

    async def message_created(
        self, viewer: UserRecord, room_id: str, after: str | None
    ) -> AsyncGenerator[MessageRecord]:
        room = await self._rooms.member_room(viewer, room_id)
        after_seq = parse_message_cursor(after, room.id) if after is not None else None
        subscription = self._hub.subscribe(room_channel(room.id), self._queue_size)
        try:
            replayed: set[int] = set()
            if after_seq is not None:
                async for message in self._replay(room.id, after_seq):
                    replayed.add(message.seq)
                    yield message
            while True:
                try:
                    change: ChangeEvent = await subscription.get()
                except SubscriberOverflow:
                    raise SubscriptionOverflow(
                        "Too many undelivered events; resubscribe with `after` set to the "
                        "cursor of the last message received",
                        retryable=True,
                    ) from None
                except StopAsyncIteration:
                    return
                if change.collection == "memberships":
                    if change.operation == "delete" and change.key == membership_id(
                        room.id, viewer.id
                    ):
                        raise Forbidden(NO_LONGER_MEMBER)
                    continue
                if change.collection != "messages" or change.operation != "insert":
                    continue
                assert change.document is not None
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
