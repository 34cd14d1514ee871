"""The MongoDB change feed: one database-level change stream over the watched collections.

The server-side pipeline keeps out what the SQLite feed never emits: refresh tokens,
connections, room watches and bans live in collections that are not watched, message
deletes only happen when a whole room is deleted, and the TTL monitor's deletes of
ephemeral `events` are not events.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Mapping
from datetime import UTC, datetime
from typing import Any, Self

from pymongo.errors import OperationFailure

from chatql.store.base import HistoryLost
from chatql.store.mongo.documents import decode_doc, maybe_await
from chatql.store.records import ChangeEvent, ChangeOperation

WATCHED_COLLECTIONS = (
    "users",
    "rooms",
    "memberships",
    "messages",
    "reactions",
    "notifications",
    "events",
    "streams",
)

_OPERATIONS: dict[str, ChangeOperation] = {
    "insert": "insert",
    "update": "update",
    "replace": "update",
    "delete": "delete",
}
# ChangeStreamHistoryLost, ChangeStreamFatalError, InvalidResumeToken
_HISTORY_LOST_CODES = frozenset({286, 280, 260})
# Collections keyed by a property of their record (`membership_id`, `reaction_id`): their
# event documents carry the record's fields only, like the SQLite feed's.
_KEYED_BY_FIELDS = frozenset({"memberships", "reactions"})


def feed_pipeline() -> list[dict[str, Any]]:
    return [
        {
            "$match": {
                "ns.coll": {"$in": list(WATCHED_COLLECTIONS)},
                "operationType": {"$in": list(_OPERATIONS)},
                "$nor": [
                    {"ns.coll": "messages", "operationType": "delete"},
                    {"ns.coll": "events", "operationType": {"$ne": "insert"}},
                ],
            }
        }
    ]


def history_lost(exc: BaseException) -> bool:
    if not isinstance(exc, OperationFailure):
        return False
    # The label marks errors the server says a resume cannot fix: re-syncing is the way out.
    if exc.code in _HISTORY_LOST_CODES or exc.has_error_label("NonResumableChangeStreamError"):
        return True
    # Servers say "the resume point may no longer be in the oplog"; embedded
    # implementations say the token "is no longer available" in their history.
    return "no longer" in str(exc).lower()


class ChangeFeed:
    """Async iterator over a change stream whose opening `MongoStore.watch` already started.

    Errors other than cancellation end the feed: the stream is closed and the error (or
    HistoryLost) raised once; later calls stop iteration. Cancelling a pending `__anext__`
    (e.g. `asyncio.wait_for`) leaves the feed usable."""

    def __init__(self, opening: Awaitable[Any]) -> None:
        self._source: Awaitable[Any] | None = opening
        self._opening: asyncio.Future[Any] | None = None
        self._stream: Any = None
        self._closed = False
        if inspect.iscoroutine(opening):
            # with no running loop yet, the opening starts at the first __anext__
            with contextlib.suppress(RuntimeError):
                self._start(asyncio.get_running_loop())

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        source, self._source = self._source, None
        assert inspect.iscoroutine(source)
        self._opening = loop.create_task(source)
        self._opening.add_done_callback(_silence)

    def __aiter__(self) -> Self:
        return self

    async def _open(self) -> Any:
        if self._stream is None:
            if self._opening is None and inspect.iscoroutine(self._source):
                self._start(asyncio.get_running_loop())
            if self._opening is not None:
                # shield: a cancelled __anext__ must not cancel the opening itself
                self._stream = await asyncio.shield(self._opening)
            else:
                assert self._source is not None
                self._stream = await self._source
            self._opening = self._source = None
        return self._stream

    async def __anext__(self) -> ChangeEvent:
        while not self._closed:
            try:
                stream = await self._open()
                raw: Mapping[str, Any] = await stream.next()
            except (asyncio.CancelledError, StopAsyncIteration):
                if self._stream is not None and not getattr(self._stream, "alive", True):
                    await self._discard()
                raise
            except Exception as exc:
                if self._closed:  # closed under us by aclose()
                    break
                await self._discard()
                if history_lost(exc):
                    raise HistoryLost(str(exc)) from exc
                raise
            event = change_event(raw)
            if event is not None:
                return event
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """Stop watching and release the server cursor."""
        self._closed = True
        opening, self._opening = self._opening, None
        source, self._source = self._source, None
        stream, self._stream = self._stream, None
        if inspect.iscoroutine(source):
            source.close()
        if opening is not None:
            if not opening.done():
                opening.cancel()
            elif not opening.cancelled() and opening.exception() is None:
                stream = opening.result()
        if stream is None and source is not None and not inspect.iscoroutine(source):
            stream = source  # an already-open cursor that was never awaited
        if stream is not None:
            await maybe_await(stream.close())

    async def _discard(self) -> None:
        with contextlib.suppress(Exception):
            await self.aclose()


def _silence(future: asyncio.Future[Any]) -> None:
    """Mark an opening failure as seen; `__anext__` still re-raises it."""
    if not future.cancelled():
        future.exception()


def change_event(raw: Mapping[str, Any]) -> ChangeEvent | None:
    operation = _OPERATIONS.get(str(raw.get("operationType")))
    if operation is None:
        return None
    namespace = raw.get("ns") or {}
    collection = str(namespace.get("coll"))
    key = (raw.get("documentKey") or {}).get("_id")
    document: dict[str, Any] | None = None
    if operation != "delete":
        full = raw.get("fullDocument")
        if full is None:  # deleted before the lookup: its delete event follows
            return None
        if collection == "events":
            document = {"channel": full.get("channel"), "payload": full.get("payload")}
        else:
            document = decode_doc(full)
            if collection in _KEYED_BY_FIELDS:
                document.pop("id", None)
    return ChangeEvent(
        operation=operation,
        collection=collection,
        key=str(key),
        document=document,
        token=raw.get("_id"),
        committed_at=_commit_time(raw),
    )


def _commit_time(raw: Mapping[str, Any]) -> float | None:
    """`wallTime` (MongoDB 6.0+), else the cluster time's seconds; None when neither is there."""
    wall = raw.get("wallTime")
    if isinstance(wall, datetime):
        return wall.timestamp() if wall.tzinfo else wall.replace(tzinfo=UTC).timestamp()
    seconds = getattr(raw.get("clusterTime"), "time", None)
    return float(seconds) if isinstance(seconds, int) else None
