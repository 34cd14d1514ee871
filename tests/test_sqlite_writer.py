"""The SQLite writers (on the loop, or on a thread when commits fsync): group commit keeps each
write's outcome its own, the WAL is reused, and a heavy write leaves the loop free."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path

import pytest

from chatql.config import Settings
from chatql.store import create_store
from chatql.store.sqlite import SQLiteStore
from chatql.store.sqlite.worker import (
    Checkpointer,
    Emitted,
    GroupCommitWriter,
    LoopWriter,
    connect,
)

WriterType = type[GroupCommitWriter] | type[LoopWriter]


@pytest.fixture(params=[LoopWriter, GroupCommitWriter], ids=["loop", "thread"])
def writer_type(request: pytest.FixtureRequest) -> WriterType:
    return request.param


def open_db(path: Path) -> sqlite3.Connection:
    conn = connect(str(path), readonly=False, synchronous="NORMAL", cache_mb=2)
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


async def test_a_failing_write_alone_rolls_back_and_publishes_nothing(
    tmp_path: Path, writer_type: WriterType
) -> None:
    published: list[Emitted] = []
    writer = writer_type(open_db(tmp_path / "db"), published.append)
    try:
        await writer.write(insert("one"))
        with pytest.raises(sqlite3.IntegrityError):
            await writer.write(insert("one"))
        await writer.write(insert("two"))
    finally:
        await writer.close()
    assert bodies(tmp_path / "db") == ["one", "two"]
    assert [events[0][3]["body"] for events in published] == ["one", "two"]


async def test_in_a_group_only_the_failing_write_is_lost(
    tmp_path: Path, writer_type: WriterType
) -> None:
    published: list[Emitted] = []
    writer = writer_type(open_db(tmp_path / "db"), published.append)
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


ONE_COMMIT = 6 * (4096 + 24)  # the row and its index entry, each with an overflow page


@pytest.mark.parametrize("restart_over", [0, 30 * ONE_COMMIT, None])
async def test_the_wal_is_reused_under_a_steady_stream_of_commits(
    tmp_path: Path, restart_over: int | None, writer_type: WriterType
) -> None:
    """Every ten commits a checkpointer's pass runs while commits it cannot copy remain (a
    reader's snapshot stands for the commits made during a pass under load). A pass that finds
    the WAL over `restart_over` asks the writer to finish the checkpoint: the WAL then starts
    again from the top, so it stays about that long. Without (None: never) it holds every
    commit made: no pass ever catches up."""
    path = tmp_path / "db"
    over = 2**40 if restart_over is None else restart_over
    writer = writer_type(open_db(path), lambda _events: None)
    asked: list[int] = []
    checkpointer = Checkpointer(
        connect(str(path), readonly=False, synchronous="NORMAL", cache_mb=2),
        lambda: asked.append(len(asked)),  # handed on below, once the snapshot is gone
        interval=3600,  # its passes are this test's
        restart_over=over,
    )
    reader = connect(str(path), readonly=True, synchronous="NORMAL", cache_mb=2)
    try:
        for i in range(200):
            await writer.write(insert(f"{i:04d}" + "x" * 2000))
            if i % 10 == 4:
                reader.execute("BEGIN")
                reader.execute("SELECT count(*) FROM notes").fetchone()
            if i % 10 == 9:
                before = len(asked)
                await asyncio.to_thread(checkpointer.copy_back)
                reader.execute("COMMIT")
                if len(asked) > before:
                    writer.request_restart()
        wal = (tmp_path / "db-wal").stat().st_size
    finally:
        reader.close()
        await writer.close()
        await checkpointer.close()
    if restart_over is None:
        assert wal > 100 * ONE_COMMIT
    elif restart_over == 0:
        assert wal < 15 * ONE_COMMIT
    else:
        assert restart_over < wal < restart_over + 15 * ONE_COMMIT  # grew to it, then reused
    assert len(bodies(path)) == 200
    assert checkpointer.passes == 20 and checkpointer.refused == 0


async def test_the_checkpointers_passes_and_the_writers_checkpoint_take_turns(
    tmp_path: Path, writer_type: WriterType
) -> None:
    """The writer finishes the checkpoint when a pass asks, right after it: under a steady
    stream of commits, passes are not refused for finding the writer's checkpoint running
    (with a timer each, they once found it every time and the writer copied everything), and
    a pass that finds nothing new asks for nothing."""
    path = tmp_path / "db"
    writer = writer_type(open_db(path), lambda _events: None)
    asked: list[float] = []

    def ask_restart() -> None:
        asked.append(time.monotonic())
        writer.request_restart()

    checkpointer = Checkpointer(
        connect(str(path), readonly=False, synchronous="NORMAL", cache_mb=2),
        ask_restart,
        interval=0.02,
        restart_over=0,
    )
    try:
        deadline = time.monotonic() + 1.5
        i = 0
        while time.monotonic() < deadline:
            await asyncio.gather(*(writer.write(insert(f"{i}-{k}")) for k in range(4)))
            i += 1
        passes = checkpointer.passes
        assert passes >= 10 and len(asked) >= 5
        assert checkpointer.refused <= passes // 10
        await asyncio.sleep(0.2)  # idle: the last pass copied it all, nothing more to ask
        quiet = len(asked)
        await asyncio.sleep(0.2)
        assert len(asked) == quiet
    finally:
        await writer.close()
        await checkpointer.close()
    assert len(bodies(path)) == 4 * i


async def test_the_loop_writer_commits_one_turn_of_writes_as_one_group_on_the_loop(
    tmp_path: Path,
) -> None:
    threads: list[int] = []

    def noted(body: str) -> Callable[[sqlite3.Connection, Emitted], int]:
        def work(conn: sqlite3.Connection, emitted: Emitted) -> int:
            threads.append(threading.get_ident())
            return insert(body)(conn, emitted)

        return work

    published: list[Emitted] = []
    writer = LoopWriter(open_db(tmp_path / "db"), published.append)
    try:
        await asyncio.gather(*(writer.write(noted(b)) for b in ("a", "b", "c", "d")))
    finally:
        await writer.close()
    assert (writer.groups, writer.writes) == (1, 4)
    assert set(threads) == {threading.get_ident()}
    assert [events[0][3]["body"] for events in published] == ["a", "b", "c", "d"]


async def test_the_loop_writer_publishes_outside_its_writers_contexts(tmp_path: Path) -> None:
    """A group's commit and publication serve every writer in it: none of their context
    (a request's id, say) leaks into what the publication sets off."""
    request: ContextVar[str | None] = ContextVar("request", default=None)
    seen: list[str | None] = []
    writer = LoopWriter(open_db(tmp_path / "db"), lambda _events: seen.append(request.get()))

    async def write_as(name: str, body: str) -> None:
        request.set(name)
        await writer.write(insert(body))
        assert request.get() == name  # the writer's own context is untouched

    try:
        await asyncio.gather(write_as("first", "a"), write_as("second", "b"))
    finally:
        await writer.close()
    assert seen == [None, None]


async def test_a_heavy_write_runs_off_the_loop_and_later_writes_wait_their_turn(
    tmp_path: Path,
) -> None:
    """While a heavy write holds the connection on a thread, the loop keeps turning; a write
    asked for meanwhile commits after it, in order, and nothing is published early."""
    release = threading.Event()
    started = asyncio.Event()
    loop = asyncio.get_running_loop()
    heavy_thread: list[int] = []

    def heavy(conn: sqlite3.Connection, emitted: Emitted) -> int:
        heavy_thread.append(threading.get_ident())
        loop.call_soon_threadsafe(started.set)
        release.wait(10)
        return insert("heavy")(conn, emitted)

    published: list[Emitted] = []
    writer = LoopWriter(open_db(tmp_path / "db"), published.append)
    try:
        first = asyncio.ensure_future(writer.write(heavy, heavy=True))
        await asyncio.wait_for(started.wait(), 10)  # the loop turns while the heavy write runs
        second = asyncio.ensure_future(writer.write(insert("light")))
        for _ in range(5):
            await asyncio.sleep(0.01)
        assert not first.done() and not second.done() and published == []
        release.set()
        assert await asyncio.gather(first, second) == [1, 2]
    finally:
        release.set()
        await writer.close()
    assert heavy_thread != [threading.get_ident()]
    assert [events[0][3]["body"] for events in published] == ["heavy", "light"]


async def test_closing_the_loop_writer_finishes_what_was_asked(tmp_path: Path) -> None:
    writer = LoopWriter(open_db(tmp_path / "db"), lambda _events: None)
    pending = [asyncio.ensure_future(writer.write(insert(b))) for b in ("x", "y")]
    pending.append(asyncio.ensure_future(writer.write(insert("z"), heavy=True)))
    await asyncio.sleep(0)  # the writes are asked for; none has run yet
    await writer.close()
    assert [f.result() for f in pending] == [1, 2, 3]
    assert bodies(tmp_path / "db") == ["x", "y", "z"]
    with pytest.raises(RuntimeError):
        await writer.write(insert("late"))


@pytest.mark.parametrize(
    ("synchronous", "expected"), [("NORMAL", LoopWriter), ("FULL", GroupCommitWriter)]
)
async def test_the_store_keeps_fsyncing_commits_off_the_loop(
    tmp_path: Path, synchronous: str, expected: WriterType
) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path / 'chat.db'}", synchronous=synchronous)
    await store.open()
    try:
        assert type(store._writer) is expected
        assert await store.bump_token_version("nobody") == 0  # a write
        assert await store.delete_room("nowhere") is False  # a heavy one
    finally:
        await store.close()


