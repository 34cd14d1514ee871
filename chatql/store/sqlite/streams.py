"""Live streams, follows, ratings, watches and viewer samples in SQLite.

Only the stream rows are in the change feed (`streams`: status, peak and recording changes
reach `watchStream`); follows, ratings, watches and samples are read on demand.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from chatql.store.records import FollowRecord, RatingRecord, StreamRecord, StreamStats, WatchRecord
from chatql.store.sqlite.engine import SQLiteEngine, from_text, like_pattern, to_text
from chatql.store.sqlite.worker import Emitted


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


def _changed(emitted: Emitted, doc: dict[str, Any] | None) -> StreamRecord | None:
    """The stream as a write left it, its update in the feed (nothing when no row)."""
    if doc is None:
        return None
    stream = StreamRecord.from_doc(doc)
    emitted.append(("update", "streams", stream.id, stream.to_doc()))
    return stream


class StreamStore(SQLiteEngine):
    async def insert_stream(self, stream: StreamRecord) -> None:
        def work(conn: sqlite3.Connection, emitted: Emitted) -> None:
            self._insert(conn, "streams", stream.to_doc())
            emitted.append(("insert", "streams", stream.id, stream.to_doc()))

        await self._write(work)

    async def get_stream(self, stream_id: str) -> StreamRecord | None:
        doc = await self._one("SELECT * FROM streams WHERE id = ?", (stream_id,))
        return StreamRecord.from_doc(doc) if doc else None

    async def get_streams(self, stream_ids: Sequence[str]) -> dict[str, StreamRecord]:
        ids = list(dict.fromkeys(stream_ids))
        if not ids:
            return {}
        docs = await self._all(f"SELECT * FROM streams WHERE id IN ({_marks(ids)})", ids)
        return {d["id"]: StreamRecord.from_doc(d) for d in docs}

    async def update_stream(
        self,
        stream_id: str,
        changes: Mapping[str, Any],
        *,
        statuses: Sequence[str] | None = None,
    ) -> StreamRecord | None:
        def work(conn: sqlite3.Connection, emitted: Emitted) -> StreamRecord | None:
            key: dict[str, Any] = {"id": stream_id}
            if statuses is not None:
                current = self._fetch(conn, "SELECT status FROM streams WHERE id = ?", (stream_id,))
                if current is None or current["status"] not in statuses:
                    return None
            if changes:
                self._update(conn, "streams", key, changes)
            return _changed(
                emitted, self._fetch(conn, "SELECT * FROM streams WHERE id = ?", (stream_id,))
            )

        return await self._write(work)

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
        where: list[str] = []
        params: list[Any] = []
        if status is not None:
            where.append("status = ?")
            params.append(status)
        elif creator_id is None:
            where.append("status != 'CANCELLED'")
        if creator_id is not None:
            where.append("creator_id = ?")
            params.append(creator_id)
        if category_key is not None:
            where.append("category_key = ?")
            params.append(category_key)
        if tag is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(streams.tags) WHERE value = ?)")
            params.append(tag)
        if term:
            where.append(
                "(lower(title) LIKE ? ESCAPE '\\' OR lower(coalesce(description, '')) "
                "LIKE ? ESCAPE '\\')"
            )
            params += [like_pattern(term), like_pattern(term)]
        if after is not None:
            where.append("(created_at < ? OR (created_at = ? AND id < ?))")
            params += [to_text(after[0]), to_text(after[0]), after[1]]
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        docs = await self._all(
            f"SELECT * FROM streams {clause} ORDER BY created_at DESC, id DESC LIMIT ?",
            [*params, limit],
        )
        return [StreamRecord.from_doc(d) for d in docs]

    async def stream_categories(self, limit: int) -> list[tuple[str, int, int]]:
        docs = await self._all(
            "SELECT min(category) AS name, sum(status = 'LIVE') AS live, count(*) AS total "
            "FROM streams "
            "WHERE category_key IS NOT NULL AND status != 'CANCELLED' "
            "GROUP BY category_key ORDER BY total DESC, category_key LIMIT ?",
            (limit,),
        )
        return [(d["name"], int(d["live"]), int(d["total"])) for d in docs]

    async def raise_peak_viewers(self, stream_id: str, viewers: int) -> StreamRecord | None:
        def work(conn: sqlite3.Connection, emitted: Emitted) -> StreamRecord | None:
            doc = self._fetch(
                conn,
                "UPDATE streams SET peak_viewers = ? WHERE id = ? AND peak_viewers < ? RETURNING *",
                (viewers, stream_id, viewers),
            )
            return _changed(emitted, doc)

        return await self._write(work)

    async def record_viewer_sample(self, stream_id: str, at: datetime, viewers: int) -> None:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> None:
            conn.execute(
                "INSERT INTO stream_samples (stream_id, at, viewers) VALUES (?, ?, ?) "
                "ON CONFLICT (stream_id, at) DO UPDATE SET "
                "viewers = max(viewers, excluded.viewers)",
                (stream_id, to_text(at), viewers),
            )

        await self._write(work)

    async def insert_watch(self, watch: WatchRecord) -> None:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> None:
            self._insert(conn, "stream_watches", watch.to_doc())

        await self._write(work)

    async def stream_stats(
        self, stream: StreamRecord, follows_since: datetime, follows_until: datetime
    ) -> StreamStats:
        def read(conn: sqlite3.Connection) -> StreamStats:
            watched = conn.execute(
                "SELECT viewer_id, sum(seconds) FROM stream_watches "
                "WHERE stream_id = ? AND seconds > 0 GROUP BY viewer_id",
                (stream.id,),
            ).fetchall()
            chat = conn.execute(
                "SELECT count(*), count(DISTINCT author_id) FROM messages "
                "WHERE room_id = ? AND deleted_at IS NULL AND message_type != 'SYSTEM'",
                (stream.room_id,),
            ).fetchone()
            rating = conn.execute(
                "SELECT coalesce(sum(rating), 0), count(*) FROM stream_ratings WHERE stream_id = ?",
                (stream.id,),
            ).fetchone()
            followers = conn.execute(
                "SELECT count(*) FROM follows WHERE followee_id = ? "
                "AND created_at >= ? AND created_at <= ?",
                (stream.creator_id, to_text(follows_since), to_text(follows_until)),
            ).fetchone()
            samples = conn.execute(
                "SELECT at, viewers FROM stream_samples WHERE stream_id = ? ORDER BY at",
                (stream.id,),
            ).fetchall()
            return StreamStats(
                watch_seconds=float(sum(row[1] for row in watched)),
                unique_viewers=frozenset(row[0] for row in watched),
                chat_messages=int(chat[0]),
                chatters=int(chat[1]),
                rating_sum=int(rating[0]),
                rating_count=int(rating[1]),
                new_followers=int(followers[0]),
                samples=tuple((from_text(at), int(n)) for at, n in samples),  # type: ignore[misc]
            )

        return await self._read(read)

    async def follow(self, follow: FollowRecord) -> bool:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> bool:
            return self._insert(conn, "follows", follow.to_doc(), or_ignore=True)

        return await self._write(work)

    async def unfollow(self, follower_id: str, followee_id: str) -> bool:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> bool:
            cursor = conn.execute(
                "DELETE FROM follows WHERE follower_id = ? AND followee_id = ?",
                (follower_id, followee_id),
            )
            return cursor.rowcount == 1

        return await self._write(work)

    async def following(self, follower_id: str, followee_ids: Sequence[str]) -> frozenset[str]:
        ids = list(dict.fromkeys(followee_ids))
        if not ids:
            return frozenset()
        docs = await self._all(
            f"SELECT followee_id FROM follows WHERE follower_id = ? "
            f"AND followee_id IN ({_marks(ids)})",
            [follower_id, *ids],
        )
        return frozenset(d["followee_id"] for d in docs)

    async def count_followers(self, user_ids: Sequence[str]) -> dict[str, int]:
        ids = list(dict.fromkeys(user_ids))
        if not ids:
            return {}
        docs = await self._all(
            f"SELECT followee_id, count(*) AS n FROM follows "
            f"WHERE followee_id IN ({_marks(ids)}) GROUP BY followee_id",
            ids,
        )
        return {d["followee_id"]: int(d["n"]) for d in docs}

    async def follower_ids(self, followee_id: str, limit: int, after: str | None) -> list[str]:
        docs = await self._all(
            "SELECT follower_id FROM follows WHERE followee_id = ? AND follower_id > ? "
            "ORDER BY follower_id LIMIT ?",
            (followee_id, after or "", limit),
        )
        return [d["follower_id"] for d in docs]

    async def rate_stream(self, rating: RatingRecord) -> None:
        def work(conn: sqlite3.Connection, _emitted: Emitted) -> None:
            conn.execute(
                "INSERT INTO stream_ratings "
                "(stream_id, user_id, rating, created_at, updated_at, comment) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (stream_id, user_id) DO UPDATE SET "
                "rating = excluded.rating, updated_at = excluded.updated_at, "
                "comment = excluded.comment",
                (
                    rating.stream_id,
                    rating.user_id,
                    rating.rating,
                    to_text(rating.created_at),
                    to_text(rating.updated_at),
                    rating.comment,
                ),
            )

        await self._write(work)

    async def rating_summaries(self, stream_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        ids = list(dict.fromkeys(stream_ids))
        if not ids:
            return {}
        docs = await self._all(
            f"SELECT stream_id, sum(rating) AS total, count(*) AS n FROM stream_ratings "
            f"WHERE stream_id IN ({_marks(ids)}) GROUP BY stream_id",
            ids,
        )
        return {d["stream_id"]: (int(d["total"]), int(d["n"])) for d in docs}

    async def user_ratings(self, user_id: str, stream_ids: Sequence[str]) -> dict[str, int]:
        ids = list(dict.fromkeys(stream_ids))
        if not ids:
            return {}
        docs = await self._all(
            f"SELECT stream_id, rating FROM stream_ratings "
            f"WHERE user_id = ? AND stream_id IN ({_marks(ids)})",
            [user_id, *ids],
        )
        return {d["stream_id"]: int(d["rating"]) for d in docs}
