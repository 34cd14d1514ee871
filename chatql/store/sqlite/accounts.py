"""Account tokens (mail links, login codes) and linked external identities in SQLite."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from chatql.store.records import AccountTokenRecord, IdentityRecord
from chatql.store.sqlite.engine import SQLiteEngine, to_text
from chatql.store.sqlite.worker import Emitted


class AccountStore(SQLiteEngine):
    async def insert_account_token(self, token: AccountTokenRecord) -> None:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> None:
            self._insert(conn, "account_tokens", token.to_doc())

        await self._write(work)

    async def get_account_token(self, token_hash: str) -> AccountTokenRecord | None:
        doc = await self._one("SELECT * FROM account_tokens WHERE token_hash = ?", (token_hash,))
        return AccountTokenRecord.from_doc(doc) if doc else None

    async def use_account_token(self, token_id: str, when: datetime) -> bool:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> bool:
            cursor = conn.execute(
                "UPDATE account_tokens SET used_at = ? WHERE id = ? AND used_at IS NULL",
                (to_text(when), token_id),
            )
            return cursor.rowcount == 1

        return await self._write(work)

    async def delete_account_tokens(self, user_id: str, purpose: str) -> int:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> int:
            cursor = conn.execute(
                "DELETE FROM account_tokens WHERE user_id = ? AND purpose = ?", (user_id, purpose)
            )
            return cursor.rowcount

        return await self._write(work)

    async def purge_account_tokens(self, expired_before: datetime) -> int:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> int:
            cursor = conn.execute(
                "DELETE FROM account_tokens WHERE expires_at < ?", (to_text(expired_before),)
            )
            return cursor.rowcount

        return await self._write(work)

    async def insert_identity(self, identity: IdentityRecord) -> None:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> None:
            self._insert(conn, "identities", identity.to_doc())

        await self._write(work)

    async def get_identity(self, provider: str, subject: str) -> IdentityRecord | None:
        doc = await self._one(
            "SELECT * FROM identities WHERE provider = ? AND subject = ?", (provider, subject)
        )
        return IdentityRecord.from_doc(doc) if doc else None
