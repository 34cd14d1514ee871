"""Who is in which room, cached for per-event authorisation and invalidated by the change feed.

Every subscription event is authorised again at delivery; asking the database each time would
cost one read per subscriber per event. The cache is dropped for a room whenever the feed shows
a membership change there, and a load that raced such a change is not kept.
"""

from __future__ import annotations

from collections import OrderedDict

from chatql.store.base import ChangeEvent, Store


class MembershipCache:
    def __init__(self, store: Store, max_rooms: int = 10_000) -> None:
        self._store = store
        self._max_rooms = max_rooms
        self._members: OrderedDict[str, frozenset[str]] = OrderedDict()
        self._versions: dict[str, int] = {}
        self._epoch = 0

    async def members(self, room_id: str) -> frozenset[str]:
        cached = self._members.get(room_id)
        if cached is not None:
            self._members.move_to_end(room_id)
            return cached
        version = (self._epoch, self._versions.get(room_id, 0))
        loaded = await self._store.member_ids(room_id)
        if (self._epoch, self._versions.get(room_id, 0)) == version:
            self._members[room_id] = loaded
            if len(self._members) > self._max_rooms:
                self._members.popitem(last=False)
        return loaded

    async def is_member(self, room_id: str, user_id: str) -> bool:
        return user_id in await self.members(room_id)

    def invalidate(self, room_id: str) -> None:
        self._versions[room_id] = self._versions.get(room_id, 0) + 1
        self._members.pop(room_id, None)

    def observe(self, event: ChangeEvent) -> None:
        """Called by the hub for every change, before the change reaches subscribers."""
        if event.collection == "memberships":
            self.invalidate(event.key.partition(":")[0])
        elif event.collection == "rooms" and event.operation == "delete":
            self.invalidate(event.key)

    def reset(self) -> None:
        """Forget everything (after the feed had to re-sync and may have missed changes)."""
        self._epoch += 1
        self._members.clear()
