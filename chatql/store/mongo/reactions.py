"""Reactions in MongoDB: one document per (message, user, emoji), grouped on read.

The `_id` is `reaction_id(room, message, user, emoji)`, so a delete event's key alone says
which reaction went away and the `_id` index keeps one reaction per user and emoji."""

from __future__ import annotations

from collections.abc import Sequence

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from chatql.store.mongo.documents import aggregate, decode_doc, fetch, keyed_doc
from chatql.store.mongo.engine import MongoEngine
from chatql.store.records import ReactionGroup, ReactionRecord


class ReactionStore(MongoEngine):
    async def add_reaction(self, reaction: ReactionRecord) -> bool:
        try:
            await self._reactions.insert_one(keyed_doc(reaction.id, reaction))
        except DuplicateKeyError:
            return False
        return True

    async def remove_reaction(
        self, room_id: str, message_id: str, user_id: str, emoji: str
    ) -> bool:
        result = await self._reactions.delete_one(
            {"message_id": message_id, "user_id": user_id, "emoji": emoji}
        )
        return int(result.deleted_count) == 1

    async def reaction_groups(
        self, message_ids: Sequence[str], viewer_id: str
    ) -> dict[str, list[ReactionGroup]]:
        """One aggregate: (message, emoji) groups in order of first use, then emoji."""
        ids = list(dict.fromkeys(message_ids))
        if not ids:
            return {}
        docs = await aggregate(
            self._reactions,
            [
                {"$match": {"message_id": {"$in": ids}}},
                {
                    "$group": {
                        "_id": {"message_id": "$message_id", "emoji": "$emoji"},
                        "n": {"$sum": 1},
                        "mine": {"$max": {"$eq": ["$user_id", viewer_id]}},
                        "first_at": {"$min": "$created_at"},
                    }
                },
                {"$sort": {"first_at": 1, "_id.emoji": 1}},
            ],
        )
        groups: dict[str, list[ReactionGroup]] = {i: [] for i in ids}
        for d in docs:
            first_at = decode_doc({"first_at": d["first_at"]})["first_at"]
            groups[str(d["_id"]["message_id"])].append(
                ReactionGroup(str(d["_id"]["emoji"]), int(d["n"]), bool(d["mine"]), first_at)
            )
        return groups

    async def reaction_users(self, message_id: str, emoji: str, limit: int) -> list[str]:
        cursor = self._reactions.find(
            {"message_id": message_id, "emoji": emoji}, {"user_id": 1, "_id": 0}
        ).sort([("created_at", ASCENDING), ("user_id", ASCENDING)])
        return [str(d["user_id"]) for d in await fetch(cursor, limit)]