async def test_the_loop_writers_checkpoint_runs_off_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It syncs the database file: on a thread."""
    from chatql.store.sqlite import worker

    threads: list[int] = []

    def noted(conn: sqlite3.Connection) -> None:
        threads.append(threading.get_ident())
        worker_checkpoint(conn)

    worker_checkpoint = worker.finish_checkpoint
    monkeypatch.setattr(worker, "finish_checkpoint", noted)
    writer = LoopWriter(open_db(tmp_path / "db"), lambda _events: None)
    try:
        for i in range(5):
            await asyncio.to_thread(writer.request_restart)  # as the checkpointer asks
            await writer.write(insert(str(i)))
    finally:
        await writer.close()
    assert threads and threading.get_ident() not in threads
    assert bodies(tmp_path / "db") == ["0", "1", "2", "3", "4"]


async def test_every_connection_gets_the_configured_page_cache(tmp_path: Path) -> None:
    """CHATQL_SQLITE_CACHE_MB reaches the writer and every reader (SQLite's own default, 2 MiB,
    made the writer read evicted index pages back under load)."""
    settings = Settings.from_env(
        {
            "CHATQL_DATABASE_URL": f"sqlite:///{tmp_path / 'chat.db'}",
            "CHATQL_SQLITE_CACHE_MB": "24",
            "CHATQL_SQLITE_READ_CONNECTIONS": "3",
        }
    )
    store = create_store(settings)
    assert isinstance(store, SQLiteStore)
    await store.open()
    try:
        assert store._writer is not None
        connections = [store._writer._conn, *(reader._conn for reader in store._readers)]
        assert len(connections) == 4
        for conn in connections:
            assert conn.execute("PRAGMA cache_size").fetchone()[0] == -24 * 1024
    finally:
        await store.close()


@pytest.mark.parametrize("value", ["0", "-5", "lots", "65537"])
def test_a_page_cache_size_out_of_range_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="CHATQL_SQLITE_CACHE_MB"):
        Settings.from_env({"CHATQL_SQLITE_CACHE_MB": value})


def test_asking_a_loop_writer_whose_loop_has_closed_raises_nothing(tmp_path: Path) -> None:
    """The checkpointer's thread may ask after the loop is gone (a store never closed)."""

    async def make() -> LoopWriter:
        return LoopWriter(open_db(tmp_path / "db"), lambda _events: None)

    writer = asyncio.run(make())
    writer.request_restart()  # from a thread, as the checkpointer would
    thread = threading.Thread(target=writer.request_restart)
    thread.start()
    thread.join()
