"""Rooms and memberships: who may see, join, leave and add to which room.

Private rooms (and direct chats) are invisible to non-members: every path answers exactly as
for a room that does not exist, so their ids cannot even be probed.
"""

from __future__ import annotations

from chatql.errors import BadUserInput, Forbidden, NotFound, StoreConflict
from chatql.services import pagination, validation
from chatql.services.membership_cache import MembershipCache
from chatql.services.notifications import Notifications
from chatql.services.pagination import Page
from chatql.services.record_cache import RecordCache
from chatql.store.base import Store
from chatql.store.ids import new_id
from chatql.store.records import MembershipRecord, RoomRecord, UserRecord, now_utc

MAX_INITIAL_MEMBERS = 100
ROOM_NOT_FOUND = "Chat room not found"


class Rooms:
    def __init__(
        self,
        store: Store,
        notifications: Notifications,
        records: RecordCache[RoomRecord],
        members: MembershipCache,
    ) -> None:
        self._store = store
        self._notifications = notifications
        self._records = records
        self._members = members

    async def ensure_not_banned(self, room_id: str, user_id: str) -> None:
        ban = await self._store.get_ban(room_id, user_id)
        if ban is not None and (ban.until is None or ban.until > now_utc()):
            until = ban.until.isoformat() if ban.until else None
            raise Forbidden("Banned from this room", until=until)

    # ------------------------------------------------------------ visibility
    async def visible_room(self, viewer: UserRecord, room_id: str) -> RoomRecord:
        """The room if the viewer may see it; NotFound for unknown and hidden rooms alike."""
        room = await self._records.get(validation.entity_id(room_id, "roomId"))
        if room is None or not await self.may_see(viewer, room):
            raise NotFound(ROOM_NOT_FOUND)
        return room

    async def may_see(self, viewer: UserRecord, room: RoomRecord) -> bool:
        """Public rooms are seen by everyone signed in; private ones by their members only."""
        return not room.is_private or await self._members.membership(room.id, viewer.id) is not None

    async def get_room(self, viewer: UserRecord, room_id: str) -> RoomRecord | None:
        try:
            return await self.visible_room(viewer, room_id)
        except NotFound:
            return None

    async def member_room(self, viewer: UserRecord, room_id: str) -> RoomRecord:
        """The room if the viewer is a member: reading, sending and subscribing need this."""
        return (await self.membership(viewer, room_id))[0]

    async def readable_room(self, viewer: UserRecord, room_id: str) -> RoomRecord:
        """Reading history and following it live: members, and guests in public rooms."""
        if viewer.is_guest:
            room = await self._records.get(validation.entity_id(room_id, "chatRoomId"))
            if room is None or room.is_private or room.is_direct:
                raise NotFound(ROOM_NOT_FOUND)
            return room
        return await self.member_room(viewer, room_id)

    async def can_read(self, viewer: UserRecord, room_id: str) -> bool:
        if viewer.is_guest:
            room = await self._records.get(room_id)
            return room is not None and not room.is_private and not room.is_direct
        return await self.role_of(room_id, viewer.id) is not None

    async def membership(
        self, viewer: UserRecord, room_id: str
    ) -> tuple[RoomRecord, MembershipRecord]:
        """The room and the viewer's membership of it; NotFound/Forbidden as `member_room`."""
        room = await self._records.get(validation.entity_id(room_id, "chatRoomId"))
        if room is None:
            raise NotFound(ROOM_NOT_FOUND)
        membership = await self._members.membership(room.id, viewer.id)
        if membership is None:
            if room.is_private:
                raise NotFound(ROOM_NOT_FOUND)
            raise Forbidden("Join the room first")
        return room, membership

    async def _new_membership(self, room_id: str, user_id: str, role: str) -> MembershipRecord:
        """A member who was muted here (and left) comes back muted."""
        mute = await self._store.get_ban(room_id, user_id, kind="MUTE")
        muted_until = mute.until if mute is not None else None
        return MembershipRecord(room_id, user_id, role, now_utc(), muted_until=muted_until)

    async def role_of(self, room_id: str, user_id: str) -> str | None:
        membership = await self._members.membership(room_id, user_id)
        return membership.role if membership else None

    # ------------------------------------------------------------ creating
    async def create_room(
        self,
        viewer: UserRecord,
        name: str,
        description: str | None,
        is_private: bool,
        member_ids: list[str] | None,
    ) -> RoomRecord:
        clean_name = validation.required_text(name, "name", validation.MAX_NAME)
        clean_description = validation.text(
            description, "description", validation.MAX_DESCRIPTION, required=False
        )
        others = [validation.entity_id(m, "memberIds") for m in dict.fromkeys(member_ids or [])]
        others = [m for m in others if m != viewer.id]
        if len(others) > MAX_INITIAL_MEMBERS:
            raise BadUserInput(
                f"memberIds may list at most {MAX_INITIAL_MEMBERS} users", field="memberIds"
            )
        found = await self._store.get_users(others)
        missing = [m for m in others if m not in found]
        if missing:
            raise NotFound("Some memberIds are not users", field="memberIds", ids=missing)
        now = now_utc()
        room = RoomRecord(
            id=new_id(),
            name=clean_name,
            description=clean_description,
            is_private=is_private,
            created_by=viewer.id,
            owner_id=viewer.id,
            created_at=now,
            updated_at=now,
            last_activity=now,
        )
        members = [MembershipRecord(room.id, viewer.id, "OWNER", now)]
        members += [MembershipRecord(room.id, m, "MEMBER", now) for m in others]
        await self._store.create_room(room, members)
        await self._notifications.invited(room, others, viewer)
        return room

    async def start_direct_chat(self, viewer: UserRecord, user_id: str) -> RoomRecord:
        """The one DM room of this pair, created the first time; safe under concurrent calls."""
        other_id = validation.entity_id(user_id, "userId")
        if other_id == viewer.id:
            raise BadUserInput("You cannot start a direct chat with yourself", field="userId")
        other = await self._store.get_user(other_id)
        if other is None:
            raise NotFound("User not found", field="userId")
        key = ":".join(sorted((viewer.id, other.id)))
        existing = await self._store.get_direct_room(key)
        if existing is not None:
            # Either side may have left; starting the chat again brings both back.
            for user_id in (viewer.id, other.id):
                await self._store.add_member(
                    MembershipRecord(existing.id, user_id, "MEMBER", now_utc())
                )
            return existing
        now = now_utc()
        first, second = sorted((viewer.username, other.username))
        room = RoomRecord(
            id=new_id(),
            name=f"{first}, {second}",
            is_private=True,
            is_direct=True,
            direct_key=key,
            created_by=viewer.id,
            owner_id=viewer.id,
            created_at=now,
            updated_at=now,
            last_activity=now,
        )
        members = [
            MembershipRecord(room.id, viewer.id, "MEMBER", now),
            MembershipRecord(room.id, other.id, "MEMBER", now),
        ]
        try:
            await self._store.create_room(room, members)
        except StoreConflict:
            raced = await self._store.get_direct_room(key)
            if raced is None:  # pragma: no cover - the conflict proves it exists
                raise
            return raced
        return room

    # ------------------------------------------------------------ membership
    async def join_room(self, viewer: UserRecord, room_id: str) -> RoomRecord:
        room = await self.visible_room(viewer, room_id)
        if room.is_private:
            return room  # visible, so already a member
        await self.ensure_not_banned(room.id, viewer.id)
        empty = await self._store.count_members(room.id) == 0
        role = "OWNER" if empty else "MEMBER"
        added = await self._store.add_member(await self._new_membership(room.id, viewer.id, role))
        if added and empty and room.owner_id != viewer.id:
            room = await self._store.update_room(room.id, {"owner_id": viewer.id}) or room
            self._records.forget(room.id)
        return room

    async def leave_room(self, viewer: UserRecord, room_id: str) -> bool:
        room = await self.visible_room(viewer, room_id)
        membership = await self._members.membership(room.id, viewer.id)
        if membership is None:
            return False
        if not room.is_direct and membership.role == "OWNER":
            await self._hand_over_ownership(room, viewer.id)
        try:
            return await self._store.remove_member(room.id, viewer.id)
        finally:
            self.membership_changed(room.id, viewer.id)

    async def _hand_over_ownership(self, room: RoomRecord, leaving: str) -> None:
        """Pass ownership to the longest-standing admin, else the longest-standing member."""
        successor: MembershipRecord | None = None
        after = None
        while True:
            batch = await self._store.list_members(room.id, 100, after)
            for member in batch:
                if member.user_id == leaving:
                    continue
                if member.role == "ADMIN":
                    successor = member
                    break
                if successor is None:
                    successor = member
            if (successor and successor.role == "ADMIN") or len(batch) < 100:
                break
            after = (batch[-1].joined_at, batch[-1].user_id)
        if successor is None:
            return
        await self._store.update_membership(room.id, successor.user_id, {"role": "OWNER"})
        self.membership_changed(room.id, successor.user_id)
        await self._store.update_room(
            room.id, {"owner_id": successor.user_id, "updated_at": now_utc()}
        )
        self._records.forget(room.id)

    async def add_member(self, viewer: UserRecord, room_id: str, user_id: str) -> RoomRecord:
        room = await self.visible_room(viewer, room_id)
        target_id = validation.entity_id(user_id, "userId")
        role = await self.role_of(room.id, viewer.id)
        if room.is_direct:
            raise Forbidden("Members cannot be added to a direct chat")
        if role is None:
            raise Forbidden("Join the room first")
        if room.is_private and role not in ("OWNER", "ADMIN"):
            raise Forbidden("Only the room owner can add members")
        if await self._store.get_user(target_id) is None:
            raise NotFound("User not found", field="userId")
        await self.ensure_not_banned(room.id, target_id)
        added = await self._store.add_member(
            await self._new_membership(room.id, target_id, "MEMBER")
        )
        if added:
            await self._notifications.invited(room, [target_id], viewer)
        return room

    # ------------------------------------------------------------ listing
    async def list_my_rooms(
        self, viewer: UserRecord, limit: int | None, next_token: str | None
    ) -> Page[RoomRecord]:
        size = validation.page_limit(limit, 20)
        after = None
        if next_token is not None:
            parts = pagination.decode("r", next_token)
            if len(parts) != 2 or not isinstance(parts[1], str):
                raise BadUserInput("nextToken is not a valid token", field="nextToken")
            after = (pagination.decode_time(parts[0], "nextToken"), parts[1])
        rooms = await self._store.list_user_rooms(viewer.id, size + 1, after)
        token = None
        if len(rooms) > size:
            rooms = rooms[:size]
            token = pagination.encode("r", rooms[-1].last_activity, rooms[-1].id)
        return Page(rooms, token)

    async def list_public_rooms(
        self, term: str | None, limit: int | None, next_token: str | None
    ) -> Page[RoomRecord]:
        size = validation.page_limit(limit, 20)
        clean = validation.text(term, "term", validation.MAX_SEARCH_TERM, required=False)
        after = None
        if next_token is not None:
            parts = pagination.decode("p", next_token)
            if len(parts) != 2 or not all(isinstance(p, str) for p in parts):
                raise BadUserInput("nextToken is not a valid token", field="nextToken")
            after = (parts[0], parts[1])
        rooms = await self._store.list_public_rooms(clean, size + 1, after)
        token = None
        if len(rooms) > size:
            rooms = rooms[:size]
            token = pagination.encode("p", rooms[-1].name.casefold(), rooms[-1].id)
        return Page(rooms, token)

    async def list_members(
        self, room: RoomRecord, limit: int | None, next_token: str | None
    ) -> Page[str]:
        """User ids of a room the caller has already been allowed to see."""
        size = validation.page_limit(limit, 20)
        after = None
        if next_token is not None:
            parts = pagination.decode("mb", next_token)
            if len(parts) != 3 or parts[0] != room.id or not isinstance(parts[2], str):
                raise BadUserInput("nextToken is not a valid token", field="nextToken")
            after = (pagination.decode_time(parts[1], "nextToken"), parts[2])
        members = await self._store.list_members(room.id, size + 1, after)
        token = None
        if len(members) > size:
            members = members[:size]
            token = pagination.encode("mb", room.id, members[-1].joined_at, members[-1].user_id)
        return Page([m.user_id for m in members], token)

    def membership_changed(self, room_id: str, user_id: str) -> None:
        """A membership was updated or removed here: drop the cached copy now."""
        self._members.forget_member(room_id, user_id)

    def forget(self, room_id: str) -> None:
        """A room record changed here: drop the cached copy now (the feed would, shortly)."""
        self._records.forget(room_id)

    async def count_members(self, room: RoomRecord) -> int:
        return await self._store.count_members(room.id)

    # ------------------------------------------------------------ per-viewer room state
    async def mark_read(self, viewer: UserRecord, room_id: str, cursor: str) -> RoomRecord:
        """Move the viewer's read marker forward to the message of `cursor` (never back)."""
        room = await self.member_room(viewer, room_id)
        seq = pagination.parse_message_cursor(cursor, room.id, "cursor")
        if seq > room.last_seq:
            raise BadUserInput("cursor is past the newest message", field="cursor")
        # the stored marker, not the cached one: another process may have moved it further
        membership = await self._store.get_membership(room.id, viewer.id)
        if membership is not None and seq > membership.last_read_seq:
            await self._store.update_membership(room.id, viewer.id, {"last_read_seq": seq})
            self.membership_changed(room.id, viewer.id)
        return room

    async def set_muted(self, viewer: UserRecord, room_id: str, muted: bool) -> RoomRecord:
        """Mute or unmute MESSAGE notifications of a room for the viewer (mentions still come)."""
        room = await self.member_room(viewer, room_id)
        await self._store.update_membership(room.id, viewer.id, {"notifications_muted": muted})
        self.membership_changed(room.id, viewer.id)
        return room
