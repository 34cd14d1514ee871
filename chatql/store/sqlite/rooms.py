"""Rooms, memberships and room bans in SQLite."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import aiosqlite

from chatql.store.base import MembershipRecord, RoomRecord, membership_id
from chatql.store.sqlite.engine import Emitted, SQLiteEngine, like_pattern, to_text


class RoomStore(SQLiteEngine):
    async def create_room(self, room: RoomRecord, members: Sequence[MembershipRecord]) -> None:
        async def work(conn: aiosqlite.Connection, emitted: Emitted) -> None:
            doc = room.to_doc()
            await self._insert(conn, "rooms", {**doc, "name_lower": room.name.lower()})
            emitted.append(("insert", "rooms", room.id, doc))
            for member in members:
                await self._insert(conn, "memberships", member.to_doc())
                emitted.append(("insert", "memberships", member.id, member.to_doc()))

        await self._write(work)

    @staticmethod
    def _room(doc: dict[str, Any] | None) -> RoomRecord | None:
        return RoomRecord.from_doc(doc) if doc else None

    async def get_room(self, room_id: str) -> RoomRecord | None:
        return self._room(await self._one("SELECT * FROM rooms WHERE id = ?", (room_id,)))

    async def get_rooms(self, room_ids: Sequence[str]) -> dict[str, RoomRecord]:
        ids = list(dict.fromkeys(room_ids))
        if not ids:
            return {}
        docs = await self._all(
            f"SELECT * FROM rooms WHERE id IN ({', '.join('?' * len(ids))})", ids
        )
        return {d["id"]: RoomRecord.from_doc(d) for d in docs}

    async def get_direct_room(self, direct_key: str) -> RoomRecord | None:
        return self._room(
            await self._one("SELECT * FROM rooms WHERE direct_key = ?", (direct_key,))
        )

    async def update_room(self, room_id: str, changes: Mapping[str, Any]) -> RoomRecord | None:
        async def work(conn: aiosqlite.Connection, emitted: Emitted) -> RoomRecord | None:
            values = dict(changes)
            if "name" in values:
                values["name_lower"] = str(values["name"]).lower()
            if values:
                await self._update(conn, "rooms", {"id": room_id}, values)
            doc = await self._fetch(conn, "SELECT * FROM rooms WHERE id = ?", (room_id,))
            if doc is None:
                return None
            emitted.append(("update", "rooms", room_id, doc))
            return RoomRecord.from_doc(doc)

        return await self._write(work)

    async def list_user_rooms(
        self, user_id: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[RoomRecord]:
        params: list[Any] = [user_id]
        where = ""
        if after is not None:
            where = "AND (r.last_activity < ? OR (r.last_activity = ? AND r.id < ?))"
            params += [to_text(after[0]), to_text(after[0]), after[1]]
        docs = await self._all(
            "SELECT r.* FROM memberships m JOIN rooms r ON r.id = m.room_id "
            f"WHERE m.user_id = ? {where} ORDER BY r.last_activity DESC, r.id DESC LIMIT ?",
            [*params, limit],
        )
        return [RoomRecord.from_doc(d) for d in docs]

    async def list_public_rooms(
        self, term: str | None, limit: int, after: tuple[str, str] | None
    ) -> list[RoomRecord]:
        params: list[Any] = []
        where = "is_private = 0 AND is_direct = 0"
        if term:
            where += " AND name_lower LIKE ? ESCAPE '\\'"
            params.append(like_pattern(term))
        if after is not None:
            where += " AND (name_lower > ? OR (name_lower = ? AND id > ?))"
            params += [after[0], after[0], after[1]]
        docs = await self._all(
            f"SELECT * FROM rooms WHERE {where} ORDER BY name_lower, id LIMIT ?", [*params, limit]
        )
        return [RoomRecord.from_doc(d) for d in docs]

    # ---------------------------------------------------------------- memberships
    async def add_member(self, member: MembershipRecord) -> bool:
        async def work(conn: aiosqlite.Connection, emitted: Emitted) -> bool:
            cursor = await conn.execute(
                "INSERT OR IGNORE INTO memberships (room_id, user_id, role, joined_at) "
                "VALUES (?, ?, ?, ?)",
                (member.room_id, member.user_id, member.role, to_text(member.joined_at)),
            )
            if cursor.rowcount != 1:
                return False
            emitted.append(("insert", "memberships", member.id, member.to_doc()))
            return True

        return await self._write(work)

    async def remove_member(self, room_id: str, user_id: str) -> bool:
        async def work(conn: aiosqlite.Connection, emitted: Emitted) -> bool:
            cursor = await conn.execute(
                "DELETE FROM memberships WHERE room_id = ? AND user_id = ?", (room_id, user_id)
            )
            if cursor.rowcount != 1:
                return False
            emitted.append(("delete", "memberships", membership_id(room_id, user_id), None))
            return True

        return await self._write(work)

    async def set_member_role(self, room_id: str, user_id: str, role: str) -> None:
        async def work(conn: aiosqlite.Connection, emitted: Emitted) -> None:
            doc = await self._fetch(
                conn,
                "UPDATE memberships SET role = ? WHERE room_id = ? AND user_id = ? RETURNING *",
                (role, room_id, user_id),
            )
            if doc is not None:
                emitted.append(("update", "memberships", membership_id(room_id, user_id), doc))

        await self._write(work)

    async def get_membership(self, room_id: str, user_id: str) -> MembershipRecord | None:
        doc = await self._one(
            "SELECT * FROM memberships WHERE room_id = ? AND user_id = ?", (room_id, user_id)
        )
        return MembershipRecord.from_doc(doc) if doc else None

    async def list_members(
        self, room_id: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[MembershipRecord]:
        params: list[Any] = [room_id]
        where = ""
        if after is not None:
            where = "AND (joined_at > ? OR (joined_at = ? AND user_id > ?))"
            params += [to_text(after[0]), to_text(after[0]), after[1]]
        docs = await self._all(
            f"SELECT * FROM memberships WHERE room_id = ? {where} "
            "ORDER BY joined_at, user_id LIMIT ?",
            [*params, limit],
        )
        return [MembershipRecord.from_doc(d) for d in docs]

    async def count_members(self, room_id: str) -> int:
        doc = await self._one("SELECT count(*) AS n FROM memberships WHERE room_id = ?", (room_id,))
        return int(doc["n"]) if doc else 0

    async def member_ids(self, room_id: str) -> frozenset[str]:
        docs = await self._all("SELECT user_id FROM memberships WHERE room_id = ?", (room_id,))
        return frozenset(d["user_id"] for d in docs)
