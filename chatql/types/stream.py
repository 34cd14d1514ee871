"""Live streams as the API shows them: the stream, its key, analytics, the catalogue."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import UNSET

from chatql.context import ChatContext
from chatql.services.stream_analytics import StreamAnalytics as Analytics
from chatql.services.streams import StreamKey as Key
from chatql.services.streams import StreamView
from chatql.store.records import StreamRecord
from chatql.types.user import User

if TYPE_CHECKING:
    from chatql.types.room import ChatRoom

Info = strawberry.Info[ChatContext, None]


@strawberry.enum
class StreamStatus(Enum):
    SCHEDULED = "SCHEDULED"
    LIVE = "LIVE"
    ENDED = "ENDED"
    CANCELLED = "CANCELLED"


@strawberry.type
class Stream:
    id: strawberry.ID
    title: str
    description: str | None
    category: str | None
    tags: list[str]
    status: StreamStatus
    scheduled_start: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    created_at: datetime
    peak_viewers: int
    has_recording: bool = strawberry.field(description="A replay is available (until deleted)")
    record: strawberry.Private[StreamRecord]
    viewers: strawberry.Private[int | None] = None

    @strawberry.field(description="Open watches now (watchStream subscribers, guests included)")
    def viewer_count(self, info: Info) -> int:
        if self.viewers is not None:
            return self.viewers
        return info.context.services.streams.viewers(self.record.id)

    @strawberry.field
    async def creator(self, info: Info) -> User:
        user = await info.context.loaders.users.load(self.record.creator_id)
        if user is None:  # a creator's record outlives them as a tombstone
            raise LookupError(f"stream {self.record.id} has no creator")
        return User.from_record(user)

    @strawberry.field(description="The stream's live chat: an ordinary public room")
    async def chat_room(
        self, info: Info
    ) -> Annotated[ChatRoom, strawberry.lazy("chatql.types.room")]:
        from chatql.types.room import ChatRoom

        room = await info.context.loaders.rooms.load(self.record.room_id)
        if room is None:
            raise LookupError(f"stream {self.record.id} has no room")
        return ChatRoom.from_record(room)

    @strawberry.field(description="HLS master playlist: live while LIVE, the replay once ENDED")
    def playback_url(self, info: Info) -> str | None:
        return info.context.services.streams.playback_url(self.record)

    @strawberry.field
    def thumbnail_url(self, info: Info) -> str | None:
        return info.context.services.streams.thumbnail_url(self.record)

    @strawberry.field
    async def average_rating(self, info: Info) -> float | None:
        total, count = await info.context.loaders.stream_ratings.load(self.record.id)
        return total / count if count else None

    @strawberry.field
    async def rating_count(self, info: Info) -> int:
        return (await info.context.loaders.stream_ratings.load(self.record.id))[1]

    @strawberry.field(description="Your rating of it (rateStream), if you gave one")
    async def my_rating(self, info: Info) -> int | None:
        return await info.context.loaders.my_ratings.load(self.record.id)

    @classmethod
    def from_record(cls, stream: StreamRecord, viewers: int | None = None) -> Stream:
        return cls(
            id=strawberry.ID(stream.id),
            title=stream.title,
            description=stream.description,
            category=stream.category,
            tags=list(stream.tags),
            status=StreamStatus(stream.status),
            scheduled_start=stream.scheduled_start,
            started_at=stream.started_at,
            ended_at=stream.ended_at,
            created_at=stream.created_at,
            peak_viewers=stream.peak_viewers,
            has_recording=stream.has_recording,
            record=stream,
            viewers=viewers,
        )

    @classmethod
    def from_view(cls, view: StreamView) -> Stream:
        return cls.from_record(view.stream, view.viewers)


@strawberry.type
class StreamConnection:
    items: list[Stream]
    next_token: str | None


@strawberry.type(description="Publish with OBS or ffmpeg to `ingestUrl` with `key` as the name")
class StreamKey:
    key: str
    ingest_url: str

    @classmethod
    def from_key(cls, key: Key) -> StreamKey:
        return cls(key=key.key, ingest_url=key.ingest_url)


@strawberry.type
class ViewerSample:
    at: datetime
    viewers: int


@strawberry.type
class StreamAnalytics:
    peak_viewers: int
    average_viewers: float = strawberry.field(description="Watch time over live time")
    unique_viewers: int
    total_watch_seconds: float
    chat_messages: int
    chatters: int
    rating_average: float | None
    rating_count: int
    new_followers: int = strawberry.field(description="Follows of the creator while live")
    viewer_series: list[ViewerSample]

    @classmethod
    def from_analytics(cls, a: Analytics) -> StreamAnalytics:
        return cls(
            peak_viewers=a.peak_viewers,
            average_viewers=round(a.average_viewers, 3),
            unique_viewers=a.unique_viewers,
            total_watch_seconds=round(a.total_watch_seconds, 3),
            chat_messages=a.chat_messages,
            chatters=a.chatters,
            rating_average=a.rating_average,
            rating_count=a.rating_count,
            new_followers=a.new_followers,
            viewer_series=[ViewerSample(at=at, viewers=n) for at, n in a.viewer_series],
        )


@strawberry.type
class StreamCategory:
    name: str
    live_count: int
    stream_count: int


@strawberry.input
class CreateStreamInput:
    title: str
    description: str | None = UNSET
    category: str | None = UNSET
    tags: list[str] | None = UNSET
    scheduled_start: datetime | None = strawberry.field(
        default=UNSET, description="When it is planned to start (it goes live when you publish)"
    )


@strawberry.input(description="Only the fields given change; null clears an optional one")
class UpdateStreamInput:
    id: strawberry.ID
    title: str | None = UNSET
    description: str | None = UNSET
    category: str | None = UNSET
    tags: list[str] | None = UNSET
    scheduled_start: datetime | None = UNSET
