"""Connections (presence) and room watches in MongoDB. Neither is in the change feed: the
presence service turns them into user status changes, which are.

A room watch's `_id` is `room_id:connection_id` (room ids are fixed-length hex), so adding
one twice is a no-op; removing a connection removes its watches, like SQLite's cascade."""

from __future__ import annotations

from datetime import datetime

from pymongo.errors import DuplicateKeyError

from chatql.store.mongo.documents import record, to_doc, utc
from chatql.store.mongo.engine import MongoEngine
from chatql.store.records import ConnectionRecord


def _watch_id(connection_id: str, room_id: str) -> str:
    return f"{room_id}:{connection_id}"


class PresenceStore(MongoEngine):
    async def add_connection(self, connection: ConnectionRecord) -> None:
        await self._insert(self._connections, to_doc(connection))

    async def remove_connection(self, connection_id: str) -> ConnectionRecord | None:
        doc = await self._connections.find_one_and_delete({"_id": connection_id})
        if doc is None:
            return None
        await self._watches.delete_many({"connection_id": connection_id})
        return record(ConnectionRecord, doc)

    async def count_connections(self, user_id: str) -> int:
        return int(await self._connections.count_documents({"user_id": user_id}))

    async def heartbeat(self, process_id: str, when: datetime) -> None:
        await self._connections.update_many(
            {"process_id": process_id}, {"$set": {"heartbeat_at": utc(when)}}
        )

    async def remove_stale_connections(self, before: datetime) -> list[str]:
        """Find the stale connections, delete those still stale, and report the users whose
        connections this call removed (a heartbeat in between keeps a connection)."""
        stale = {"heartbeat_at": {"$lt": utc(before)}}
        docs = await self._connections.find(stale, {"user_id": 1}).to_list(None)
        if not docs:
            return []
        users = {str(d["_id"]): str(d["user_id"]) for d in docs}
        ids = list(users)
        result = await self._connections.delete_many({"_id": {"$in": ids}, **stale})
        if int(result.deleted_count) != len(ids):
            kept = await self._connections.find({"_id": {"$in": ids}}, {"_id": 1}).to_list(None)
            for d in kept:
                users.pop(str(d["_id"]), None)
        await self._watches.delete_many({"connection_id": {"$in": list(users)}})
        return sorted(set(users.values()))

    async def add_room_watch(self, connection_id: str, room_id: str, user_id: str) -> None:
        """Only for a connection that exists; checked again after the write, so a watch never
        outlives a connection removed concurrently."""
        if await self._connections.count_documents({"_id": connection_id}, limit=1) == 0:
            return
        key = _watch_id(connection_id, room_id)
        try:
            await self._watches.update_one(
                {"_id": key},
                {
                    "$setOnInsert": {
                        "connection_id": connection_id,
                        "room_id": room_id,
                        "user_id": user_id,
                    }
                },
                upsert=True,
            )
        except DuplicateKeyError:
            return  # a concurrent add of the same watch won
        if await self._connections.count_documents({"_id": connection_id}, limit=1) == 0:
            await self._watches.delete_one({"_id": key})

    async def remove_room_watch(self, connection_id: str, room_id: str) -> None:
        await self._watches.delete_one({"_id": _watch_id(connection_id, room_id)})

    async def room_watchers(self, room_id: str) -> frozenset[str]:
        docs = await self._watches.find({"room_id": room_id}, {"user_id": 1, "_id": 0}).to_list(
            None
        )
        return frozenset(str(d["user_id"]) for d in docs)

    async def notification_targets(self, room_id: str) -> list[tuple[str, bool, bool]]:
        members = (
            await self._db["memberships"]
            .find({"room_id": room_id}, {"user_id": 1, "notifications_muted": 1, "_id": 0})
            .to_list(None)
        )
        watching = await self.room_watchers(room_id)
        return [
            (str(m["user_id"]), bool(m.get("notifications_muted")), m["user_id"] in watching)
            for m in members
        ]
