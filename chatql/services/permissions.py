"""Who outranks whom: room roles, and global moderators and admins above room admins.

A moderation action needs a higher rank than its target has. The owner is never a target;
global moderators act in any room, below only the room's owner.
"""

from __future__ import annotations

from chatql.store.base import UserRecord

ROOM_RANK = {"OWNER": 4, "ADMIN": 2, "MEMBER": 1}
GLOBAL_MODERATION_RANK = 3
GLOBAL_ROLES = ("ADMIN", "MODERATOR", "USER")


def is_global_moderator(user: UserRecord) -> bool:
    return user.role in ("ADMIN", "MODERATOR")


def is_global_admin(user: UserRecord) -> bool:
    return user.role == "ADMIN"


def rank(user: UserRecord, room_role: str | None) -> int:
    """The acting rank of `user` in a room where their role is `room_role` (None: not in it)."""
    own = ROOM_RANK.get(room_role or "", 0)
    return max(own, GLOBAL_MODERATION_RANK) if is_global_moderator(user) else own


def can_moderate(actor: UserRecord, actor_role: str | None, target_role: str | None) -> bool:
    """Remove, ban or mute: only someone of higher rank; room admins and up only."""
    actor_rank = rank(actor, actor_role)
    return actor_rank >= ROOM_RANK["ADMIN"] and actor_rank > ROOM_RANK.get(target_role or "", 0)
