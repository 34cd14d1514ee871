"""Live streams: the control plane. Creators schedule, edit, cancel and end streams, hold a
key to publish with, and read analytics (`stream_analytics`); watchers browse, watch and
rate. Following a creator, and the STREAM_LIVE notices it brings, is `follows`.

A stream is a record plus an ordinary public room for its chat (owned by the creator, so all
moderation applies and guests read it). Status changes are writes like any other, so LIVE
and ENDED reach `watchStream` through the change feed; viewer counts are ephemeral (see
`stream_viewers`). The media plane reaches this service only through `begin_broadcast`,
`end_broadcast`, `recording_saved` and `thumbnail_captured`.

Stream keys are derived, not stored: HMAC(secret, stream id, key version). Revealing one
recomputes it; rotating bumps the version, which invalidates every earlier key at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from chatql.errors import BadUserInput, Forbidden, NotFound, SubscriptionOverflow
from chatql.realtime.pubsub import Hub, SubscriberOverflow, stream_channel
from chatql.security.rate_limit import RateLimiter
from chatql.services import pagination, validation
from chatql.services.follows import Follows
from chatql.services.pagination import Page
from chatql.services.rooms import Rooms
from chatql.services.stream_analytics import StreamAnalytics, measure
from chatql.services.stream_media import MediaPlane, NoMediaPlane
from chatql.services.stream_viewers import LiveWindow, ViewerCount, ViewerTracker
from chatql.store.base import Store
from chatql.store.ids import new_id
from chatql.store.records import (
    ChangeEvent,
    RatingRecord,
    StreamRecord,
    UserRecord,
    now_utc,
)

MAX_TITLE = 100
MAX_CATEGORY = 40
MAX_TAGS = 10
MAX_COMMENT = 500
MAX_SCHEDULE_AHEAD = timedelta(days=366)
TAG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,29}$")
KEY_RE = re.compile(r"^sk_([0-9a-f]{32})_([A-Za-z0-9_-]{32})$")
EDITABLE = ("SCHEDULED", "LIVE", "ENDED")
TOO_SLOW = "Too many undelivered stream updates; resubscribe"


@dataclass(frozen=True, slots=True)
class StreamView:
    """A stream as a watcher sees it at one moment: the record and the viewer total."""

    stream: StreamRecord
    viewers: int


@dataclass(frozen=True, slots=True)
class StreamKey:
    key: str
    ingest_url: str


def clean_tags(tags: Sequence[str] | None) -> tuple[str, ...]:
    """Lower-case, without a leading '#', unique, in the order given."""
    cleaned: list[str] = []
    for raw in tags or ():
        tag = raw.strip().lstrip("#").lower()
        if not TAG_RE.match(tag):
            raise BadUserInput(
                "tags must be 1-30 characters of a-z, 0-9 and '-' (not starting with '-')",
                field="tags",
            )
        if tag not in cleaned:
            cleaned.append(tag)
    if len(cleaned) > MAX_TAGS:
        raise BadUserInput(f"a stream has at most {MAX_TAGS} tags", field="tags")
    return tuple(cleaned)


def clean_category(value: str | None) -> tuple[str | None, str | None]:
    """(as written, the key that filters): ' Art ' -> ('Art', 'art')."""
    category = validation.text(value, "category", MAX_CATEGORY, required=False)
    if category is None:
        return None, None
    return category, " ".join(category.casefold().split())


def category_filter(value: str | None) -> str | None:
    return clean_category(value)[1]


class Streams:
    def __init__(
        self,
        store: Store,
        hub: Hub,
        rooms: Rooms,
        follows: Follows,
        viewers: ViewerTracker,
        secret: str,
        limiter: RateLimiter,
        queue_size: int,
        node: str = "",
    ) -> None:
        self._store = store
        self._hub = hub
        self._rooms = rooms
        self._follows = follows
        self._viewers = viewers
        self._secret = secret.encode()
        self._limiter = limiter
        self._queue_size = queue_size
        self._window = LiveWindow(store)
        self._node = node
        self.media: MediaPlane = NoMediaPlane()

    def attach_media(self, media: MediaPlane) -> None:
        self.media = media

    # ------------------------------------------------------------ keys
    def _key_for(self, stream: StreamRecord) -> str:
        mac = hmac.new(
            self._secret, f"stream-key:{stream.id}:{stream.key_version}".encode(), hashlib.sha256
        ).digest()
        return f"sk_{stream.id}_{base64.urlsafe_b64encode(mac).decode()[:32]}"

    async def _stream_for_key(self, key: str) -> StreamRecord:
        match = KEY_RE.match(key or "")
        stream = await self._store.get_stream(match.group(1)) if match else None
        if stream is None or not hmac.compare_digest(self._key_for(stream), key):
            raise Forbidden("Unknown or rotated stream key", reason="STREAM_KEY")
        return stream

    # ------------------------------------------------------------ reading
    async def get(self, stream_id: str) -> StreamRecord | None:
        return await self._store.get_stream(validation.entity_id(stream_id, "id"))

    async def _existing(self, stream_id: str, field: str = "id") -> StreamRecord:
        stream = await self._store.get_stream(validation.entity_id(stream_id, field))
        if stream is None:
            raise NotFound("No such stream", field=field)
        return stream

    async def _own(self, viewer: UserRecord, stream_id: str, field: str = "id") -> StreamRecord:
        stream = await self._existing(stream_id, field)
        if stream.creator_id != viewer.id and viewer.role != "ADMIN":
            raise Forbidden("Only the stream's creator may do that")
        return stream

    def viewers(self, stream_id: str) -> int:
        return self._viewers.total(stream_id)

    async def get_many(self, stream_ids: Sequence[str]) -> dict[str, StreamRecord]:
        return await self._store.get_streams(stream_ids)

    async def search(
        self,
        *,
        search: str | None,
        category: str | None,
        tag: str | None,
        status: str | None,
        creator_id: str | None,
        limit: int | None,
        next_token: str | None,
    ) -> Page[StreamRecord]:
        size = validation.page_limit(limit, 20)
        term = validation.text(search, "search", validation.MAX_SEARCH_TERM, required=False)
        tags = clean_tags([tag]) if tag is not None else ()
        creator = validation.entity_id(creator_id, "creatorId") if creator_id else None
        after = None
        if next_token is not None:
            parts = pagination.decode("s", next_token)
            if len(parts) != 2 or not isinstance(parts[1], str):
                raise BadUserInput("nextToken is not a valid token", field="nextToken")
            after = (pagination.decode_time(parts[0], "nextToken"), parts[1])
        streams = await self._store.list_streams(
            limit=size + 1,
            after=after,
            term=term.casefold() if term else None,
            category_key=category_filter(category),
            tag=tags[0] if tags else None,
            status=status,
            creator_id=creator,
        )
        token = None
        if len(streams) > size:
            streams = streams[:size]
            token = pagination.encode("s", streams[-1].created_at, streams[-1].id)
        return Page(streams, token)

    async def categories(self, limit: int | None) -> list[tuple[str, int, int]]:
        return await self._store.stream_categories(validation.page_limit(limit, 50))

    async def rating_summaries(self, stream_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        return await self._store.rating_summaries(stream_ids)

    async def my_ratings(self, viewer: UserRecord, stream_ids: Sequence[str]) -> dict[str, int]:
        return await self._store.user_ratings(viewer.id, stream_ids)

    def playback_url(self, stream: StreamRecord) -> str | None:
        """Live video while LIVE; the replay once ENDED, while its recording is kept."""
        if stream.status == "LIVE" or (stream.status == "ENDED" and stream.has_recording):
            return self.media.playback_url(stream.id)
        return None

    def thumbnail_url(self, stream: StreamRecord) -> str | None:
        if stream.has_thumbnail and stream.status in ("LIVE", "ENDED"):
            return self.media.thumbnail_url(stream.id)
        return None

    # ------------------------------------------------------------ creators
    def _schedule(self, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        now = now_utc()
        if value < now - timedelta(minutes=1):
            raise BadUserInput("scheduledStart must be in the future", field="scheduledStart")
        if value > now + MAX_SCHEDULE_AHEAD:
            raise BadUserInput("scheduledStart must be within a year", field="scheduledStart")
        return value

    async def create(
        self,
        viewer: UserRecord,
        *,
        title: str,
        description: str | None,
        category: str | None,
        tags: Sequence[str] | None,
        scheduled_start: datetime | None,
    ) -> StreamRecord:
        clean_title = validation.required_text(title, "title", MAX_TITLE)
        clean_description = validation.text(
            description, "description", validation.MAX_DESCRIPTION, required=False
        )
        shown, key = clean_category(category)
        clean = clean_tags(tags)
        start = self._schedule(scheduled_start)
        self._limiter.hit(viewer.id, "createStream")
        room = await self._rooms.create_room(viewer, clean_title, clean_description, False, None)
        now = now_utc()
        stream = StreamRecord(
            id=new_id(),
            creator_id=viewer.id,
            room_id=room.id,
            title=clean_title,
            status="SCHEDULED",
            created_at=now,
            updated_at=now,
            description=clean_description,
            category=shown,
            category_key=key,
            tags=clean,
            scheduled_start=start,
        )
        await self._store.insert_stream(stream)
        return stream

    async def update(
        self,
        viewer: UserRecord,
        stream_id: str,
        *,
        title: str | None,
        description: str | None,
        category: str | None,
        tags: Sequence[str] | None,
        scheduled_start: datetime | None,
        given: frozenset[str],
    ) -> StreamRecord:
        """Change the fields in `given` (a field given as null clears it where it may)."""
        stream = await self._own(viewer, stream_id)
        if stream.status not in EDITABLE:
            raise BadUserInput("A cancelled stream cannot be edited", field="id")
        changes: dict[str, object] = {}
        if "title" in given:
            changes["title"] = validation.required_text(title or "", "title", MAX_TITLE)
        if "description" in given:
            changes["description"] = validation.text(
                description, "description", validation.MAX_DESCRIPTION, required=False
            )
        if "category" in given:
            changes["category"], changes["category_key"] = clean_category(category)
        if "tags" in given:
            changes["tags"] = clean_tags(tags)
        if "scheduledStart" in given:
            if stream.status != "SCHEDULED":
                raise BadUserInput(
                    "Only a scheduled stream can be rescheduled", field="scheduledStart"
                )
            changes["scheduled_start"] = self._schedule(scheduled_start)
        if not changes:
            return stream
        changes["updated_at"] = now_utc()
        updated = await self._store.update_stream(stream.id, changes, statuses=EDITABLE)
        if updated is None:
            raise BadUserInput("A cancelled stream cannot be edited", field="id")
        room_changes: dict[str, object] = {}
        if "title" in changes:
            room_changes["name"] = changes["title"]
        if "description" in changes:
            room_changes["description"] = changes["description"]
        if room_changes:
            await self._store.update_room(stream.room_id, room_changes)
        return updated

    async def cancel(self, viewer: UserRecord, stream_id: str) -> StreamRecord:
        stream = await self._own(viewer, stream_id)
        if stream.status == "CANCELLED":
            return stream
        if stream.status != "SCHEDULED":
            raise BadUserInput(
                "Only a scheduled stream can be cancelled (end a live one with endStream)",
                field="id",
            )
        now = now_utc()
        cancelled = await self._store.update_stream(
            stream.id, {"status": "CANCELLED", "updated_at": now}, statuses=("SCHEDULED",)
        )
        if cancelled is None:  # it went live meanwhile
            raise BadUserInput("The stream went live; end it with endStream", field="id")
        return cancelled

    async def end(self, viewer: UserRecord, stream_id: str) -> StreamRecord:
        stream = await self._own(viewer, stream_id)
        if stream.status != "LIVE":
            raise BadUserInput("Only a live stream can be ended", field="id")
        ended = await self.end_broadcast(stream.id)
        await self.media.drop_publisher(stream.id)
        return ended or stream

    async def stream_key(self, viewer: UserRecord, stream_id: str) -> StreamKey:
        stream = await self._own(viewer, stream_id, "streamId")
        return StreamKey(self._key_for(stream), self.media.ingest_url())

    async def regenerate_key(self, viewer: UserRecord, stream_id: str) -> StreamKey:
        """A new key at once; a publisher using the old one is cut off, which ends the stream."""
        stream = await self._own(viewer, stream_id, "streamId")
        updated = await self._store.update_stream(
            stream.id, {"key_version": stream.key_version + 1, "updated_at": now_utc()}
        )
        if updated is None:
            raise NotFound("No such stream", field="streamId")
        if stream.status == "LIVE":
            await self.media.drop_publisher(stream.id)
        return StreamKey(self._key_for(updated), self.media.ingest_url())

    async def delete_recording(self, viewer: UserRecord, stream_id: str) -> StreamRecord:
        stream = await self._own(viewer, stream_id, "streamId")
        if stream.status == "LIVE":
            raise BadUserInput("End the stream before deleting its recording", field="streamId")
        return await self._forget_recording(stream.id) or stream

    async def _forget_recording(self, stream_id: str) -> StreamRecord | None:
        """Delete the replay's files, then say so in the record."""
        await self.media.delete_recording(stream_id)
        return await self._store.update_stream(
            stream_id, {"has_recording": False, "has_thumbnail": False, "updated_at": now_utc()}
        )

    async def _every_stream(
        self, *, status: str | None = None, creator_id: str | None = None
    ) -> AsyncIterator[StreamRecord]:
        """Page through the catalogue (for sweeps that may change what they visit)."""
        after: tuple[datetime, str] | None = None
        while page := await self._store.list_streams(
            limit=100, after=after, status=status, creator_id=creator_id
        ):
            for stream in page:
                yield stream
            after = (page[-1].created_at, page[-1].id)

    async def analytics(self, viewer: UserRecord, stream_id: str) -> StreamAnalytics:
        stream = await self._own(viewer, stream_id, "streamId")
        return await measure(self._store, self._viewers, self._window, stream)

    async def creator_deleted(self, creator_id: str) -> None:
        """An account is going: its scheduled streams are cancelled, a live one is cut off and
        ended, and every recording (the person's own video) is deleted."""
        async for stream in self._every_stream(creator_id=creator_id):
            if stream.status == "SCHEDULED":
                await self._store.update_stream(
                    stream.id,
                    {"status": "CANCELLED", "updated_at": now_utc()},
                    statuses=("SCHEDULED",),
                )
            elif stream.status == "LIVE":
                await self.end_broadcast(stream.id)
                await self.media.drop_publisher(stream.id)
            if stream.has_recording or stream.status in ("LIVE", "ENDED"):
                await self._forget_recording(stream.id)

    # ------------------------------------------------------------ the media plane's calls
    async def begin_broadcast(self, key: str) -> StreamRecord:
        """A publisher presented `key`: the stream goes LIVE and its creator's followers hear
        of it. Refused (Forbidden) for an unknown or rotated key, and for a stream that is
        live already, cancelled or over."""
        stream = await self._stream_for_key(key)
        if stream.status != "SCHEDULED":
            raise Forbidden(
                f"This stream is {stream.status.lower()}; create a new one to go live",
                reason="STREAM_STATUS",
            )
        now = now_utc()
        live = await self._store.update_stream(
            stream.id,
            {"status": "LIVE", "started_at": now, "updated_at": now, "ingest_node": self._node},
            statuses=("SCHEDULED",),
        )
        if live is None:
            raise Forbidden("This stream is no longer scheduled", reason="STREAM_STATUS")
        self._follows.stream_went_live(live)  # in the background: nginx-rtmp waits seconds
        return live

    async def end_broadcast(self, stream_id: str) -> StreamRecord | None:
        """The publisher is gone: LIVE -> ENDED (again is harmless)."""
        now = now_utc()
        return await self._store.update_stream(
            stream_id, {"status": "ENDED", "ended_at": now, "updated_at": now}, statuses=("LIVE",)
        )

    async def end_orphaned_broadcasts(self) -> int:
        """Streams this node left LIVE (it crashed) end when its media plane starts: no
        publisher can be connected to a fresh nginx. Other nodes' live streams are theirs."""
        ended = 0
        async for stream in self._every_stream(status="LIVE"):
            mine = stream.ingest_node in (self._node, None)
            if mine and await self.end_broadcast(stream.id) is not None:
                ended += 1
        return ended

    async def recording_saved(self, stream_id: str, *, has_recording: bool) -> None:
        await self._store.update_stream(stream_id, {"has_recording": has_recording})

    async def thumbnail_captured(self, stream_id: str) -> None:
        stream = await self._store.get_stream(stream_id)
        if stream is not None and not stream.has_thumbnail:
            await self._store.update_stream(stream_id, {"has_thumbnail": True})

    # ------------------------------------------------------------ watchers
    async def rate(
        self, viewer: UserRecord, stream_id: str, rating: int, comment: str | None
    ) -> bool:
        if not 1 <= rating <= 5:
            raise BadUserInput("rating must be 1 to 5", field="rating")
        clean_comment = validation.text(comment, "comment", MAX_COMMENT, required=False)
        stream = await self._existing(stream_id, "streamId")
        if stream.status != "ENDED":
            raise BadUserInput("A stream can be rated once it has ended", field="streamId")
        if stream.creator_id == viewer.id:
            raise Forbidden("Creators do not rate their own streams")
        now = now_utc()
        await self._store.rate_stream(
            RatingRecord(stream.id, viewer.id, rating, now, now, clean_comment)
        )
        return True

    async def watch(self, viewer: UserRecord, stream_id: str) -> AsyncGenerator[StreamView]:
        """Status, details and viewer-count changes of one stream; while it runs, the
        watcher counts as a viewer (guests included)."""
        stream = await self._existing(stream_id, "streamId")
        subscription = self._hub.subscribe(stream_channel(stream.id), maxsize=self._queue_size)
        try:
            async with self._viewers.watching(stream.id, viewer.id, self._window):
                while True:
                    try:
                        item = await subscription.get()
                    except StopAsyncIteration:
                        return
                    except SubscriberOverflow:
                        raise SubscriptionOverflow(TOO_SLOW, retryable=True) from None
                    if isinstance(item, ViewerCount):
                        yield StreamView(stream, item.viewers)
                    elif isinstance(item, ChangeEvent) and item.document is not None:
                        stream = StreamRecord.from_doc(item.document)
                        yield StreamView(stream, self._viewers.shown(stream.id))
        finally:
            subscription.close()
