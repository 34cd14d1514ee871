"""Who outranks whom: room roles, and global moderators and admins above room admins.

A moderation action needs a higher rank than its target has. The owner is never a target;
global moderators act in any room, below only the room's owner.
"""

from __future__ import annotations

from chatql.store.records import UserRecord

ROOM_RANK = {"OWNER": 40, "ADMIN": 20, "MEMBER": 10}
GLOBAL_RANK = {"ADMIN": 35, "MODERATOR": 30, "USER": 0}
GLOBAL_ROLES = ("ADMIN", "MODERATOR", "USER")


def is_global_moderator(user: UserRecord) -> bool:
    return user.role in ("ADMIN", "MODERATOR")


def is_global_admin(user: UserRecord) -> bool:
    return user.role == "ADMIN"


def rank(user: UserRecord, room_role: str | None) -> int:
    """The rank of `user` in a room where their role is `room_role` (None: not in it):
    owner > global admin > global moderator > room admin > member."""
    return max(ROOM_RANK.get(room_role or "", 0), GLOBAL_RANK.get(user.role, 0))


def can_moderate(
    actor: UserRecord, actor_role: str | None, target: UserRecord, target_role: str | None
) -> bool:
    """Remove, ban or mute: room admins and up, and only over someone of lower rank."""
    actor_rank = rank(actor, actor_role)
    return actor_rank >= ROOM_RANK["ADMIN"] and actor_rank > rank(target, target_role)
