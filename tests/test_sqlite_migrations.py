"""Migration 11 rebuilds the messages table (a partial index for client ids): every message,
reaction and reference survives it, idempotent sends still find their original, and a rebuild
that would break a reference is rolled back whole."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from chatql.store.ids import new_id
from chatql.store.records import (
    MembershipRecord,
    MessageRecord,
    ReactionRecord,
    RoomRecord,
    UserRecord,
    now_utc,
)
from chatql.store.sqlite import SQLiteStore, migrations
from chatql.store.sqlite.migrations import MigrationFailed


async def _send(
    store: SQLiteStore, room: str, author: str, text: str, client_id: str | None = None, **kw: str
) -> tuple[MessageRecord, bool]:
    return await store.insert_message(
        room_id=room,
        author_id=author,
        content=text,
        message_type="TEXT",
        client_id=client_id,
        **kw,  # type: ignore[arg-type]
    )


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return [tuple(row) for row in conn.execute(sql)]
    finally:
        conn.close()


async def test_migration_11_keeps_every_message_and_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "chat.db"
    with monkeypatch.context() as before:  # a database as version 10 left it
        before.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:10])
        before.setattr(migrations, "LATEST_VERSION", 10)
        store = SQLiteStore(f"sqlite:///{path}")
        await store.open()
        now = now_utc()
        ann, bob = (UserRecord(new_id(), n, n, "", now) for n in ("ann", "bob"))
        for user in (ann, bob):
            await store.create_user(user)
        rooms = []
        for name in ("one", "two"):
            room = RoomRecord(new_id(), name, ann.id, ann.id, now, now, now)
            await store.create_room(
                room, [MembershipRecord(room.id, u.id, "MEMBER", now) for u in (ann, bob)]
            )
            rooms.append(room.id)
        sent = []
        for i in range(30):
            client_id = f"c{i}" if i % 3 == 0 else None
            message, _ = await _send(store, rooms[i % 2], (ann, bob)[i % 2].id, f"m{i}", client_id)
            sent.append(message)
        reply, _ = await _send(store, rooms[0], bob.id, "re", reply_to_id=sent[0].id)
        await store.add_reaction(ReactionRecord(rooms[0], sent[0].id, bob.id, "👍", now))
        await store.add_reaction(ReactionRecord(rooms[1], sent[1].id, ann.id, "🎉", now))
        await store.close()
        assert _rows(path, "PRAGMA user_version") == [(10,)]
    old_messages = _rows(path, "SELECT * FROM messages ORDER BY id")
    old_reactions = _rows(path, "SELECT * FROM reactions ORDER BY message_id")

    store = SQLiteStore(f"sqlite:///{path}")
    await store.open()
    try:
        assert store._writer is not None
        writer = store._writer._conn
        assert writer.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert _rows(path, "PRAGMA user_version") == [(migrations.LATEST_VERSION,)]
        assert _rows(path, "SELECT * FROM messages ORDER BY id") == old_messages
        assert _rows(path, "SELECT * FROM reactions ORDER BY message_id") == old_reactions
        assert _rows(path, "PRAGMA foreign_key_check") == []
        indexes = {row[1]: row for row in _rows(path, "PRAGMA index_list(messages)")}
        assert {"messages_client", "messages_replies", "messages_author"} <= set(indexes)
        assert indexes["messages_client"][2] == 1 and indexes["messages_client"][4] == 1
        columns = [
            _rows(path, f"PRAGMA index_info({name!r})") for name in indexes if name.startswith("sq")
        ]
        assert sorted(len(c) for c in columns) == [1, 2]  # id, and (room_id, seq): no third

        # idempotent sends still find the original; sends without one never clash
        again, created = await _send(store, rooms[0], ann.id, "again", "c0")
        assert (again.id, created) == (sent[0].id, False)
        for _ in range(2):
            _message, created = await _send(store, rooms[0], ann.id, "no id")
            assert created
        thread = await store.list_replies(sent[0].id, 10, None)
        assert [m.id for m in thread] == [reply.id]
        # references work in the rebuilt table: deleting a room takes its reactions along
        assert await store.delete_room(rooms[0])
        assert _rows(path, "SELECT count(*) FROM reactions") == [(1,)]
        assert _rows(path, "PRAGMA foreign_key_check") == []
    finally:
        await store.close()


async def test_a_rebuild_that_would_break_a_reference_is_rolled_back(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    store = SQLiteStore(f"sqlite:///{path}")
    await store.open()
    now = now_utc()
    ann = UserRecord(new_id(), "ann", "ann", "", now)
    await store.create_user(ann)
    room = RoomRecord(new_id(), "r", ann.id, ann.id, now, now, now)
    await store.create_room(room, [MembershipRecord(room.id, ann.id, "OWNER", now)])
    await _send(store, room.id, ann.id, "hi")
    await store.close()

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        version = migrations.LATEST_VERSION + 1
        broken = "CREATE TABLE gone (id TEXT);\nDELETE FROM users;\n"
        with pytest.raises(MigrationFailed, match="would break references"):
            migrations._rebuild(conn, version, broken)
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert not conn.in_transaction
        assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 1
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'gone'").fetchall() == []
        assert conn.execute("PRAGMA user_version").fetchone()[0] == migrations.LATEST_VERSION
        # a version already applied (by another process meanwhile) is not run again
        migrations._rebuild(conn, migrations.LATEST_VERSION, broken)
        assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 1
    finally:
        conn.close()


def test_statements_are_split_whole() -> None:
    script = "-- a note; with a semicolon\nCREATE TABLE a (x TEXT DEFAULT ';');\nDROP TABLE a;\n"
    assert migrations._statements(script) == [
        "-- a note; with a semicolon\nCREATE TABLE a (x TEXT DEFAULT ';');",
        "DROP TABLE a;",
    ]
    with pytest.raises(ValueError, match="incomplete"):
        migrations._statements("CREATE TABLE a (x")
