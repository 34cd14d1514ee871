"""Viewer counts: ephemeral, like typing. Each process counts its own open watches and tells
the others through the store's ephemeral path; each process sums what it heard.

Counts move often (a popular stream gains viewers every instant), so nothing here is sent per
viewer: once per `interval` a process publishes one event with the counts that changed, and
delivers a new total to its watchers only when the total changed, at most once per interval
per stream. Every process republishes its non-zero counts every `HEARTBEATS` intervals, and a
process that stops doing so (it died) drops out of the sums. The peak is raised in the store
when a total passes it (a conditional write, so every process may try), and the series for
analytics is one sample per `sample_interval` slot (the store keeps the highest per slot).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from broadcaster import Event

from chatql.realtime.pubsub import Hub, stream_channel
from chatql.store.base import Store
from chatql.store.ids import new_id
from chatql.store.records import ChangeEvent, WatchRecord, now_utc

RAW_CHANNEL = "viewers-raw"
HEARTBEATS = 5  # intervals between republishing unchanged counts
EXPIRY = 3 * HEARTBEATS  # intervals without news after which a process's count is dropped

log = logging.getLogger("chatql.streams")


@dataclass(frozen=True, slots=True)
class ViewerCount:
    """A stream's viewer total changed (delivered on the stream's channel, not stored)."""

    stream_id: str
    viewers: int


@dataclass(slots=True)
class _OpenWatch:
    stream_id: str
    viewer_id: str
    started: datetime


class ViewerTracker:
    def __init__(
        self, store: Store, hub: Hub, process: str, interval: float, sample_interval: float
    ) -> None:
        self._store = store
        self._hub = hub
        self._process = process
        self._interval = interval
        self._sample_interval = sample_interval
        self._local: dict[str, int] = {}
        self._open: dict[int, _OpenWatch] = {}
        self._dirty: set[str] = set()
        self._heard: dict[str, dict[str, tuple[int, float]]] = {}
        self._delivered: dict[str, int] = {}
        self._peaks: dict[str, int] = {}
        self._sampled: dict[str, tuple[float, int]] = {}
        self._task: asyncio.Task[None] | None = None
        self._tick = 0

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="chatql-viewers")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # ------------------------------------------------------------ counting
    def total(self, stream_id: str) -> int:
        """Viewers of the stream across every process, as this process last heard."""
        now = time.monotonic()
        heard = self._heard.get(stream_id, {})
        others = sum(n for p, (n, until) in heard.items() if p != self._process and until > now)
        return others + self._local.get(stream_id, 0)

    def shown(self, stream_id: str) -> int:
        """The count last handed to the stream's watchers. A watcher shown any other number
        (say `total()` between two ticks) would keep it: the next tick sends only changes."""
        return self._delivered.get(stream_id, 0)

    def local_counts(self) -> tuple[int, int]:
        """(streams watched through this process, its open watches): for the metrics."""
        return len(self._local), sum(self._local.values())

    def open_watches(self, stream_id: str) -> list[tuple[str, datetime]]:
        """(viewer, since) of this process's watches still open on the stream."""
        return [(w.viewer_id, w.started) for w in self._open.values() if w.stream_id == stream_id]

    @contextlib.asynccontextmanager
    async def watching(
        self, stream_id: str, viewer_id: str, live_window: LiveWindow
    ) -> AsyncIterator[None]:
        """Count one viewer while the block runs; then keep the watch for analytics."""
        watch = _OpenWatch(stream_id, viewer_id, now_utc())
        self._open[id(watch)] = watch
        self._local[stream_id] = self._local.get(stream_id, 0) + 1
        self._dirty.add(stream_id)
        try:
            yield
        finally:
            del self._open[id(watch)]
            left = self._local[stream_id] - 1
            if left:
                self._local[stream_id] = left
            else:
                del self._local[stream_id]
            self._dirty.add(stream_id)
            ended = now_utc()
            seconds = await live_window.overlap(stream_id, watch.started, ended)
            try:
                await self._store.insert_watch(
                    WatchRecord(new_id(), stream_id, viewer_id, watch.started, ended, seconds)
                )
            except Exception:  # a watch lost from analytics must not break the socket
                log.exception("could not record a watch of stream %s", stream_id)

    def observe(self, event: Event) -> None:
        """Raw counts from every process (this one included) through the feed."""
        message = event.message
        if not (event.channel == RAW_CHANNEL and isinstance(message, ChangeEvent)):
            return
        payload = (message.document or {}).get("payload") or {}
        process = str(payload.get("process", ""))
        counts = payload.get("counts")
        if not isinstance(counts, dict):
            return
        until = time.monotonic() + EXPIRY * self._interval
        for stream_id, count in counts.items():
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                continue
            heard = self._heard.setdefault(str(stream_id), {})
            if count:
                heard[process] = (count, until)
            else:
                heard.pop(process, None)
                if not heard:
                    del self._heard[str(stream_id)]

    # ------------------------------------------------------------ the loop
    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self._step()
            except Exception:
                log.exception("viewer counting failed; retrying")

    async def _step(self) -> None:
        self._tick += 1
        publish = set(self._dirty)
        self._dirty.clear()
        if self._tick % HEARTBEATS == 0:
            publish.update(self._local)
        if publish:
            counts = {stream_id: self._local.get(stream_id, 0) for stream_id in publish}
            await self._store.publish_ephemeral(
                RAW_CHANNEL, {"process": self._process, "counts": counts}
            )
        now = time.monotonic()
        for stream_id in list(self._heard):
            self._heard[stream_id] = {
                p: entry for p, entry in self._heard[stream_id].items() if entry[1] > now
            }
            if not self._heard[stream_id]:
                del self._heard[stream_id]
        streams = set(self._heard) | set(self._local) | set(self._delivered)
        for stream_id in streams:
            await self._deliver(stream_id, self.total(stream_id))

    async def _deliver(self, stream_id: str, total: int) -> None:
        if self._delivered.get(stream_id) != total:
            if total or stream_id in self._delivered:
                self._hub.deliver(stream_channel(stream_id), ViewerCount(stream_id, total))
            if total:
                self._delivered[stream_id] = total
            else:
                self._delivered.pop(stream_id, None)
        if total > self._peaks.get(stream_id, 0):
            self._peaks[stream_id] = total
            await self._store.raise_peak_viewers(stream_id, total)
        await self._sample(stream_id, total)

    async def _sample(self, stream_id: str, total: int) -> None:
        """One sample per slot and stream, taken when the slot begins or the total rises."""
        slot = time.time() // self._sample_interval * self._sample_interval
        last = self._sampled.get(stream_id)
        if last is not None and last[0] == slot and last[1] >= total:
            return
        if last is None and not total:
            return
        self._sampled[stream_id] = (slot, total)
        if not total:
            self._sampled.pop(stream_id, None)
        await self._store.record_viewer_sample(stream_id, datetime.fromtimestamp(slot, UTC), total)


class LiveWindow:
    """How many seconds of a watch overlapped the stream being live (for watch time)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def overlap(self, stream_id: str, started: datetime, ended: datetime) -> float:
        stream = await self._store.get_stream(stream_id)
        if stream is None or stream.started_at is None:
            return 0.0
        live_from = max(started, stream.started_at)
        live_to = min(ended, stream.ended_at or ended)
        return max(0.0, (live_to - live_from).total_seconds())
