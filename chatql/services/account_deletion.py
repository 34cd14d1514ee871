"""Deleting an account: what goes, what stays, and in which order.

The password is checked first. Then sessions end (so nothing new can be written meanwhile),
their streams end (scheduled ones are cancelled, live ones cut off, recordings deleted), the
user leaves every room (ownership passes on as when leaving by hand), personal data goes
(profile, email, avatar, notifications, identities, tokens), and the messages either stay,
shown as by "Deleted user", or are removed (`CHATQL_DELETED_USER_MESSAGES`). The user's row
stays as a tombstone with its id, so messages, reactions and cursors still resolve; its old
username is held for the usual cool-down so nobody can impersonate the person who left.
"""

from __future__ import annotations

from datetime import timedelta

from chatql.config import Settings
from chatql.errors import Forbidden
from chatql.security.rate_limit import RateLimiter
from chatql.services.accounts import Accounts
from chatql.services.files import Files
from chatql.services.messages import Messages
from chatql.services.record_cache import RecordCache
from chatql.services.rooms import Rooms
from chatql.services.streams import Streams
from chatql.store.base import Store
from chatql.store.records import UserRecord, now_utc

DELETED_NAME = "Deleted user"


class AccountDeletion:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        accounts: Accounts,
        rooms: Rooms,
        messages: Messages,
        files: Files,
        users: RecordCache[UserRecord],
        limit: RateLimiter,
        streams: Streams,
    ) -> None:
        self._store = store
        self._settings = settings
        self._accounts = accounts
        self._rooms = rooms
        self._messages = messages
        self._files = files
        self._users = users
        self._limit = limit
        self._streams = streams

    async def delete(self, viewer: UserRecord, password: str, client: str = "") -> bool:
        if viewer.is_guest:
            raise Forbidden("Guests have no account to delete")
        self._limit.hit(f"{client}|delete|{viewer.id}", "account deletion attempts")
        user = await self._accounts.check_password(viewer, password)
        await self._accounts.end_sessions(user.id)
        await self._streams.creator_deleted(user.id)
        for room_id in await self._store.user_room_ids(user.id):
            await self._rooms.leave_room(user, room_id)
        if self._settings.deleted_user_messages == "remove":
            await self._messages.remove_all_by(user.id)
        await self._files.avatar_replaced(user)
        await self._store.erase_user_data(user.id)
        now = now_utc()
        await self._store.rename_user(
            user.id,
            f"deleted-{user.id[:12]}",
            now + timedelta(seconds=self._settings.username_cooldown),
            now,
        )
        await self._store.update_user(
            user.id,
            {
                "display_name": DELETED_NAME,
                "password_hash": "",
                "avatar_url": None,
                "email": None,
                "email_verified": False,
                "terms_version": None,
                "terms_accepted_at": None,
                "current_room": None,
                "status": "OFFLINE",
                "deleted_at": now,
            },
        )
        self._users.forget(user.id)
        return True
