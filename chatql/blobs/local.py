"""Blobs as files below one folder on local disk: the default store (`file:./files`).

Every disk call runs in a worker thread (anyio), so a slow disk never stalls the event loop.
A write goes to a temporary file under `root/.tmp` (same file system, so the final rename is
atomic) and is renamed over the key only once whole and flushed; readers never see half a file.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from functools import partial
from pathlib import Path
from typing import BinaryIO

import anyio
import anyio.to_thread

from chatql.blobs.base import CHUNK, BlobInfo, BlobNotFound, BlobTooLarge, DirectUpload, valid_key

TMP = ".tmp"
"""Folder of writes in progress; no key can name it, as keys never start with a dot."""

STALE = 86400
"""Seconds after its last write that a temporary file counts as abandoned."""


def _check_range(start: int, end: int | None) -> None:
    if start < 0 or (end is not None and end < 0):
        raise ValueError(f"a byte range cannot be negative: {start}..{end}")


class LocalBlobStore:
    """Keys are relative paths below `root`; `valid_key` makes sure none ever leaves it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root / valid_key(key)

    async def open(self) -> None:
        """Make the folder, and sweep temporary files stale for a day (left by a crash)."""
        await anyio.to_thread.run_sync(partial(self.root.mkdir, parents=True, exist_ok=True))
        await anyio.to_thread.run_sync(_sweep, self.root / TMP, time.time() - STALE)

    async def close(self) -> None:
        """Nothing to release: each call opens and closes its own files."""

    async def presigned_put(
        self, key: str, *, size: int, content_type: str, expires_in: int
    ) -> DirectUpload | None:
        """None: uploads to local disk come through ChatQL's own upload endpoint."""
        valid_key(key)
        return None

    async def write(self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int) -> int:
        target = self._path(key)
        if max_bytes < 0:
            raise ValueError("max_bytes cannot be negative")
        tmp_dir = self.root / TMP
        await anyio.to_thread.run_sync(partial(tmp_dir.mkdir, parents=True, exist_ok=True))
        tmp = tmp_dir / f"{uuid.uuid4().hex}.part"
        handle: BinaryIO | None = None
        done = False
        try:
            handle = await anyio.to_thread.run_sync(_create, tmp)
            size = 0
            buffer = bytearray()
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise BlobTooLarge(f"more than {max_bytes} bytes for {key!r}")
                buffer += chunk
                if len(buffer) >= CHUNK:
                    # a fresh buffer each time: the thread may still hold the old one
                    full, buffer = buffer, bytearray()
                    await anyio.to_thread.run_sync(handle.write, full)
            if buffer:
                await anyio.to_thread.run_sync(handle.write, buffer)
            await anyio.to_thread.run_sync(_commit, handle, tmp, target)
            done = True
            return size
        finally:
            if not done:
                # shielded: a cancelled request must still leave no temporary file behind
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(_discard, handle, tmp)

    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        path = self._path(key)
        _check_range(start, end)
        return self._read(key, path, start, end)

    async def _read(
        self, key: str, path: Path, start: int, end: int | None
    ) -> AsyncIterator[bytes]:
        handle: BinaryIO | None = None
        try:
            try:
                handle = await anyio.to_thread.run_sync(_open, path)
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                raise BlobNotFound(key) from None
            remaining = None if end is None else max(0, end - start)
            if start:
                await anyio.to_thread.run_sync(handle.seek, start)
            while remaining is None or remaining > 0:
                wanted = CHUNK if remaining is None else min(CHUNK, remaining)
                data = await anyio.to_thread.run_sync(handle.read, wanted)
                if not data:
                    return
                if remaining is not None:
                    remaining -= len(data)
                yield data
        finally:
            if handle is not None:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(handle.close)

    async def stat(self, key: str) -> BlobInfo | None:
        path = self._path(key)
        return await anyio.to_thread.run_sync(_stat, path)

    async def delete(self, key: str) -> None:
        path = self._path(key)
        await anyio.to_thread.run_sync(_unlink, path)


def _create(path: Path) -> BinaryIO:
    return path.open("xb")


def _open(path: Path) -> BinaryIO:
    return path.open("rb")


def _commit(handle: BinaryIO, tmp: Path, target: Path) -> None:
    """Flush to disk before the rename, so a crash cannot leave a short file under the key."""
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, target)


def _discard(handle: BinaryIO | None, tmp: Path) -> None:
    if handle is not None:
        handle.close()
    tmp.unlink(missing_ok=True)


def _sweep(tmp_dir: Path, older_than: float) -> None:
    """Remove what writes cut short by a crash left; a live write touches its file often."""
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(tmp_dir):
            with contextlib.suppress(OSError):
                if entry.is_file() and entry.stat().st_mtime < older_than:
                    os.unlink(entry.path)


def _stat(path: Path) -> BlobInfo | None:
    try:
        found = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not stat.S_ISREG(found.st_mode):
        return None  # a folder made by longer keys (`a` of `a/b`) is not an object
    return BlobInfo(size=found.st_size)


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
        path.unlink()
