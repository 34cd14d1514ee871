"""A creator's numbers for one stream: viewers (peak, average, unique), watch time, chat,
ratings and new followers.

The store answers for what is closed: watches that ended, the viewer samples, the chat and
the ratings. Watches still open in this process are counted up to now, so the numbers of a
live stream do not lag by the length of everybody's current watch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chatql.services.stream_viewers import LiveWindow, ViewerTracker
from chatql.store.base import Store
from chatql.store.records import StreamRecord, StreamStats, now_utc


@dataclass(frozen=True, slots=True)
class StreamAnalytics:
    peak_viewers: int
    average_viewers: float
    unique_viewers: int
    total_watch_seconds: float
    chat_messages: int
    chatters: int
    rating_average: float | None
    rating_count: int
    new_followers: int
    viewer_series: tuple[tuple[datetime, int], ...]


async def measure(
    store: Store, viewers: ViewerTracker, window: LiveWindow, stream: StreamRecord
) -> StreamAnalytics:
    """The analytics of `stream` from its start (or creation) to its end (or now)."""
    now = now_utc()
    since = stream.started_at or stream.created_at
    until = stream.ended_at or now
    stats: StreamStats = await store.stream_stats(stream, since, until)
    watch_seconds = stats.watch_seconds
    unique = set(stats.unique_viewers)
    for viewer_id, started in viewers.open_watches(stream.id):
        seconds = await window.overlap(stream.id, started, now)
        if seconds > 0:
            watch_seconds += seconds
            unique.add(viewer_id)
    live_seconds = (
        (until - stream.started_at).total_seconds() if stream.started_at is not None else 0.0
    )
    return StreamAnalytics(
        peak_viewers=stream.peak_viewers,
        average_viewers=watch_seconds / live_seconds if live_seconds > 0 else 0.0,
        unique_viewers=len(unique),
        total_watch_seconds=watch_seconds,
        chat_messages=stats.chat_messages,
        chatters=stats.chatters,
        rating_average=stats.rating_sum / stats.rating_count if stats.rating_count else None,
        rating_count=stats.rating_count,
        new_followers=stats.new_followers,
        viewer_series=stats.samples,
    )
