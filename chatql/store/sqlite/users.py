"""Users and refresh tokens in SQLite."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from chatql.errors import StoreConflict
from chatql.store.records import RefreshTokenRecord, UsernameHoldRecord, UserRecord, now_utc
from chatql.store.sqlite.engine import SQLiteEngine, like_pattern, to_text
from chatql.store.sqlite.worker import Emitted


class UserStore(SQLiteEngine):
    async def create_user(self, user: UserRecord) -> None:
        def work(conn: sqlite3.Connection, emitted: Emitted) -> None:
            if _held_for_other(conn, user.username, user.id, now_utc()):
                raise StoreConflict("username")
            self._insert(conn, "users", user.to_doc())
            emitted.append(("insert", "users", user.id, user.to_doc()))

        await self._write(work)

    async def get_user(self, user_id: str) -> UserRecord | None:
        doc = await self._one("SELECT * FROM users WHERE id = ?", (user_id,))
        return UserRecord.from_doc(doc) if doc else None

    async def get_users(self, user_ids: Sequence[str]) -> dict[str, UserRecord]:
        ids = list(dict.fromkeys(user_ids))
        if not ids:
            return {}
        docs = await self._all(
            f"SELECT * FROM users WHERE id IN ({', '.join('?' * len(ids))})", ids
        )
        return {d["id"]: UserRecord.from_doc(d) for d in docs}

    async def get_user_by_username(self, username: str) -> UserRecord | None:
        doc = await self._one("SELECT * FROM users WHERE username = ?", (username.lower(),))
        return UserRecord.from_doc(doc) if doc else None

    async def get_users_by_usernames(self, usernames: Sequence[str]) -> dict[str, UserRecord]:
        names = list(dict.fromkeys(u.lower() for u in usernames))
        if not names:
            return {}
        docs = await self._all(
            f"SELECT * FROM users WHERE username IN ({', '.join('?' * len(names))})", names
        )
        return {d["username"]: UserRecord.from_doc(d) for d in docs}

    async def search_users(
        self, term: str, limit: int, after_username: str | None
    ) -> list[UserRecord]:
        pattern = like_pattern(term)
        docs = await self._all(
            "SELECT * FROM users WHERE (username LIKE ? ESCAPE '\\' "
            "OR casefold(display_name) LIKE ? ESCAPE '\\') AND username > ? "
            "AND deleted_at IS NULL AND role != 'GUEST' "
            "ORDER BY username LIMIT ?",
            (pattern, pattern, after_username or "", limit),
        )
        return [UserRecord.from_doc(d) for d in docs]

    async def update_user(self, user_id: str, changes: Mapping[str, Any]) -> UserRecord | None:
        def work(conn: sqlite3.Connection, emitted: Emitted) -> UserRecord | None:
            if changes:
                self._update(conn, "users", {"id": user_id}, changes)
            doc = self._fetch(conn, "SELECT * FROM users WHERE id = ?", (user_id,))
            if doc is None:
                return None
            emitted.append(("update", "users", user_id, doc))
            return UserRecord.from_doc(doc)

        return await self._write(work)

    async def get_user_by_email(self, email: str) -> UserRecord | None:
        doc = await self._one("SELECT * FROM users WHERE email = ?", (email.lower(),))
        return UserRecord.from_doc(doc) if doc else None

    async def rename_user(
        self, user_id: str, username: str, hold_old_until: datetime, now: datetime
    ) -> UserRecord | None:
        name = username.lower()

        def work(conn: sqlite3.Connection, emitted: Emitted) -> UserRecord | None:
            old = self._fetch(conn, "SELECT username FROM users WHERE id = ?", (user_id,))
            if old is None:
                return None
            if _held_for_other(conn, name, user_id, now):
                raise StoreConflict("username")
            self._update(conn, "users", {"id": user_id}, {"username": name})
            conn.execute("DELETE FROM username_holds WHERE username = ?", (name,))
            if old["username"] != name:
                conn.execute(
                    "INSERT INTO username_holds (username, user_id, until) VALUES (?, ?, ?) "
                    "ON CONFLICT (username) DO UPDATE SET user_id = excluded.user_id, "
                    "until = excluded.until",
                    (old["username"], user_id, to_text(hold_old_until)),
                )
            doc = self._fetch(conn, "SELECT * FROM users WHERE id = ?", (user_id,))
            assert doc is not None
            emitted.append(("update", "users", user_id, doc))
            return UserRecord.from_doc(doc)

        return await self._write(work)

    async def username_holds(
        self, usernames: Sequence[str], now: datetime
    ) -> dict[str, UsernameHoldRecord]:
        names = list(dict.fromkeys(u.lower() for u in usernames))
        if not names:
            return {}
        docs = await self._all(
            f"SELECT * FROM username_holds WHERE username IN ({', '.join('?' * len(names))}) "
            "AND until > ?",
            [*names, to_text(now)],
        )
        return {d["username"]: UsernameHoldRecord.from_doc(d) for d in docs}

    async def expired_guests(self, now: datetime, limit: int) -> list[UserRecord]:
        docs = await self._all(
            "SELECT * FROM users WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT ?",
            (to_text(now), limit),
        )
        return [UserRecord.from_doc(d) for d in docs]

    async def delete_user(self, user_id: str) -> bool:
        def work(conn: sqlite3.Connection, emitted: Emitted) -> bool:
            conn.execute("DELETE FROM refresh_tokens WHERE user_id = ?", (user_id,))
            conn.execute("DELETE FROM connections WHERE user_id = ?", (user_id,))
            deleted = conn.execute("DELETE FROM users WHERE id = ?", (user_id,)).rowcount == 1
            if deleted:
                emitted.append(("delete", "users", user_id, None))
            return deleted

        return await self._write(work)

    async def erase_user_data(self, user_id: str) -> None:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> None:
            for table in (
                "notifications",
                "identities",
                "account_tokens",
                "refresh_tokens",
                "stream_ratings",
            ):
                conn.execute(f"DELETE FROM {table} WHERE user_id = ?", (user_id,))
            conn.execute(
                "DELETE FROM follows WHERE follower_id = ? OR followee_id = ?", (user_id, user_id)
            )

        await self._write(work, heavy=True)

    async def bump_token_version(self, user_id: str) -> int:
        def work(conn: sqlite3.Connection, emitted: Emitted) -> int:
            doc = self._fetch(
                conn,
                "UPDATE users SET token_version = token_version + 1 WHERE id = ? RETURNING *",
                (user_id,),
            )
            if doc is None:
                return 0
            emitted.append(("update", "users", user_id, doc))
            return int(doc["token_version"])

        return await self._write(work)

    async def insert_refresh_token(self, token: RefreshTokenRecord) -> None:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> None:
            self._insert(conn, "refresh_tokens", token.to_doc())

        await self._write(work)

    async def get_refresh_token(self, token_hash: str) -> RefreshTokenRecord | None:
        doc = await self._one("SELECT * FROM refresh_tokens WHERE token_hash = ?", (token_hash,))
        return RefreshTokenRecord.from_doc(doc) if doc else None

    async def revoke_refresh_token(self, token_id: str, when: datetime) -> bool:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> bool:
            cursor = conn.execute(
                "UPDATE refresh_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (to_text(when), token_id),
            )
            return cursor.rowcount == 1

        return await self._write(work)

    async def revoke_token_family(self, family_id: str, when: datetime) -> None:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> None:
            conn.execute(
                "UPDATE refresh_tokens SET revoked_at = ? "
                "WHERE family_id = ? AND revoked_at IS NULL",
                (to_text(when), family_id),
            )

        await self._write(work)

    async def revoke_user_tokens(self, user_id: str, when: datetime) -> None:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> None:
            conn.execute(
                "UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                (to_text(when), user_id),
            )

        await self._write(work)


def _held_for_other(conn: sqlite3.Connection, username: str, user_id: str, now: datetime) -> bool:
    row = conn.execute(
        "SELECT 1 FROM username_holds WHERE username = ? AND user_id != ? AND until > ?",
        (username.lower(), user_id, to_text(now)),
    ).fetchone()
    return row is not None
