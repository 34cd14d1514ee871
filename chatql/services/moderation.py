"""Room administration and moderation, and global roles.

Owners edit and delete their rooms and appoint room admins; room admins, owners and global
moderators remove, ban and mute members of lower rank (see `permissions`). A removal or ban
deletes the membership, and the change feed ends that user's open subscriptions on the room.
"""

from __future__ import annotations

from datetime import UTC, datetime

from chatql.errors import BadUserInput, Forbidden, NotFound
from chatql.services import permissions, validation
from chatql.services.rooms import Rooms
from chatql.store.base import Store
from chatql.store.records import BanRecord, RoomRecord, UserRecord, now_utc

FOREVER = datetime(9999, 12, 31, tzinfo=UTC)


class Moderation:
    def __init__(self, store: Store, rooms: Rooms) -> None:
        self._store = store
        self._rooms = rooms

    # ------------------------------------------------------------ global roles
    async def set_user_role(self, actor: UserRecord, user_id: str, role: str) -> UserRecord:
        if not permissions.is_global_admin(actor):
            raise Forbidden("Only admins can change roles")
        if role not in permissions.GLOBAL_ROLES:
            raise BadUserInput("role is not valid", field="role")
        target_id = validation.entity_id(user_id, "userId")
        if target_id == actor.id:
            raise BadUserInput("Admins cannot change their own role", field="userId")
        updated = await self._store.update_user(target_id, {"role": role})
        if updated is None:
            raise NotFound("User not found", field="userId")
        return updated

    async def promote_admin(self, username: str) -> UserRecord | None:
        """Bootstrap: make an existing user a global admin (CLI / CHATQL_BOOTSTRAP_ADMIN)."""
        user = await self._store.get_user_by_username(username.strip().lower())
        if user is None:
            return None
        return await self._store.update_user(user.id, {"role": "ADMIN"})

    async def _room(self, actor: UserRecord, room_id: str) -> RoomRecord:
        """Global moderators and admins reach every room; others only rooms they can see."""
        if permissions.is_global_moderator(actor):
            room = await self._store.get_room(validation.entity_id(room_id, "roomId"))
            if room is None:
                raise NotFound("Chat room not found")
            return room
        return await self._rooms.visible_room(actor, room_id)

    # ------------------------------------------------------------ owners
    async def _owned_room(self, actor: UserRecord, room_id: str) -> RoomRecord:
        room = await self._room(actor, room_id)
        if room.owner_id != actor.id and not permissions.is_global_admin(actor):
            raise Forbidden("Only the room owner can do that")
        if room.is_direct:
            raise Forbidden("Direct chats cannot be changed")
        return room

    async def update_room(
        self,
        actor: UserRecord,
        room_id: str,
        name: str | None,
        description: str | None,
        is_private: bool | None,
    ) -> RoomRecord:
        room = await self._owned_room(actor, room_id)
        changes: dict[str, object] = {}
        if name is not None:
            changes["name"] = validation.required_text(name, "name", validation.MAX_NAME)
        if description is not None:
            changes["description"] = validation.text(
                description, "description", validation.MAX_DESCRIPTION, required=False
            )
        if is_private is not None:
            changes["is_private"] = is_private
        if not changes:
            raise BadUserInput("Nothing to update", field="input")
        changes["updated_at"] = now_utc()
        updated = await self._store.update_room(room.id, changes)
        self._rooms.forget(room.id)
        if updated is None:
            raise NotFound("Chat room not found")
        return updated

    async def delete_room(self, actor: UserRecord, room_id: str) -> bool:
        room = await self._owned_room(actor, room_id)
        # Its files become unreachable at once; the garbage collector removes their bytes.
        await self._store.remove_room_uploads(room.id, now_utc())
        deleted = await self._store.delete_room(room.id)
        self._rooms.forget(room.id)
        return deleted

    async def set_member_role(
        self, actor: UserRecord, room_id: str, user_id: str, role: str
    ) -> RoomRecord:
        room = await self._owned_room(actor, room_id)
        if role not in ("ADMIN", "MEMBER"):
            raise BadUserInput("role must be ADMIN or MEMBER", field="role")
        target_id = validation.entity_id(user_id, "userId")
        if target_id == room.owner_id:
            raise BadUserInput("The owner's role cannot change", field="userId")
        updated = await self._store.update_membership(room.id, target_id, {"role": role})
        self._rooms.membership_changed(room.id, target_id)
        if updated is None:
            raise NotFound("That user is not a member", field="userId")
        return room

    # ------------------------------------------------------------ moderators
    async def _moderated(
        self, actor: UserRecord, room_id: str, user_id: str
    ) -> tuple[RoomRecord, str]:
        room = await self._room(actor, room_id)
        target_id = validation.entity_id(user_id, "userId")
        if target_id == actor.id:
            raise BadUserInput("You cannot moderate yourself", field="userId")
        target = await self._store.get_user(target_id)
        if target is None:
            raise NotFound("User not found", field="userId")
        actor_role = await self._rooms.role_of(room.id, actor.id)
        target_role = await self._rooms.role_of(room.id, target_id)
        if not permissions.can_moderate(actor, actor_role, target, target_role):
            raise Forbidden("You do not outrank that member here")
        return room, target_id

    async def remove_member(self, actor: UserRecord, room_id: str, user_id: str) -> bool:
        room, target = await self._moderated(actor, room_id, user_id)
        if await self._rooms.role_of(room.id, target) is None:
            raise NotFound("That user is not a member", field="userId")
        removed = await self._store.remove_member(room.id, target)
        self._rooms.membership_changed(room.id, target)
        return removed

    async def ban(
        self, actor: UserRecord, room_id: str, user_id: str, until: datetime | None
    ) -> bool:
        if until is not None and until <= now_utc():
            raise BadUserInput("until must be in the future", field="until")
        room, target = await self._moderated(actor, room_id, user_id)
        await self._store.set_ban(BanRecord(room.id, target, actor.id, now_utc(), until))
        await self._store.remove_member(room.id, target)
        self._rooms.membership_changed(room.id, target)
        return True

    async def unban(self, actor: UserRecord, room_id: str, user_id: str) -> bool:
        room, target = await self._moderated(actor, room_id, user_id)
        return await self._store.remove_ban(room.id, target)

    async def mute(
        self, actor: UserRecord, room_id: str, user_id: str, until: datetime | None
    ) -> bool:
        if until is not None and until <= now_utc():
            raise BadUserInput("until must be in the future", field="until")
        room, target = await self._moderated(actor, room_id, user_id)
        if await self._rooms.role_of(room.id, target) is None:
            raise NotFound("That user is not a member", field="userId")
        until = until or FOREVER
        await self._store.set_ban(BanRecord(room.id, target, actor.id, now_utc(), until, "MUTE"))
        await self._store.update_membership(room.id, target, {"muted_until": until})
        self._rooms.membership_changed(room.id, target)
        return True

    async def unmute(self, actor: UserRecord, room_id: str, user_id: str) -> bool:
        room, target = await self._moderated(actor, room_id, user_id)
        await self._store.update_membership(room.id, target, {"muted_until": None})
        self._rooms.membership_changed(room.id, target)
        return await self._store.remove_ban(room.id, target, kind="MUTE")
