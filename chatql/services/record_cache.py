"""Users and rooms kept in memory, refreshed from the change feed rather than re-read.

Every committed change to a user or room arrives on the feed with its full document, so the
cache takes the new version from the event itself: hot rooms (whose counters change with every
message) stay cached instead of being evicted and re-read. The document becomes a record when it
is first asked for, not on arrival: a busy room changes with every message and is read far less
often. A load that raced a change is not kept, exactly as in `MembershipCache`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, cast

from chatql.store.records import ChangeEvent, Record


class RecordCache[R: Record]:
    def __init__(
        self,
        collection: str,
        kind: type[R],
        load_many: Callable[[Sequence[str]], Awaitable[dict[str, R]]],
        size: int = 50_000,
    ) -> None:
        self._collection = collection
        self._kind = kind
        self._load_many = load_many
        self._size = size
        self._entries: OrderedDict[str, R | Mapping[str, Any]] = OrderedDict()
        self._versions: dict[str, int] = {}
        self._epoch = 0

    async def get(self, key: str) -> R | None:
        record = self.peek(key)
        if record is not None:
            return record
        return (await self.get_many([key])).get(key)

    def peek(self, key: str) -> R | None:
        """The record if it is cached (None: not cached, or gone): no load, no await."""
        entry = self._entries.get(key)
        if entry is None or isinstance(entry, self._kind):
            return entry
        # as the feed brought it
        record = self._entries[key] = self._kind.from_doc(cast(Mapping[str, Any], entry))
        return record

    async def get_many(self, keys: Sequence[str]) -> dict[str, R]:
        found: dict[str, R] = {}
        missing: list[str] = []
        for key in keys:
            record = self.peek(key)
            if record is None:
                missing.append(key)
            else:
                found[key] = record
        if missing:
            before = {k: (self._epoch, self._versions.get(k, 0)) for k in missing}
            loaded = await self._load_many(missing)
            for key, record in loaded.items():
                found[key] = record
                if before.get(key) == (self._epoch, self._versions.get(key, 0)):
                    self._store(key, record)
        return found

    def _store(self, key: str, record: R | Mapping[str, Any]) -> None:
        self._entries[key] = record
        self._entries.move_to_end(key)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def observe(self, event: ChangeEvent) -> None:
        if event.collection != self._collection:
            return
        self._versions[event.key] = self._versions.get(event.key, 0) + 1
        if event.operation == "delete" or event.document is None:
            self._entries.pop(event.key, None)
        else:
            self._store(event.key, event.document)

    def forget(self, key: str) -> None:
        """The writer's own change: drop it now rather than when the feed brings it."""
        self._versions[key] = self._versions.get(key, 0) + 1
        self._entries.pop(key, None)

    def reset(self) -> None:
        self._epoch += 1
        self._entries.clear()
