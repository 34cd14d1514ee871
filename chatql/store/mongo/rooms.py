"""Rooms, memberships and room bans in MongoDB."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from chatql.errors import StoreConflict
from chatql.store.ids import membership_id
from chatql.store.mongo.documents import (
    aggregate,
    bulk_duplicate,
    constraint,
    contains,
    fetch,
    keyed_doc,
    record,
    records,
    to_doc,
    utc,
)
from chatql.store.mongo.engine import MongoEngine
from chatql.store.records import BanRecord, MembershipRecord, RoomRecord


def _membership_doc(member: MembershipRecord) -> dict[str, Any]:
    return keyed_doc(member.id, member)


class RoomStore(MongoEngine):
    async def create_room(self, room: RoomRecord, members: Sequence[MembershipRecord]) -> None:
        """Room first, then its members; on a failure undo what was inserted."""
        await self._insert(self._rooms, {**to_doc(room), "name_lower": room.name.casefold()})
        docs = [_membership_doc(m) for m in members]
        if not docs:
            return
        try:
            await self._memberships.insert_many(docs, ordered=True)
        except Exception as exc:
            await self._memberships.delete_many({"_id": {"$in": [d["_id"] for d in docs]}})
            await self._rooms.delete_one({"_id": room.id})
            if isinstance(exc, DuplicateKeyError):
                raise StoreConflict(constraint(exc)) from exc
            duplicate = bulk_duplicate(exc)
            if duplicate is not None:
                raise StoreConflict(duplicate) from exc
            raise

    async def get_room(self, room_id: str) -> RoomRecord | None:
        return record(RoomRecord, await self._rooms.find_one({"_id": room_id}))

    async def get_rooms(self, room_ids: Sequence[str]) -> dict[str, RoomRecord]:
        ids = list(dict.fromkeys(room_ids))
        if not ids:
            return {}
        docs = await self._rooms.find({"_id": {"$in": ids}}).to_list(None)
        return {r.id: r for r in records(RoomRecord, docs)}

    async def get_direct_room(self, direct_key: str) -> RoomRecord | None:
        return record(RoomRecord, await self._rooms.find_one({"direct_key": direct_key}))

    async def update_room(self, room_id: str, changes: Mapping[str, Any]) -> RoomRecord | None:
        values = dict(changes)
        if "name" in values:
            values["name_lower"] = str(values["name"]).casefold()
        return record(RoomRecord, await self._set(self._rooms, room_id, values))

    async def list_user_rooms(
        self, user_id: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[RoomRecord]:
        ids = sorted(await self.user_room_ids(user_id))
        if not ids:
            return []
        query: dict[str, Any] = {"_id": {"$in": ids}}
        if after is not None:
            when = utc(after[0])
            query["$or"] = [
                {"last_activity": {"$lt": when}},
                {"last_activity": when, "_id": {"$lt": after[1]}},
            ]
        cursor = self._rooms.find(query).sort([("last_activity", DESCENDING), ("_id", DESCENDING)])
        return records(RoomRecord, await fetch(cursor, limit))

    async def list_public_rooms(
        self, term: str | None, limit: int, after: tuple[str, str] | None
    ) -> list[RoomRecord]:
        conditions: list[dict[str, Any]] = [{"is_private": False, "is_direct": False}]
        if term:
            conditions.append({"name_lower": contains(term.casefold())})
        if after is not None:
            conditions.append(
                {
                    "$or": [
                        {"name_lower": {"$gt": after[0]}},
                        {"name_lower": after[0], "_id": {"$gt": after[1]}},
                    ]
                }
            )
        cursor = self._rooms.find({"$and": conditions}).sort(
            [("name_lower", ASCENDING), ("_id", ASCENDING)]
        )
        return records(RoomRecord, await fetch(cursor, limit))

    async def delete_room(self, room_id: str) -> bool:
        """Memberships first (one delete event each, as services learn who left from them),
        then the room's reactions, messages, notifications and bans, and the room last, so
        that a retry after a failure half-way still finds the room and finishes the job.

        The feed leaves out message deletes; reaction and notification deletes stay in it
        (services need them from `remove_reaction` / `delete_notification`)."""
        await self._memberships.delete_many({"room_id": room_id})
        await self._reactions.delete_many({"room_id": room_id})
        await self._messages.delete_many({"room_id": room_id})
        await self._notifications.delete_many({"room_id": room_id})
        await self._bans.delete_many({"room_id": room_id})
        result = await self._rooms.delete_one({"_id": room_id})
        return int(result.deleted_count) == 1

    # ---------------------------------------------------------------- memberships
    async def add_member(self, member: MembershipRecord) -> bool:
        try:
            await self._memberships.insert_one(_membership_doc(member))
        except DuplicateKeyError:
            return False
        return True

    async def remove_member(self, room_id: str, user_id: str) -> bool:
        result = await self._memberships.delete_one({"_id": membership_id(room_id, user_id)})
        return int(result.deleted_count) == 1

    async def update_membership(
        self, room_id: str, user_id: str, changes: Mapping[str, Any]
    ) -> MembershipRecord | None:
        doc = await self._set(self._memberships, membership_id(room_id, user_id), changes)
        return record(MembershipRecord, doc)

    async def get_membership(self, room_id: str, user_id: str) -> MembershipRecord | None:
        doc = await self._memberships.find_one({"_id": membership_id(room_id, user_id)})
        return record(MembershipRecord, doc)

    async def list_members(
        self, room_id: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[MembershipRecord]:
        query: dict[str, Any] = {"room_id": room_id}
        if after is not None:
            when = utc(after[0])
            query["$or"] = [
                {"joined_at": {"$gt": when}},
                {"joined_at": when, "user_id": {"$gt": after[1]}},
            ]
        cursor = self._memberships.find(query).sort(
            [("joined_at", ASCENDING), ("user_id", ASCENDING)]
        )
        return records(MembershipRecord, await fetch(cursor, limit))

    async def count_members(self, room_id: str) -> int:
        return int(await self._memberships.count_documents({"room_id": room_id}))

    async def member_ids(self, room_id: str) -> frozenset[str]:
        docs = await self._memberships.find({"room_id": room_id}, {"user_id": 1, "_id": 0}).to_list(
            None
        )
        return frozenset(str(d["user_id"]) for d in docs)

    async def room_memberships(self, room_id: str) -> list[MembershipRecord]:
        docs = await self._memberships.find({"room_id": room_id}).to_list(None)
        return records(MembershipRecord, docs)

    async def user_room_ids(self, user_id: str) -> frozenset[str]:
        docs = await self._memberships.find({"user_id": user_id}, {"room_id": 1, "_id": 0}).to_list(
            None
        )
        return frozenset(str(d["room_id"]) for d in docs)

    async def read_states(
        self, user_id: str, room_ids: Sequence[str]
    ) -> dict[str, tuple[int, int]]:
        """One aggregate: the user's memberships of those rooms, each joined with the count of
        other people's undeleted messages after its last_read_seq (the (room_id, seq) index
        serves the lookup)."""
        ids = list(dict.fromkeys(room_ids))
        if not ids:
            return {}
        unread = [
            {
                "$match": {
                    "$expr": {
                        "$and": [
                            {"$eq": ["$room_id", "$$room"]},
                            {"$gt": ["$seq", "$$read"]},
                        ]
                    },
                    "author_id": {"$ne": user_id},
                    "deleted_at": None,
                }
            },
            {"$count": "n"},
        ]
        docs = await aggregate(
            self._memberships,
            [
                {"$match": {"user_id": user_id, "room_id": {"$in": ids}}},
                {
                    "$lookup": {
                        "from": "messages",
                        "let": {
                            "room": "$room_id",
                            "read": {"$ifNull": ["$last_read_seq", 0]},
                        },
                        "pipeline": unread,
                        "as": "unread",
                    }
                },
                {"$project": {"_id": 0, "room_id": 1, "last_read_seq": 1, "unread": 1}},
            ],
        )
        states: dict[str, tuple[int, int]] = {}
        for d in docs:
            counted = d.get("unread") or [{}]  # $count yields no document for no messages
            states[str(d["room_id"])] = (
                int(d.get("last_read_seq") or 0),
                int(counted[0].get("n", 0)),
            )
        return states

    # ---------------------------------------------------------------- room bans
    # Not in the change feed; services check them when someone (re)joins.
    async def set_ban(self, ban: BanRecord) -> None:
        key = _restriction_id(ban.room_id, ban.user_id, ban.kind)
        await self._bans.replace_one({"_id": key}, keyed_doc(key, ban), upsert=True)

    async def get_ban(self, room_id: str, user_id: str, kind: str = "BAN") -> BanRecord | None:
        found = await self._bans.find_one({"_id": _restriction_id(room_id, user_id, kind)})
        return record(BanRecord, found)

    async def remove_ban(self, room_id: str, user_id: str, kind: str = "BAN") -> bool:
        result = await self._bans.delete_one({"_id": _restriction_id(room_id, user_id, kind)})
        return int(result.deleted_count) == 1


def _restriction_id(room_id: str, user_id: str, kind: str) -> str:
    return f"{membership_id(room_id, user_id)}:{kind}"
