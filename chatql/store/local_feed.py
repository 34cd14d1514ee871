"""An in-process change feed: the SQLite store's equivalent of a MongoDB change stream.

The store calls `emit` after each commit, in commit order. Watchers get every event after they
start, or after a resume token if it is still in the recent-history ring; older tokens, or
tokens of an earlier process, raise HistoryLost so the caller re-syncs from the database.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import Any

from chatql.store.base import ChangeEvent, HistoryLost


class LocalFeed:
    def __init__(self, history: int = 10_000) -> None:
        self._epoch = uuid.uuid4().hex[:12]
        self._position = 0
        self._history: deque[ChangeEvent] = deque(maxlen=history)
        self._watchers: set[asyncio.Queue[ChangeEvent | None]] = set()

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

    def close(self) -> None:
        for queue in self._watchers:
            queue.put_nowait(None)

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

    def watch(self, resume_token: Any = None) -> AsyncIterator[ChangeEvent]:
        """Start watching now (not at the first iteration), so no event falls in between."""
        queue: asyncio.Queue[ChangeEvent | None] = asyncio.Queue()
        backlog = self._backlog(resume_token)
        self._watchers.add(queue)
        return self._drain(queue, backlog)

    async def _drain(
        self, queue: asyncio.Queue[ChangeEvent | None], backlog: list[ChangeEvent]
    ) -> AsyncIterator[ChangeEvent]:
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
