"""Who a new message's notification rule is told about: the room's members as they are when
the message is stored, on every store; on SQLite, from the writer's cache (`targets.py`),
which must never answer with a membership or a watch that changed, rolled back or was
written by another connection."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from chatql.store.base import Store
from chatql.store.records import (
    ConnectionRecord,
    MembershipRecord,
    MessageRecord,
    NotificationRecord,
    now_utc,
)
from chatql.store.sqlite import SQLiteStore
from chatql.store.sqlite.targets import NotificationTargets
from chatql.store.sqlite.worker import Emitted, Job, commit_group, connect
from tests.test_store_contract import make_room, make_users

Target = tuple[str, bool, bool]


class Told:
    """A notification rule that notes the targets it is given and notifies nobody."""

    def __init__(self) -> None:
        self.seen: list[list[Target]] = []

    def __call__(
        self, _message: MessageRecord, targets: Sequence[Target]
    ) -> list[NotificationRecord]:
        self.seen.append(sorted(targets))
        return []


async def told(store: Store, room_id: str, author_id: str) -> list[Target]:
    rule = Told()
    await store.insert_message(
        room_id=room_id,
        author_id=author_id,
        content="hi",
        message_type="TEXT",
        client_id=None,
        notify=rule,
    )
    assert len(rule.seen) == 1
    return rule.seen[0]


async def test_a_message_is_told_the_members_as_they_are_now(store: Store) -> None:
    a, b, c = await make_users(store, "ann", "bob", "cat")
    r = await make_room(store, a, b)
    assert await told(store, r.id, a.id) == sorted([(a.id, False, False), (b.id, False, False)])

    await store.add_member(MembershipRecord(r.id, c.id, "MEMBER", now_utc()))
    assert (c.id, False, False) in await told(store, r.id, a.id)

    await store.update_membership(r.id, b.id, {"notifications_muted": True})
    assert (b.id, True, False) in await told(store, r.id, a.id)
    await store.update_membership(r.id, b.id, {"last_read_seq": 3})  # not a target's field
    assert (b.id, True, False) in await told(store, r.id, a.id)

    old = now_utc() - timedelta(minutes=5)
    await store.add_connection(ConnectionRecord("c1", c.id, "p1", old, old))
    await store.add_room_watch("c1", r.id, c.id)
    assert (c.id, False, True) in await told(store, r.id, a.id)
    await store.remove_room_watch("c1", r.id)
    assert (c.id, False, False) in await told(store, r.id, a.id)

    await store.add_room_watch("c1", r.id, c.id)
    assert (c.id, False, True) in await told(store, r.id, a.id)
    await store.remove_stale_connections(now_utc() - timedelta(minutes=1))  # takes the watch
    assert (c.id, False, False) in await told(store, r.id, a.id)

    await store.remove_member(r.id, c.id)
    assert [t[0] for t in await told(store, r.id, a.id)] == sorted([a.id, b.id])


async def test_the_sqlite_writer_reads_a_rooms_targets_once_per_change(tmp_path: Path) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path}/store.db")
    await store.open()
    try:
        a, b, c = await make_users(store, "ann", "bob", "cat")
        r = await make_room(store, a, b)
        other = await make_room(store, b)
        targets = store._targets
        await told(store, r.id, a.id)
        reads = targets.reads
        for _ in range(3):
            await told(store, r.id, b.id)
        assert targets.reads == reads  # answered from the cache
        await told(store, other.id, b.id)
        assert targets.reads == reads + 1
        await store.add_member(MembershipRecord(r.id, c.id, "MEMBER", now_utc()))
        assert (c.id, False, False) in await told(store, r.id, a.id)
        assert targets.reads == reads + 2
        await told(store, other.id, b.id)  # the other room's answer was kept
        assert targets.reads == reads + 2
    finally:
        await store.close()


async def test_another_connections_commit_is_seen(tmp_path: Path) -> None:
    """A second process, or a `chatql` command, writing the same database."""
    store = SQLiteStore(f"sqlite:///{tmp_path}/store.db")
    await store.open()
    try:
        a, b = await make_users(store, "ann", "bob")
        r = await make_room(store, a, b)
        assert (b.id, False, False) in await told(store, r.id, a.id)
        await told(store, r.id, a.id)  # cached now
        other = sqlite3.connect(store.path)
        with other:
            other.execute(
                "UPDATE memberships SET notifications_muted = 1 WHERE room_id = ? AND user_id = ?",
                (r.id, b.id),
            )
        other.close()
        assert (b.id, True, False) in await told(store, r.id, a.id)
    finally:
        await store.close()


@pytest.fixture
def writer(tmp_path: Path) -> sqlite3.Connection:
    conn = connect(str(tmp_path / "t.db"), readonly=False, synchronous="NORMAL", cache_mb=2)
    conn.executescript(
        "CREATE TABLE memberships (room_id TEXT, user_id TEXT, notifications_muted INTEGER, "
        "PRIMARY KEY (room_id, user_id));"
        "CREATE TABLE room_watches (connection_id TEXT, room_id TEXT, user_id TEXT);"
        "INSERT INTO memberships VALUES ('r', 'ann', 0);"
    )
    return conn


Work = Callable[[sqlite3.Connection, Emitted], Any]


def run(conn: sqlite3.Connection, targets: NotificationTargets, *works: Work) -> list[Any]:
    """Commit `works` as one group through `commit_group`; each work's result or error.
    (`commit_group` only carries a write's future through to its outcome.)"""
    group: list[Job] = [(work, cast("asyncio.Future[Any]", None)) for work in works]
    outcomes = commit_group(conn, group, targets)
    return [error if error is not None else result for _f, result, error, _e in outcomes]


def join_and_fail(user: str) -> Work:
    def work(conn: sqlite3.Connection, _emitted: Emitted) -> None:
        conn.execute("INSERT INTO memberships VALUES ('r', ?, 0)", (user,))
        raise RuntimeError("after the join")

    return work


def look(targets: NotificationTargets) -> Work:
    def work(conn: sqlite3.Connection, _emitted: Emitted) -> list[str]:
        return [t[0] for t in targets.read(conn, "r")]

    return work


def test_a_rolled_back_change_is_never_answered(writer: sqlite3.Connection) -> None:
    targets = NotificationTargets()
    targets.install(writer)
    assert run(writer, targets, look(targets)) == [["ann"]]

    def join_look_fail(conn: sqlite3.Connection, emitted: Emitted) -> None:
        conn.execute("INSERT INTO memberships VALUES ('r', 'bob', 0)")
        assert look(targets)(conn, emitted) == ["ann", "bob"]  # its own write, not kept
        raise RuntimeError("after the join")

    for group in ([join_look_fail], [look(targets), join_look_fail], [join_and_fail("cat")]):
        results = run(writer, targets, *group)
        assert isinstance(results[-1], RuntimeError)
        assert run(writer, targets, look(targets)) == [["ann"]]

    # Changed and read in one committed group: the answer is right, and kept.
    def join(conn: sqlite3.Connection, _emitted: Emitted) -> None:
        conn.execute("INSERT INTO memberships VALUES ('r', 'dan', 0)")

    assert run(writer, targets, join, look(targets)) == [None, ["ann", "dan"]]
    reads = targets.reads
    assert run(writer, targets, look(targets)) == [["ann", "dan"]]
    assert targets.reads == reads


def test_a_failed_commit_forgets_what_its_transaction_read(writer: sqlite3.Connection) -> None:
    targets = NotificationTargets()
    targets.install(writer)
    assert run(writer, targets, look(targets)) == [["ann"]]

    # A deferred constraint fails at COMMIT, as a full disk would: nobody's write happens.
    writer.execute(
        "CREATE TABLE pins (user_id TEXT REFERENCES memberships (user_id) "
        "DEFERRABLE INITIALLY DEFERRED)"
    )
    writer.execute("CREATE UNIQUE INDEX memberships_user ON memberships (user_id)")

    def orphan(conn: sqlite3.Connection, _emitted: Emitted) -> None:
        conn.execute("INSERT INTO pins VALUES ('nobody')")

    def leave(conn: sqlite3.Connection, _emitted: Emitted) -> None:
        conn.execute("DELETE FROM memberships WHERE user_id = 'ann'")

    results = run(writer, targets, leave, look(targets), orphan)
    assert all(isinstance(r, sqlite3.IntegrityError) for r in results)
    assert run(writer, targets, look(targets)) == [["ann"]]
