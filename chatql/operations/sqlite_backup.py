"""Backing up and restoring an SQLite database while keeping it consistent.

A backup goes through SQLite's online backup API (`sqlite3.Connection.backup`): it copies
every page inside one read transaction, so the copy is the database as of one commit, while
the server goes on writing (WAL lets a writer and a reader work at once). The copy is
checked, written beside the target under a temporary name and renamed into place, so PATH is
either the old file or a whole new backup, never half of one.

A restore only swaps a file nobody has open: it takes the database's lock exclusively (see
`chatql.store.sqlite.lock`), which every running ChatQL holds shared. It checks the backup
first (an SQLite file, `integrity_check` ok, a ChatQL schema this version can open), keeps the
database it replaces beside it, and removes that database's `-wal` and `-shm` files, which
belong to the old file and would corrupt the new one.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from chatql.store.sqlite.lock import DatabaseLock
from chatql.store.sqlite.migrations import LATEST_VERSION

SQLITE_HEADER = b"SQLite format 3\x00"
CHATQL_TABLES = frozenset({"users", "rooms", "memberships", "messages"})


class BackupError(Exception):
    """The backup or restore cannot be done; the message says why, in one line. `usage`:
    the operator asked for something wrong (a path), not a failure of the work itself."""

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    schema_version: int
    size: int


def _uri(path: Path, mode: str) -> str:
    return path.resolve().as_uri() + f"?mode={mode}"


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync(path: Path) -> None:
    with path.open("rb+") as file:
        os.fsync(file.fileno())


def _copy(source: sqlite3.Connection, target: Path) -> None:
    """Copy `source` into a new file at `target` in one step (one read transaction)."""
    destination = sqlite3.connect(target)
    try:
        source.backup(destination)
        # one self-contained file: no -wal or -shm beside it (a server turns WAL back on)
        destination.execute("PRAGMA journal_mode=DELETE")
        checked = destination.execute("PRAGMA integrity_check").fetchone()[0]
        if checked != "ok":
            raise BackupError(f"the copy failed its integrity check: {checked}")
    finally:
        destination.close()
    _fsync(target)


def _schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _temporary(beside: Path, purpose: str) -> Path:
    return beside.with_name(f".{beside.name}.{purpose}-{os.getpid()}")


def backup(database: Path, target: Path, *, overwrite: bool = False) -> BackupInfo:
    """Copy the live database to `target`, consistent as of one commit."""
    if not database.is_file():
        raise BackupError(f"{database} does not exist: nothing to back up", usage=True)
    if target.exists() and not overwrite:
        raise BackupError(f"{target} exists (use --force to replace it)", usage=True)
    if target.resolve() == database.resolve():
        raise BackupError("the backup must go to another file than the database", usage=True)
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} is not a directory", usage=True)
    partial = _temporary(target, "partial")
    lock = DatabaseLock(str(database))
    lock.acquire(exclusive=False)  # a restore must not swap the file under the copy
    try:
        source = sqlite3.connect(_uri(database, "ro"), uri=True)
        try:
            version = _schema_version(source)
            _copy(source, partial)
        finally:
            source.close()
        os.replace(partial, target)
        _fsync_dir(target.parent)
    except sqlite3.Error as exc:
        raise BackupError(f"{database}: {exc}") from exc
    finally:
        lock.release()
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return BackupInfo(target, version, target.stat().st_size)


def verify(backup_file: Path) -> int:
    """The backup's schema version, after checking it is a sound ChatQL database."""
    if not backup_file.is_file():
        raise BackupError(f"{backup_file} does not exist", usage=True)
    with backup_file.open("rb") as file:
        if file.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            raise BackupError(f"{backup_file} is not an SQLite database")
    try:
        conn = sqlite3.connect(_uri(backup_file, "ro"), uri=True)
        try:
            checked = conn.execute("PRAGMA integrity_check").fetchone()[0]
            if checked != "ok":
                raise BackupError(f"{backup_file} is damaged: integrity_check says {checked}")
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
            version = _schema_version(conn)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise BackupError(f"{backup_file}: {exc}") from exc
    if version < 1 or not tables >= CHATQL_TABLES:
        raise BackupError(f"{backup_file} is an SQLite database, but not a ChatQL one")
    if version > LATEST_VERSION:
        raise BackupError(
            f"{backup_file} has schema version {version}, newer than this ChatQL knows "
            f"({LATEST_VERSION}): restore it with the ChatQL that made it"
        )
    return version


def _set_aside(database: Path) -> Path | None:
    """Fold the old database's WAL into it and move it beside, under a dated name."""
    if not database.exists():
        return None
    try:
        conn = sqlite3.connect(database)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
    except sqlite3.Error:
        pass  # a damaged database is set aside as it is
    kept = database.with_name(f"{database.name}.before-restore-{time.strftime('%Y%m%dT%H%M%S')}")
    os.replace(database, kept)
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{database}{suffix}").unlink()
    return kept


@dataclass(frozen=True)
class RestoreInfo:
    schema_version: int
    previous: Path | None


def restore(backup_file: Path, database: Path) -> RestoreInfo:
    """Replace `database` with the backup; refused while any ChatQL has it open."""
    version = verify(backup_file)
    if backup_file.resolve() == database.resolve():
        raise BackupError("the backup is the database itself", usage=True)
    database.parent.mkdir(parents=True, exist_ok=True)
    lock = DatabaseLock(str(database))
    lock.acquire(exclusive=True)
    incoming = _temporary(database, "restoring")
    try:
        source = sqlite3.connect(_uri(backup_file, "ro"), uri=True)
        try:
            _copy(source, incoming)
        finally:
            source.close()
        previous = _set_aside(database)
        os.replace(incoming, database)
        _fsync_dir(database.parent)
    except sqlite3.Error as exc:
        raise BackupError(f"{backup_file}: {exc}") from exc
    finally:
        lock.release()
        with contextlib.suppress(FileNotFoundError):
            incoming.unlink()
    return RestoreInfo(version, previous)
