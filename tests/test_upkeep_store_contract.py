"""The store's upkeep, the same on every store: what `chatql migrate`, `check` and `stats` rely
on. Migrations are listed before they run and never twice; counts leave out what was deleted."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from chatql.store.base import Store
from chatql.store.records import StoreCounts, now_utc
from tests.conftest import make_store
from tests.test_store_contract import make_room, make_users, send, upload
from tests.test_stream_store_contract import stream


async def test_pending_migrations_are_listed_applied_once_and_then_none(
    store_kind: str, tmp_path: Path
) -> None:
    fresh = make_store(store_kind, tmp_path)
    pending = await fresh.pending_migrations()
    assert pending, "a new store has its whole schema to make"
    assert await fresh.pending_migrations() == pending  # looking changes nothing
    assert await fresh.migrate() == pending
    assert await fresh.pending_migrations() == []
    assert await fresh.migrate() == []  # idempotent
    await fresh.open()  # and an opened store finds nothing left to do
    try:
        assert await fresh.pending_migrations() == []
        (alice,) = await make_users(fresh, "alice")
        assert await fresh.get_user(alice.id) == alice
    finally:
        await fresh.close()


async def test_count_records_counts_what_is_live_and_leaves_out_the_deleted(store: Store) -> None:
    assert await store.count_records() == StoreCounts(0, 0, 0, 0, 0)
    alice, bob, gone = await make_users(store, "alice", "bob", "gone")
    await store.update_user(gone.id, {"deleted_at": now_utc()})
    general = await make_room(store, alice, bob, name="General")
    await make_room(store, bob, name="Other")
    sent = [(await send(store, general, alice, f"m{i}"))[0] for i in range(5)]
    await store.update_message(sent[0].id, {"deleted_at": now_utc(), "deleted_by": alice.id})
    await store.insert_stream(stream(alice.id, general.id))
    kept, removed = upload(alice, name="kept.png"), upload(alice, name="removed.png")
    await store.insert_upload(kept)
    await store.insert_upload(removed)
    await store.update_upload(removed.id, {"removed_at": now_utc()})
    assert await store.count_records() == StoreCounts(
        users=2, rooms=2, messages=4, streams=1, uploads=1
    )


async def test_sqlite_unread_counts_and_history_by_time_use_the_room_sequence_index(
    tmp_path: Path,
) -> None:
    """Migration 9 drops `messages_unread`, which never covered the unread count (it filters
    on deleted_at too), and migration 10 `messages_room_time` (history before a time is a
    binary search over seq): the unique (room_id, seq) index finds the same rows, two
    B-trees fewer to write per message."""
    fresh = make_store("sqlite", tmp_path)
    await fresh.migrate()
    conn = sqlite3.connect(tmp_path / "store.db")
    try:
        indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert "messages_unread" not in indexes and "messages_room_time" not in indexes
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT count(*) FROM messages g WHERE g.room_id = ? "
            "AND g.seq > ? AND g.author_id != ? AND g.deleted_at IS NULL",
            ("r", 0, "u"),
        ).fetchall()
        assert "(room_id=? AND seq>?)" in plan[0][3], plan
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM messages WHERE room_id = ? AND seq <= ? "
            "AND created_at < ? ORDER BY seq DESC LIMIT ?",
            ("r", 9, "t", 5),
        ).fetchall()
        assert "(room_id=? AND seq<?)" in plan[0][3] and len(plan) == 1, plan
        plan = conn.execute(  # a send's idempotency key: the partial index (migration 11)
            "EXPLAIN QUERY PLAN SELECT * FROM messages WHERE room_id = ? AND author_id = ? "
            "AND client_id = ?",
            ("r", "a", "c"),
        ).fetchall()
        assert "messages_client" in plan[0][3], plan
    finally:
        conn.close()
