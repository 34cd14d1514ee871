"""Reactions in SQLite: one row per (message, user, emoji), grouped on read."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from chatql.store.ids import reaction_id
from chatql.store.records import ReactionGroup, ReactionRecord
from chatql.store.sqlite.engine import SQLiteEngine, from_text
from chatql.store.sqlite.worker import Emitted


class ReactionStore(SQLiteEngine):
    async def add_reaction(self, reaction: ReactionRecord) -> bool:
        def work(conn: sqlite3.Connection, emitted: Emitted) -> bool:
            if not self._insert(conn, "reactions", reaction.to_doc(), or_ignore=True):
                return False
            emitted.append(("insert", "reactions", reaction.id, reaction.to_doc()))
            return True

        return await self._write(work)

    async def remove_reaction(
        self, room_id: str, message_id: str, user_id: str, emoji: str
    ) -> bool:
        def work(conn: sqlite3.Connection, emitted: Emitted) -> bool:
            cursor = conn.execute(
                "DELETE FROM reactions WHERE message_id = ? AND user_id = ? AND emoji = ?",
                (message_id, user_id, emoji),
            )
            if cursor.rowcount != 1:
                return False
            key = reaction_id(room_id, message_id, user_id, emoji)
            emitted.append(("delete", "reactions", key, None))
            return True

        return await self._write(work)

    async def reaction_groups(
        self, message_ids: Sequence[str], viewer_id: str
    ) -> dict[str, list[ReactionGroup]]:
        ids = list(dict.fromkeys(message_ids))
        if not ids:
            return {}
        docs = await self._all(
            "SELECT message_id, emoji, count(*) AS n, max(user_id = ?) AS mine, "
            "min(created_at) AS first_at FROM reactions "
            f"WHERE message_id IN ({', '.join('?' * len(ids))}) "
            "GROUP BY message_id, emoji ORDER BY first_at, emoji",
            [viewer_id, *ids],
        )
        groups: dict[str, list[ReactionGroup]] = {i: [] for i in ids}
        for d in docs:
            first = from_text(d["first_at"])
            assert first is not None
            groups[d["message_id"]].append(
                ReactionGroup(d["emoji"], int(d["n"]), bool(d["mine"]), first)
            )
        return groups

    async def reaction_users(self, message_id: str, emoji: str, limit: int) -> list[str]:
        docs = await self._all(
            "SELECT user_id FROM reactions WHERE message_id = ? AND emoji = ? "
            "ORDER BY created_at, user_id LIMIT ?",
            (message_id, emoji, limit),
        )
        return [d["user_id"] for d in docs]
