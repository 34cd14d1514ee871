"""The assistant's turns in SQLite: which message is answered, by whom, and with which reply."""

from __future__ import annotations

import sqlite3

from chatql.store.records import AssistantTurnRecord
from chatql.store.sqlite.engine import SQLiteEngine
from chatql.store.sqlite.worker import Emitted


class AssistantStore(SQLiteEngine):
    async def claim_assistant_turn(self, turn: AssistantTurnRecord) -> bool:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> bool:
            return self._insert(conn, "assistant_turns", turn.to_doc(), or_ignore=True)

        return await self._write(work)

    async def set_assistant_reply(self, turn_id: str, reply_id: str) -> None:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> None:
            self._update(conn, "assistant_turns", {"id": turn_id}, {"reply_id": reply_id})

        await self._write(work)

    async def get_assistant_turn_by_reply(self, reply_id: str) -> AssistantTurnRecord | None:
        doc = await self._one("SELECT * FROM assistant_turns WHERE reply_id = ?", (reply_id,))
        return AssistantTurnRecord.from_doc(doc) if doc else None
