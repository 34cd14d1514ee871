"""Users and refresh tokens in MongoDB (refresh tokens are not in the change feed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument

from chatql.errors import StoreConflict
from chatql.store.mongo.documents import contains, fetch, record, records, to_doc, utc
from chatql.store.mongo.engine import MongoEngine
from chatql.store.records import RefreshTokenRecord, UsernameHoldRecord, UserRecord, now_utc


class UserStore(MongoEngine):
    async def create_user(self, user: UserRecord) -> None:
        """No transactions: a hold is checked before the insert and again after it (a rename
        writes its hold before freeing the name, so the second check sees any hold the first
        could miss), and a user that lost that race is taken back out."""
        if await self._held_for_other(user.username, user.id):
            raise StoreConflict("username")
        await self._insert(self._users, to_doc(user))
        if await self._held_for_other(user.username, user.id):
            await self._users.delete_one({"_id": user.id})
            raise StoreConflict("username")

    async def _held_for_other(self, username: str, user_id: str) -> bool:
        hold = await self._username_holds.find_one(
            {"_id": username.lower(), "user_id": {"$ne": user_id}, "until": {"$gt": now_utc()}}
        )
        return hold is not None

    async def get_user(self, user_id: str) -> UserRecord | None:
        return record(UserRecord, await self._users.find_one({"_id": user_id}))

    async def get_users(self, user_ids: Sequence[str]) -> dict[str, UserRecord]:
        ids = list(dict.fromkeys(user_ids))
        if not ids:
            return {}
        docs = await self._users.find({"_id": {"$in": ids}}).to_list(None)
        return {u.id: u for u in records(UserRecord, docs)}

    async def get_user_by_username(self, username: str) -> UserRecord | None:
        return record(UserRecord, await self._users.find_one({"username": username.lower()}))

    async def get_users_by_usernames(self, usernames: Sequence[str]) -> dict[str, UserRecord]:
        names = list(dict.fromkeys(u.lower() for u in usernames))
        if not names:
            return {}
        docs = await self._users.find({"username": {"$in": names}}).to_list(None)
        return {u.username: u for u in records(UserRecord, docs)}

    async def search_users(
        self, term: str, limit: int, after_username: str | None
    ) -> list[UserRecord]:
        query = {
            "$or": [{"username": contains(term)}, {"display_name": contains(term)}],
            "username": {"$gt": after_username or ""},
            "deleted_at": None,
            "role": {"$ne": "GUEST"},
        }
        cursor = self._users.find(query).sort([("username", ASCENDING)])
        return records(UserRecord, await fetch(cursor, limit))

    async def update_user(self, user_id: str, changes: Mapping[str, Any]) -> UserRecord | None:
        return record(UserRecord, await self._set(self._users, user_id, changes))

    async def get_user_by_email(self, email: str) -> UserRecord | None:
        return record(UserRecord, await self._users.find_one({"email": email.lower()}))

    async def rename_user(
        self, user_id: str, username: str, hold_old_until: datetime, now: datetime
    ) -> UserRecord | None:
        """The old name's hold is written before the name is freed; a hold found on the new
        name after taking it (a race with its owner) gives the old name back."""
        name = username.lower()
        current = await self._users.find_one({"_id": user_id}, {"username": 1})
        if current is None:
            return None
        old = current["username"]
        held = {"_id": name, "user_id": {"$ne": user_id}, "until": {"$gt": utc(now)}}
        if await self._username_holds.find_one(held) is not None:
            raise StoreConflict("username")
        if old != name:
            await self._username_holds.replace_one(
                {"_id": old},
                {"_id": old, "user_id": user_id, "until": utc(hold_old_until)},
                upsert=True,
            )
        doc = await self._set(self._users, user_id, {"username": name})
        if await self._username_holds.find_one(held) is not None:
            await self._set(self._users, user_id, {"username": old})
            raise StoreConflict("username")
        await self._username_holds.delete_one({"_id": name, "user_id": user_id})
        return record(UserRecord, doc)

    async def username_holds(
        self, usernames: Sequence[str], now: datetime
    ) -> dict[str, UsernameHoldRecord]:
        names = list(dict.fromkeys(u.lower() for u in usernames))
        if not names:
            return {}
        docs = await self._username_holds.find(
            {"_id": {"$in": names}, "until": {"$gt": utc(now)}}
        ).to_list(None)
        return {d["_id"]: UsernameHoldRecord(d["_id"], d["user_id"], utc(d["until"])) for d in docs}

    async def expired_guests(self, now: datetime, limit: int) -> list[UserRecord]:
        cursor = self._users.find({"role": "GUEST", "expires_at": {"$lte": utc(now)}})
        return records(UserRecord, await fetch(cursor, limit))

    async def delete_user(self, user_id: str) -> bool:
        await self._tokens.delete_many({"user_id": user_id})
        await self._connections.delete_many({"user_id": user_id})
        result = await self._users.delete_one({"_id": user_id})
        return int(result.deleted_count) == 1

    async def erase_user_data(self, user_id: str) -> None:
        for collection in (
            self._notifications,
            self._identities,
            self._account_tokens,
            self._stream_ratings,
        ):
            await collection.delete_many({"user_id": user_id})
        await self._follows.delete_many(
            {"$or": [{"follower_id": user_id}, {"followee_id": user_id}]}
        )
        await self._tokens.delete_many({"user_id": user_id})

    async def bump_token_version(self, user_id: str) -> int:
        doc = await self._users.find_one_and_update(
            {"_id": user_id},
            {"$inc": {"token_version": 1}},
            return_document=ReturnDocument.AFTER,
        )
        return int(doc["token_version"]) if doc is not None else 0

    # ---------------------------------------------------------------- refresh tokens
    async def insert_refresh_token(self, token: RefreshTokenRecord) -> None:
        await self._insert(self._tokens, to_doc(token))

    async def get_refresh_token(self, token_hash: str) -> RefreshTokenRecord | None:
        return record(RefreshTokenRecord, await self._tokens.find_one({"token_hash": token_hash}))

    async def revoke_refresh_token(self, token_id: str, when: datetime) -> bool:
        result = await self._tokens.update_one(
            {"_id": token_id, "revoked_at": None}, {"$set": {"revoked_at": utc(when)}}
        )
        return int(result.modified_count) == 1

    async def revoke_token_family(self, family_id: str, when: datetime) -> None:
        await self._tokens.update_many(
            {"family_id": family_id, "revoked_at": None}, {"$set": {"revoked_at": utc(when)}}
        )

    async def revoke_user_tokens(self, user_id: str, when: datetime) -> None:
        await self._tokens.update_many(
            {"user_id": user_id, "revoked_at": None}, {"$set": {"revoked_at": utc(when)}}
        )
