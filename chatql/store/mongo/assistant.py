"""The assistant's turns in MongoDB, keyed by the asking message's id: the insert is the claim
that lets exactly one of several processes answer (not in the change feed)."""

from __future__ import annotations

from chatql.errors import StoreConflict
from chatql.store.mongo.documents import record, to_doc
from chatql.store.mongo.engine import MongoEngine
from chatql.store.records import AssistantTurnRecord


class AssistantStore(MongoEngine):
    async def claim_assistant_turn(self, turn: AssistantTurnRecord) -> bool:
        try:
            await self._insert(self._assistant_turns, to_doc(turn))
        except StoreConflict:
            return False
        return True

    async def set_assistant_reply(self, turn_id: str, reply_id: str) -> None:
        await self._assistant_turns.update_one({"_id": turn_id}, {"$set": {"reply_id": reply_id}})

    async def get_assistant_turn_by_reply(self, reply_id: str) -> AssistantTurnRecord | None:
        doc = await self._assistant_turns.find_one({"reply_id": reply_id})
        return record(AssistantTurnRecord, doc)
