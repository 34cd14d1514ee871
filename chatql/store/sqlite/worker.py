"""sqlite3 connections awaited from the event loop: readers on their own threads, one writer.

Each read is one hop to its connection's thread, however many statements it runs. The writer
commits in groups (on the loop, `LoopWriter`, or on its own thread when commits fsync,
`GroupCommitWriter`): it takes every write waiting, runs each in a SAVEPOINT of one
`BEGIN IMMEDIATE` transaction (a failing write rolls back alone), commits once, and only then
answers the callers and publishes their change events, in commit order. Under load that turns
N commits into one, and no caller hears "done" before its write is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
Emitted = list[tuple[str, str, str, Any]]
Job = tuple[Callable[..., Any], asyncio.Future[Any]]
MAX_GROUP = 256
# When a checkpointer's pass finds the WAL longer than this, the writer finishes the checkpoint
# (holding writes up for the short tail the pass could not copy), so that the WAL restarts.
WAL_RESTART_OVER = 32 * 1024 * 1024


def _casefold(value: str | None) -> str | None:
    return value.casefold() if isinstance(value, str) else value


def connect(path: str, *, readonly: bool, synchronous: str, cache_mb: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute(f"PRAGMA cache_size={-1024 * int(cache_mb)}")  # negative: KiB, not pages
    # SQLite's lower() folds ASCII only; search must match "Émile" as "émile" too.
    conn.create_function("casefold", 1, _casefold, deterministic=True)
    if readonly:
        conn.execute("PRAGMA query_only=ON")
    return conn


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


Outcome = tuple[asyncio.Future[Any], Any, BaseException | None, Emitted]


class TransactionListener(Protocol):
    """What keeps state derived from the writer's transactions (see `targets.py`)."""

    def rolled_back(self) -> None:
        """Some writes of the open transaction were undone."""


def commit_group(
    conn: sqlite3.Connection, group: list[Job], listener: TransactionListener | None = None
) -> list[Outcome]:
    """Run a group of writes in one transaction, each in its own SAVEPOINT; commit once.

    A failing write rolls back alone; if the commit itself fails, nobody's write happened.
    """
    outcomes: list[Outcome] = []
    alone = len(group) == 1  # its own transaction is its savepoint: two statements fewer
    undone = False
    try:
        conn.execute("BEGIN IMMEDIATE")
        for work, future in group:
            emitted: Emitted = []
            if not alone:
                conn.execute("SAVEPOINT write")
            try:
                result = work(conn, emitted)
            except Exception as exc:
                undone = True
                if alone:
                    conn.execute("ROLLBACK")
                    outcomes.append((future, None, exc, []))
                    break
                conn.execute("ROLLBACK TO write")
                conn.execute("RELEASE write")
                outcomes.append((future, None, exc, []))
            else:
                if not alone:
                    conn.execute("RELEASE write")
                outcomes.append((future, result, None, emitted))
        else:
            conn.execute("COMMIT")
    except BaseException as exc:  # the commit itself failed: nobody's write happened
        undone = True
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        outcomes = [(future, None, exc, []) for _work, future in group]
    if undone and listener is not None:
        listener.rolled_back()
    return outcomes


def deliver(outcomes: list[Outcome], publish: Callable[[Emitted], None]) -> None:
    """Publish each write's change events and answer its caller, in commit order."""
    for future, result, error, emitted in outcomes:
        if emitted:
            publish(emitted)
        _settle(future, result, error)


def passive_checkpoint(conn: sqlite3.Connection) -> tuple[int, int, int] | None:
    """One PASSIVE checkpoint: (busy, frames in the WAL, frames copied back); None: it failed."""
    try:
        busy, log, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    except sqlite3.Error:
        return None
    return busy, log, copied


def finish_checkpoint(conn: sqlite3.Connection) -> None:
    """Copy back what the checkpointer's pass has not: the next write can restart the WAL.
    (Busy: the checkpointer is at it; it asks again after its next pass.)"""
    passive_checkpoint(conn)


class Worker:
    """One connection, one thread, a queue of functions to run on that connection."""

    def __init__(self, conn: sqlite3.Connection, name: str) -> None:
        self._conn = conn
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()
        self.pending = 0

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        future: asyncio.Future[T] = self._loop.create_future()
        self.pending += 1
        try:
            self._queue.put((fn, future))
            return await future
        finally:
            self.pending -= 1

    def _serve(self) -> None:
        while (job := self._queue.get()) is not None:
            fn, future = job
            try:
                result, error = fn(self._conn), None
            except BaseException as exc:  # handed to the caller
                result, error = None, exc
            self._loop.call_soon_threadsafe(_settle, future, result, error)
        self._conn.close()

    async def close(self) -> None:
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join, 10)


