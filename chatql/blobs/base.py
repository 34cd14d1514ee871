"""Where the bytes of files live: a folder on local disk or an S3-compatible bucket.

The files service (`chatql/services/files.py`) only ever sees this protocol. Keys are made by
that service (`[A-Za-z0-9/_.-]`, no `..`, no leading `/`); bytes always stream in and out in
chunks, so memory stays flat whatever the size of a file. The contract tests in
`tests/test_blob_contract.py` prove every store behaves the same.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Protocol

CHUNK = 256 * 1024
"""Bytes per chunk when streaming: large enough for throughput, small enough for flat memory."""

_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9/_.-]{0,511}$")


def valid_key(key: str) -> str:
    """The key itself when a store may use it; ValueError otherwise (never a path escape).

    `fullmatch`, as `$` would let a trailing newline through; a `.` segment is refused too,
    since on disk `a/./b` is `a/b` and `a/.` is the folder `a`, while S3 keeps them apart."""
    if (
        not _KEY.fullmatch(key)
        or ".." in key
        or "//" in key
        or key.endswith("/")
        or "." in key.split("/")
    ):
        raise ValueError(f"not a blob key: {key!r}")
    return key


class BlobNotFound(Exception):
    """No object under that key."""


class BlobTooLarge(Exception):
    """More bytes arrived than allowed; nothing is kept under the key."""


@dataclass(frozen=True, slots=True)
class BlobInfo:
    size: int


@dataclass(frozen=True, slots=True)
class DirectUpload:
    """Where a client sends an upload's bytes itself (a presigned S3 PUT)."""

    url: str
    method: str
    headers: tuple[tuple[str, str], ...]


class BlobStore(Protocol):
    """Streams bytes to and from keys. Writes are atomic: a key holds a whole object or none."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...

    async def presigned_put(
        self, key: str, *, size: int, content_type: str, expires_in: int
    ) -> DirectUpload | None:
        """A URL the client PUTs exactly `size` bytes to, valid `expires_in` seconds; None for
        a store whose uploads come through ChatQL's own upload endpoint (local disk)."""

    async def write(self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int) -> int:
        """Store the chunks under `key` (replacing any object there) and return the size.
        More than `max_bytes` raises BlobTooLarge, and then nothing of these bytes is left:
        like any failed write, the key keeps what it held before (no object, or the old one)."""

    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes of `key` from `start` up to `end` (exclusive; None = to the end), in
        chunks. BlobNotFound (raised on first iteration) when there is no such object.

        Every store clamps the range the same way: `end` past the size means to the end, and a
        `start` at or past the size (or `end <= start`) yields nothing rather than failing, so
        callers answer HTTP 416 from `stat` alone. A negative bound is a ValueError at call."""

    async def stat(self, key: str) -> BlobInfo | None: ...

    async def delete(self, key: str) -> None:
        """Remove the object; a missing one is not an error."""
