"""Users and refresh tokens in MongoDB (refresh tokens are not in the change feed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument

from chatql.store.base import RefreshTokenRecord, UserRecord
from chatql.store.mongo.documents import contains, fetch, record, records, to_doc, utc
from chatql.store.mongo.engine import MongoEngine


class UserStore(MongoEngine):
    async def create_user(self, user: UserRecord) -> None:
        await self._insert(self._users, to_doc(user))

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
        }
        cursor = self._users.find(query).sort([("username", ASCENDING)])
        return records(UserRecord, await fetch(cursor, limit))

    async def update_user(self, user_id: str, changes: Mapping[str, Any]) -> UserRecord | None:
        return record(UserRecord, await self._set(self._users, user_id, changes))

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