class _Writer:
    """What both writers keep: the connection, where change events go, whether the
    checkpointer asked for the WAL to be restarted, and counts of groups and writes."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        publish: Callable[[Emitted], None],
        listener: TransactionListener | None = None,
    ) -> None:
        self._conn = conn
        self._publish = publish
        self._listener = listener
        self._restart = False  # set from the checkpointer's thread: a plain flag will do
        self._loop = asyncio.get_running_loop()
        self.groups = 0
        self.writes = 0
        self._start()

    def request_restart(self) -> None:
        """The checkpointer's pass left a long WAL behind it: finish the checkpoint between
        two groups. (Called from the checkpointer's thread.)"""
        self._restart = True

    def _restart_due(self) -> bool:
        due, self._restart = self._restart, False
        return due

    def _start(self) -> None:
        """The writer's own set-up, once the shared part is done."""

    def _committed(self, group: list[Job]) -> list[Outcome]:
        """Commit `group` (see `commit_group`) and count it."""
        outcomes = commit_group(self._conn, group, self._listener)
        self.groups += 1
        self.writes += len(group)
        return outcomes


class GroupCommitWriter(_Writer):
    """The single writer: group commit, then results and change events in commit order.

    Between two groups, when the checkpointer asks (`request_restart`), it finishes the
    checkpoint itself. The `Checkpointer` thread copies nearly all of the WAL back without
    stopping writes, but under a steady stream of commits it never catches up with the last
    few: SQLite restarts the WAL from its start only after a checkpoint that left nothing
    behind, so the file would grow without end (hundreds of MB in a minute of chat) and every
    commit would append to a longer log and a larger index. Asked right after a pass, the
    writer's checkpoint has only the commits made during that pass to copy.
    """

    def _start(self) -> None:
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="sqlite-writer", daemon=True)
        self._thread.start()

    async def write(
        self, work: Callable[[sqlite3.Connection, Emitted], T], *, heavy: bool = False
    ) -> T:
        """Run `work` inside a committed transaction; return once it is durable.

        Every write is on this thread already, so `heavy` changes nothing here.
        """
        future: asyncio.Future[T] = self._loop.create_future()
        self._queue.put((work, future))
        return await future

    def _serve(self) -> None:
        while (first := self._queue.get()) is not None:
            group = [first]
            stop = False
            while len(group) < MAX_GROUP:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                group.append(job)
            self._commit(group)
            if stop:
                break
            if self._restart_due():
                finish_checkpoint(self._conn)
        self._conn.close()

    def _commit(self, group: list[Job]) -> None:
        self._loop.call_soon_threadsafe(self._deliver, self._committed(group))

    def _deliver(self, outcomes: list[Outcome]) -> None:
        deliver(outcomes, self._publish)

    async def close(self) -> None:
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join, 10)


