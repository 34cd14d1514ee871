"""The database's lock file: who has an SQLite database open, across processes.

Every ChatQL process holds `<database>.lock` shared (`flock`) while it has the database open;
`chatql restore` takes it exclusively, so a restore never swaps the file under a running
server, and a server never opens a database that is being restored. The kernel drops the
lock when a process dies, even by `kill -9`, so a crash leaves nothing to clean up. The file
itself stays: removing a lock file is how two processes end up locking different files.
"""

from __future__ import annotations

import fcntl
import os


class DatabaseBusy(Exception):
    """Another process holds the lock in a way that excludes this one."""


def lock_path(database: str) -> str:
    return database + ".lock"


class DatabaseLock:
    def __init__(self, database: str) -> None:
        self.path = lock_path(database)
        self._fd: int | None = None

    def acquire(self, *, exclusive: bool) -> None:
        """Take the lock now or raise DatabaseBusy (never waits)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if exclusive:
                raise DatabaseBusy(
                    f"a ChatQL process has {self.path.removesuffix('.lock')} open "
                    "(stop every server using it first)"
                ) from None
            raise DatabaseBusy(
                f"{self.path.removesuffix('.lock')} is being restored (chatql restore holds "
                f"{self.path})"
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor drops the flock
            self._fd = None
