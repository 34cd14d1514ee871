"""MongoDB plumbing shared by the per-concept store modules: client, collections, writes, feed.

There are no multi-document transactions: a message's seq comes from one atomic
`find_one_and_update` `$inc` on its room (which also bumps `message_count` and
`last_activity`), and unique indexes guard the rest. The change feed is a database-level
change stream restricted to the collections services watch (see `feed`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC
from typing import Any
from urllib.parse import unquote, urlsplit

from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.errors import DuplicateKeyError, OperationFailure, PyMongoError

from chatql.errors import StoreConflict
from chatql.store.base import HistoryLost, StoreUnavailable
from chatql.store.ids import new_id
from chatql.store.mongo.documents import REVISION, constraint, encode, maybe_await
from chatql.store.mongo.feed import ChangeFeed, feed_pipeline, history_lost
from chatql.store.mongo.indexes import INDEXES
from chatql.store.records import ChangeEvent, StoreCounts, now_utc

DEFAULT_DATABASE = "chatql"


def database_name(url: str) -> str:
    """`mongodb://h1,h2/chat?replicaSet=rs` -> `chat`; no path -> `chatql`."""
    name = unquote(urlsplit(url).path.lstrip("/"))
    return name or DEFAULT_DATABASE


class MongoEngine:
    def __init__(self, url: str, *, client: Any | None = None, database: str | None = None) -> None:
        self.url = url
        self._owns_client = client is None
        self._client: Any = (
            client if client is not None else AsyncMongoClient(url, tz_aware=True, tzinfo=UTC)
        )
        self._db: Any = self._client[database or database_name(url)]
        self._users: Any = self._db["users"]
        self._tokens: Any = self._db["refresh_tokens"]
        self._rooms: Any = self._db["rooms"]
        self._memberships: Any = self._db["memberships"]
        self._bans: Any = self._db["room_bans"]
        self._messages: Any = self._db["messages"]
        self._reactions: Any = self._db["reactions"]
        self._connections: Any = self._db["connections"]
        self._watches: Any = self._db["room_watches"]
        self._notifications: Any = self._db["notifications"]
        self._events: Any = self._db["events"]
        self._uploads: Any = self._db["uploads"]
        self._account_tokens: Any = self._db["account_tokens"]
        self._identities: Any = self._db["identities"]
        self._username_holds: Any = self._db["username_holds"]
        self._streams: Any = self._db["streams"]
        self._follows: Any = self._db["follows"]
        self._stream_ratings: Any = self._db["stream_ratings"]
        self._stream_watches: Any = self._db["stream_watches"]
        self._stream_samples: Any = self._db["stream_samples"]
        self._assistant_turns: Any = self._db["assistant_turns"]

    # ---------------------------------------------------------------- lifecycle
    async def open(self) -> None:
        """Create the indexes; idempotent (same names, same options each time)."""
        for name, models in INDEXES.items():
            await self._db[name].create_indexes(models)

    async def close(self) -> None:
        if self._owns_client:
            await maybe_await(self._client.close())

    async def ping(self) -> None:
        try:
            await self._client.admin.command("ping")
        except Exception as exc:
            raise StoreUnavailable(str(exc)) from exc

    # ---------------------------------------------------------------- upkeep
    async def pending_migrations(self) -> list[str]:
        """Indexes `open` would create, by name (an index of the same name with other options
        is not noticed: names change when options do)."""
        missing = []
        try:
            for collection, models in INDEXES.items():
                cursor = await maybe_await(self._db[collection].list_indexes())
                present = {index["name"] async for index in cursor}
                missing += [
                    f"index {collection}.{model.document['name']}"
                    for model in models
                    if model.document["name"] not in present
                ]
        except PyMongoError as exc:
            raise StoreUnavailable(str(exc)) from exc
        return missing

    async def migrate(self) -> list[str]:
        pending = await self.pending_migrations()
        try:
            await self.open()
        except PyMongoError as exc:
            raise StoreUnavailable(str(exc)) from exc
        return pending

    async def count_records(self) -> StoreCounts:
        return StoreCounts(
            users=await self._users.count_documents({"deleted_at": None}),
            rooms=await self._rooms.count_documents({}),
            messages=await self._messages.count_documents({"deleted_at": None}),
            streams=await self._streams.count_documents({}),
            uploads=await self._uploads.count_documents({"removed_at": None}),
        )

    # ---------------------------------------------------------------- plumbing
    async def _insert(self, collection: Any, doc: Mapping[str, Any]) -> None:
        try:
            await collection.insert_one(doc)
        except DuplicateKeyError as exc:
            raise StoreConflict(constraint(exc)) from exc

    async def _set(
        self, collection: Any, key: str | Mapping[str, Any], changes: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """Apply `changes` to the document with `_id` `key` (or matching the filter `key`) and
        return the document after them (None when missing).

        Like SQLite's UPDATE, every call on an existing document is a write with a change
        event, even when nothing changes: the server skips no-op updates, so each update
        also bumps the hidden `_rev` counter."""
        values = {k: encode(v) for k, v in changes.items() if k not in ("id", "_id", REVISION)}
        update: dict[str, Any] = {"$inc": {REVISION: 1}}
        if values:
            update["$set"] = values
        query = {"_id": key} if isinstance(key, str) else dict(key)
        try:
            doc: dict[str, Any] | None = await collection.find_one_and_update(
                query, update, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError as exc:
            raise StoreConflict(constraint(exc)) from exc
        return doc

    # ---------------------------------------------------------------- change feed
    async def publish_ephemeral(self, channel: str, payload: Mapping[str, Any]) -> None:
        """Insert into `events`, which every process's change stream sees; the TTL index
        (`indexes.EVENT_TTL_SECONDS`) clears it away, and the feed ignores those deletes."""
        await self._events.insert_one(
            {"_id": new_id(), "channel": channel, "payload": dict(payload), "created_at": now_utc()}
        )

    async def load_feed_position(self, name: str) -> Any:
        doc = await self._db["feed_positions"].find_one({"_id": name})
        return doc.get("token") if doc else None

    async def save_feed_position(self, name: str, token: Any) -> None:
        await self._db["feed_positions"].replace_one(
            {"_id": name}, {"_id": name, "token": token, "saved_at": now_utc()}, upsert=True
        )

    def watch(self, resume_token: Any = None) -> AsyncIterator[ChangeEvent]:
        """Open the change stream now, not at the first `__anext__`.

        `db.watch(...)` is called here. A driver whose watch resolves its start position
        synchronously (mongoeco) is pinned to "now" at this call; pymongo's coroutine is
        scheduled as a task right away, so the aggregate goes out at the next loop turn.
        A token that cannot be resumed raises HistoryLost here or from `__anext__`."""
        if resume_token is not None and not isinstance(resume_token, Mapping):
            raise HistoryLost(f"not a change stream resume token: {resume_token!r}")
        try:
            opening = self._db.watch(
                feed_pipeline(), full_document="updateLookup", resume_after=resume_token
            )
        except OperationFailure as exc:
            if history_lost(exc):
                raise HistoryLost(str(exc)) from exc
            raise
        return ChangeFeed(opening)