class LoopWriter(_Writer):
    """The single writer on the event loop's own thread: no thread hop, no GIL hand-over.

    With `synchronous=NORMAL` a commit appends to the WAL without an fsync, so a group costs
    the loop about as long as handing it to a thread would, and the hand-over is what hurt:
    a writer thread gives the GIL up and takes it back around every statement, and under load
    each take waits for the loop's switch interval. Writes issued in one turn of the loop are
    flushed together at its end (one `call_soon`), committed as one group, and only then
    answered and published, in commit order. A write marked heavy (deleting a room with its
    history, an account with its traces) and the writer's own checkpoint (see
    `GroupCommitWriter`; it syncs the database file) run on a thread instead, alone, while
    later writes wait their turn, so neither stalls every socket.
    """

    def _start(self) -> None:
        self._pending: list[tuple[Callable[..., Any], asyncio.Future[Any], bool]] = []
        self._scheduled = False
        self._heavy: asyncio.Task[None] | None = None
        self._closed = False

    async def write(
        self, work: Callable[[sqlite3.Connection, Emitted], T], *, heavy: bool = False
    ) -> T:
        """Run `work` inside a committed transaction; return once it is durable."""
        if self._closed:
            raise RuntimeError("the writer is closed")
        future: asyncio.Future[T] = self._loop.create_future()
        self._pending.append((work, future, heavy))
        if self._heavy is None:
            self._schedule_flush()
        return await future

    def request_restart(self) -> None:
        if not self._closed:
            # a loop closed without closing the store: the checkpointer's thread goes on
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._restart_requested)

    def _restart_requested(self) -> None:
        self._restart = True
        if self._heavy is None and not self._closed:
            self._schedule_flush()

    def _schedule_flush(self) -> None:
        """Flush at the end of this turn of the loop (once, however many writes ask). The
        flush runs in a context of its own: it commits and publishes for every writer of its
        group, so what it sets off (deliveries, their tasks and log lines) must not carry the
        request id of whichever request happened to write first."""
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush, context=contextvars.Context())

    def _flush(self) -> None:
        self._scheduled = False
        pending = self._pending
        while pending and self._heavy is None:
            if pending[0][2]:
                work, future, _ = pending.pop(0)
                self._off_loop(self._committed, [(work, future)])
                break
            count = 0
            while count < len(pending) and count < MAX_GROUP and not pending[count][2]:
                count += 1
            group = [(work, future) for work, future, _ in pending[:count]]
            del pending[:count]
            deliver(self._committed(group), self._publish)
        if self._heavy is None and not self._closed and self._restart_due():
            # it syncs the database file: not on the loop
            self._off_loop(finish_checkpoint, self._conn)

    def _off_loop(self, fn: Callable[..., list[Outcome] | None], *args: Any) -> None:
        """Run `fn(*args)` on a thread, then publish and answer what it committed, if
        anything; writes asked for meanwhile wait for it."""
        self._heavy = self._loop.create_task(self._run_off_loop(fn, *args))

    async def _run_off_loop(self, fn: Callable[..., list[Outcome] | None], *args: Any) -> None:
        try:
            outcomes = await asyncio.to_thread(fn, *args)
            if outcomes is not None:
                deliver(outcomes, self._publish)
        finally:
            self._heavy = None
            if self._pending:
                self._schedule_flush()

    async def close(self) -> None:
        """Finish every write already asked for, then close the connection."""
        self._closed = True
        while self._heavy is not None or self._pending:
            if self._heavy is not None:
                await asyncio.shield(self._heavy)
            else:
                self._flush()
        self._conn.close()


class Checkpointer:
    """Copies the WAL back into the database from its own thread and connection.

    SQLite's automatic checkpoint runs inside whichever commit crosses the threshold, which
    stalls that commit (and every write grouped with it). The writer turns it off; this thread
    runs PASSIVE checkpoints, which never block writers or readers, once a second. When a pass
    finds the WAL longer than `restart_over`, it asks the writer to finish the checkpoint
    (`ask_restart`), which then copies only what was committed during the pass. (The writer
    once decided that by a timer of its own: started together, the two timers kept in step,
    every pass found the writer's checkpoint running and gave up, and the writer copied the
    whole second's WAL, 14 000 pages and 40-65 ms without writes at 2500 msg/s, every second.)
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        ask_restart: Callable[[], None],
        *,
        interval: float = 1.0,
        restart_over: int = WAL_RESTART_OVER,
    ) -> None:
        self._conn = conn
        self._ask_restart = ask_restart
        self._interval = interval
        self._restart_over = restart_over
        self._frame_bytes = 24 + int(conn.execute("PRAGMA page_size").fetchone()[0])
        self._seen_version = -1  # PRAGMA data_version: moves when another connection commits
        self.passes = 0
        self.refused = 0  # passes that found another checkpoint running
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def copy_back(self) -> None:
        """One PASSIVE pass; then, if the WAL is long and something was committed since the
        last pass, ask for the restart (a WAL all copied back restarts at the next write)."""
        result = passive_checkpoint(self._conn)
        if result is None:
            return
        busy, log, _copied = result
        self.passes += 1
        if busy:
            self.refused += 1
            return
        try:
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error:
            return
        if version != self._seen_version and log * self._frame_bytes > self._restart_over:
            # again at once: this one copies what was committed during the first, a few
            # hundred pages where the first copied a second's worth, and leaves the writer less
            passive_checkpoint(self._conn)
            self._ask_restart()
        self._seen_version = version

    def _serve(self) -> None:
        while not self._stop.wait(self._interval):
            self.copy_back()
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._conn.close()

    async def close(self) -> None:
        self._stop.set()
        await asyncio.to_thread(self._thread.join, 30)
