"""Account tokens (mail links, login codes) and linked external identities in MongoDB.

Neither is in the change feed: nothing live depends on them.
"""

from __future__ import annotations

from datetime import datetime

from chatql.errors import StoreConflict
from chatql.store.mongo.documents import keyed_doc, record, to_doc, utc
from chatql.store.mongo.engine import MongoEngine
from chatql.store.records import AccountTokenRecord, IdentityRecord


class AccountStore(MongoEngine):
    async def insert_account_token(self, token: AccountTokenRecord) -> None:
        await self._insert(self._account_tokens, to_doc(token))

    async def get_account_token(self, token_hash: str) -> AccountTokenRecord | None:
        doc = await self._account_tokens.find_one({"token_hash": token_hash})
        return record(AccountTokenRecord, doc)

    async def use_account_token(self, token_id: str, when: datetime) -> bool:
        result = await self._account_tokens.update_one(
            {"_id": token_id, "used_at": None}, {"$set": {"used_at": utc(when)}}
        )
        return int(result.modified_count) == 1

    async def delete_account_tokens(self, user_id: str, purpose: str) -> int:
        result = await self._account_tokens.delete_many({"user_id": user_id, "purpose": purpose})
        return int(result.deleted_count)

    async def purge_account_tokens(self, expired_before: datetime) -> int:
        result = await self._account_tokens.delete_many(
            {"expires_at": {"$lt": utc(expired_before)}}
        )
        return int(result.deleted_count)

    async def insert_identity(self, identity: IdentityRecord) -> None:
        try:
            await self._insert(self._identities, keyed_doc(identity.id, identity))
        except StoreConflict:
            raise StoreConflict("identity") from None

    async def get_identity(self, provider: str, subject: str) -> IdentityRecord | None:
        doc = await self._identities.find_one({"provider": provider, "subject": subject})
        if doc is None:
            return None
        doc.pop("_id", None)
        return record(IdentityRecord, doc)
