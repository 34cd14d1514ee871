"""Who is in which room, cached for per-event authorisation and invalidated by the change feed.

Every subscription event is authorised again at delivery, and every message sent checks the
sender's membership (role, mute); asking the database each time would cost one read per
subscriber per event and one per message. An entry is dropped whenever the feed shows a
membership change that concerns it (and at once when this process made the change, see
`forget_member`), and a load that raced such a change is not kept.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable

from chatql.store.base import Store
from chatql.store.ids import membership_id
from chatql.store.records import ChangeEvent, MembershipRecord


class MembershipCache:
    def __init__(self, store: Store, max_entries: int = 20_000) -> None:
        self._store = store
        self._max_entries = max_entries
        self._entries: OrderedDict[str, frozenset[str] | MembershipRecord] = OrderedDict()
        self._versions: dict[str, int] = {}
        self._epoch = 0

    async def _cached[V: (frozenset[str], MembershipRecord | None)](
        self, key: str, load: Callable[[], Awaitable[V]]
    ) -> V:
        cached = self._hit(key)
        if cached is not None:
            return cached  # type: ignore[return-value]
        version = (self._epoch, self._versions.get(key, 0))
        loaded = await load()
        if loaded is not None and (self._epoch, self._versions.get(key, 0)) == version:
            self._entries[key] = loaded
            if len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return loaded

    async def members(self, room_id: str) -> frozenset[str]:
        return await self._cached(f"room:{room_id}", lambda: self._store.member_ids(room_id))

    async def membership(self, room_id: str, user_id: str) -> MembershipRecord | None:
        """A member's record (role, mute); non-members are not remembered."""
        return await self._cached(
            f"member:{membership_id(room_id, user_id)}",
            lambda: self._store.get_membership(room_id, user_id),
        )

    def cached_members(self, room_id: str) -> frozenset[str] | None:
        """A room's members if they are cached (None: they would have to be loaded)."""
        cached = self._hit(f"room:{room_id}")
        return cached if isinstance(cached, frozenset) else None

    def _hit(self, key: str) -> frozenset[str] | MembershipRecord | None:
        """The cached entry, now the most recently used (not the next evicted); None: absent."""
        cached = self._entries.get(key)
        if cached is not None:
            self._entries.move_to_end(key)
        return cached

    async def is_member(self, room_id: str, user_id: str) -> bool:
        return user_id in await self.members(room_id)

    async def user_rooms(self, user_id: str) -> frozenset[str]:
        """The rooms a user is in (who may see whose presence)."""
        return await self._cached(f"user:{user_id}", lambda: self._store.user_room_ids(user_id))

    async def share_a_room(self, user_id: str, other_id: str) -> bool:
        return not (await self.user_rooms(user_id)).isdisjoint(await self.user_rooms(other_id))

    def _invalidate(self, key: str) -> None:
        self._versions[key] = self._versions.get(key, 0) + 1
        self._entries.pop(key, None)

    def observe(self, event: ChangeEvent) -> None:
        """Called by the hub for every change, before the change reaches subscribers."""
        if event.collection == "memberships":
            room_id, _, user_id = event.key.partition(":")
            self.forget_member(room_id, user_id)
        elif event.collection == "rooms" and event.operation == "delete":
            self._invalidate(f"room:{event.key}")

    def forget_member(self, room_id: str, user_id: str) -> None:
        """This process changed the membership: drop it now, not when the feed brings it."""
        self._invalidate(f"room:{room_id}")
        self._invalidate(f"user:{user_id}")
        self._invalidate(f"member:{membership_id(room_id, user_id)}")

    def reset(self) -> None:
        """Forget everything (after the feed had to re-sync and may have missed changes)."""
        self._epoch += 1
        self._entries.clear()
