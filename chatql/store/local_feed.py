"""An in-process change feed: the SQLite store's equivalent of a MongoDB change stream.

The store calls `emit` after each commit, in commit order. Watchers get every event after they
start, or after a resume token if it is still in the recent-history ring; older tokens, or
tokens of an earlier process, raise HistoryLost so the caller re-syncs from the database.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from typing import Any

from chatql.store.base import HistoryLost
from chatql.store.records import ChangeEvent

log = logging.getLogger("chatql.feed")


class LocalFeed:
    def __init__(self, history: int = 10_000) -> None:
        self._epoch = uuid.uuid4().hex[:12]
        self._position = 0
        self._history: deque[ChangeEvent] = deque(maxlen=history)
        self._watchers: set[asyncio.Queue[ChangeEvent | None]] = set()
        # listeners called in `emit` itself (`FeedWatch.push_to`): no queue, no task hop
        self._sinks: list[Callable[[ChangeEvent], None]] = []
        self._sink_ends: set[asyncio.Future[None]] = set()

    def emit(self, events: Iterable[tuple[str, str, str, Any]]) -> None:
        """Publish (operation, collection, key, document) tuples committed together."""
        committed_at = time.time()
        for operation, collection, key, document in events:
            self._position += 1
            event = ChangeEvent(
                operation=operation,  # type: ignore[arg-type]
                collection=collection,
                key=key,
                document=document,
                token=f"{self._epoch}:{self._position}",
                committed_at=committed_at,
            )
            self._history.append(event)
            for queue in self._watchers:
                queue.put_nowait(event)
            for sink in self._sinks:
                try:
                    sink(event)
                except Exception:  # the commit happened; one listener's bug must not undo that
                    log.exception("change feed listener failed on %s", event.token)

    def close(self) -> None:
        for queue in self._watchers:
            queue.put_nowait(None)
        for ended in self._sink_ends:
            if not ended.done():
                ended.set_result(None)

    def _backlog(self, resume_token: Any) -> list[ChangeEvent]:
        if resume_token is None:
            return []
        epoch, _, raw_position = str(resume_token).partition(":")
        if epoch != self._epoch or not raw_position.isdigit():
            raise HistoryLost("resume token is from another process lifetime")
        position = int(raw_position)
        oldest = self._position - len(self._history)
        if position < oldest:
            raise HistoryLost("resume token is older than the feed's history")
        return list(self._history)[position - oldest :]

    def watch(self, resume_token: Any = None) -> FeedWatch:
        """Start watching now (not at the first iteration), so no event falls in between."""
        queue: asyncio.Queue[ChangeEvent | None] = asyncio.Queue()
        backlog = self._backlog(resume_token)
        self._watchers.add(queue)
        return FeedWatch(self, queue, backlog)

    async def _push(
        self,
        queue: asyncio.Queue[ChangeEvent | None],
        backlog: list[ChangeEvent],
        sink: Callable[[ChangeEvent], None],
    ) -> None:
        """Hand `sink` the backlog, whatever reached `queue` meanwhile, then every event as
        it is emitted, until the feed closes."""
        ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._watchers.discard(queue)
        self._sinks.append(sink)
        self._sink_ends.add(ended)
        try:
            for event in backlog:
                sink(event)
            while not queue.empty():
                item = queue.get_nowait()
                if item is None:
                    return
                sink(item)
            await ended
        finally:
            self._sinks.remove(sink)
            self._sink_ends.discard(ended)

    async def _drain(
        self, queue: asyncio.Queue[ChangeEvent | None], backlog: list[ChangeEvent]
    ) -> AsyncGenerator[ChangeEvent]:
        try:
            for event in backlog:
                yield event
            while True:
                item = await queue.get()
                if item is None:
                    return
                yield item
        finally:
            self._watchers.discard(queue)


class FeedWatch:
    """A watch of the feed: an async iterator of its events, or (`push_to`) a sink called in
    `emit` itself, for the one consumer that reads every event (the pub/sub backend)."""

    def __init__(
        self, feed: LocalFeed, queue: asyncio.Queue[ChangeEvent | None], backlog: list[ChangeEvent]
    ) -> None:
        self._feed = feed
        self._queue = queue
        self._iterator = feed._drain(queue, backlog)
        self._backlog = backlog

    def __aiter__(self) -> AsyncIterator[ChangeEvent]:
        return self._iterator

    async def __anext__(self) -> ChangeEvent:
        return await self._iterator.__anext__()

    async def aclose(self) -> None:
        await self._iterator.aclose()

    async def push_to(self, sink: Callable[[ChangeEvent], None]) -> None:
        """Call `sink` with each event from the watch's start, in order, while the feed is
        open (it returns when the feed closes). `sink` runs inside the writer's commit
        delivery: it must be quick, and what it raises is logged, not passed on."""
        await self._feed._push(self._queue, self._backlog, sink)
