"""Live streams, follows, ratings, watches and viewer samples in MongoDB.

Streams are in the change feed (`WATCHED_COLLECTIONS`); the rest is read on demand. Follows
and ratings are keyed by the pair they join, so following twice or rating again is one
document."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import DESCENDING, ReturnDocument

from chatql.store.mongo.documents import (
    REVISION,
    aggregate,
    contains,
    encode_doc,
    fetch,
    keyed_doc,
    record,
    records,
    to_doc,
    utc,
)
from chatql.store.mongo.engine import MongoEngine
from chatql.store.records import FollowRecord, RatingRecord, StreamRecord, StreamStats, WatchRecord


def _stream_doc(stream: StreamRecord) -> dict[str, Any]:
    doc = to_doc(stream)
    doc["tags"] = list(stream.tags)
    return doc


class StreamStore(MongoEngine):
    async def insert_stream(self, stream: StreamRecord) -> None:
        await self._insert(self._streams, _stream_doc(stream))

    async def get_stream(self, stream_id: str) -> StreamRecord | None:
        return record(StreamRecord, await self._streams.find_one({"_id": stream_id}))

    async def get_streams(self, stream_ids: Sequence[str]) -> dict[str, StreamRecord]:
        ids = list(dict.fromkeys(stream_ids))
        if not ids:
            return {}
        docs = await fetch(self._streams.find({"_id": {"$in": ids}}), -1)
        return {s.id: s for s in records(StreamRecord, docs)}

    async def update_stream(
        self,
        stream_id: str,
        changes: Mapping[str, Any],
        *,
        statuses: Sequence[str] | None = None,
    ) -> StreamRecord | None:
        values = dict(changes)
        if "tags" in values:
            values["tags"] = list(values["tags"])
        key: dict[str, Any] = {"_id": stream_id}
        if statuses is not None:
            key["status"] = {"$in": list(statuses)}
        return record(StreamRecord, await self._set(self._streams, key, values))

    async def list_streams(
        self,
        *,
        limit: int,
        after: tuple[datetime, str] | None,
        term: str | None = None,
        category_key: str | None = None,
        tag: str | None = None,
        status: str | None = None,
        creator_id: str | None = None,
    ) -> list[StreamRecord]:
        query: dict[str, Any] = {}
        if status is not None:
            query["status"] = status
        elif creator_id is None:
            query["status"] = {"$ne": "CANCELLED"}
        if creator_id is not None:
            query["creator_id"] = creator_id
        if category_key is not None:
            query["category_key"] = category_key
        if tag is not None:
            query["tags"] = tag
        clauses: list[dict[str, Any]] = []
        if term:
            clauses.append({"$or": [{"title": contains(term)}, {"description": contains(term)}]})
        if after is not None:
            when = utc(after[0])
            clauses.append(
                {
                    "$or": [
                        {"created_at": {"$lt": when}},
                        {"created_at": when, "_id": {"$lt": after[1]}},
                    ]
                }
            )
        if clauses:
            query["$and"] = clauses
        cursor = self._streams.find(query).sort([("created_at", DESCENDING), ("_id", DESCENDING)])
        return records(StreamRecord, await fetch(cursor, limit))

    async def stream_categories(self, limit: int) -> list[tuple[str, int, int]]:
        docs = await aggregate(
            self._streams,
            [
                {"$match": {"category_key": {"$type": "string"}, "status": {"$ne": "CANCELLED"}}},
                {
                    "$group": {
                        "_id": "$category_key",
                        "name": {"$min": "$category"},
                        "live": {"$sum": {"$cond": [{"$eq": ["$status", "LIVE"]}, 1, 0]}},
                        "total": {"$sum": 1},
                    }
                },
                {"$sort": {"total": -1, "_id": 1}},
                {"$limit": limit},
            ],
        )
        return [(str(d["name"]), int(d["live"]), int(d["total"])) for d in docs]

    async def raise_peak_viewers(self, stream_id: str, viewers: int) -> StreamRecord | None:
        doc = await self._streams.find_one_and_update(
            {"_id": stream_id, "peak_viewers": {"$lt": viewers}},
            {"$set": {"peak_viewers": viewers}, "$inc": {REVISION: 1}},
            return_document=ReturnDocument.AFTER,
        )
        return record(StreamRecord, doc)

    async def record_viewer_sample(self, stream_id: str, at: datetime, viewers: int) -> None:
        when = utc(at)
        await self._stream_samples.update_one(
            {"_id": f"{stream_id}:{when.isoformat()}"},
            {
                "$max": {"viewers": viewers},
                "$setOnInsert": {"stream_id": stream_id, "at": when},
            },
            upsert=True,
        )

    async def insert_watch(self, watch: WatchRecord) -> None:
        await self._insert(self._stream_watches, to_doc(watch))

    async def stream_stats(
        self, stream: StreamRecord, follows_since: datetime, follows_until: datetime
    ) -> StreamStats:
        watched = await aggregate(
            self._stream_watches,
            [
                {"$match": {"stream_id": stream.id, "seconds": {"$gt": 0}}},
                {"$group": {"_id": "$viewer_id", "seconds": {"$sum": "$seconds"}}},
            ],
        )
        chat_query = {
            "room_id": stream.room_id,
            "deleted_at": None,
            "message_type": {"$ne": "SYSTEM"},
        }
        chat_messages = int(await self._messages.count_documents(chat_query))
        chatters = await aggregate(
            self._messages,
            [{"$match": chat_query}, {"$group": {"_id": "$author_id"}}, {"$count": "n"}],
        )
        summary = (await self.rating_summaries([stream.id])).get(stream.id, (0, 0))
        new_followers = int(
            await self._follows.count_documents(
                {
                    "followee_id": stream.creator_id,
                    "created_at": {"$gte": utc(follows_since), "$lte": utc(follows_until)},
                }
            )
        )
        samples = await fetch(self._stream_samples.find({"stream_id": stream.id}).sort("at"), -1)
        return StreamStats(
            watch_seconds=float(sum(d["seconds"] for d in watched)),
            unique_viewers=frozenset(str(d["_id"]) for d in watched),
            chat_messages=chat_messages,
            chatters=int(chatters[0]["n"]) if chatters else 0,
            rating_sum=summary[0],
            rating_count=summary[1],
            new_followers=new_followers,
            samples=tuple((utc(d["at"]), int(d["viewers"])) for d in samples),
        )

    async def follow(self, follow: FollowRecord) -> bool:
        result = await self._follows.update_one(
            {"_id": follow.id},
            {"$setOnInsert": keyed_doc(follow.id, follow)},
            upsert=True,
        )
        return result.upserted_id is not None

    async def unfollow(self, follower_id: str, followee_id: str) -> bool:
        result = await self._follows.delete_one({"_id": f"{follower_id}:{followee_id}"})
        return int(result.deleted_count) == 1

    async def following(self, follower_id: str, followee_ids: Sequence[str]) -> frozenset[str]:
        ids = list(dict.fromkeys(followee_ids))
        if not ids:
            return frozenset()
        docs = await fetch(
            self._follows.find({"follower_id": follower_id, "followee_id": {"$in": ids}}), -1
        )
        return frozenset(str(d["followee_id"]) for d in docs)

    async def count_followers(self, user_ids: Sequence[str]) -> dict[str, int]:
        ids = list(dict.fromkeys(user_ids))
        if not ids:
            return {}
        docs = await aggregate(
            self._follows,
            [
                {"$match": {"followee_id": {"$in": ids}}},
                {"$group": {"_id": "$followee_id", "n": {"$sum": 1}}},
            ],
        )
        return {str(d["_id"]): int(d["n"]) for d in docs}

    async def follower_ids(self, followee_id: str, limit: int, after: str | None) -> list[str]:
        cursor = self._follows.find(
            {"followee_id": followee_id, "follower_id": {"$gt": after or ""}}
        ).sort("follower_id")
        return [str(d["follower_id"]) for d in await fetch(cursor, limit)]

    async def rate_stream(self, rating: RatingRecord) -> None:
        key = f"{rating.stream_id}:{rating.user_id}"
        await self._stream_ratings.update_one(
            {"_id": key},
            {
                "$set": encode_doc(
                    {
                        "stream_id": rating.stream_id,
                        "user_id": rating.user_id,
                        "rating": rating.rating,
                        "updated_at": rating.updated_at,
                        "comment": rating.comment,
                    }
                ),
                "$setOnInsert": {"created_at": utc(rating.created_at)},
            },
            upsert=True,
        )

    async def rating_summaries(self, stream_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        ids = list(dict.fromkeys(stream_ids))
        if not ids:
            return {}
        docs = await aggregate(
            self._stream_ratings,
            [
                {"$match": {"stream_id": {"$in": ids}}},
                {"$group": {"_id": "$stream_id", "total": {"$sum": "$rating"}, "n": {"$sum": 1}}},
            ],
        )
        return {str(d["_id"]): (int(d["total"]), int(d["n"])) for d in docs}

    async def user_ratings(self, user_id: str, stream_ids: Sequence[str]) -> dict[str, int]:
        ids = list(dict.fromkeys(stream_ids))
        if not ids:
            return {}
        docs = await fetch(
            self._stream_ratings.find({"user_id": user_id, "stream_id": {"$in": ids}}), -1
        )
        return {str(d["stream_id"]): int(d["rating"]) for d in docs}
