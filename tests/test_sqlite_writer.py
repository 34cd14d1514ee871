"""The SQLite writer: group commit keeps each write's outcome its own, and the WAL is reused."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from chatql.store.sqlite.worker import Emitted, GroupCommitWriter, connect


def open_db(path: Path) -> sqlite3.Connection:
    conn = connect(str(path), readonly=False, synchronous="NORMAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")  # as the store's writer: no automatic one
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL UNIQUE)")
    return conn


def insert(body: str) -> Callable[[sqlite3.Connection, Emitted], int]:
    def work(conn: sqlite3.Connection, emitted: Emitted) -> int:
        cursor = conn.execute("INSERT INTO notes (body) VALUES (?)", (body,))
        emitted.append(("insert", "notes", str(cursor.lastrowid), {"body": body}))
        return int(cursor.lastrowid or 0)

    return work


def bodies(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT body FROM notes ORDER BY id")]


async def test_a_failing_write_alone_rolls_back_and_publishes_nothing(tmp_path: Path) -> None:
    published: list[Emitted] = []
    writer = GroupCommitWriter(open_db(tmp_path / "db"), published.append)
    try:
        await writer.write(insert("one"))
        with pytest.raises(sqlite3.IntegrityError):
            await writer.write(insert("one"))
        await writer.write(insert("two"))
    finally:
        await writer.close()
    assert bodies(tmp_path / "db") == ["one", "two"]
    assert [events[0][3]["body"] for events in published] == ["one", "two"]


async def test_in_a_group_only_the_failing_write_is_lost(tmp_path: Path) -> None:
    published: list[Emitted] = []
    writer = GroupCommitWriter(open_db(tmp_path / "db"), published.append)
    try:
        await writer.write(insert("dup"))
        outcomes = await asyncio.gather(
            *(writer.write(insert(b)) for b in ("a", "dup", "b", "c")), return_exceptions=True
        )
    finally:
        await writer.close()
    assert isinstance(outcomes[1], sqlite3.IntegrityError)
    assert all(isinstance(o, int) for i, o in enumerate(outcomes) if i != 1)
    assert writer.groups < writer.writes  # they were committed together
    assert bodies(tmp_path / "db") == ["dup", "a", "b", "c"]
    assert [events[0][3]["body"] for events in published] == ["dup", "a", "b", "c"]


@pytest.mark.parametrize("restart_every", [0.0, None])
async def test_the_wal_is_reused_under_a_steady_stream_of_commits(
    tmp_path: Path, restart_every: float | None
) -> None:
    """With a finishing checkpoint between groups the WAL stays a few commits long; without
    one (None: never) it holds every commit made."""
    path = tmp_path / "db"
    never = 1e9
    every = never if restart_every is None else restart_every
    writer = GroupCommitWriter(open_db(path), lambda _events: None, restart_every=every)
    try:
        for i in range(200):
            await writer.write(insert(f"{i:04d}" + "x" * 2000))
        wal = (tmp_path / "db-wal").stat().st_size
    finally:
        await writer.close()
    one_commit = 3 * (4096 + 24)  # a table page, an index page, a little slack
    if restart_every is None:
        assert wal > 100 * one_commit
    else:
        assert wal < 10 * one_commit
    assert len(bodies(path)) == 200
