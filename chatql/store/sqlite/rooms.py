"""Rooms, memberships and room bans in SQLite."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from chatql.store.ids import membership_id
from chatql.store.records import BanRecord, MembershipRecord, RoomRecord
from chatql.store.sqlite.engine import SQLiteEngine, like_pattern, to_text
from chatql.store.sqlite.worker import Emitted


class RoomStore(SQLiteEngine):
    async def create_room(self, room: RoomRecord, members: Sequence[MembershipRecord]) -> None:
        def work(conn: sqlite3.Connection, emitted: Emitted) -> None:
            doc = room.to_doc()
            self._insert(conn, "rooms", {**doc, "name_lower": room.name.casefold()})
            emitted.append(("insert", "rooms", room.id, doc))
            for member in members:
                self._insert(conn, "memberships", member.to_doc())
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
        def work(conn: sqlite3.Connection, emitted: Emitted) -> RoomRecord | None:
            values = dict(changes)
            if "name" in values:
                values["name_lower"] = str(values["name"]).casefold()
            if values:
                self._update(conn, "rooms", {"id": room_id}, values)
            doc = self._fetch(conn, "SELECT * FROM rooms WHERE id = ?", (room_id,))
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
        def work(conn: sqlite3.Connection, emitted: Emitted) -> bool:
            if not self._insert(conn, "memberships", member.to_doc(), or_ignore=True):
                return False
            emitted.append(("insert", "memberships", member.id, member.to_doc()))
            return True

        return await self._write(work)

    async def remove_member(self, room_id: str, user_id: str) -> bool:
        def work(conn: sqlite3.Connection, emitted: Emitted) -> bool:
            cursor = conn.execute(
                "DELETE FROM memberships WHERE room_id = ? AND user_id = ?", (room_id, user_id)
            )
            if cursor.rowcount != 1:
                return False
            emitted.append(("delete", "memberships", membership_id(room_id, user_id), None))
            return True

        return await self._write(work)

    async def update_membership(
        self, room_id: str, user_id: str, changes: Mapping[str, Any]
    ) -> MembershipRecord | None:
        def work(conn: sqlite3.Connection, emitted: Emitted) -> MembershipRecord | None:
            key = {"room_id": room_id, "user_id": user_id}
            if changes:
                self._update(conn, "memberships", key, changes)
            doc = self._fetch(
                conn,
                "SELECT * FROM memberships WHERE room_id = ? AND user_id = ?",
                (room_id, user_id),
            )
            if doc is None:
                return None
            emitted.append(("update", "memberships", membership_id(room_id, user_id), doc))
            return MembershipRecord.from_doc(doc)

        return await self._write(work)

    async def room_memberships(self, room_id: str) -> list[MembershipRecord]:
        docs = await self._all("SELECT * FROM memberships WHERE room_id = ?", (room_id,))
        return [MembershipRecord.from_doc(d) for d in docs]

    async def user_room_ids(self, user_id: str) -> frozenset[str]:
        docs = await self._all("SELECT room_id FROM memberships WHERE user_id = ?", (user_id,))
        return frozenset(d["room_id"] for d in docs)

    async def read_states(
        self, user_id: str, room_ids: Sequence[str]
    ) -> dict[str, tuple[int, int]]:
        ids = list(dict.fromkeys(room_ids))
        if not ids:
            return {}
        docs = await self._all(
            "SELECT m.room_id, m.last_read_seq, (SELECT count(*) FROM messages g "
            "WHERE g.room_id = m.room_id AND g.seq > m.last_read_seq AND g.author_id != ? "
            "AND g.deleted_at IS NULL) AS unread FROM memberships m "
            f"WHERE m.user_id = ? AND m.room_id IN ({', '.join('?' * len(ids))})",
            [user_id, user_id, *ids],
        )
        return {d["room_id"]: (int(d["last_read_seq"]), int(d["unread"])) for d in docs}

    async def delete_room(self, room_id: str) -> bool:
        def work(conn: sqlite3.Connection, emitted: Emitted) -> bool:
            members = conn.execute(
                "SELECT user_id FROM memberships WHERE room_id = ?", (room_id,)
            ).fetchall()
            conn.execute("DELETE FROM memberships WHERE room_id = ?", (room_id,))
            conn.execute(
                "DELETE FROM reactions WHERE message_id IN "
                "(SELECT id FROM messages WHERE room_id = ?)",
                (room_id,),
            )
            conn.execute("UPDATE messages SET reply_to_id = NULL WHERE room_id = ?", (room_id,))
            conn.execute("DELETE FROM messages WHERE room_id = ?", (room_id,))
            conn.execute("DELETE FROM notifications WHERE room_id = ?", (room_id,))
            cursor = conn.execute("DELETE FROM rooms WHERE id = ?", (room_id,))
            if cursor.rowcount != 1:
                return False
            for row in members:
                emitted.append(("delete", "memberships", membership_id(room_id, row[0]), None))
            emitted.append(("delete", "rooms", room_id, None))
            return True

        return await self._write(work, heavy=True)

    # room bans: not in the change feed; services check them when someone (re)joins
    async def set_ban(self, ban: BanRecord) -> None:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> None:
            conn.execute(
                "DELETE FROM room_restrictions WHERE room_id = ? AND user_id = ? AND kind = ?",
                (ban.room_id, ban.user_id, ban.kind),
            )
            self._insert(conn, "room_restrictions", ban.to_doc())

        await self._write(work)

    async def get_ban(self, room_id: str, user_id: str, kind: str = "BAN") -> BanRecord | None:
        doc = await self._one(
            "SELECT * FROM room_restrictions WHERE room_id = ? AND user_id = ? AND kind = ?",
            (room_id, user_id, kind),
        )
        return BanRecord.from_doc(doc) if doc else None

    async def remove_ban(self, room_id: str, user_id: str, kind: str = "BAN") -> bool:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> bool:
            cursor = conn.execute(
                "DELETE FROM room_restrictions WHERE room_id = ? AND user_id = ? AND kind = ?",
                (room_id, user_id, kind),
            )
            return cursor.rowcount == 1

        return await self._write(work)

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
